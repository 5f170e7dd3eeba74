"""The NumPy Llama language model against HuggingFace's ``LlamaForCausalLM`` (built from a small
config, no download): float64 logits at 1e-10 with and without right padding, every gradient
vs autograd at 1e-10 (GQA, multi-query, tied / untied, biases), float32 at 1e-5, the KV cache,
``generate`` = HF ``generate``, sampling, ``from_hf`` and the config / argument checks.

HF float64 runs inside ``hf_in_float64()`` (HF upcasts RMSNorm and RoPE to float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from hypothesis import given, settings, strategies as st

from tests.hf_helpers import hf_in_float64, llama_config
from transformer_anatomy.errors import BackwardError, StateDictError, TokenIdError, UnsupportedConfigError
from transformer_anatomy.numpy.causal_lm import warp_logits
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient
from transformer_anatomy.numpy.hf import check_hf_config, from_hf
from transformer_anatomy.numpy.kv_cache import KVCache
from transformer_anatomy.numpy.llama import LlamaForCausalLM, check_llama_config, llama_from_hf

TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_GRAD = dict(rtol=1e-3, atol=1e-4)

CONFIGS = {  # GQA, multi-query + tied + biases, plain MHA + tied + attention bias only
    "gqa": dict(hidden_size=16, num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False),
    "mqa-tied-bias": dict(hidden_size=16, num_attention_heads=4, num_key_value_heads=1,
                          tie_word_embeddings=True, attention_bias=True, mlp_bias=True),
    "mha-tied": dict(hidden_size=16, num_attention_heads=2, num_key_value_heads=2,
                     tie_word_embeddings=True, attention_bias=True, rope_theta=100.0),
}


def hf_model(name: str, dtype=torch.float64, seed: int = 0) -> transformers.LlamaForCausalLM:
    """A HF Llama with random weights large enough that every part matters."""
    kw = dict(CONFIGS[name])
    theta = kw.pop("rope_theta", 10000.0)
    cfg = llama_config(vocab_size=13, intermediate_size=24, num_hidden_layers=2, max_position_embeddings=32,
                       rope_parameters={"rope_type": "default", "rope_theta": theta}, **kw)
    torch.manual_seed(seed)
    with hf_in_float64() if dtype == torch.float64 else torch.no_grad():  # RoPE's inv_freq: at init
        model = transformers.LlamaForCausalLM(cfg).to(dtype).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.1 if "norm" in n else 0.4) + (1.0 if "norm" in n else 0.0))
    return model


def hf_logits(model, ids, mask=None):
    with hf_in_float64() if model.dtype == torch.float64 else torch.no_grad():
        return model(torch.tensor(ids), attention_mask=None if mask is None else torch.tensor(mask)).logits


def batch(rng, N=3, T=6, V=13):
    ids = rng.integers(0, V, size=(N, T))
    mask = np.ones((N, T), dtype=np.int64)
    mask[1, 4:] = 0  # right padding
    mask[2, 2:] = 0
    return ids, mask


@pytest.mark.parametrize("name", list(CONFIGS))
def test_float64_logits_and_every_gradient_match_hf(name, rng):
    hf = hf_model(name)
    ours = from_hf(hf)
    ids, mask = batch(rng)
    # without padding
    np.testing.assert_allclose(ours(ids), hf_logits(hf, ids).detach().numpy(), **TOL64)
    # with right padding: every non-padded position; then the gradients of sum(logits * W)
    logits = ours(ids, mask)
    with hf_in_float64():
        ref = hf(torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
        keep = mask.astype(bool)
        np.testing.assert_allclose(logits[keep], ref.detach().numpy()[keep], **TOL64)
        W = rng.standard_normal(logits.shape) * keep[..., None]
        (ref * torch.tensor(W)).sum().backward()
    assert ours.backward(W) is None
    hf_grads = {n: p.grad.numpy() for n, p in hf.named_parameters()}
    assert list(ours.grads) == list(hf_grads)  # HF's names and order (tied: the embedding once)
    assert list(ours.params) == list(hf_grads)
    for n, g in hf_grads.items():
        np.testing.assert_allclose(ours.grads[n], g, err_msg=n, **TOL64)
    assert ours.num_parameters() == sum(p.numel() for p in hf.parameters())
    assert list(ours.state_dict()) == list(hf.state_dict())


def test_float32_forward_and_gradients(rng):
    hf = hf_model("gqa", dtype=torch.float32)
    ours = from_hf(hf)
    assert ours.dtype == np.float32
    ids, mask = batch(rng)
    logits = ours(ids, mask)
    assert logits.dtype == np.float32
    ref = hf(torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
    keep = mask.astype(bool)
    np.testing.assert_allclose(logits[keep], ref.detach().numpy()[keep], **TOL32)
    W = (rng.standard_normal(logits.shape) * keep[..., None]).astype(np.float32)
    (ref * torch.tensor(W)).sum().backward()
    ours.backward(W)
    for n, p in hf.named_parameters():
        np.testing.assert_allclose(ours.grads[n], p.grad.numpy(), err_msg=n, **TOL32_GRAD)


def test_finite_differences_through_the_model(rng):
    m = LlamaForCausalLM(11, hidden_size=8, intermediate_size=12, num_hidden_layers=1, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=True, attention_bias=True,
                         dtype=np.float64, rng=1)
    for p in m.params.values():
        p += rng.standard_normal(p.shape) * 0.3
    ids = rng.integers(0, 11, size=(2, 5))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    W = rng.standard_normal((2, 5, 11))

    def loss():
        return float(np.sum(m(ids, mask) * W))

    m(ids, mask)
    m.backward(W)
    grads = {k: v.copy() for k, v in m.grads.items()}
    for name in ("model.embed_tokens.weight", "model.layers.0.self_attn.k_proj.weight",
                 "model.layers.0.self_attn.q_proj.bias", "model.layers.0.input_layernorm.weight"):
        x = m.params[name]
        idx = [tuple(rng.integers(0, s) for s in x.shape) for _ in range(8)]
        num = numerical_gradient(loss, x, h=1e-6, indices=idx)
        a, n = np.array([grads[name][i] for i in idx]), np.array([num[i] for i in idx])
        assert max_relative_error(a, n) < 1e-6, name
        assert np.abs(n).max() > 1e-8


@pytest.mark.parametrize("name", ["gqa", "mqa-tied-bias"])
def test_kv_cache_forward_equals_full_forward(name, rng):
    ours = from_hf(hf_model(name))
    ids = rng.integers(0, 13, size=(2, 7))
    full = ours(ids)
    cache = KVCache()
    parts = [ours(ids[:, :3], cache=cache)]  # the prompt
    for t in range(3, 7):  # then one token at a time
        parts.append(ours(ids[:, t:t + 1], cache=cache))
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, **TOL64)
    assert cache.length == 7 and len(cache.layers) == 2
    assert cache.layers[0]["self_k"].shape == (2, ours.model.layers[0].self_attn.num_key_value_heads, 7, 4)
    assert cache.memory_bytes() == 2 * 2 * cache.layers[0]["self_k"].nbytes
    with pytest.raises(BackwardError, match="KV cache"):
        ours.backward(np.ones_like(parts[-1]))
    # a cache with an attention mask of all positions so far: the padded key is never read
    mask = np.array([[1, 1, 1, 1], [1, 0, 1, 1]])
    c2 = KVCache()
    a = ours(ids[:, :3], mask[:, :3], cache=c2)
    b = ours(ids[:, 3:4], mask, cache=c2)
    ref = ours(ids[:, :4], mask)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1)[mask.astype(bool)], ref[mask.astype(bool)], **TOL64)


@pytest.mark.parametrize("name", ["gqa", "mqa-tied-bias"])
def test_greedy_generate_equals_hf(name, rng):
    hf = hf_model(name)
    ours = from_hf(hf)
    ids = rng.integers(0, 13, size=(2, 3))
    with hf_in_float64():
        ref = hf.generate(torch.tensor(ids), max_new_tokens=6, do_sample=False).numpy()
    with_cache = ours.generate(ids, max_new_tokens=6)
    without = ours.generate(ids, max_new_tokens=6, use_cache=False)
    assert with_cache.dtype == np.int64 and with_cache.shape == (2, 9)
    np.testing.assert_array_equal(with_cache, ref)
    np.testing.assert_array_equal(without, ref)


def test_generate_eos_padding_and_modes(rng):
    ours = from_hf(hf_model("gqa")).train()
    ids = rng.integers(0, 13, size=(2, 3))
    free = ours.generate(ids, max_new_tokens=6)
    assert ours.training and all(m.training for _, m in ours.named_modules())  # mode restored
    eos = int(free[0, 4])  # row 0 produces it at step 2 (maybe earlier)
    out = ours.generate(ids, max_new_tokens=6, eos_token_id=eos, pad_token_id=0)
    for row in range(2):
        hits = np.flatnonzero(free[row, 3:] == eos)
        if hits.size:  # after the first eos: pad
            j = 3 + hits[0]
            np.testing.assert_array_equal(out[row, :j + 1], free[row, :j + 1])
            assert np.all(out[row, j + 1:] == 0)
    if all(np.any(free[r, 3:] == eos) for r in range(2)):  # every row done: stops early
        assert out.shape[1] <= free.shape[1]
    with hf_in_float64():  # HF agrees (it pads with pad_token_id after eos)
        hf = hf_model("gqa")
        ref = hf.generate(torch.tensor(ids), max_new_tokens=6, do_sample=False, eos_token_id=eos,
                          pad_token_id=0).numpy()
    np.testing.assert_array_equal(out, ref)


def test_sampling_is_reproducible_and_keeps_to_the_warped_tokens(rng):
    ours = from_hf(hf_model("gqa"))
    ids = rng.integers(0, 13, size=(3, 2))
    kw = dict(max_new_tokens=6, do_sample=True, temperature=0.8, top_k=4, top_p=0.9)
    a = ours.generate(ids, seed=7, **kw)
    np.testing.assert_array_equal(a, ours.generate(ids, seed=7, **kw))
    np.testing.assert_array_equal(a, ours.generate(ids, seed=7, use_cache=False, **kw))
    seqs = {ours.generate(ids, seed=s, **kw).tobytes() for s in range(5)}
    assert len(seqs) > 1  # it samples
    for t in range(2, a.shape[1]):
        kept = np.isfinite(warp_logits(ours(a[:, :t])[:, -1], 0.8, 4, 0.9))  # (N, V)
        assert kept[np.arange(3), a[:, t]].all()
    greedy = ours.generate(ids, max_new_tokens=6)
    np.testing.assert_array_equal(ours.generate(ids, max_new_tokens=6, do_sample=True, top_k=1, seed=0), greedy)


def test_from_hf_dtype_eval_copies_and_dispatch():
    hf = hf_model("mqa-tied-bias", dtype=torch.float32)
    hf.train()
    ours = from_hf(hf)
    assert isinstance(ours, LlamaForCausalLM) and ours.dtype == np.float32 and not ours.training
    assert ours.tie_word_embeddings and ours.lm_head.weight is ours.model.embed_tokens.weight
    for n, p in hf.named_parameters():  # copies: no memory shared
        assert not np.shares_memory(ours.state_dict()[n], p.detach().numpy())
        assert not np.shares_memory(ours.params[n], p.detach().numpy())
    w = ours.params["model.norm.weight"].copy()
    with torch.no_grad():
        hf.model.norm.weight.add_(1.0)
    np.testing.assert_array_equal(ours.params["model.norm.weight"], w)
    assert llama_from_hf(hf.double()).dtype == np.float64
    with pytest.raises(TypeError, match="bfloat16"):
        from_hf(hf.to(torch.bfloat16))
    with pytest.raises(TypeError, match="BertModel"):
        from_hf(transformers.BertModel(transformers.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                               num_attention_heads=2, intermediate_size=8)))
    with pytest.raises(TypeError, match="BertConfig"):
        check_hf_config(transformers.BertConfig())


def test_state_dict_round_trip_and_tied_check():
    hf = hf_model("mha-tied")
    ours = LlamaForCausalLM(13, 16, 24, 2, 2, 2, rope_theta=100.0, max_position_embeddings=32,
                            tie_word_embeddings=True, attention_bias=True, dtype=np.float64)
    sd = hf.state_dict()
    assert "lm_head.weight" in sd
    ours.load_state_dict(sd)  # strict
    bad = dict(sd)
    bad["lm_head.weight"] = bad["lm_head.weight"] + 1.0
    with pytest.raises(StateDictError, match="lm_head.weight"):
        ours.load_state_dict(bad)
    with pytest.raises(StateDictError, match="missing"):
        ours.load_state_dict({k: v for k, v in sd.items() if "norm" not in k})


@pytest.mark.parametrize("field,value,match", [
    ("rope_parameters", {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}, "rope_parameters"),
    ("hidden_act", "gelu", "hidden_act='gelu'"),
    ("pretraining_tp", 2, "pretraining_tp=2"),
    ("head_dim", 4, "head_dim=4"),
])
def test_check_llama_config_refuses(field, value, match):
    cfg = llama_config(hidden_size=16, num_attention_heads=2, **{field: value})
    with pytest.raises(UnsupportedConfigError, match=match):
        check_llama_config(cfg)
    with pytest.raises(UnsupportedConfigError, match=match):
        check_hf_config(cfg)
    with pytest.raises(UnsupportedConfigError, match=match):
        from_hf(transformers.LlamaForCausalLM(cfg))
    check_llama_config(llama_config())


@pytest.mark.parametrize("kw,err,match", [
    (dict(hidden_size=10), ValueError, "hidden_size=10 is not divisible by num_attention_heads=4"),
    (dict(num_key_value_heads=3), ValueError, "num_attention_heads=4 is not divisible by num_key_value_heads=3"),
    (dict(num_hidden_layers=0), ValueError, "num_hidden_layers"),
    (dict(intermediate_size=2.5), TypeError, "intermediate_size"),
    (dict(rms_norm_eps=-1.0), ValueError, "eps"),
    (dict(rope_theta=0.0), ValueError, "rope_theta"),
    (dict(tie_word_embeddings=1), TypeError, "tie_word_embeddings"),
    (dict(attention_bias="yes"), TypeError, "attention_bias"),
    (dict(hidden_size=12, num_attention_heads=4), ValueError, "head_dim"),  # D = 3 is odd: no RoPE
])
def test_bad_constructor_arguments_are_named(kw, err, match):
    with pytest.raises(err, match=match):
        LlamaForCausalLM(10, **{"hidden_size": 16, **kw})


def test_bad_forward_inputs_are_named():
    m = LlamaForCausalLM(10, hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=6, rng=0)
    with pytest.raises(TokenIdError, match="10"):
        m(np.array([[1, 10]]))
    with pytest.raises(ValueError, match="max_position_embeddings=6"):
        m(np.zeros((1, 7), dtype=np.int64))
    cache = KVCache()
    m(np.zeros((1, 5), dtype=np.int64), cache=cache)
    with pytest.raises(ValueError, match="max_position_embeddings=6"):
        m(np.zeros((1, 2), dtype=np.int64), cache=cache)
    with pytest.raises(ValueError, match="attention_mask"):
        m(np.zeros((1, 3), dtype=np.int64), np.ones((1, 4)))
    with pytest.raises(BackwardError):
        LlamaForCausalLM(10, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                         num_attention_heads=2).backward(np.zeros((1, 1, 10)))
    with pytest.raises(ValueError, match="max_new_tokens"):
        m.generate(np.array([[1]]), max_new_tokens=-1)
    with pytest.raises(ValueError, match="temperature"):
        m.generate(np.array([[1]]), do_sample=True, temperature=0.0)
    with pytest.raises(TypeError, match="input_ids"):
        m.generate(np.array([1.0]))


def test_default_init_is_hf_like():
    m = LlamaForCausalLM(50, rng=0)  # the teaching defaults: E=64, F=176, L=2, H=4
    w = m.params["model.layers.0.self_attn.q_proj.weight"]
    assert w.shape == (64, 64) and abs(w.std() - 0.02) < 0.002
    assert np.all(m.params["model.norm.weight"] == 1.0)
    assert abs(m.params["model.embed_tokens.weight"].std() - 0.02) < 0.002


def test_from_hf_dispatches_gpt2():
    gpt2 = pytest.importorskip("transformer_anatomy.numpy.gpt2")
    cfg = transformers.GPT2Config(vocab_size=11, n_embd=8, n_layer=1, n_head=2, n_positions=16,
                                  bos_token_id=None, eos_token_id=None)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    ours = from_hf(hf)
    assert isinstance(ours, gpt2.GPT2LMHeadModel) and not ours.training
    check_hf_config(cfg)
    with pytest.raises(UnsupportedConfigError, match="activation_function"):
        check_hf_config(transformers.GPT2Config(activation_function="relu"))


@settings(max_examples=6, deadline=None, derandomize=True)
@given(H=st.sampled_from([1, 2, 4]), group=st.sampled_from([1, 2, 4]), D=st.sampled_from([2, 4]),
       L=st.integers(1, 2), tied=st.booleans(), abias=st.booleans(), mbias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_configs_match_hf_in_float64(H, group, D, L, tied, abias, mbias, seed):
    Hk = max(1, H // group)
    cfg = llama_config(vocab_size=17, hidden_size=H * D, intermediate_size=12, num_hidden_layers=L,
                       num_attention_heads=H, num_key_value_heads=Hk, tie_word_embeddings=tied,
                       attention_bias=abias, mlp_bias=mbias, max_position_embeddings=16)
    torch.manual_seed(seed)
    with hf_in_float64():
        hf = transformers.LlamaForCausalLM(cfg).double().eval()
        with torch.no_grad():
            for p in hf.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        ours = from_hf(hf)
        rng = np.random.default_rng(seed)
        ids = rng.integers(0, 17, size=(2, 5))
        mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        ref = hf(torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
        logits = ours(ids, mask)
        keep = mask.astype(bool)
        np.testing.assert_allclose(logits[keep], ref.detach().numpy()[keep], **TOL64)
        W = rng.standard_normal(logits.shape) * keep[..., None]
        (ref * torch.tensor(W)).sum().backward()
    ours.backward(W)
    for n, p in hf.named_parameters():
        np.testing.assert_allclose(ours.grads[n], p.grad.numpy(), err_msg=n, **TOL64)


def test_generate_zero_tokens_and_cache_reorder(rng):
    ours = from_hf(hf_model("gqa"))
    ids = rng.integers(0, 13, size=(3, 4))
    out = ours.generate(ids.astype(np.int32), max_new_tokens=0)
    assert out.dtype == np.int64 and np.array_equal(out, ids)
    cache = KVCache()
    ours(ids, cache=cache)
    cache.reorder(np.array([2, 0]))  # keep rows 2 and 0 (beam search's parents)
    nxt = rng.integers(0, 13, size=(2, 1))
    step = ours(nxt, cache=cache)
    full = ours(np.concatenate([ids[[2, 0]], nxt], axis=1))
    np.testing.assert_allclose(step[:, 0], full[:, -1], **TOL64)
