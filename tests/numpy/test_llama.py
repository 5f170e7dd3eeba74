"""Llama's pieces in NumPy (RMSNorm, RoPE, SwiGLU) against HuggingFace's modeling_llama, built
from a small LlamaConfig (no download): float64 at 1e-10 (forward, and our hand-written
gradients vs autograd through HF's modules), float32 at 1e-5, central finite differences for
every backward, RoPE's relative-position property, and the boundary checks.

HF computes RMSNorm and the RoPE angles in float32 even for a float64 model
(``hidden_states.to(torch.float32)``, ``inv_freq`` in ``torch.float``). For the float64
comparisons HF's own code runs with that float32 made float64 (:func:`hf_in_float64`, which
swaps the ``torch`` name inside ``modeling_llama`` for a proxy); the unpatched HF float64 is
shown to be float32-accurate only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from transformers.models.llama import modeling_llama as hf

from tests.hf_helpers import hf_in_float64, llama_config
from transformer_anatomy.errors import BackwardError, BackwardShapeError
from transformer_anatomy.numpy.llama import (
    RMSNorm,
    RotaryEmbedding,
    SwiGLU,
    apply_rotary,
    apply_rotary_backward,
    rotate_half,
)

TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_GRAD = dict(rtol=1e-3, atol=1e-4)


config = llama_config


def t(a, dtype=torch.float64, grad=False):
    return torch.tensor(np.asarray(a), dtype=dtype, requires_grad=grad)


# -- RMSNorm --------------------------------------------------------------------------------
def _hf_rms(E, eps, weight, dtype):
    ref = hf.LlamaRMSNorm(E, eps=eps).to(dtype)
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(weight))
    return ref


def test_rms_norm_float64_vs_hf_forward_and_grads(rng):
    E, eps = 24, 1e-6
    norm = RMSNorm(E, eps=eps, dtype=np.float64)
    norm.weight[...] = rng.standard_normal(E)
    ref = _hf_rms(E, eps, norm.weight, torch.float64)
    x = rng.standard_normal((2, 5, E)) * 3
    G = rng.standard_normal(x.shape)
    xt = t(x, grad=True)
    with hf_in_float64():
        out = ref(xt)
    out.backward(t(G))
    np.testing.assert_allclose(norm.forward(x), out.detach().numpy(), **TOL64)
    np.testing.assert_allclose(norm.backward(G), xt.grad.numpy(), **TOL64)
    np.testing.assert_allclose(norm.grads["weight"], ref.weight.grad.numpy(), **TOL64)
    # and torch's own float64 RMSNorm
    np.testing.assert_allclose(norm.forward(x), torch.nn.functional.rms_norm(
        t(x), (E,), t(norm.weight), eps).numpy(), **TOL64)


def test_unpatched_hf_float64_rms_norm_is_only_float32_accurate(rng):
    E = 24
    norm = RMSNorm(E, dtype=np.float64)
    ref = _hf_rms(E, 1e-6, norm.weight, torch.float64)
    x = rng.standard_normal((4, E))
    diff = np.abs(norm.forward(x) - ref(t(x)).detach().numpy()).max()
    assert 1e-12 < diff < 1e-5  # HF computed it in float32; ours in float64


def test_rms_norm_float32_vs_hf(rng):
    E = 16
    norm = RMSNorm(E, eps=1e-5)
    norm.weight[...] = rng.standard_normal(E).astype(np.float32)
    ref = _hf_rms(E, 1e-5, norm.weight, torch.float32)
    x = rng.standard_normal((3, 4, E)).astype(np.float32)
    G = rng.standard_normal(x.shape).astype(np.float32)
    xt = t(x, torch.float32, grad=True)
    out = ref(xt)
    out.backward(t(G, torch.float32))
    y = norm.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, out.detach().numpy(), **TOL32)
    np.testing.assert_allclose(norm.backward(G), xt.grad.numpy(), **TOL32_GRAD)
    np.testing.assert_allclose(norm.grads["weight"], ref.weight.grad.numpy(), **TOL32_GRAD)


def test_rms_norm_finite_differences(rng, gradcheck):
    norm = RMSNorm(7, eps=1e-6, dtype=np.float64)
    norm.weight[...] = rng.standard_normal(7)
    x = rng.standard_normal((3, 2, 7)) + 0.5
    gradcheck.module(norm, lambda: norm.forward(x), {"x": x}, lambda G: {"x": norm.backward(G)}, rng)


def test_rms_norm_loads_hf_state_dict():
    ref = hf.LlamaRMSNorm(8)
    norm = RMSNorm(8)
    norm.load_state_dict(ref.state_dict(), strict=True)
    assert sorted(norm.state_dict()) == sorted(ref.state_dict()) == ["weight"]


# -- rotary position embedding ---------------------------------------------------------------
@pytest.mark.parametrize("theta", [10000.0, 500000.0, 37.5])
def test_rotary_embedding_float64_vs_hf(rng, theta):
    cfg = config(hidden_size=32, num_attention_heads=4, rope_theta=theta)
    D = 8
    pos = rng.integers(0, 2048, size=(2, 9))
    with hf_in_float64():
        ref = hf.LlamaRotaryEmbedding(cfg)
        cos_r, sin_r = ref(torch.zeros(1, dtype=torch.float64), torch.tensor(pos))
    cos, sin = RotaryEmbedding(D, 2048, theta, dtype=np.float64)(pos)
    assert cos.shape == (2, 9, D) and cos.dtype == np.float64
    # float64 angles up to 2047 rad: rounding of position * inv_freq, ~2047 * 2.2e-16
    np.testing.assert_allclose(cos, cos_r.numpy(), **TOL64)
    np.testing.assert_allclose(sin, sin_r.numpy(), **TOL64)
    cos1, sin1 = RotaryEmbedding(D, 2048, theta, dtype=np.float64)(pos[0])  # (T,) -> (T, D)
    np.testing.assert_array_equal(cos1, cos[0])


def test_rotary_embedding_float32_vs_hf(rng):
    cfg = config(hidden_size=48, num_attention_heads=3)  # head_dim 16
    pos = np.arange(64)[None].repeat(2, 0)
    ref = hf.LlamaRotaryEmbedding(cfg)
    cos_r, sin_r = ref(torch.zeros(1), torch.tensor(pos))
    rope = RotaryEmbedding(16)
    np.testing.assert_allclose(rope.inv_freq, ref.inv_freq.numpy(), **TOL32)
    cos, sin = rope(pos)
    assert cos.dtype == np.float32
    np.testing.assert_allclose(cos, cos_r.numpy(), **TOL32)
    np.testing.assert_allclose(sin, sin_r.numpy(), **TOL32)


@pytest.mark.parametrize("D, H", [(8, 4), (64, 2)])
def test_rotary_embedding_float32_long_positions_as_accurate_as_hf(D, H):
    """Up to position 2047, float32 angles carry ~1e-4 of rounding (position · ulp(inv_freq)),
    and NumPy's and torch's float32 ``pow`` differ by an ulp for some ``inv_freq``; so compare
    both with the float64 angles: ours is no further from them than HF's own float32."""
    cfg = config(hidden_size=D * H, num_attention_heads=H)
    pos = np.arange(2048)[None]
    cos_r, sin_r = hf.LlamaRotaryEmbedding(cfg)(torch.zeros(1), torch.tensor(pos))
    cos, sin = RotaryEmbedding(D)(pos)
    cos64, sin64 = RotaryEmbedding(D, dtype=np.float64)(pos)
    for ours, theirs, exact in ((cos, cos_r.numpy(), cos64), (sin, sin_r.numpy(), sin64)):
        hf_err = np.abs(theirs - exact).max()
        assert np.abs(ours - exact).max() <= 1.5 * hf_err + 1e-6
        assert np.abs(ours - theirs).max() <= 2 * hf_err + 1e-6


