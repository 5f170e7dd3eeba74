"""The decoder-only core in NumPy: causal (grouped-query) attention against torch's
``scaled_dot_product_attention`` and a repeat-kv reference, its bottom-right alignment for a
KV cache, finite differences of its backward, ``warp_logits`` against HF's warpers, the
``KVCache`` and ``CausalLM.generate`` on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_anatomy.numpy.causal_lm import (
    causal_attention,
    causal_attention_backward,
    warp_logits,
)
from transformer_anatomy.numpy.kv_cache import KVCache
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient

TOL64 = dict(rtol=1e-10, atol=1e-10)


def _qkv(rng, N=2, H=4, Hk=2, T=5, S=5, D=6):
    q = rng.standard_normal((N, H, T, D))
    k = rng.standard_normal((N, Hk, S, D))
    v = rng.standard_normal((N, Hk, S, D))
    return q, k, v


# -- causal_attention ------------------------------------------------------------------------
def test_mha_equals_torch_sdpa_is_causal(rng):
    q, k, v = _qkv(rng, H=3, Hk=3)
    out = causal_attention(q, k, v)
    ref = F.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True)
    np.testing.assert_allclose(out, ref.numpy(), **TOL64)


@pytest.mark.parametrize("H,Hk", [(4, 2), (4, 1), (6, 3)])
def test_gqa_equals_repeat_kv_reference(rng, H, Hk):
    q, k, v = _qkv(rng, H=H, Hk=Hk)
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[1, 3:] = True  # right padding in row 1
    out = causal_attention(q, k, v, key_padding_mask=kpm, scale=0.3)
    rep = H // Hk  # HF's repeat_kv: head h reads kv head h // rep
    kr, vr = (torch.tensor(np.repeat(a, rep, axis=1)) for a in (k, v))
    allowed = torch.tensor(~np.triu(np.ones((5, 5), bool), 1))[None, None] & torch.tensor(~kpm)[:, None, None, :]
    ref = F.scaled_dot_product_attention(torch.tensor(q), kr, vr, attn_mask=allowed, scale=0.3)
    np.testing.assert_allclose(out, ref.numpy(), **TOL64)


@pytest.mark.parametrize("T", [1, 2, 4])
def test_bottom_right_alignment_is_the_last_rows(rng, T):
    q, k, v = _qkv(rng, T=7, S=7, H=4, Hk=2)
    full = causal_attention(q, k, v)
    part = causal_attention(q[:, :, -T:], k, v)  # the T newest queries against all 7 keys
    np.testing.assert_allclose(part, full[:, :, -T:], **TOL64)


def test_fully_masked_row_gives_zeros(rng):
    q, k, v = _qkv(rng, N=1, T=3, S=3)
    kpm = np.array([[True, False, False]])  # query 0 sees only key 0, which is padding
    out, cache = causal_attention(q, k, v, key_padding_mask=kpm, return_cache=True)
    assert np.all(np.isfinite(out)) and np.all(out[0, :, 0] == 0.0)
    dq, dk, dv = causal_attention_backward(np.ones_like(out), cache)
    assert all(np.all(np.isfinite(g)) for g in (dq, dk, dv)) and np.all(dq[0, :, 0] == 0.0)


@pytest.mark.parametrize("H,Hk,T,S,pad", [(2, 2, 4, 4, False), (4, 2, 3, 5, True), (3, 1, 4, 4, True)])
def test_backward_finite_differences(rng, H, Hk, T, S, pad):
    q, k, v = _qkv(rng, N=2, H=H, Hk=Hk, T=T, S=S, D=4)
    kpm = None
    if pad:
        kpm = np.zeros((2, S), dtype=bool)
        kpm[0, -1] = True
    G = rng.standard_normal(q.shape)

    def loss():
        return float(np.sum(causal_attention(q, k, v, key_padding_mask=kpm, scale=0.7) * G))

    _, cache = causal_attention(q, k, v, key_padding_mask=kpm, scale=0.7, return_cache=True)
    grads = causal_attention_backward(G, cache)
    for name, x, g in zip("qkv", (q, k, v), grads):
        assert g.shape == x.shape
        num = numerical_gradient(loss, x, h=1e-6)
        assert max_relative_error(g, num) < 1e-6, name
    if pad:  # the padded key gets no gradient
        assert np.all(grads[1][0, :, -1] == 0.0) and np.all(grads[2][0, :, -1] == 0.0)


def test_float32_stays_float32(rng):
    q, k, v = (a.astype(np.float32) for a in _qkv(rng))
    out, cache = causal_attention(q, k, v, return_cache=True)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in causal_attention_backward(np.ones_like(out), cache))


@pytest.mark.parametrize("bad,match", [
    (dict(q=np.ones((1, 3, 2, 4)), k=np.ones((1, 2, 2, 4))), "not a multiple"),
    (dict(q=np.ones((1, 2, 3, 4)), k=np.ones((1, 2, 2, 4))), "S >= T"),
    (dict(q=np.ones((1, 2, 2, 4)), k=np.ones((1, 2, 2, 5))), "share N"),
    (dict(q=np.ones((2, 2, 4)), k=np.ones((1, 2, 2, 4))), "4-D"),
    (dict(key_padding_mask=np.zeros((1, 3), bool)), "key_padding_mask"),
    (dict(key_padding_mask=np.zeros((1, 2))), "key_padding_mask"),
])
def test_bad_inputs_named(bad, match):
    args = dict(q=np.ones((1, 2, 2, 4)), k=np.ones((1, 2, 2, 4)), key_padding_mask=None)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        causal_attention(args["q"], args["k"], args["k"], key_padding_mask=args["key_padding_mask"])
    with pytest.raises(TypeError, match="dtype int64"):
        causal_attention(np.ones((1, 2, 2, 4), dtype=np.int64), np.ones((1, 2, 2, 4)), np.ones((1, 2, 2, 4)))


# -- warp_logits vs HF's warpers -------------------------------------------------------------
def _hf_warp(logits, temperature=1.0, top_k=None, top_p=None):
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    x = torch.tensor(logits)
    ids = torch.zeros((x.shape[0], 1), dtype=torch.long)
    x = TemperatureLogitsWarper(temperature)(ids, x)
    if top_k is not None:
        x = TopKLogitsWarper(top_k)(ids, x)
    if top_p is not None:
        x = TopPLogitsWarper(top_p)(ids, x)
    return x.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [dict(temperature=0.7), dict(top_k=3), dict(top_k=50), dict(top_p=0.8),
                                dict(top_p=0.05), dict(top_p=0.0), dict(temperature=1.5, top_k=5, top_p=0.6),
                                dict(temperature=0.5, top_k=1)])
def test_warp_logits_equals_hf(rng, kw, dtype):
    logits = (rng.standard_normal((6, 20)) * 2).astype(dtype)
    out = warp_logits(logits, **kw)
    assert out.dtype == dtype and out.shape == logits.shape
    np.testing.assert_array_equal(np.isinf(out), np.isinf(_hf_warp(logits, **kw)))
    np.testing.assert_allclose(out, _hf_warp(logits, **kw), rtol=1e-6)
    assert np.all(np.isfinite(out).sum(-1) >= 1)  # at least one token is kept


@pytest.mark.parametrize("kw", [dict(top_k=2), dict(top_k=3), dict(top_p=0.5), dict(top_p=0.3),
                                dict(top_k=4, top_p=0.7)])
def test_warp_logits_ties_as_hf(kw):
    logits = np.array([[1.0, 2.0, 2.0, 2.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                       [3.0, 1.0, 3.0, 1.0, 1.0, -1.0]])
    np.testing.assert_array_equal(np.isinf(warp_logits(logits, **kw)), np.isinf(_hf_warp(logits, **kw)))


def test_warp_logits_leaves_its_input_and_checks_arguments():
    x = np.array([[1.0, 2.0, 3.0]])
    warp_logits(x, temperature=2.0, top_k=1, top_p=0.5)
    assert x.tolist() == [[1.0, 2.0, 3.0]]
    for kw, err, name in [(dict(temperature=0.0), ValueError, "temperature"), (dict(top_k=0), ValueError, "top_k"),
                          (dict(top_k=1.5), TypeError, "top_k"), (dict(top_p=1.5), ValueError, "top_p"),
                          (dict(top_p="0.5"), TypeError, "top_p")]:
        with pytest.raises(err, match=name):
            warp_logits(x, **kw)
    with pytest.raises(TypeError, match="logits"):
        warp_logits(np.array([[1, 2]]))


# -- KVCache ---------------------------------------------------------------------------------
def test_kv_cache_reorder_and_memory():
    k = np.arange(2 * 1 * 3 * 2, dtype=np.float64).reshape(2, 1, 3, 2)
    cache = KVCache([{"self_k": k, "self_v": k + 100}], length=3)
    assert cache.memory_bytes() == 2 * k.nbytes
    cache.reorder(np.array([1, 1, 0]))
    assert cache.layers[0]["self_k"].shape == (3, 1, 3, 2)
    np.testing.assert_array_equal(cache.layers[0]["self_v"][2], k[0] + 100)
    assert cache.length == 3 and KVCache().memory_bytes() == 0
    with pytest.raises(TypeError, match="index"):
        cache.reorder(np.array([0.5]))
