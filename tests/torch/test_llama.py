"""Llama's pieces from scratch in torch (RMSNorm, RoPE, SwiGLU) against HuggingFace's
modeling_llama built from a small LlamaConfig (no download): float64 forward and autograd
gradients at 1e-10, float32 at 1e-5, the NumPy twin on the same weights, RoPE's
relative-position property, and the boundary checks.

For float64, HF's code runs with its float32 upcasts made float64 (``hf_in_float64``): HF
computes RMSNorm and the RoPE angles in float32 whatever the model's dtype.
"""

from __future__ import annotations

import contextlib
import inspect

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from transformers.models.llama import modeling_llama as hf

import transformer_anatomy.numpy.llama as nl
from tests.hf_helpers import hf_in_float64, llama_config
from transformer_anatomy.torch.llama import RMSNorm, RotaryEmbedding, SwiGLU, apply_rotary, rotate_half

TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_GRAD = dict(rtol=1e-3, atol=1e-4)
F64 = torch.float64


config = llama_config


def close(a: torch.Tensor, b: torch.Tensor, tol: dict) -> None:
    torch.testing.assert_close(a, b, **tol)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


# -- RMSNorm --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, tol, gtol", [(F64, TOL64, TOL64), (torch.float32, TOL32, TOL32_GRAD)])
def test_rms_norm_vs_hf(gen, dtype, tol, gtol):
    E = 24
    ours = RMSNorm(E, eps=1e-5, dtype=dtype)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(E, generator=gen))
    ref = hf.LlamaRMSNorm(E, eps=1e-5).to(dtype)
    ref.load_state_dict(ours.state_dict())
    x = (torch.randn(2, 5, E, generator=gen) * 3).to(dtype)
    G = torch.randn(x.shape, generator=gen).to(dtype)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    with hf_in_float64() if dtype == F64 else contextlib.nullcontext():
        y_ref = ref(x2)
    y = ours(x1)
    close(y, y_ref, tol)
    (y * G).sum().backward()
    (y_ref * G).sum().backward()
    close(x1.grad, x2.grad, gtol)
    close(ours.weight.grad, ref.weight.grad, gtol)


def test_rms_norm_matches_numpy_twin(gen):
    ours = RMSNorm(6, eps=1e-6, dtype=F64)
    with torch.no_grad():
        ours.weight.copy_(torch.randn(6, generator=gen, dtype=F64))
    twin = nl.RMSNorm(6, eps=1e-6, dtype=np.float64)
    twin.load_state_dict(ours.state_dict())
    x = torch.randn(3, 6, generator=gen, dtype=F64)
    np.testing.assert_allclose(ours(x).detach().numpy(), twin(x.numpy()), **TOL64)


