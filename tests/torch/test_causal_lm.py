"""The decoder-only core in torch (``torch/causal_lm.py``): causal grouped-query attention
against a reference built from HF's ``repeat_kv`` and an explicit masked softmax, and against
``F.scaled_dot_product_attention(is_causal=True)`` for plain multi-head attention; the
bottom-right alignment of a cache; dead rows; ``torch.autograd.gradcheck``; ``warp_logits``
against HF's ``TemperatureLogitsWarper`` / ``TopKLogitsWarper`` / ``TopPLogitsWarper``; the
boundary checks; the same signatures as the NumPy twin.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper
from transformers.models.llama.modeling_llama import repeat_kv

from transformer_anatomy.torch.causal_lm import CausalLM, causal_attention, warp_logits

F64 = torch.float64
TOL64 = dict(rtol=1e-10, atol=1e-10)


def reference(q, k, v, pad=None):
    """HF's eager attention: repeat_kv, scores, an additive bottom-right causal + padding mask."""
    N, H, T, D = q.shape
    S = k.shape[2]
    kk, vv = repeat_kv(k, H // k.shape[1]), repeat_kv(v, H // k.shape[1])
    scores = q @ kk.transpose(-1, -2) / math.sqrt(D)
    blocked = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)  # key j > S - T + i
    blocked = blocked.expand(N, 1, T, S)
    if pad is not None:
        blocked = blocked | pad[:, None, None, :]
    p = scores.masked_fill(blocked, float("-inf")).softmax(-1)
    return p @ vv


def qkv(gen, N, H, Hk, T, S, D, dtype=F64):
    return (torch.randn(N, H, T, D, generator=gen, dtype=dtype), torch.randn(N, Hk, S, D, generator=gen, dtype=dtype),
            torch.randn(N, Hk, S, D, generator=gen, dtype=dtype))


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(16)


@pytest.mark.parametrize("H, Hk", [(4, 4), (4, 2), (4, 1), (6, 3)])
@pytest.mark.parametrize("T, S", [(5, 5), (1, 7), (3, 7)])
def test_causal_attention_matches_repeat_kv_reference(gen, H, Hk, T, S):
    q, k, v = qkv(gen, 2, H, Hk, T, S, 4)
    pad = torch.zeros(2, S, dtype=torch.bool)
    pad[1, S - 2:] = True  # right padding in row 1 (its last query rows still see real keys)
    torch.testing.assert_close(causal_attention(q, k, v), reference(q, k, v), **TOL64)
    torch.testing.assert_close(causal_attention(q, k, v, pad), reference(q, k, v, pad), **TOL64)


def test_gqa_with_as_many_kv_heads_is_plain_mha(gen):
    q, k, v = qkv(gen, 2, 4, 4, 6, 6, 8)
    torch.testing.assert_close(causal_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, is_causal=True),
                               **TOL64)
    torch.testing.assert_close(causal_attention(q, k, v, scale=0.3),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3), **TOL64)


def test_new_queries_are_the_last_rows_of_the_full_computation(gen):
    q, k, v = qkv(gen, 2, 4, 2, 7, 7, 4)
    full = causal_attention(q, k, v)
    for T in (1, 3, 7):
        torch.testing.assert_close(causal_attention(q[:, :, -T:], k, v), full[:, :, -T:], **TOL64)


def test_causality_and_padding_invariance(gen):
    q, k, v = qkv(gen, 1, 2, 1, 6, 6, 4)
    out = causal_attention(q, k, v)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 4:] += 5.0
    v2[:, :, 4:] -= 3.0
    torch.testing.assert_close(causal_attention(q, k2, v2)[:, :, :4], out[:, :, :4], **TOL64)
    pad = torch.tensor([[False] * 4 + [True] * 2])  # the changed keys are padding: nothing changes
    torch.testing.assert_close(causal_attention(q, k2, v2, pad)[:, :, :4], out[:, :, :4], **TOL64)


def test_a_row_with_every_key_masked_gives_zeros_and_finite_gradients(gen):
    q, k, v = (t.requires_grad_() for t in qkv(gen, 2, 2, 1, 3, 3, 4))
    pad = torch.tensor([[True, True, True], [False, True, False]])
    out = causal_attention(q, k, v, pad)
    assert torch.equal(out[0], torch.zeros_like(out[0]))
    assert torch.equal(out[1, :, 0], torch.zeros_like(out[1, :, 0])) is False  # row 1 sees key 0
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert torch.equal(q.grad[0], torch.zeros_like(q.grad[0]))


@pytest.mark.parametrize("H, Hk, T, S, padded", [(2, 2, 3, 3, False), (4, 2, 2, 5, True), (3, 1, 4, 4, True)])
def test_causal_attention_gradcheck(gen, H, Hk, T, S, padded):
    q, k, v = (t.requires_grad_() for t in qkv(gen, 2, H, Hk, T, S, 3))
    pad = torch.tensor([[False] * S, [False] * (S - 1) + [True]]) if padded else None
    assert torch.autograd.gradcheck(lambda a, b, c: causal_attention(a, b, c, pad), (q, k, v))


def test_causal_attention_float32(gen):
    q, k, v = qkv(gen, 2, 4, 2, 5, 5, 8, torch.float32)
    torch.testing.assert_close(causal_attention(q, k, v), reference(q, k, v), rtol=1e-5, atol=1e-5)


