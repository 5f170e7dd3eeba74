"""FlashAttention in NumPy == naive attention (forward and backward) for every tiling, against
finite differences, with extreme logits, and its memory claim measured with tracemalloc."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_anatomy.numpy.attention import (
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from transformer_anatomy.numpy.flash import (
    flash_attention,
    flash_attention_backward,
    flash_attention_forward,
)
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient

F64 = dict(rtol=1e-10, atol=1e-10)
F32 = dict(rtol=1e-5, atol=1e-5)
F32_GRAD = dict(rtol=1e-3, atol=1e-4)


def qkv(rng, lead, T, S, D, Dv=None, dtype=np.float64):
    Dv = D if Dv is None else Dv
    return (rng.standard_normal((*lead, T, D)).astype(dtype), rng.standard_normal((*lead, S, D)).astype(dtype),
            rng.standard_normal((*lead, S, Dv)).astype(dtype))


def naive(q, k, v, dout, is_causal, scale=None):
    """Output, lse and gradients of the naive attention (the whole (T, S) matrix)."""
    out, _, cache = scaled_dot_product_attention(q, k, v, is_causal=is_causal, scale=scale, return_cache=True)
    s = (q * cache.scale) @ np.swapaxes(k, -1, -2)
    if is_causal:
        s = np.where(np.triu(np.ones(s.shape[-2:], dtype=bool), k=1), -np.inf, s)
    m = s.max(axis=-1)
    lse = m + np.log(np.exp(s - m[..., None]).sum(axis=-1))
    return out, lse, scaled_dot_product_attention_backward(dout, cache)


def check_all(q, k, v, is_causal, tol, grad_tol, **blocks):
    rng = np.random.default_rng(1)
    dout = rng.standard_normal((*q.shape[:-1], v.shape[-1])).astype(q.dtype)
    out, lse = flash_attention_forward(q, k, v, is_causal=is_causal, **blocks)
    grads = flash_attention_backward(dout, q, k, v, out, lse, is_causal=is_causal, **blocks)
    ref_out, ref_lse, ref_grads = naive(q, k, v, dout, is_causal)
    assert out.dtype == lse.dtype == q.dtype and all(g.dtype == q.dtype for g in grads)
    np.testing.assert_allclose(out, ref_out, **tol)
    np.testing.assert_allclose(lse, ref_lse, **tol)
    for name, g, r in zip("qkv", grads, ref_grads):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, **grad_tol, err_msg=f"d{name}")


T, S_LONG, S_SHORT = 7, 10, 5


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("S", [T, S_LONG, S_SHORT], ids=["S=T", "S>T", "S<T"])
@pytest.mark.parametrize("block", [1, 3, T, T + 5], ids=["b1", "b3", "bT", "b>T"])
def test_equals_naive_float64(block, S, is_causal):
    q, k, v = qkv(np.random.default_rng(0), (2, 3), T, S, 4)
    check_all(q, k, v, is_causal, F64, F64, block_size=block)


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("bq,bk", [(1, 4), (4, 1), (2, 3), (3, 2), (16, 5)])
def test_separate_block_sizes(bq, bk, is_causal):
    q, k, v = qkv(np.random.default_rng(2), (2,), 9, 11, 3, Dv=5)
    check_all(q, k, v, is_causal, F64, F64, block_size_q=bq, block_size_k=bk)
    q, k, v = qkv(np.random.default_rng(3), (2,), 11, 6, 3)
    check_all(q, k, v, is_causal, F64, F64, block_size_q=bq, block_size_k=bk)


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("block", [1, 3, 64])
def test_equals_naive_float32(block, is_causal):
    q, k, v = qkv(np.random.default_rng(4), (2, 2), 8, 6, 4, dtype=np.float32)
    check_all(q, k, v, is_causal, F32, F32_GRAD, block_size=block)


@pytest.mark.parametrize("lead", [(), (3,), (2, 3), (2, 1, 2)])
def test_leading_axes(lead):
    q, k, v = qkv(np.random.default_rng(5), lead, 5, 6, 2)
    check_all(q, k, v, True, F64, F64, block_size=2)
    assert flash_attention(q, k, v).shape == (*lead, 5, 2)


def test_custom_scale():
    q, k, v = qkv(np.random.default_rng(6), (2,), 5, 4, 3)
    dout = np.ones((2, 5, 3))
    out, lse = flash_attention_forward(q, k, v, scale=0.3, block_size=2)
    ref_out, ref_lse, ref_grads = naive(q, k, v, dout, False, scale=0.3)
    np.testing.assert_allclose(out, ref_out, **F64)
    np.testing.assert_allclose(lse, ref_lse, **F64)
    for g, r in zip(flash_attention_backward(dout, q, k, v, out, lse, scale=0.3, block_size=2), ref_grads):
        np.testing.assert_allclose(g, r, **F64)


@pytest.mark.parametrize("is_causal", [False, True])
def test_finite_differences(is_causal):
    rng = np.random.default_rng(7)
    q, k, v = qkv(rng, (2,), 5, 6, 3)
    G = rng.standard_normal((2, 5, 3))

    def loss():
        return float(np.sum(flash_attention(q, k, v, is_causal=is_causal, block_size=2) * G))

    out, lse = flash_attention_forward(q, k, v, is_causal=is_causal, block_size=2)
    grads = flash_attention_backward(G, q, k, v, out, lse, is_causal=is_causal, block_size=2)
    for name, x, g in zip("qkv", (q, k, v), grads):
        numeric = numerical_gradient(loss, x, h=1e-6)
        assert np.abs(numeric).max() > 1e-3, name
        err = max_relative_error(g, numeric)
        assert err < 1e-6, f"d{name}: relative error {err:.2e}"


@settings(max_examples=15, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=2), T=st.integers(1, 9), S=st.integers(1, 9),
       D=st.integers(1, 5), block=st.integers(1, 10), is_causal=st.booleans(), seed=st.integers(0, 2**16))
def test_hypothesis_shapes(lead, T, S, D, block, is_causal, seed):
    q, k, v = qkv(np.random.default_rng(seed), tuple(lead), T, S, D)
    check_all(q, k, v, is_causal, F64, F64, block_size=block)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("is_causal", [False, True])
def test_extreme_logits_stay_finite(dtype, is_causal):
    """Scores in the thousands (and their differences): the running max keeps every exp <= 1."""
    rng = np.random.default_rng(8)
    q, k, v = qkv(rng, (2,), 6, 6, 4, dtype=dtype)
    q = (q * 300).astype(dtype)
    k = (k * 30).astype(dtype)
    s = (q @ np.swapaxes(k, -1, -2)) / 2
    assert np.abs(s).max() > 1000
    out, lse = flash_attention_forward(q, k, v, is_causal=is_causal, block_size=2)
    dq, dk, dv = flash_attention_backward(np.ones_like(out), q, k, v, out, lse, is_causal=is_causal, block_size=2)
    assert all(np.isfinite(a).all() for a in (out, lse, dq, dk, dv))
    ref_out, _ = scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    np.testing.assert_allclose(out, ref_out, **(F64 if dtype == np.float64 else F32))


def test_no_keys_gives_zeros():
    q, k, v = np.ones((2, 3, 4)), np.ones((2, 0, 4)), np.ones((2, 0, 5))
    out, lse = flash_attention_forward(q, k, v, is_causal=True)
    assert out.shape == (2, 3, 5) and not out.any() and (lse == -np.inf).all()
    dq, dk, dv = flash_attention_backward(np.ones_like(out), q, k, v, out, lse)
    assert dq.shape == q.shape and not dq.any() and dk.shape == k.shape and dv.shape == v.shape
    assert flash_attention(np.ones((0, 4)), np.ones((3, 4)), np.ones((3, 4))).shape == (0, 4)


def test_causality_top_left():
    """Changing keys/values after position i leaves the outputs of queries <= i unchanged."""
    rng = np.random.default_rng(9)
    q, k, v = qkv(rng, (), 6, 8, 3)
    out = flash_attention(q, k, v, is_causal=True, block_size=3)
    k2, v2 = k.copy(), v.copy()
    k2[4:], v2[4:] = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    out2 = flash_attention(q, k2, v2, is_causal=True, block_size=3)
    np.testing.assert_array_equal(out[:4], out2[:4])
    assert not np.allclose(out[4:], out2[4:])


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(block_size=0), ValueError, "block_size must be a positive integer, got block_size=0"),
    (dict(block_size=-3), ValueError, "block_size=-3"),
    (dict(block_size=2.0), TypeError, "block_size=2.0"),
    (dict(block_size_q=0), ValueError, "block_size_q=0"),
    (dict(block_size_k=0), ValueError, "block_size_k=0"),
    (dict(is_causal=1), TypeError, "is_causal=1"),
    (dict(scale="x"), TypeError, "scale='x'"),
    (dict(scale=float("nan")), ValueError, "scale=nan"),
])
def test_bad_arguments(kwargs, err, match):
    x = np.ones((2, 3, 4))
    with pytest.raises(err, match=match.replace("(", r"\(").replace(")", r"\)")):
        flash_attention(x, x, x, **kwargs)


@pytest.mark.parametrize("shapes,match", [
    (((2, 3, 4), (2, 5, 3), (2, 5, 4)), r"q \(2, 3, 4\) and k \(2, 5, 3\) must have the same feature size"),
    (((2, 3, 4), (2, 5, 4), (2, 6, 4)), r"k \(2, 5, 4\) and v \(2, 6, 4\) must have the same length S"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 4)), "must have the same leading axes"),
    (((4,), (5, 4), (5, 4)), r"q must be at least 2-D .* got q \(4,\)"),
])
def test_bad_shapes(shapes, match):
    q, k, v = (np.ones(s) for s in shapes)
    with pytest.raises(ValueError, match=match):
        flash_attention(q, k, v)


def test_bad_dtype_and_backward_shapes():
    x = np.ones((2, 3, 4))
    with pytest.raises(TypeError, match="q must be a floating-point array, got dtype int64"):
        flash_attention(x.astype(np.int64), x, x)
    out, lse = flash_attention_forward(x, x, x)
    with pytest.raises(ValueError, match=r"dout \(2, 3, 3\) and out \(2, 3, 4\) must have the shape \(2, 3, 4\)"):
        flash_attention_backward(np.ones((2, 3, 3)), x, x, x, out, lse)
    with pytest.raises(ValueError, match=r"lse \(2, 3, 1\) must have the shape \(2, 3\)"):
        flash_attention_backward(out, x, x, x, out, lse[..., None])


def test_float32_and_float64_mix_promotes():
    x32, x64 = np.ones((3, 4), np.float32), np.ones((3, 4))
    assert flash_attention(x32, x32, x32).dtype == np.float32
    assert flash_attention(x32, x64, x32).dtype == np.float64


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_far_below_naive():
    """Deterministic: tracemalloc counts NumPy's allocations, not wall-clock or RSS. At T = 512
    the naive (T, T) matrices dominate; flash keeps only (block, block) tiles and O(T·D) rows."""
    rng = np.random.default_rng(10)
    q, k, v = qkv(rng, (), 512, 512, 16)
    naive_peak = _peak(lambda: scaled_dot_product_attention(q, k, v, is_causal=True))
    flash_peak = _peak(lambda: flash_attention_forward(q, k, v, is_causal=True, block_size=64))
    assert naive_peak >= 512 * 512 * 8  # at least one (T, T) float64 matrix
    assert flash_peak < naive_peak / 8, (flash_peak, naive_peak)
    # and it stays far below one (T, T) matrix: output + lse + tiles
    assert flash_peak < 512 * 512 * 8 / 4