def test_rotate_half_matches_hf(rng):
    x = rng.standard_normal((2, 3, 4, 6))
    np.testing.assert_array_equal(rotate_half(x), hf.rotate_half(t(x)).numpy())


@pytest.mark.parametrize("per_batch", [True, False])
def test_apply_rotary_float64_vs_hf_forward_and_grads(rng, per_batch):
    N, H, Hk, T, D = 2, 4, 2, 5, 8
    rope = RotaryEmbedding(D, dtype=np.float64)
    pos = rng.integers(0, 100, size=(N, T)) if per_batch else np.arange(T)
    cos, sin = rope(pos)
    q, k = rng.standard_normal((N, H, T, D)), rng.standard_normal((N, Hk, T, D))
    Gq, Gk = rng.standard_normal(q.shape), rng.standard_normal(k.shape)
    qt, kt = t(q, grad=True), t(k, grad=True)
    cos_t, sin_t = t(cos), t(sin)
    if not per_batch:  # HF wants (N, T, D) with unsqueeze_dim=1
        cos_t, sin_t = cos_t.expand(N, T, D), sin_t.expand(N, T, D)
    q_r, k_r = hf.apply_rotary_pos_emb(qt, kt, cos_t, sin_t)
    (q_r * t(Gq)).sum().add((k_r * t(Gk)).sum()).backward()
    q_rot, k_rot = apply_rotary(q, k, cos, sin)
    np.testing.assert_allclose(q_rot, q_r.detach().numpy(), **TOL64)
    np.testing.assert_allclose(k_rot, k_r.detach().numpy(), **TOL64)
    dq, dk = apply_rotary_backward(Gq, Gk, cos, sin)
    np.testing.assert_allclose(dq, qt.grad.numpy(), **TOL64)
    np.testing.assert_allclose(dk, kt.grad.numpy(), **TOL64)


