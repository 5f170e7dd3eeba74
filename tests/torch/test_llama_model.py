"""Our torch ``LlamaForCausalLM`` against HuggingFace's, built from small ``LlamaConfig`` s (no
download): float64 logits at 1e-10 with and without a right-padded attention_mask, every
autograd gradient (HF's parameter names, tied weights once) at 1e-10, float32 at 1e-5; the KV
cache = recompute = HF ``generate`` (greedy) token for token; seeded sampling; ``from_hf``;
configs refused by name; bad inputs named; the NumPy twin's signatures and numbers.

For float64, HF's code runs with its float32 upcasts made float64 (``hf_in_float64``).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import transformers

from tests.hf_helpers import hf_in_float64, llama_config
from transformer_anatomy.errors import StateDictError, TokenIdError, UnsupportedConfigError
from transformer_anatomy.torch.causal_lm import warp_logits
from transformer_anatomy.torch.hf import check_hf_config, from_hf
from transformer_anatomy.torch.kv_cache import KVCache
from transformer_anatomy.torch.llama import (LlamaAttention, LlamaForCausalLM, LlamaModel, check_llama_config,
                                             llama_from_hf)

F64 = torch.float64
TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_GRAD = dict(rtol=1e-3, atol=1e-4)

CONFIGS = {
    "mha": dict(),
    "gqa": dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2,
                intermediate_size=24),
    "mqa-tied-bias": dict(hidden_size=16, num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True,
                          attention_bias=True, mlp_bias=True, rope_theta=500.0, rms_norm_eps=1e-5),
}


def hf_model(dtype=F64, seed=0, **kw) -> transformers.LlamaForCausalLM:
    torch.manual_seed(seed)
    with hf_in_float64() if dtype == F64 else torch.no_grad():  # RoPE's inv_freq is made at init, in float32
        m = transformers.LlamaForCausalLM(llama_config(**kw)).to(dtype).eval()
    with torch.no_grad():  # weights large enough that every part matters (HF: biases 0, norms 1)
        for name, p in m.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if "norm" in name else 0.3) + (1.0 if "norm" in name else 0.0))
    return m


def batch(V, N=3, T=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (N, T), generator=g)
    mask = torch.ones(N, T, dtype=torch.long)
    mask[1 % N, T - 2:] = 0  # right padding
    mask[2 % N, T - 3:] = 0
    return ids, mask


def hf_logits(hf, ids, mask=None, dtype=F64):
    if dtype == F64:
        with hf_in_float64():
            return hf(ids, attention_mask=mask).logits
    return hf(ids, attention_mask=mask).logits


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("padded", [False, True])
def test_float64_logits_and_gradients_match_hf(name, padded):
    hf = hf_model(**CONFIGS[name])
    ours = llama_from_hf(hf)
    ids, mask = batch(hf.config.vocab_size)
    mask = mask if padded else None
    keep = torch.ones(ids.shape, dtype=torch.bool) if mask is None else mask.bool()
    W = torch.randn(*ids.shape, hf.config.vocab_size, generator=torch.Generator().manual_seed(2), dtype=F64)
    logits, ref = ours(ids, mask), hf_logits(hf, ids, mask)
    assert logits.dtype == F64 and logits.shape == ref.shape
    torch.testing.assert_close(logits[keep], ref[keep], **TOL64)
    (logits * W)[keep].sum().backward()
    with hf_in_float64():
        (hf(ids, attention_mask=mask).logits * W)[keep].sum().backward()
    theirs = dict(hf.named_parameters())
    mine = dict(ours.named_parameters())
    assert list(mine) == list(theirs)  # same names, same order, tied weight once
    for key, p in mine.items():
        torch.testing.assert_close(p.grad, theirs[key].grad, **TOL64, msg=key)


def test_float64_logits_match_hf_eager_attention():
    hf = hf_model(**CONFIGS["gqa"], attn_implementation="eager")  # HF's reference path: repeat_kv, matmuls
    assert hf.config._attn_implementation == "eager"
    ids, mask = batch(hf.config.vocab_size)
    keep = mask.bool()
    torch.testing.assert_close(llama_from_hf(hf)(ids, mask)[keep], hf_logits(hf, ids, mask)[keep], **TOL64)


@pytest.mark.parametrize("name", ["gqa", "mqa-tied-bias"])
def test_float32_logits_and_gradients_match_hf(name):
    hf = hf_model(torch.float32, **CONFIGS[name])
    ours = llama_from_hf(hf)
    ids, mask = batch(hf.config.vocab_size)
    keep = mask.bool()
    logits, ref = ours(ids, mask), hf(ids, attention_mask=mask).logits
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits[keep], ref[keep], **TOL32)
    logits[keep].square().sum().backward()
    ref[keep].square().sum().backward()
    theirs = dict(hf.named_parameters())
    for key, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, theirs[key].grad, **TOL32_GRAD, msg=key)


def test_kv_cache_forward_equals_the_full_forward():
    ours = llama_from_hf(hf_model(**CONFIGS["gqa"]))
    ids, mask = batch(ours.vocab_size, T=8)
    full = ours(ids, mask)
    cache = KVCache()
    parts = [ours(ids[:, :3], mask[:, :3], cache=cache)]
    for t in range(3, 8):
        parts.append(ours(ids[:, t:t + 1], mask[:, :t + 1], cache=cache))
    keep = mask.bool()
    torch.testing.assert_close(torch.cat(parts, dim=1)[keep], full[keep], **TOL64)
    assert cache.length == 8 and len(cache.layers) == 2
    assert tuple(cache.layers[0]["self_k"].shape) == (3, 2, 8, 8)  # (N, Hk, t, D): Hk = 2 heads cached
    assert cache.memory_bytes() == 2 * 2 * 3 * 2 * 8 * 8 * 8  # layers x (k, v) x N x Hk x t x D x 8 bytes


@pytest.mark.parametrize("name", CONFIGS)
def test_greedy_generate_matches_hf_with_and_without_cache(name):
    hf = hf_model(**CONFIGS[name])
    ours = llama_from_hf(hf)
    ids, _ = batch(hf.config.vocab_size, N=2, T=4)
    with hf_in_float64():
        ref = hf.generate(ids, max_new_tokens=6, do_sample=False)
    cached = ours.generate(ids, max_new_tokens=6)
    assert cached.dtype == torch.long and cached.shape == (2, 10)
    assert torch.equal(cached, ref)
    assert torch.equal(ours.generate(ids, max_new_tokens=6, use_cache=False), ref)


def test_greedy_generate_matches_hf_float32():
    hf = hf_model(torch.float32, **CONFIGS["gqa"])
    ids, _ = batch(hf.config.vocab_size, N=2, T=3)
    assert torch.equal(llama_from_hf(hf).generate(ids, max_new_tokens=5),
                       hf.generate(ids, max_new_tokens=5, do_sample=False))


@pytest.mark.parametrize("column", [3, 4])  # eos: row 0's 1st generated token (the others go on) / its 2nd
def test_eos_stops_and_pads_as_hf(column):
    hf = hf_model(**CONFIGS["mha"])
    ours = llama_from_hf(hf)
    ids, _ = batch(hf.config.vocab_size, N=3, T=3)
    free = ours.generate(ids, max_new_tokens=6)
    eos = int(free[0, column])
    with hf_in_float64():
        ref = hf.generate(ids, max_new_tokens=6, do_sample=False, eos_token_id=eos, pad_token_id=10)
    got = ours.generate(ids, max_new_tokens=6, eos_token_id=eos, pad_token_id=10)
    assert torch.equal(got, ref)
    assert (got[0, column + 1:] == 10).all()  # padded after its eos
    assert torch.equal(ours.generate(ids, max_new_tokens=6, eos_token_id=eos, pad_token_id=10, use_cache=False), ref)
    assert torch.equal(ours.generate(ids, max_new_tokens=6, eos_token_id=eos)[0, column:], torch.full_like(
        got[0, column:], eos))  # pad_token_id defaults to eos_token_id


def test_sampling_is_reproducible_and_keeps_only_warped_tokens():
    ours = llama_from_hf(hf_model(**CONFIGS["gqa"]))
    ids, _ = batch(ours.vocab_size, N=4, T=3)
    kw = dict(max_new_tokens=8, do_sample=True, temperature=0.8, top_k=4, top_p=0.9)
    a = ours.generate(ids, seed=7, **kw)
    assert torch.equal(a, ours.generate(ids, seed=7, **kw))
    assert torch.equal(a, ours.generate(ids, seed=7, use_cache=False, **kw))
    assert not torch.equal(a, ours.generate(ids, seed=8, **kw))
    logits = ours(a[:, :-1])  # every sampled token survives the warpers at its position
    for t in range(3, a.shape[1]):
        kept = torch.isfinite(warp_logits(logits[:, t - 1].float(), 0.8, 4, 0.9))
        assert kept.gather(1, a[:, t:t + 1]).all()
    torch.manual_seed(3)
    b = ours.generate(ids, **kw)  # seed=None: torch's global generator
    torch.manual_seed(3)
    assert torch.equal(b, ours.generate(ids, **kw))


def test_generate_restores_the_mode_and_needs_no_grad():
    ours = LlamaForCausalLM(11, hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2)
    ours.train()
    ours.model.layers[0].eval()
    out = ours.generate(torch.tensor([[1, 2]]), max_new_tokens=2)
    assert not out.requires_grad
    assert ours.training and not ours.model.layers[0].training and ours.lm_head.training


def test_gqa_with_kv_heads_equal_to_heads_is_mha():
    torch.manual_seed(0)
    a = LlamaAttention(16, 4, 4, dtype=F64)
    b = LlamaAttention(16, 4, None, dtype=F64)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 16, dtype=F64)
    cos, sin = LlamaModel(3, 16, 8, 1, 4, dtype=F64).rotary_emb(torch.arange(5))
    q = a.q_proj(x).view(2, 5, 4, 4).transpose(1, 2)
    k = a.k_proj(x).view(2, 5, 4, 4).transpose(1, 2)
    v = a.v_proj(x).view(2, 5, 4, 4).transpose(1, 2)
    from transformer_anatomy.torch.llama import apply_rotary

    q, k = apply_rotary(q, k, cos, sin)
    mha = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    want = a.o_proj(mha.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(a(x, cos, sin), want, **TOL64)
    torch.testing.assert_close(b(x, cos, sin), want, **TOL64)


# -- from_hf -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_from_hf_dtype_eval_and_no_shared_memory(dtype):
    hf = hf_model(dtype, **CONFIGS["mqa-tied-bias"]).train()
    ours = from_hf(hf)
    assert isinstance(ours, LlamaForCausalLM) and not ours.training
    assert all(p.dtype == dtype for p in ours.parameters())
    assert ours.lm_head.weight is ours.model.embed_tokens.weight
    assert sorted(ours.state_dict()) == sorted(hf.state_dict())
    theirs = {t.untyped_storage().data_ptr() for t in hf.state_dict().values()}
    assert not theirs & {t.untyped_storage().data_ptr() for t in ours.state_dict().values()}
    assert ours.num_parameters() == hf.num_parameters()
    assert hf.training  # HF's model is left as it was


def test_from_hf_refuses_other_classes_and_dtypes():
    with pytest.raises(TypeError, match="got Linear"):
        from_hf(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="got LlamaForCausalLM"):  # ours is not HF's
        from_hf(LlamaForCausalLM(11, 8, 8, 1, 2))
    with pytest.raises(TypeError, match="bfloat16"):
        from_hf(hf_model(torch.bfloat16))
    with pytest.raises(TypeError, match="config must be"):
        check_hf_config(object())


@pytest.mark.parametrize("kw, words", [
    (dict(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}), "rope_parameters="),
    (dict(hidden_act="gelu"), "hidden_act='gelu'"),
    (dict(pretraining_tp=2), "pretraining_tp=2"),
    (dict(head_dim=4), "head_dim=4"),
])
def test_unsupported_configs_are_refused_by_name(kw, words):
    config = llama_config(**kw)
    for check in (check_llama_config, check_hf_config):
        with pytest.raises(UnsupportedConfigError, match=words):
            check(config)


def test_state_dict_loads_strictly_and_tied_head_is_checked():
    hf = hf_model(**CONFIGS["mqa-tied-bias"])
    ours = LlamaForCausalLM(11, 16, 40, 1, 4, 1, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
                            dtype=F64)
    sd = hf.state_dict()
    ours.load_state_dict(sd, strict=True)
    no_head = {k: v for k, v in sd.items() if k != "lm_head.weight"}
    ours.load_state_dict(no_head, strict=True)  # a tied head may be absent
    bad = dict(sd, **{"lm_head.weight": sd["lm_head.weight"] + 1})
    with pytest.raises(StateDictError, match="lm_head.weight differs"):
        ours.load_state_dict(bad)
    with pytest.raises(StateDictError, match="missing keys"):
        LlamaForCausalLM(11, 16, 40, 1, 4, 1, dtype=F64).load_state_dict(no_head)


# -- boundaries ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make, exc, words", [
    (lambda: LlamaForCausalLM(11, hidden_size=10, num_attention_heads=4), ValueError,
     "hidden_size=10 is not divisible by num_attention_heads=4"),
    (lambda: LlamaForCausalLM(11, num_attention_heads=4, num_key_value_heads=3), ValueError,
     "num_attention_heads=4 is not divisible by num_key_value_heads=3"),
    (lambda: LlamaForCausalLM(0), ValueError, "vocab_size=0"),
    (lambda: LlamaForCausalLM(11, num_hidden_layers=0), ValueError, "num_hidden_layers=0"),
    (lambda: LlamaForCausalLM(11, rope_theta=-1.0), ValueError, "rope_theta=-1.0"),
    (lambda: LlamaForCausalLM(11, rms_norm_eps=-1.0), ValueError, "eps=-1.0"),
    (lambda: LlamaForCausalLM(11, tie_word_embeddings=1), TypeError, "tie_word_embeddings=1"),
    (lambda: LlamaForCausalLM(11, hidden_size=12, num_attention_heads=4), ValueError, "head_dim=3"),
])
def test_bad_constructor_arguments_are_named(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_bad_inputs_are_named():
    m = LlamaForCausalLM(11, 8, 8, 1, 2, max_position_embeddings=6)
    with pytest.raises(TokenIdError, match="token id 11 is out of range for vocabulary size 11"):
        m(torch.tensor([[1, 11]]))
    with pytest.raises(TokenIdError, match="token id -1"):
        m(torch.tensor([[-1, 2]]))
    with pytest.raises(TypeError, match="input_ids must be an integer tensor"):
        m(torch.ones(1, 2))
    with pytest.raises(ValueError, match="input_ids has T=7 positions, more than max_position_embeddings=6"):
        m(torch.zeros(1, 7, dtype=torch.long))
    cache = KVCache()
    m(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match=r"cache length 5 \+ T=2\) exceed max_position_embeddings=6"):
        m(torch.zeros(1, 2, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 3\), expected \(N, T\)=\(1, 2\)"):
        m(torch.zeros(1, 2, dtype=torch.long), torch.ones(1, 3))
    with pytest.raises(ValueError, match="only 0 \\(padding\\) and 1"):
        m(torch.zeros(1, 2, dtype=torch.long), torch.full((1, 2), 2))
    with pytest.raises(TypeError, match="cache must be a KVCache"):
        m(torch.zeros(1, 2, dtype=torch.long), cache={})
    assert m.generate(torch.zeros(1, 4, dtype=torch.long), max_new_tokens=3).shape == (1, 7)  # positions 0..5
    with pytest.raises(ValueError, match="max_new_tokens=4 needs 7 positions, more than the model's 6"):
        m.generate(torch.zeros(1, 4, dtype=torch.long), max_new_tokens=4)
    with pytest.raises(ValueError, match="max_new_tokens must be an integer >= 0"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), max_new_tokens=-1)
    with pytest.raises(ValueError, match="top_p=2.0"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), do_sample=True, top_p=2.0)
    with pytest.raises(ValueError, match="eos_token_id=11"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), eos_token_id=11)
    with pytest.raises(ValueError, match="seed=-1"):
        m.generate(torch.zeros(1, 2, dtype=torch.long), seed=-1)


# -- the NumPy twin ---------------------------------------------------------------------------------
def _params(obj):
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
            if p.name not in ("self", "rng", "dtype", "device")]


@pytest.mark.parametrize("name", ["LlamaAttention", "LlamaDecoderLayer", "LlamaModel", "LlamaForCausalLM"])
def test_same_signatures_as_numpy(name):
    nl = pytest.importorskip("transformer_anatomy.numpy.llama")
    import transformer_anatomy.torch.llama as tl

    ours, twin = getattr(tl, name), getattr(nl, name)
    assert _params(ours.__init__) == _params(twin.__init__)
    assert _params(ours.forward) == _params(twin.forward)


def test_matches_the_numpy_twin():
    nl = pytest.importorskip("transformer_anatomy.numpy.llama")
    hf = hf_model(**CONFIGS["gqa"])
    ours, twin = llama_from_hf(hf), nl.llama_from_hf(hf)
    ids, mask = batch(hf.config.vocab_size)
    keep = mask.numpy().astype(bool)
    np.testing.assert_allclose(ours(ids, mask).detach().numpy()[keep], twin(ids.numpy(), mask.numpy())[keep], **TOL64)
    assert np.array_equal(ours.generate(ids, max_new_tokens=4).numpy(), twin.generate(ids.numpy(), max_new_tokens=4))


def test_defaults_and_parameter_count_match_the_numpy_twin():
    nl = pytest.importorskip("transformer_anatomy.numpy.llama")
    for tie in (False, True):
        ours, twin = LlamaForCausalLM(50, tie_word_embeddings=tie), nl.LlamaForCausalLM(50, tie_word_embeddings=tie)
        assert ours.num_parameters() == twin.num_parameters()
        assert [k for k, _ in ours.named_parameters()] == list(twin.params)
        assert sorted(ours.state_dict()) == sorted(twin.state_dict())


def test_double_keeps_the_tie_and_the_rope_exact():
    m = LlamaForCausalLM(11, 8, 8, 1, 2, tie_word_embeddings=True).double()
    assert m.lm_head.weight is m.model.embed_tokens.weight and m.lm_head.weight.dtype == F64
    assert m.model.rotary_emb.inv_freq.dtype == F64
    assert m(torch.tensor([[1, 2]])).dtype == F64