def test_rms_norm_gradcheck(gen):
    ours = RMSNorm(5, dtype=F64)
    x = torch.randn(2, 5, generator=gen, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(ours, (x,))


# -- rotary position embedding ---------------------------------------------------------------
@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rotary_embedding_float64_vs_hf(gen, theta):
    cfg = config(hidden_size=32, num_attention_heads=4, rope_theta=theta)
    pos = torch.randint(0, 2048, (2, 9), generator=gen)
    with hf_in_float64():
        cos_r, sin_r = hf.LlamaRotaryEmbedding(cfg)(torch.zeros(1, dtype=F64), pos)
    cos, sin = RotaryEmbedding(8, 2048, theta, dtype=F64)(pos)
    assert cos.dtype == F64 and tuple(cos.shape) == (2, 9, 8)
    close(cos, cos_r, TOL64)
    close(sin, sin_r, TOL64)


def test_rotary_embedding_float32_vs_hf():
    cfg = config(hidden_size=48, num_attention_heads=3)
    pos = torch.arange(64)[None].repeat(2, 1)
    ref = hf.LlamaRotaryEmbedding(cfg)
    ours = RotaryEmbedding(16)
    close(ours.inv_freq, ref.inv_freq, TOL32)
    cos_r, sin_r = ref(torch.zeros(1), pos)
    cos, sin = ours(pos)
    close(cos, cos_r, TOL32)
    close(sin, sin_r, TOL32)


def test_rotary_double_recomputes_inv_freq():
    rope = RotaryEmbedding(8).double()
    assert rope.inv_freq.dtype == F64
    close(rope.inv_freq, RotaryEmbedding(8, dtype=F64).inv_freq, TOL64)
    assert "inv_freq" not in rope.state_dict()  # non-persistent, as in HF


def test_rotate_half_matches_hf(gen):
    x = torch.randn(2, 3, 4, 6, generator=gen)
    assert torch.equal(rotate_half(x), hf.rotate_half(x))


@pytest.mark.parametrize("dtype, tol", [(F64, TOL64), (torch.float32, TOL32)])
def test_apply_rotary_vs_hf(gen, dtype, tol):
    N, H, Hk, T, D = 2, 4, 2, 5, 8
    cos, sin = RotaryEmbedding(D, dtype=dtype)(torch.randint(0, 100, (N, T), generator=gen))
    q = torch.randn(N, H, T, D, generator=gen).to(dtype).requires_grad_()
    k = torch.randn(N, Hk, T, D, generator=gen).to(dtype).requires_grad_()
    q_r, k_r = hf.apply_rotary_pos_emb(q, k, cos, sin)
    q_o, k_o = apply_rotary(q, k, cos, sin)
    close(q_o, q_r, tol)
    close(k_o, k_r, tol)
    gq, gk = torch.autograd.grad((q_o * q_o.detach().sin()).sum() + k_o.sum(), (q, k))
    gq_r, gk_r = torch.autograd.grad((q_r * q_r.detach().sin()).sum() + k_r.sum(), (q, k))
    close(gq, gq_r, tol)
    close(gk, gk_r, tol)
    # (T, D) angles broadcast over the batch
    cos1, sin1 = RotaryEmbedding(D, dtype=dtype)(torch.arange(T))
    close(apply_rotary(q, k, cos1, sin1)[0], apply_rotary(q, k, cos1.expand(N, T, D), sin1.expand(N, T, D))[0], tol)


def test_apply_rotary_matches_numpy_twin(gen):
    cos, sin = RotaryEmbedding(6, dtype=F64)(torch.arange(4))
    q = torch.randn(1, 2, 4, 6, generator=gen, dtype=F64)
    k = torch.randn(1, 1, 4, 6, generator=gen, dtype=F64)
    ncos, nsin = nl.RotaryEmbedding(6, dtype=np.float64)(np.arange(4))
    np.testing.assert_allclose(cos.numpy(), ncos, **TOL64)
    for a, b in zip(apply_rotary(q, k, cos, sin), nl.apply_rotary(q.numpy(), k.numpy(), ncos, nsin)):
        np.testing.assert_allclose(a.numpy(), b, **TOL64)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(0, 1000), n=st.integers(0, 1000), shift=st.integers(0, 1000), seed=st.integers(0, 2**31))
def test_rope_scores_depend_only_on_relative_position(m, n, shift, seed):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(1, 1, 1, 8, generator=g, dtype=F64), torch.randn(1, 1, 1, 8, generator=g, dtype=F64)
    rope = RotaryEmbedding(8, dtype=F64)

    def score(a: int, b: int) -> float:
        cq, sq = rope(torch.tensor([a]))
        ck, sk = rope(torch.tensor([b]))
        return float((apply_rotary(q, q, cq, sq)[0] * apply_rotary(k, k, ck, sk)[1]).sum())

    assert abs(score(m, n) - score(m + shift, n + shift)) <= 1e-9 * float(q.norm() * k.norm())