def test_apply_rotary_float32_vs_hf(rng):
    N, H, T, D = 2, 3, 6, 8
    cos, sin = RotaryEmbedding(D)(np.arange(T)[None].repeat(N, 0))
    q, k = (rng.standard_normal((N, H, T, D)).astype(np.float32) for _ in range(2))
    q_r, k_r = hf.apply_rotary_pos_emb(t(q, torch.float32), t(k, torch.float32), t(cos, torch.float32),
                                       t(sin, torch.float32))
    q_rot, k_rot = apply_rotary(q, k, cos, sin)
    assert q_rot.dtype == np.float32
    np.testing.assert_allclose(q_rot, q_r.numpy(), **TOL32)
    np.testing.assert_allclose(k_rot, k_r.numpy(), **TOL32)


def test_apply_rotary_finite_differences(rng, gradcheck):
    N, H, Hk, T, D = 1, 2, 1, 4, 6
    cos, sin = RotaryEmbedding(D, dtype=np.float64)(np.arange(3, 3 + T))
    q, k = rng.standard_normal((N, H, T, D)), rng.standard_normal((N, Hk, T, D))
    Gq, Gk = rng.standard_normal(q.shape), rng.standard_normal(k.shape)

    def loss() -> float:
        q_rot, k_rot = apply_rotary(q, k, cos, sin)
        return float(np.sum(q_rot * Gq) + np.sum(k_rot * Gk))

    dq, dk = apply_rotary_backward(Gq, Gk, cos, sin)
    gradcheck.fd(loss, q, dq, rng, name="q")
    gradcheck.fd(loss, k, dk, rng, name="k")


def test_rotation_preserves_norms(rng):
    cos, sin = RotaryEmbedding(8, dtype=np.float64)(np.arange(50))
    q = rng.standard_normal((1, 2, 50, 8))
    q_rot, _ = apply_rotary(q, q, cos, sin)
    np.testing.assert_allclose(np.linalg.norm(q_rot, axis=-1), np.linalg.norm(q, axis=-1), **TOL64)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(0, 1000), n=st.integers(0, 1000), shift=st.integers(0, 1000),
       seed=st.integers(0, 2**32 - 1), theta=st.sampled_from([10.0, 10000.0, 500000.0]))
