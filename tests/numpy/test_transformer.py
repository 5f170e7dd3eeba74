"""Encoder/decoder layers, stacks and ``Transformer`` vs ``torch.nn`` (via ``from_torch``, eval
mode, every mask combination, post-/pre-norm, relu/gelu) and vs finite differences."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import transformer_anatomy.numpy as tn

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)  # NumPy float64 vs torch float64 (TESTING.md)
F32_TOL = dict(rtol=1e-5, atol=1e-5)  # float32 forward
E, H, F = 8, 2, 16
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")


def t(a, dtype=torch.float64, grad=False):
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype == bool:
        return torch.tensor(a)
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def attn_mask(rng, kind, N, T, S, causal=False):
    """``kind`` in none / 2d-bool / 2d-float / 3d-bool / 3d-float; key 0 is never blocked."""
    if kind == "none":
        return None
    dim, typ = kind.split("-")
    shape = (T, S) if dim == "2d" else (N * H, T, S)
    blocked = np.triu(np.ones((T, S), bool), 1) if causal else rng.random(shape) < 0.4
    blocked = np.broadcast_to(blocked, shape).copy()
    blocked[..., 0] = False
    return blocked if typ == "bool" else np.where(blocked, -np.inf, 0.5 * rng.standard_normal(shape))


def kpm(rng, kind, N, S):
    if kind == "none":
        return None
    blocked = np.zeros((N, S), dtype=bool)
    blocked[0, -2:] = True
    blocked[-1, 1] = True
    return blocked if kind == "bool" else np.where(blocked, -np.inf, 0.0)


def randomize_biases(module: nn.Module) -> None:
    """Non-zero biases and non-unit LayerNorm weights, so that their gradients are tested."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.5)
                if "norm" in name and name.endswith("weight"):
                    p.add_(1.0)


ATTN = ["none", "2d-bool", "2d-float", "3d-bool", "3d-float"]
KPM = ["none", "bool", "float"]


def compare_grads(ours: tn.Module, ref: nn.Module) -> None:
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), **TORCH_TOL, err_msg=name)


# -- encoder layer -------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first,activation", list(itertools.product([False, True], ["relu", "gelu"])))
@pytest.mark.parametrize("kind_attn,kind_kpm", list(itertools.product(ATTN, KPM)))
def test_encoder_layer_matches_torch(norm_first, activation, kind_attn, kind_kpm, rng):
    N, S = 3, 5
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(E, H, F, 0.1, activation, batch_first=True, norm_first=norm_first,
                                     dtype=torch.float64).eval()
    randomize_biases(ref)
    ours = tn.from_torch(ref)
    assert not ours.training and ours.norm_first == norm_first
    x = rng.standard_normal((N, S, E))
    m, p = attn_mask(rng, kind_attn, N, S, S), kpm(rng, kind_kpm, N, S)
    xt = t(x, grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ro = ref(xt, src_mask=t(m), src_key_padding_mask=t(p))
    oo = ours.forward(x, src_mask=m, src_key_padding_mask=p)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), **TORCH_TOL)
    compare_grads(ours, ref)


# -- decoder layer -------------------------------------------------------------------------
DECODER_MASKS = (
    [(a, "none", "none", "none") for a in ATTN]
    + [("none", a, "none", "none") for a in ATTN]
    + [("2d-bool", "none", k, "none") for k in KPM[1:]]
    + [("2d-float", "3d-bool", "none", k) for k in KPM[1:]]
    + [("3d-float", "2d-float", "bool", "float"), ("3d-bool", "3d-float", "float", "bool"),
       ("causal-bool", "2d-bool", "bool", "bool"), ("causal-float", "none", "none", "float")]
)