# -- SwiGLU --------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype, tol, gtol", [(F64, TOL64, TOL64), (torch.float32, TOL32, TOL32_GRAD)])
def test_swiglu_vs_hf_llama_mlp(gen, bias, dtype, tol, gtol):
    cfg = config(mlp_bias=bias)
    ref = hf.LlamaMLP(cfg).to(dtype)
    ours = SwiGLU(cfg.hidden_size, cfg.intermediate_size, bias=bias, dtype=dtype)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = (torch.randn(2, 5, cfg.hidden_size, generator=gen) * 2).to(dtype)
    G = torch.randn(x.shape, generator=gen).to(dtype)
    y, y_ref = ours(x), ref(x)
    close(y, y_ref, tol)
    (y * G).sum().backward()
    (y_ref * G).sum().backward()
    theirs = dict(ref.named_parameters())
    assert sorted(theirs) == sorted(k for k, _ in ours.named_parameters())
    for name, p in ours.named_parameters():
        close(p.grad, theirs[name].grad, gtol)


def test_swiglu_matches_numpy_twin(gen):
    ours = SwiGLU(4, 6, bias=True, dtype=F64)
    twin = nl.SwiGLU(4, 6, bias=True, dtype=np.float64)
    twin.load_state_dict(ours.state_dict())
    x = torch.randn(3, 4, generator=gen, dtype=F64)
    np.testing.assert_allclose(ours(x).detach().numpy(), twin(x.numpy()), **TOL64)


# -- boundaries and parity of signatures ----------------------------------------------------
@pytest.mark.parametrize("make, exc, words", [
    (lambda: RMSNorm(0), ValueError, "hidden_size=0"),
    (lambda: RMSNorm(4, eps=-1.0), ValueError, "eps=-1.0"),
    (lambda: RotaryEmbedding(7), ValueError, "head_dim=7"),
    (lambda: RotaryEmbedding(8, rope_theta=0.0), ValueError, "rope_theta=0.0"),
    (lambda: RotaryEmbedding(8, rope_type="yarn"), ValueError, "rope_type='yarn'"),
    (lambda: SwiGLU(4, 0), ValueError, "intermediate_size=0"),
    (lambda: SwiGLU(True, 4), TypeError, "hidden_size=True"),
])
def test_bad_constructor_arguments(make, exc, words):
    with pytest.raises(exc, match=words.replace(".", r"\.")):
        make()


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="hidden_size=4"):
        RMSNorm(4)(torch.ones(2, 5))
    with pytest.raises(TypeError, match="x has dtype float64, the model is float32"):
        RMSNorm(4)(torch.ones(2, 4, dtype=F64))
    with pytest.raises(TypeError, match="x has dtype int64"):
        SwiGLU(4, 6)(torch.ones(2, 4, dtype=torch.int64))
    rope = RotaryEmbedding(4)
    with pytest.raises(TypeError, match="position_ids must be integers"):
        rope(torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="position_ids must be a torch.Tensor"):
        rope([0, 1])
    cos, sin = rope(torch.arange(3))
    with pytest.raises(ValueError, match=r"cos \(3, 4\) does not fit q \(1, 2, 5, 4\)"):
        apply_rotary(torch.ones(1, 2, 5, 4), torch.ones(1, 2, 5, 4), cos, sin)
    with pytest.raises(ValueError, match="4-D"):
        apply_rotary(torch.ones(2, 3, 4), torch.ones(2, 3, 4), cos, sin)
    with pytest.raises(TypeError, match="k has dtype float64"):
        apply_rotary(torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4, dtype=F64), cos, sin)


@pytest.mark.parametrize("name", ["RMSNorm", "RotaryEmbedding", "SwiGLU", "apply_rotary", "rotate_half"])
def test_same_positional_arguments_and_defaults_as_numpy(name):
    import transformer_anatomy.torch.llama as tl

    def positional(obj):
        sig = inspect.signature(obj)
        return [(p.name, p.default) for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    assert positional(getattr(tl, name)) == positional(getattr(nl, name))
