"""Linear, LayerNorm, activations, dropout, embeddings, positions: forward vs torch and
backward vs finite differences and torch.autograd (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)  # NumPy float64 vs torch float64 (TESTING.md)


def t64(a: np.ndarray, grad: bool = True) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# -- Linear --------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear_fd_and_torch(bias, rng, gradcheck):
    lin = tn.Linear(5, 3, bias=bias, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 4, 5))
    gradcheck.module(lin, lambda: lin.forward(x), {"x": x}, lambda G: {"x": lin.backward(G)}, rng)

    ref = torch.nn.Linear(5, 3, bias=bias, dtype=torch.float64)
    ref.load_state_dict({k: torch.tensor(v) for k, v in lin.state_dict().items()})
    xt = t64(x)
    out = ref(xt)
    G = rng.standard_normal(out.shape)
    out.backward(torch.tensor(G))
    np.testing.assert_allclose(lin.forward(x), out.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(lin.backward(G), xt.grad.numpy(), **TORCH_TOL)
    for k, p in ref.named_parameters():
        np.testing.assert_allclose(lin.grads[k], p.grad.numpy(), **TORCH_TOL)


def test_linear_init_matches_torch_bounds():
    lin = tn.Linear(16, 8, rng=0)
    assert lin.weight.shape == (8, 16) and lin.bias.shape == (8,)
    assert lin.weight.dtype == np.float32
    assert np.abs(lin.weight).max() <= 1 / math.sqrt(16)


# -- LayerNorm -----------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_fd_and_torch(bias, rng, gradcheck):
    ln = tn.LayerNorm(6, eps=1e-5, bias=bias, dtype=np.float64)
    ln.weight[...] = rng.standard_normal(6)
    if bias:
        ln.bias[...] = rng.standard_normal(6)
    x = rng.standard_normal((3, 4, 6)) * 2 + 1
    gradcheck.module(ln, lambda: ln.forward(x), {"x": x}, lambda G: {"x": ln.backward(G)}, rng)

    ref = torch.nn.LayerNorm(6, eps=1e-5, bias=bias, dtype=torch.float64)
    ref.load_state_dict({k: torch.tensor(v) for k, v in ln.state_dict().items()})
    xt = t64(x)
    out = ref(xt)
    G = rng.standard_normal(out.shape)
    out.backward(torch.tensor(G))
    np.testing.assert_allclose(ln.forward(x), out.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(ln.backward(G), xt.grad.numpy(), **TORCH_TOL)
    for k, p in ref.named_parameters():
        np.testing.assert_allclose(ln.grads[k], p.grad.numpy(), **TORCH_TOL)


def test_layer_norm_biased_variance_eps_inside_sqrt():
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    y = tn.LayerNorm(4, eps=0.5, dtype=np.float64).forward(x)
    expected = (x - 2.5) / np.sqrt(1.25 + 0.5)  # biased var of 1..4 is 1.25
    np.testing.assert_allclose(y, expected, rtol=1e-15)


# -- activations ---------------------------------------------------------------------------
def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, 1e-300, -1e-10, 2.0, -2.0, 6.0, np.inf, -np.inf]])
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(tn.erf(x) - ref)) < 1e-15
    assert np.isnan(tn.erf(np.array([np.nan])))[0]
    assert tn.erf(np.float32([0.5])).dtype == np.float32


@pytest.mark.parametrize(
    "make,ref",
    [
        (lambda: tn.ReLU(), torch.nn.ReLU()),
        (lambda: tn.GELU(), torch.nn.GELU()),
        (lambda: tn.GELU("tanh"), torch.nn.GELU(approximate="tanh")),
    ],
    ids=["relu", "gelu", "gelu_tanh"],
)
def test_activations_fd_and_torch(make, ref, rng, gradcheck):
    act = make()
    x = rng.standard_normal((4, 7)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU inputs away from its kink
    out = act.forward(x)
    G = rng.standard_normal(out.shape)
    dx = act.backward(G)
    gradcheck.fd(lambda: float(np.sum(act.forward(x) * G)), x, dx, rng, name="x")
    xt = t64(x)
    o = ref(xt)
    o.backward(torch.tensor(G))
    np.testing.assert_allclose(out, o.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TORCH_TOL)


def test_relu_gradient_at_zero_is_zero_like_torch():
    act = tn.ReLU()
    act.forward(np.zeros(3))
    np.testing.assert_array_equal(act.backward(np.ones(3)), np.zeros(3))


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="swish"):
        tn.make_activation("swish")
    with pytest.raises(ValueError, match="approximate"):
        tn.GELU("fast")


# -- softmax -------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax_backward_fd_and_torch(which, rng, gradcheck):
    fwd = getattr(tn, which)
    bwd = getattr(tn, which + "_backward")
    x = rng.standard_normal((3, 5)) * 3
    out = fwd(x)
    G = rng.standard_normal(out.shape)
    dx = bwd(G, out)
    gradcheck.fd(lambda: float(np.sum(fwd(x) * G)), x, dx, rng, name="x")
    xt = t64(x)
    o = getattr(torch, which)(xt, dim=-1)
    o.backward(torch.tensor(G))
    np.testing.assert_allclose(out, o.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TORCH_TOL)


def test_softmax_extreme_logits_finite():
    p = tn.softmax(np.array([1000.0, 0.0, -1000.0]))
    assert np.all(np.isfinite(p)) and p[0] == 1.0
    lp = tn.log_softmax(np.array([1000.0, 0.0, -1000.0]))
    assert np.all(np.isfinite(lp))


# -- dropout -------------------------------------------------------------------------------
def test_dropout_train_eval_and_backward(rng):
    d = tn.Dropout(0.25, rng=0)
    x = rng.standard_normal((200, 50))
    y = d.forward(x)
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8  # keep probability 0.75
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-15)
    G = rng.standard_normal(x.shape)
    np.testing.assert_allclose(d.backward(G), G * kept / 0.75, rtol=1e-15)
    d.eval()
    assert d.forward(x) is x and d.backward(G) is G


def test_dropout_backward_fd(rng, gradcheck):
    d = tn.Dropout(0.4, rng=3)
    x = rng.standard_normal((5, 6))
    out = d.forward(x)
    G = rng.standard_normal(out.shape)
    dx = d.backward(G)

    def loss() -> float:
        d.rng = np.random.default_rng(3)  # the same mask on every call
        return float(np.sum(d.forward(x) * G))

    gradcheck.fd(loss, x, dx, rng, name="x")


def test_dropout_seeded_and_extremes():
    x = np.ones((10, 10), dtype=np.float32)
    a, b = tn.Dropout(0.5, rng=7), tn.Dropout(0.5, rng=7)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    assert a.forward(x).dtype == np.float32
    np.testing.assert_array_equal(tn.Dropout(1.0).forward(x), 0.0)
    np.testing.assert_array_equal(tn.Dropout(0.0).forward(x), x)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_out_of_range_is_named(p):
    with pytest.raises(ValueError, match="dropout"):
        tn.Dropout(p)


# -- embeddings and positions --------------------------------------------------------------
@pytest.mark.parametrize("scale", [False, True])
def test_embedding_repeated_ids_accumulate(scale, rng, gradcheck):
    emb = tn.Embedding(5, 3, scale=scale, dtype=np.float64, rng=0)
    ids = np.array([[1, 1, 4], [1, 0, 4]])  # id 1 three times, id 4 twice, ids 2, 3 never
    out = emb.forward(ids)
    G = rng.standard_normal(out.shape)
    emb.backward(G)
    m = math.sqrt(3) if scale else 1.0
    np.testing.assert_allclose(emb.grads["weight"][1], m * (G[0, 0] + G[0, 1] + G[1, 0]), rtol=1e-14)
    np.testing.assert_array_equal(emb.grads["weight"][[2, 3]], 0.0)
    gradcheck.fd(lambda: float(np.sum(emb.forward(ids) * G)), emb.weight, emb.grads["weight"].copy(),
                 rng, name="weight")
    ref = torch.nn.Embedding(5, 3, dtype=torch.float64)
    ref.weight.data = torch.tensor(emb.weight)
    o = ref(torch.tensor(ids)) * m
    o.backward(torch.tensor(G))
    np.testing.assert_allclose(out, o.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(emb.grads["weight"], ref.weight.grad.numpy(), **TORCH_TOL)


@pytest.mark.parametrize("bad", [5, -1, 99])
def test_embedding_out_of_range_names_id_and_size(bad):
    emb = tn.Embedding(5, 3)
    with pytest.raises(ValueError, match=rf"token id {bad} is out of range for vocabulary size 5"):
        emb.forward(np.array([[0, bad]]))


def test_embedding_rejects_float_ids():
    with pytest.raises(TypeError):
        tn.Embedding(5, 3).forward(np.array([0.0, 1.0]))


def test_sinusoidal_table_values():
    pe = tn.sinusoidal_table(50, 6)
    pos, i = 7, 1
    assert pe[pos, 2 * i] == pytest.approx(math.sin(pos / 10000 ** (2 * i / 6)), rel=1e-14)
    assert pe[pos, 2 * i + 1] == pytest.approx(math.cos(pos / 10000 ** (2 * i / 6)), rel=1e-14)
    assert tn.sinusoidal_table(4, 5).shape == (4, 5)  # odd width
    from transformer_anatomy.torch import sinusoidal_table

    np.testing.assert_allclose(tn.sinusoidal_table(30, 8), sinusoidal_table(30, 8).numpy(), rtol=1e-15)


def test_positional_encoding_and_learned(rng, gradcheck):
    x = rng.standard_normal((2, 5, 4))
    pe = tn.PositionalEncoding(4, max_len=8, dtype=np.float64)
    np.testing.assert_allclose(pe.forward(x), x + tn.sinusoidal_table(8, 4)[:5])
    assert pe.params == {} and pe.state_dict() == {}
    G = rng.standard_normal(x.shape)
    assert pe.backward(G) is G
    with pytest.raises(ValueError, match="max_len=8"):
        pe.forward(np.zeros((1, 9, 4)))

    lpe = tn.LearnedPositionalEmbedding(8, 4, dtype=np.float64, rng=0)
    gradcheck.module(lpe, lambda: lpe.forward(x), {"x": x}, lambda G: {"x": lpe.backward(G)}, rng)
    lpe.forward(x)
    lpe.backward(G)
    np.testing.assert_allclose(lpe.grads["weight"][:5], G.sum(0))
    np.testing.assert_array_equal(lpe.grads["weight"][5:], 0.0)
    with pytest.raises(ValueError, match="max_len=8"):
        lpe.forward(np.zeros((1, 9, 4)))


@pytest.mark.parametrize("cls,args", [(tn.Linear, (0, 3)), (tn.Linear, (3, -1)), (tn.Embedding, (0, 4)),
                                      (tn.LayerNorm, (0,)), (tn.PositionalEncoding, (4, 0))])
def test_non_positive_sizes_are_named(cls, args):
    with pytest.raises(ValueError, match="must be a positive integer"):
        cls(*args)


@pytest.mark.parametrize("cls", ["PositionalEncoding", "LearnedPositionalEmbedding"])
def test_positions_offset_adds_the_rows_from_offset(cls, rng, gradcheck):
    """``forward(x, offset)`` adds rows ``offset .. offset+S-1`` (decoding one step at a time);
    the learned table's gradient lands in those rows only."""
    x = rng.standard_normal((2, 3, 4))
    m = (tn.PositionalEncoding(4, max_len=8, dtype=np.float64) if cls == "PositionalEncoding"
         else tn.LearnedPositionalEmbedding(8, 4, dtype=np.float64, rng=0))
    table = m.pe if cls == "PositionalEncoding" else m.weight
    np.testing.assert_array_equal(m.forward(x, offset=5), x + table[5:8])
    with pytest.raises(ValueError, match="sequence length 9 exceeds max_len=8"):
        m.forward(x, offset=6)
    with pytest.raises(ValueError, match="offset must be a non-negative integer"):
        m.forward(x, offset=-1)
    if cls == "LearnedPositionalEmbedding":
        gradcheck.module(m, lambda: m.forward(x, offset=2), {"x": x}, lambda G: {"x": m.backward(G)}, rng)
        G = rng.standard_normal(x.shape)
        m.forward(x, offset=2)
        m.backward(G)
        np.testing.assert_allclose(m.grads["weight"][2:5], G.sum(0))
        assert not m.grads["weight"][:2].any() and not m.grads["weight"][5:].any()


def test_layer_norm_without_elementwise_affine_matches_torch(rng, gradcheck):
    x = rng.standard_normal((3, 6))
    ours = tn.LayerNorm(6, elementwise_affine=False, dtype=np.float64)
    ref = torch.nn.LayerNorm(6, elementwise_affine=False, dtype=torch.float64)
    assert ours.params == {} and ours.num_parameters() == 0
    np.testing.assert_allclose(ours.forward(x), ref(t64(x, grad=False)).numpy(), **TORCH_TOL)
    gradcheck.module(ours, lambda: ours.forward(x), {"x": x}, lambda G: {"x": ours.backward(G)}, rng, params=False)