def test_causal_attention_matches_numpy_twin(gen):
    nl = pytest.importorskip("transformer_anatomy.numpy.causal_lm")
    q, k, v = qkv(gen, 2, 4, 2, 3, 5, 4)
    pad = torch.tensor([[False] * 5, [False] * 4 + [True]])
    np.testing.assert_allclose(causal_attention(q, k, v, pad).numpy(),
                               nl.causal_attention(q.numpy(), k.numpy(), v.numpy(), pad.numpy()), **TOL64)


@pytest.mark.parametrize("args, exc, words", [
    ((torch.ones(1, 3, 2, 4), torch.ones(1, 2, 2, 4), torch.ones(1, 2, 2, 4)), ValueError, "H=3 .* Hk=2"),
    ((torch.ones(1, 2, 4, 4), torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4)), ValueError, "S=3 .* T=4"),
    ((torch.ones(1, 2, 4), torch.ones(1, 2, 4), torch.ones(1, 2, 4)), ValueError, "q has shape"),
    ((torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 5), torch.ones(1, 2, 3, 5)), ValueError, "same N and D"),
    ((torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4, dtype=F64), torch.ones(1, 2, 3, 4)), TypeError, "one dtype"),
    ((np.ones((1, 2, 3, 4)), torch.ones(1, 2, 3, 4), torch.ones(1, 2, 3, 4)), TypeError, "q must be a torch.Tensor"),
])
def test_causal_attention_refuses_bad_shapes(args, exc, words):
    with pytest.raises(exc, match=words):
        causal_attention(*args)


def test_causal_attention_refuses_bad_masks():
    q = torch.ones(2, 2, 3, 4)
    with pytest.raises(ValueError, match=r"key_padding_mask has shape \(2, 2\), expected \(N, S\)=\(2, 3\)"):
        causal_attention(q, q, q, torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match="key_padding_mask must be a bool tensor"):
        causal_attention(q, q, q, torch.zeros(2, 3))


# -- warp_logits vs HF's warpers --------------------------------------------------------------
def hf_warp(logits, temperature=1.0, top_k=None, top_p=None):
    """What HF's ``generate`` applies when sampling: the warpers it adds, in its order."""
    ids = torch.zeros(logits.shape[0], 1, dtype=torch.long)
    if temperature != 1.0:
        logits = TemperatureLogitsWarper(temperature)(ids, logits)
    if top_k is not None:
        logits = TopKLogitsWarper(top_k)(ids, logits)
    if top_p is not None and top_p < 1.0:
        logits = TopPLogitsWarper(top_p)(ids, logits)
    return logits


@pytest.mark.parametrize("temperature, top_k, top_p", [
    (1.0, None, None), (0.7, None, None), (1.8, None, None), (1.0, 1, None), (1.0, 5, None), (1.0, 50, None),
    (1.0, None, 0.9), (1.0, None, 0.3), (1.0, None, 0.0), (1.0, None, 1.0), (0.6, 8, 0.8), (1.3, 3, 0.95),
])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_warp_logits_matches_hf_warpers(gen, temperature, top_k, top_p, dtype):
    logits = (torch.randn(6, 17, generator=gen) * 3).to(dtype)
    logits[0, :4] = logits[0, 4]  # ties at the top-k threshold and in the top-p sort
    ours = warp_logits(logits, temperature, top_k, top_p)
    assert ours.dtype == dtype and ours.shape == logits.shape
    theirs = hf_warp(logits.clone(), temperature, top_k, top_p)
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert (torch.isfinite(ours).sum(-1) >= 1).all()  # at least one token survives


def test_warp_logits_does_not_modify_its_input(gen):
    logits = torch.randn(2, 9, generator=gen)
    before = logits.clone()
    warp_logits(logits, 0.5, 3, 0.5)
    assert torch.equal(logits, before)


@pytest.mark.parametrize("kw, exc, words", [
    (dict(temperature=0.0), ValueError, "temperature=0.0"),
    (dict(temperature=-1.0), ValueError, "temperature=-1.0"),
    (dict(top_k=0), ValueError, "top_k=0"),
    (dict(top_k=2.5), TypeError, "top_k=2.5"),
    (dict(top_p=1.5), ValueError, "top_p=1.5"),
    (dict(top_p=-0.1), ValueError, "top_p=-0.1"),
])
def test_warp_logits_refuses_bad_arguments(kw, exc, words):
    with pytest.raises(exc, match=words):
        warp_logits(torch.zeros(1, 4), **kw)


def test_warp_logits_refuses_bad_logits():
    with pytest.raises(ValueError, match="floating \\(N, V\\)"):
        warp_logits(torch.zeros(4))
    with pytest.raises(ValueError, match="dtype int64"):
        warp_logits(torch.zeros(1, 4, dtype=torch.long))


# -- parity with the NumPy twin ---------------------------------------------------------------
def _params(obj):
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
            if p.name not in ("self", "rng", "dtype", "device", "return_cache")]


@pytest.mark.parametrize("name", ["causal_attention", "warp_logits"])
def test_same_signature_as_numpy(name):
    nl = pytest.importorskip("transformer_anatomy.numpy.causal_lm")
    import transformer_anatomy.torch.causal_lm as tl

    assert _params(getattr(tl, name)) == _params(getattr(nl, name))


def test_generate_has_the_numpy_signature():
    nl = pytest.importorskip("transformer_anatomy.numpy.causal_lm")
    assert _params(CausalLM.generate) == _params(nl.CausalLM.generate)