@pytest.mark.parametrize("norm_first,activation", list(itertools.product([False, True], ["relu", "gelu"])))
@pytest.mark.parametrize("tgt_m,mem_m,tgt_p,mem_p", DECODER_MASKS)
def test_decoder_layer_matches_torch(norm_first, activation, tgt_m, mem_m, tgt_p, mem_p, rng):
    N, T, S = 3, 4, 5
    torch.manual_seed(1)
    ref = nn.TransformerDecoderLayer(E, H, F, 0.1, activation, batch_first=True, norm_first=norm_first,
                                     dtype=torch.float64).eval()
    randomize_biases(ref)
    ours = tn.from_torch(ref)
    y, mem = rng.standard_normal((N, T, E)), rng.standard_normal((N, S, E))
    causal = tgt_m.startswith("causal")
    tm = attn_mask(rng, tgt_m.replace("causal", "2d"), N, T, T, causal=causal)
    mm = attn_mask(rng, mem_m, N, T, S)
    tp, mp = kpm(rng, tgt_p, N, T), kpm(rng, mem_p, N, S)
    if tp is not None:  # keep target key 0 visible: the causal mask leaves query 0 only key 0
        tp = tp.copy()
        tp[:, 0] = False if tp.dtype == bool else 0.0
    yt, memt = t(y, grad=True), t(mem, grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ro = ref(yt, memt, tgt_mask=t(tm), memory_mask=t(mm), tgt_key_padding_mask=t(tp),
                 memory_key_padding_mask=t(mp))
    oo = ours.forward(y, mem, tgt_mask=tm, memory_mask=mm, tgt_key_padding_mask=tp, memory_key_padding_mask=mp)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    dy, dmem = ours.backward(G)
    np.testing.assert_allclose(dy, yt.grad.numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dmem, memt.grad.numpy(), **TORCH_TOL)
    compare_grads(ours, ref)


# -- whole nn.Transformer ------------------------------------------------------------------
def make_transformer(norm_first=False, activation="relu", dtype=torch.float64, batch_first=True, seed=2):
    torch.manual_seed(seed)
    ref = nn.Transformer(E, H, 2, 2, F, 0.1, activation, batch_first=batch_first, norm_first=norm_first,
                         dtype=dtype).eval()
    randomize_biases(ref)
    return ref, tn.from_torch(ref)


@pytest.mark.parametrize("norm_first,activation", list(itertools.product([False, True], ["relu", "gelu"])))
@pytest.mark.parametrize("masks", ["none", "causal+pad", "all-float", "3d"])
def test_transformer_matches_torch(norm_first, activation, masks, rng):
    N, S, T = 3, 6, 5
    ref, ours = make_transformer(norm_first, activation)
    assert set(ours.state_dict()) == set(ref.state_dict())
    src, tgt = rng.standard_normal((N, S, E)), rng.standard_normal((N, T, E))
    kw: dict = {}
    if masks == "causal+pad":
        kw = dict(tgt_mask=tn.generate_square_subsequent_mask(T, bool), src_key_padding_mask=kpm(rng, "bool", N, S),
                  memory_key_padding_mask=kpm(rng, "bool", N, S))
    elif masks == "all-float":
        tp = kpm(rng, "float", N, T)
        tp[:, 0] = 0.0
        kw = dict(src_mask=attn_mask(rng, "2d-float", N, S, S), tgt_mask=tn.generate_square_subsequent_mask(T, np.float64),
                  memory_mask=attn_mask(rng, "2d-float", N, T, S), src_key_padding_mask=kpm(rng, "float", N, S),
                  tgt_key_padding_mask=tp, memory_key_padding_mask=kpm(rng, "float", N, S))
    elif masks == "3d":
        kw = dict(src_mask=attn_mask(rng, "3d-bool", N, S, S), tgt_mask=attn_mask(rng, "3d-float", N, T, T),
                  memory_mask=attn_mask(rng, "3d-bool", N, T, S))
    srct, tgtt = t(src, grad=True), t(tgt, grad=True)
    ro = ref(srct, tgtt, **{k: t(v) for k, v in kw.items()})
    oo = ours.forward(src, tgt, **kw)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    dsrc, dtgt = ours.backward(G)
    np.testing.assert_allclose(dsrc, srct.grad.numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dtgt, tgtt.grad.numpy(), **TORCH_TOL)
    compare_grads(ours, ref)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_float32_forward(norm_first, rng):
    ref, ours = make_transformer(norm_first, dtype=torch.float32)
    assert ours.dtype == np.float32
    src, tgt = rng.standard_normal((4, 7, E)).astype(np.float32), rng.standard_normal((4, 6, E)).astype(np.float32)
    mask = tn.generate_square_subsequent_mask(6, np.float32)
    p = kpm(rng, "bool", 4, 7)
    ro = ref(t(src, torch.float32), t(tgt, torch.float32), tgt_mask=t(mask, torch.float32),
             src_key_padding_mask=t(p), memory_key_padding_mask=t(p))
    oo = ours.forward(src, tgt, tgt_mask=mask, src_key_padding_mask=p, memory_key_padding_mask=p)
    assert oo.dtype == np.float32
    np.testing.assert_allclose(oo, ro.detach().numpy(), **F32_TOL)


@pytest.mark.parametrize("layout", ["seq_first", "unbatched"])
def test_transformer_layouts_match_torch(layout, rng):
    ref, ours = make_transformer(batch_first=layout != "seq_first")
    S, T, N = 5, 4, 2
    src_shape = (S, N, E) if layout == "seq_first" else (S, E)
    tgt_shape = (T, N, E) if layout == "seq_first" else (T, E)
    src, tgt = rng.standard_normal(src_shape), rng.standard_normal(tgt_shape)
    mask = tn.generate_square_subsequent_mask(T, bool)
    srct, tgtt = t(src, grad=True), t(tgt, grad=True)
    ro = ref(srct, tgtt, tgt_mask=t(mask))
    oo = ours.forward(src, tgt, tgt_mask=mask)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    dsrc, dtgt = ours.backward(G)
    np.testing.assert_allclose(dsrc, srct.grad.numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dtgt, tgtt.grad.numpy(), **TORCH_TOL)


def test_batch_first_true_false_agree_up_to_transpose(rng):
    a = tn.Transformer(E, H, 1, 1, F, 0.0, batch_first=True, dtype=np.float64, rng=0)
    b = tn.Transformer(E, H, 1, 1, F, 0.0, batch_first=False, dtype=np.float64, rng=1)
    b.load_state_dict(a.state_dict())
    src, tgt = rng.standard_normal((2, 5, E)), rng.standard_normal((2, 3, E))
    np.testing.assert_allclose(a.forward(src, tgt), b.forward(src.swapaxes(0, 1), tgt.swapaxes(0, 1)).swapaxes(0, 1),
                               rtol=1e-13, atol=1e-13)


def test_sequence_length_one_and_batch_equal_length(rng):
    ref, ours = make_transformer()
    for N, S, T in ((2, 1, 1), (4, 4, 4)):
        src, tgt = rng.standard_normal((N, S, E)), rng.standard_normal((N, T, E))
        np.testing.assert_allclose(ours.forward(src, tgt), ref(t(src), t(tgt)).detach().numpy(), **TORCH_TOL)


# -- finite differences --------------------------------------------------------------------
@pytest.mark.parametrize("norm_first,activation", [(False, "relu"), (True, "gelu"), (False, "gelu"), (True, "relu")])
def test_transformer_fd_every_parameter(norm_first, activation, rng, gradcheck):
    m = tn.Transformer(4, 2, 1, 1, 6, dropout=0.2, activation=activation, norm_first=norm_first,
                       dtype=np.float64, rng=0, batch_first=True)
    for name, p in m.params.items():  # non-trivial LayerNorm affine parameters and biases
        if p.ndim == 1:
            p[...] = rng.standard_normal(p.shape) * 0.3 + (1.0 if name.endswith("norm1.weight") else 0.0)
    src, tgt = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    causal = tn.generate_square_subsequent_mask(3, bool)
    pad = np.array([[False, False, True], [False, False, False]])

    rng_shared = m.encoder.layers[0].dropout.rng  # one generator drives every dropout
    assert all(sub.rng is rng_shared for _, sub in m.named_modules() if "rng" in sub.__dict__)
    state = rng_shared.bit_generator.state

    def fwd():
        rng_shared.bit_generator.state = state  # the same dropout masks on every call
        return m.forward(src, tgt, tgt_mask=causal, src_key_padding_mask=pad, memory_key_padding_mask=pad)

    def bwd(G):
        dsrc, dtgt = m.backward(G)
        return {"src": dsrc, "tgt": dtgt}

    gradcheck.module(m, fwd, {"src": src, "tgt": tgt}, bwd, rng, max_entries=6)


# -- errors --------------------------------------------------------------------------------
def test_transformer_input_errors(rng):
    m = tn.Transformer(8, 2, 1, 1, 16, batch_first=True)
    with pytest.raises(ValueError, match="batch size of src and tgt must be equal"):
        m.forward(np.zeros((2, 3, 8), np.float32), np.zeros((3, 3, 8), np.float32))
    with pytest.raises(ValueError, match="d_model=8"):
        m.forward(np.zeros((2, 3, 6), np.float32), np.zeros((2, 3, 6), np.float32))
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by nhead=4"):
        tn.Transformer(10, 4, batch_first=True)
    with pytest.raises(ValueError, match="activation"):
        tn.TransformerEncoderLayer(8, 2, activation="tanh", batch_first=True)
    with pytest.raises(ValueError, match="dropout"):
        tn.TransformerDecoderLayer(8, 2, dropout=-0.5, batch_first=True)
    with pytest.raises(ValueError, match="dim_feedforward"):
        tn.TransformerEncoderLayer(8, 2, dim_feedforward=0, batch_first=True)
    with pytest.raises(ValueError, match="num_layers"):
        tn.TransformerEncoder(tn.TransformerEncoderLayer(8, 2, batch_first=True), 0)
    with pytest.raises(ValueError, match=r"expected \(T, S\)"):
        m.forward(np.zeros((2, 3, 8), np.float32), np.zeros((2, 4, 8), np.float32), tgt_mask=np.zeros((3, 3), bool))


def test_eval_deterministic_and_dropout_zero_train_equals_eval(rng):
    m = tn.Transformer(8, 2, 1, 1, 16, dropout=0.3, rng=0, batch_first=True)
    src, tgt = rng.standard_normal((2, 4, 8)).astype(np.float32), rng.standard_normal((2, 3, 8)).astype(np.float32)
    m.eval()
    np.testing.assert_array_equal(m.forward(src, tgt), m.forward(src, tgt))
    m.train()
    assert not np.array_equal(m.forward(src, tgt), m.forward(src, tgt))
    z = tn.Transformer(8, 2, 1, 1, 16, dropout=0.0, rng=0, batch_first=True)
    train = z.train().forward(src, tgt)
    np.testing.assert_array_equal(train, z.eval().forward(src, tgt))


def test_fully_masked_target_row_is_finite_and_matches_torch(rng):
    """Batch 0's target keys are all padding: its self-attention rows are fully masked. Our
    output and gradients are finite; nn.Transformer's layers (need_weights=False, SDPA) give
    the same zeros in torch 2.13, so everything is compared, masked rows included."""
    ref, ours = make_transformer()
    src, tgt = rng.standard_normal((2, 5, E)), rng.standard_normal((2, 4, E))
    tp = np.zeros((2, 4), dtype=bool)
    tp[0] = True
    out = ours.forward(src, tgt, tgt_key_padding_mask=tp)
    G = rng.standard_normal(out.shape)
    dsrc, dtgt = ours.backward(G)
    assert all(np.all(np.isfinite(a)) for a in (out, dsrc, dtgt, *ours.grads.values()))
    srct, tgtt = t(src, grad=True), t(tgt, grad=True)
    want = ref(srct, tgtt, tgt_key_padding_mask=t(tp))
    want.backward(torch.tensor(G))
    np.testing.assert_allclose(out, want.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dsrc, srct.grad.numpy(), **TORCH_TOL)
    np.testing.assert_allclose(dtgt, tgtt.grad.numpy(), **TORCH_TOL)
    compare_grads(ours, ref)


@pytest.mark.parametrize("which", ["encoder_no_norm", "decoder_with_norm"])
def test_standalone_stacks_from_torch(which, rng):
    torch.manual_seed(4)
    if which == "encoder_no_norm":
        layer = nn.TransformerEncoderLayer(E, H, F, 0.0, "gelu", batch_first=True, dtype=torch.float64)
        ref = nn.TransformerEncoder(layer, 3, norm=None, enable_nested_tensor=False)
    else:
        layer = nn.TransformerDecoderLayer(E, H, F, 0.0, batch_first=True, norm_first=True, dtype=torch.float64)
        ref = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(E, dtype=torch.float64))
    randomize_biases(ref)
    ours = tn.from_torch(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x, mem = rng.standard_normal((2, 5, E)), rng.standard_normal((2, 3, E))
    xt, memt = t(x, grad=True), t(mem, grad=True)
    if which == "encoder_no_norm":
        assert ours.norm is None
        ro, oo = ref(xt), ours.forward(x)
    else:
        mask = tn.generate_square_subsequent_mask(5, bool)
        ro, oo = ref(xt, memt, tgt_mask=t(mask)), ours.forward(x, mem, tgt_mask=mask)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    grads = ours.backward(G)
    if which == "encoder_no_norm":
        np.testing.assert_allclose(grads, xt.grad.numpy(), **TORCH_TOL)
    else:
        np.testing.assert_allclose(grads[0], xt.grad.numpy(), **TORCH_TOL)
        np.testing.assert_allclose(grads[1], memt.grad.numpy(), **TORCH_TOL)
    compare_grads(ours, ref)


@pytest.mark.parametrize("norm_first", [False, True])
def test_sublayer_helpers_are_the_residual_and_norm_of_both_placements(norm_first, rng, gradcheck):
    """``sublayer_forward`` / ``sublayer_backward``: post-norm ``norm(x + f(x))`` or pre-norm
    ``x + f(norm(x))``, and the gradient through both paths (checked by finite differences)."""
    from transformer_anatomy.numpy.transformer import sublayer_backward, sublayer_forward

    norm, f = tn.LayerNorm(4, dtype=np.float64), tn.Linear(4, 4, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 3, 4))
    y = sublayer_forward(x, f, norm, norm_first)
    expected = x + f(norm(x)) if norm_first else norm(x + f(x))
    np.testing.assert_allclose(y, expected, rtol=0, atol=0)
    gradcheck.module(f, lambda: sublayer_forward(x, f, norm, norm_first), {"x": x},
                     lambda G: {"x": sublayer_backward(G, f.backward, norm, norm_first)}, rng)


def test_default_layout_is_sequence_first_as_torch(rng):
    """``batch_first=False`` by default, as ``torch.nn``: (L, N, E) in and out."""
    for m in (tn.MultiheadAttention(8, 2), tn.TransformerEncoderLayer(8, 2), tn.TransformerDecoderLayer(8, 2),
              tn.Transformer(8, 2, 1, 1, 16)):
        assert m.batch_first is False
    ref = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, dtype=torch.float64).eval()
    ours = tn.Transformer(8, 2, 1, 1, 16, dropout=0.0, dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    src, tgt = rng.standard_normal((5, 2, 8)), rng.standard_normal((4, 2, 8))
    with torch.no_grad():
        expected = ref(torch.tensor(src), torch.tensor(tgt)).numpy()
    np.testing.assert_allclose(ours(src, tgt), expected, **TORCH_TOL)