def test_rope_scores_depend_only_on_relative_position(m, n, shift, seed, theta):
    """``<R_m q, R_n k> = <R_{m+s} q, R_{n+s} k>``: the score sees only ``m - n``."""
    r = np.random.default_rng(seed)
    D = 8
    q, k = r.standard_normal((1, 1, 1, D)), r.standard_normal((1, 1, 1, D))
    rope = RotaryEmbedding(D, rope_theta=theta, dtype=np.float64)

    def score(a: int, b: int) -> float:
        cq, sq = rope(np.array([a]))
        ck, sk = rope(np.array([b]))
        q_rot, _ = apply_rotary(q, q, cq, sq)
        _, k_rot = apply_rotary(k, k, ck, sk)
        return float(np.sum(q_rot * k_rot))

    scale = np.linalg.norm(q) * np.linalg.norm(k)
    assert abs(score(m, n) - score(m + shift, n + shift)) <= 1e-9 * scale


# -- SwiGLU --------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [False, True])
def test_swiglu_float64_vs_hf_llama_mlp(rng, bias):
    cfg = config(mlp_bias=bias)
    ref = hf.LlamaMLP(cfg).double()
    mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size, bias=bias, dtype=np.float64)
    mlp.load_state_dict(ref.state_dict(), strict=True)
    x = rng.standard_normal((2, 5, cfg.hidden_size)) * 2
    G = rng.standard_normal(x.shape)
    xt = t(x, grad=True)
    out = ref(xt)
    out.backward(t(G))
    np.testing.assert_allclose(mlp.forward(x), out.detach().numpy(), **TOL64)
    np.testing.assert_allclose(mlp.backward(G), xt.grad.numpy(), **TOL64)
    assert sorted(mlp.grads) == sorted(k for k, _ in ref.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(mlp.grads[name], p.grad.numpy(), **TOL64, err_msg=name)


def test_swiglu_float32_vs_hf_llama_mlp(rng):
    cfg = config()
    ref = hf.LlamaMLP(cfg)
    mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size)
    mlp.load_state_dict(ref.state_dict(), strict=True)
    x = rng.standard_normal((3, cfg.hidden_size)).astype(np.float32)
    G = rng.standard_normal(x.shape).astype(np.float32)
    xt = t(x, torch.float32, grad=True)
    out = ref(xt)
    out.backward(t(G, torch.float32))
    y = mlp.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, out.detach().numpy(), **TOL32)
    np.testing.assert_allclose(mlp.backward(G), xt.grad.numpy(), **TOL32_GRAD)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(mlp.grads[name], p.grad.numpy(), **TOL32_GRAD, err_msg=name)


@pytest.mark.parametrize("bias", [False, True])
def test_swiglu_finite_differences(rng, gradcheck, bias):
    mlp = SwiGLU(5, 7, bias=bias, dtype=np.float64, rng=1)
    x = rng.standard_normal((2, 3, 5)) * 2
    gradcheck.module(mlp, lambda: mlp.forward(x), {"x": x}, lambda G: {"x": mlp.backward(G)}, rng)


def test_swiglu_large_gates_are_finite():
    mlp = SwiGLU(2, 3, dtype=np.float64, rng=0)
    y = mlp.forward(np.array([[1e4, -1e4]]))
    assert np.isfinite(y).all() and np.isfinite(mlp.backward(np.ones_like(y))).all()


