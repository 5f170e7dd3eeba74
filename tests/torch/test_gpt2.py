"""Our torch GPT-2 against HuggingFace's ``GPT2LMHeadModel`` built from small ``GPT2Config`` s (no
download): float64 logits at 1e-10 with and without a right-padded attention_mask, every
autograd gradient (HF's names; the tied ``transformer.wte.weight`` once) at 1e-10, float32 at
1e-5; ``Conv1D`` = HF's; the KV cache = recompute = HF ``generate``; ``gpt2_from_hf``; configs
refused by name; bad inputs named; the NumPy twin's signatures and numbers.

HF's GPT-2 has no float32 upcast in its default (sdpa) attention, so float64 needs no patch.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import transformers
from transformers.pytorch_utils import Conv1D as HFConv1D

from transformer_anatomy.errors import StateDictError, TokenIdError, UnsupportedConfigError
from transformer_anatomy.torch.gpt2 import (Conv1D, GPT2Block, GPT2LMHeadModel, GPT2MLP, GPT2Model, check_gpt2_config,
                                            gpt2_from_hf)
from transformer_anatomy.torch.hf import check_hf_config, from_hf
from transformer_anatomy.torch.kv_cache import KVCache

F64 = torch.float64
TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_GRAD = dict(rtol=1e-3, atol=1e-4)

CONFIGS = {
    "small": dict(n_embd=16, n_layer=1, n_head=2),
    "two-layers-n_inner": dict(n_embd=24, n_layer=2, n_head=3, n_inner=20, layer_norm_epsilon=1e-4),
    "untied": dict(n_embd=16, n_layer=2, n_head=4, tie_word_embeddings=False),
}


def gpt2_config(**kw) -> transformers.GPT2Config:
    base = dict(vocab_size=13, n_positions=32, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    base.update(kw)
    return transformers.GPT2Config(**base)


def hf_model(dtype=F64, seed=0, **kw) -> transformers.GPT2LMHeadModel:
    torch.manual_seed(seed)
    m = transformers.GPT2LMHeadModel(gpt2_config(**kw)).to(dtype).eval()
    with torch.no_grad():  # weights large enough that every part matters (HF: biases 0, norms 1)
        for name, p in m.named_parameters():
            norm = ".ln_" in name or name.startswith("transformer.ln_f")
            p.copy_(torch.randn_like(p) * (0.1 if norm else 0.3) + (1.0 if norm and name.endswith("weight") else 0.0))
    return m


def batch(V, N=3, T=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, V, (N, T), generator=g)
    mask = torch.ones(N, T, dtype=torch.long)
    mask[1 % N, T - 2:] = 0  # right padding
    mask[2 % N, T - 3:] = 0
    return ids, mask


@pytest.mark.parametrize("dtype, tol", [(F64, TOL64), (torch.float32, TOL32)])
def test_conv1d_matches_hf(dtype, tol):
    hf = HFConv1D(5, 3).to(dtype)
    ours = Conv1D(5, 3, dtype=dtype)
    ours.load_state_dict(hf.state_dict(), strict=True)
    x = torch.randn(2, 4, 3, dtype=dtype)
    torch.testing.assert_close(ours(x), hf(x), **tol)


def test_gpt2_mlp_gelu_is_hf_gelu_new():
    act = GPT2MLP(4, 8, dtype=F64).act
    x = torch.linspace(-6, 6, 101, dtype=F64)
    torch.testing.assert_close(act(x), transformers.activations.NewGELUActivation()(x), **TOL64)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("padded", [False, True])
def test_float64_logits_and_gradients_match_hf(name, padded):
    hf = hf_model(**CONFIGS[name])
    ours = gpt2_from_hf(hf)
    ids, mask = batch(hf.config.vocab_size)
    mask = mask if padded else None
    keep = torch.ones(ids.shape, dtype=torch.bool) if mask is None else mask.bool()
    W = torch.randn(*ids.shape, hf.config.vocab_size, generator=torch.Generator().manual_seed(2), dtype=F64)
    logits, ref = ours(ids, mask), hf(ids, attention_mask=mask).logits
    assert logits.dtype == F64
    torch.testing.assert_close(logits[keep], ref[keep], **TOL64)
    (logits * W)[keep].sum().backward()
    (ref * W)[keep].sum().backward()
    theirs, mine = dict(hf.named_parameters()), dict(ours.named_parameters())
    assert list(mine) == list(theirs)  # same names, same order, the tied embedding once
    for key, p in mine.items():
        torch.testing.assert_close(p.grad, theirs[key].grad, **TOL64, msg=key)


def test_float64_logits_match_hf_eager_attention():
    hf = hf_model(**CONFIGS["two-layers-n_inner"], attn_implementation="eager")
    assert hf.config._attn_implementation == "eager"
    ids, mask = batch(hf.config.vocab_size)
    keep = mask.bool()
    torch.testing.assert_close(gpt2_from_hf(hf)(ids, mask)[keep], hf(ids, attention_mask=mask).logits[keep], **TOL64)


def test_reorder_and_upcast_attn_is_accepted_same_numbers_in_float32():
    """HF's mixed-precision order (scale before the product, softmax in float32) is the same
    arithmetic: accepted, float32 logits match at 1e-5 (a float64 HF model refuses it itself)."""
    hf = hf_model(torch.float32, **CONFIGS["two-layers-n_inner"], attn_implementation="eager",
                  reorder_and_upcast_attn=True)
    ids, _ = batch(hf.config.vocab_size)
    torch.testing.assert_close(gpt2_from_hf(hf)(ids), hf(ids).logits, **TOL32)


def test_float32_logits_and_gradients_match_hf():
    hf = hf_model(torch.float32, **CONFIGS["two-layers-n_inner"])
    ours = gpt2_from_hf(hf)
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
    ours = gpt2_from_hf(hf_model(**CONFIGS["two-layers-n_inner"]))
    ids, mask = batch(ours.vocab_size, T=8)
    full = ours(ids, mask)
    cache = KVCache()
    parts = [ours(ids[:, :2], mask[:, :2], cache=cache)]
    for t in range(2, 8):
        parts.append(ours(ids[:, t:t + 1], mask[:, :t + 1], cache=cache))
    keep = mask.bool()
    torch.testing.assert_close(torch.cat(parts, dim=1)[keep], full[keep], **TOL64)
    assert cache.length == 8 and tuple(cache.layers[1]["self_v"].shape) == (3, 3, 8, 8)  # (N, H, t, E/H)


@pytest.mark.parametrize("name", CONFIGS)
def test_greedy_generate_matches_hf_with_and_without_cache(name):
    hf = hf_model(**CONFIGS[name])
    ours = gpt2_from_hf(hf)
    ids, _ = batch(hf.config.vocab_size, N=2, T=4)
    ref = hf.generate(ids, max_new_tokens=6, do_sample=False)
    assert torch.equal(ours.generate(ids, max_new_tokens=6), ref)
    assert torch.equal(ours.generate(ids, max_new_tokens=6, use_cache=False), ref)


def test_sampling_is_reproducible():
    ours = gpt2_from_hf(hf_model(**CONFIGS["small"]))
    ids, _ = batch(ours.vocab_size, N=3, T=2)
    kw = dict(max_new_tokens=8, do_sample=True, temperature=1.2, top_p=0.8)
    a = ours.generate(ids, seed=11, **kw)
    assert torch.equal(a, ours.generate(ids, seed=11, **kw))
    assert torch.equal(a, ours.generate(ids, seed=11, use_cache=False, **kw))


# -- from_hf -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_from_hf_dtype_eval_and_no_shared_memory(dtype):
    hf = hf_model(dtype, **CONFIGS["small"]).train()
    ours = from_hf(hf)
    assert isinstance(ours, GPT2LMHeadModel) and not ours.training
    assert all(p.dtype == dtype for p in ours.parameters())
    assert ours.lm_head.weight is ours.transformer.wte.weight
    assert sorted(ours.state_dict()) == sorted(hf.state_dict())
    theirs = {t.untyped_storage().data_ptr() for t in hf.state_dict().values()}
    assert not theirs & {t.untyped_storage().data_ptr() for t in ours.state_dict().values()}
    assert ours.num_parameters() == hf.num_parameters()
    untied = from_hf(hf_model(dtype, **CONFIGS["untied"]))
    assert untied.lm_head.weight is not untied.transformer.wte.weight and not untied.tie_word_embeddings


def test_from_hf_refuses_other_dtypes_and_classes():
    with pytest.raises(TypeError, match="float16"):
        gpt2_from_hf(hf_model(torch.float16, **CONFIGS["small"]))
    with pytest.raises(TypeError, match="got GPT2Model"):
        gpt2_from_hf(transformers.GPT2Model(gpt2_config(n_embd=8, n_layer=1, n_head=2)))
    with pytest.raises(TypeError, match="got GPT2Model"):
        from_hf(transformers.GPT2Model(gpt2_config(n_embd=8, n_layer=1, n_head=2)))


@pytest.mark.parametrize("kw, words", [
    (dict(activation_function="relu"), "activation_function='relu'"),
    (dict(scale_attn_weights=False), "scale_attn_weights=False"),
    (dict(scale_attn_by_inverse_layer_idx=True), "scale_attn_by_inverse_layer_idx=True"),
    (dict(add_cross_attention=True), "add_cross_attention=True"),
])
def test_unsupported_configs_are_refused_by_name(kw, words):
    config = gpt2_config(n_embd=8, n_head=2, **kw)
    for check in (check_gpt2_config, check_hf_config):
        with pytest.raises(UnsupportedConfigError, match=words):
            check(config)


def test_tied_state_dict_is_checked():
    hf = hf_model(**CONFIGS["small"])
    ours = GPT2LMHeadModel(13, 16, 1, 2, 32, dtype=F64)
    sd = hf.state_dict()
    ours.load_state_dict(sd, strict=True)
    ours.load_state_dict({k: v for k, v in sd.items() if k != "lm_head.weight"}, strict=True)
    with pytest.raises(StateDictError, match="lm_head.weight differs"):
        ours.load_state_dict(dict(sd, **{"lm_head.weight": sd["lm_head.weight"] * 2}))


# -- boundaries ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make, exc, words", [
    (lambda: GPT2LMHeadModel(11, n_embd=10, n_head=4), ValueError, "n_embd=10 is not divisible by n_head=4"),
    (lambda: GPT2LMHeadModel(11, n_layer=0), ValueError, "n_layer=0"),
    (lambda: GPT2LMHeadModel(11, n_positions=0), ValueError, "n_positions=0"),
    (lambda: GPT2LMHeadModel(11, n_inner=0), ValueError, "n_inner=0"),
    (lambda: GPT2LMHeadModel(11, layer_norm_epsilon=-1.0), ValueError, "layer_norm_epsilon=-1.0"),
    (lambda: GPT2LMHeadModel(11, tie_word_embeddings="yes"), TypeError, "tie_word_embeddings='yes'"),
    (lambda: Conv1D(0, 3), ValueError, "nf=0"),
])
def test_bad_constructor_arguments_are_named(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_bad_inputs_are_named():
    m = GPT2LMHeadModel(11, n_embd=8, n_layer=1, n_head=2, n_positions=6)
    with pytest.raises(TokenIdError, match="token id 12 is out of range for vocabulary size 11"):
        m(torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="input_ids has T=7 positions, more than n_positions=6"):
        m(torch.zeros(2, 7, dtype=torch.long))
    cache = KVCache()
    m(torch.zeros(1, 6, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match=r"positions 0..6 \(cache length 6 \+ T=1\) exceed n_positions=6"):
        m(torch.zeros(1, 1, dtype=torch.long), cache=cache)
    short = KVCache()
    m(torch.zeros(1, 2, dtype=torch.long), cache=short)
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 2\), expected \(N, cache length \+ T\)"):
        m(torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 2), cache=short)
    with pytest.raises(ValueError, match=r"does not fit input_ids with N=2 rows"):
        m(torch.zeros(2, 1, dtype=torch.long), cache=short)
    with pytest.raises(ValueError, match="expected at least one position"):
        m(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"cache \(length=1\) holds self_k of shape None"):
        m(torch.zeros(1, 1, dtype=torch.long), cache=KVCache([{}], 1))
    with pytest.raises(TypeError, match="x has dtype float64, the model is float32"):
        m.transformer.h[0](torch.ones(1, 2, 8, dtype=F64))
    with pytest.raises(ValueError, match="nx=8"):
        m.transformer.h[0].attn.c_attn(torch.ones(1, 2, 5))


# -- the NumPy twin ---------------------------------------------------------------------------------
def _params(obj):
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
            if p.name not in ("self", "rng", "dtype", "device")]


@pytest.mark.parametrize("name", ["Conv1D", "GPT2Attention", "GPT2MLP", "GPT2Block", "GPT2Model", "GPT2LMHeadModel"])
def test_same_signatures_as_numpy(name):
    ng = pytest.importorskip("transformer_anatomy.numpy.gpt2")
    import transformer_anatomy.torch.gpt2 as tg

    ours, twin = getattr(tg, name), getattr(ng, name)
    assert _params(ours.__init__) == _params(twin.__init__)
    assert _params(ours.forward) == _params(twin.forward)


def test_matches_the_numpy_twin():
    ng = pytest.importorskip("transformer_anatomy.numpy.gpt2")
    hf = hf_model(**CONFIGS["two-layers-n_inner"])
    ours, twin = gpt2_from_hf(hf), ng.gpt2_from_hf(hf)
    ids, mask = batch(hf.config.vocab_size)
    keep = mask.numpy().astype(bool)
    np.testing.assert_allclose(ours(ids, mask).detach().numpy()[keep], twin(ids.numpy(), mask.numpy())[keep], **TOL64)
    assert np.array_equal(ours.generate(ids, max_new_tokens=4).numpy(), twin.generate(ids.numpy(), max_new_tokens=4))
    assert [k for k, _ in GPT2Model(5, 8, 1, 2).named_parameters()] == list(ng.GPT2Model(5, 8, 1, 2).params)
    assert GPT2Block(8, 2).num_parameters() == ng.GPT2Block(8, 2).num_parameters()