# -- boundaries ------------------------------------------------------------------------------
@pytest.mark.parametrize("make, exc, words", [
    (lambda: RMSNorm(0), ValueError, "hidden_size=0"),
    (lambda: RMSNorm(4.0), TypeError, "hidden_size=4.0"),
    (lambda: RMSNorm(4, eps=-1e-6), ValueError, "eps=-1e-06"),
    (lambda: RMSNorm(4, dtype=np.int64), ValueError, "dtype"),
    (lambda: RotaryEmbedding(7), ValueError, "head_dim=7"),
    (lambda: RotaryEmbedding(0), ValueError, "head_dim=0"),
    (lambda: RotaryEmbedding(8, rope_theta=0.0), ValueError, "rope_theta=0.0"),
    (lambda: RotaryEmbedding(8, rope_theta=-5.0), ValueError, "rope_theta=-5.0"),
    (lambda: RotaryEmbedding(8, max_position_embeddings=0), ValueError, "max_position_embeddings=0"),
    (lambda: RotaryEmbedding(8, rope_type="linear"), ValueError, "rope_type='linear'"),
    (lambda: SwiGLU(0, 4), ValueError, "hidden_size=0"),
    (lambda: SwiGLU(4, -1), ValueError, "intermediate_size=-1"),
    (lambda: SwiGLU(4, 8, bias=1), TypeError, "bias=1"),
])
def test_bad_constructor_arguments(make, exc, words):
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(".", r"\.")):
        make()


def test_bad_inputs_name_the_argument():
    norm = RMSNorm(4)
    with pytest.raises(ValueError, match="x has shape"):
        norm.forward(np.ones((2, 5)))
    with pytest.raises(TypeError, match="x has dtype int64"):
        norm.forward(np.ones((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="hidden_size=4"):
        SwiGLU(4, 8).forward(np.ones((2, 3)))
    rope = RotaryEmbedding(4)
    with pytest.raises(TypeError, match="position_ids must be integers"):
        rope.forward(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="position_ids has shape"):
        rope.forward(np.zeros((1, 2, 3), dtype=int))
    cos, sin = rope.forward(np.arange(3))
    q = np.ones((1, 2, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="4-D"):
        apply_rotary(q[0], q[0], cos, sin)
    with pytest.raises(ValueError, match=r"cos \(3, 4\) does not fit q \(1, 2, 5, 4\)"):
        apply_rotary(np.ones((1, 2, 5, 4)), np.ones((1, 2, 5, 4)), cos, sin)
    with pytest.raises(ValueError, match="must share N, T and D"):
        apply_rotary(q, np.ones((2, 2, 3, 4)), cos, sin)
    with pytest.raises(ValueError, match="must be even"):
        apply_rotary(np.ones((1, 1, 3, 5)), np.ones((1, 1, 3, 5)), cos, sin)
    with pytest.raises(TypeError, match="q has dtype int64"):
        apply_rotary(np.ones((1, 2, 3, 4), dtype=np.int64), q, cos, sin)
    with pytest.raises(ValueError, match="dq_rot"):
        apply_rotary_backward(np.ones((1, 2, 5, 4)), np.ones((1, 2, 5, 4)), cos, sin)
    with pytest.raises(ValueError, match="even D"):
        rotate_half(np.ones(3))


def test_backward_before_forward_and_wrong_shape():
    for m in (RMSNorm(4), SwiGLU(4, 6)):
        with pytest.raises(BackwardError, match="before forward"):
            m.backward(np.ones((2, 4), dtype=np.float32))
        m.forward(np.ones((2, 4), dtype=np.float32))
        with pytest.raises(BackwardShapeError, match=r"dy has shape \(3, 4\)"):
            m.backward(np.ones((3, 4), dtype=np.float32))


def test_to_float64_recomputes_rope_and_casts():
    rope = RotaryEmbedding(8).to(np.float64)
    assert rope.inv_freq.dtype == np.float64
    np.testing.assert_allclose(rope.inv_freq, RotaryEmbedding(8, dtype=np.float64).inv_freq, **TOL64)
    norm = RMSNorm(4, dtype=np.float64)
    assert norm.forward(np.ones((1, 4), dtype=np.float32)).dtype == np.float64
