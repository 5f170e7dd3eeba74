"""GPT-2 in NumPy against HuggingFace's ``modeling_gpt2``, built from a small ``GPT2Config`` (no
download): float64 logits at 1e-10 without an attention mask, with a right-padded one and with
left / middle padding (which real positions do see), sdpa and eager attention, every
hand-written gradient against autograd through HF's model at 1e-10 (the tied
``transformer.wte.weight`` once, with the summed gradient), float32 at 1e-5 / 1e-4, central
finite differences for every backward, the KV cache, greedy ``generate`` token for token against
HF's, ``gpt2_from_hf`` / ``check_gpt2_config`` and the boundary checks.

HF's GPT-2 computes in the model's dtype throughout (LayerNorm, ``NewGELUActivation``, the sdpa
or eager attention; only ``reorder_and_upcast_attn=True`` upcasts to float32, and HF's float64
model then raises), so unlike Llama's test no patch is needed for the float64 comparisons.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel as HFGPT2LMHeadModel, LlamaConfig
from transformers.activations import NewGELUActivation
from transformers.models.gpt2 import modeling_gpt2 as hf
from transformers.pytorch_utils import Conv1D as HFConv1D

from transformer_anatomy.errors import (
    BackwardError,
    BackwardShapeError,
    StateDictError,
    TokenIdError,
    UnsupportedConfigError,
)
from transformer_anatomy.numpy.activation import GELU
from transformer_anatomy.numpy.causal_lm import CausalLM
from transformer_anatomy.numpy.gpt2 import (
    Conv1D,
    GPT2Attention,
    GPT2Block,
    GPT2LMHeadModel,
    GPT2MLP,
    GPT2Model,
    check_gpt2_config,
    gpt2_from_hf,
)
from transformer_anatomy.numpy.kv_cache import KVCache

TOL64 = dict(rtol=1e-10, atol=1e-10)
TOL32 = dict(rtol=1e-5, atol=1e-5)
TOL32_GRAD = dict(rtol=1e-3, atol=1e-4)
V, NPOS = 23, 12


def config(**kw) -> GPT2Config:
    base = dict(vocab_size=V, n_embd=16, n_layer=2, n_head=2, n_positions=NPOS,
                bos_token_id=None, eos_token_id=None, pad_token_id=None)
    base.update(kw)
    return GPT2Config(**base)


def hf_model(dtype=torch.float64, seed=0, **kw) -> HFGPT2LMHeadModel:
    """A small HF GPT-2 whose every parameter (norms and biases too) is pushed off its init."""
    torch.manual_seed(seed)
    model = HFGPT2LMHeadModel(config(**kw)).to(dtype).eval()
    with torch.no_grad():
        for p in model.parameters():  # tied weights once
            p.add_(torch.randn_like(p) * 0.3)
    return model


def t(a, dtype=torch.float64, grad=False):
    return torch.tensor(np.asarray(a), dtype=dtype, requires_grad=grad)


def randomize(module, rng, scale=0.5):
    """Give a NumPy module's parameters O(1) values (the 0.02 init makes gradients tiny)."""
    for p in module.params.values():
        p[...] = p + rng.standard_normal(p.shape) * scale


def left_and_middle_padded_mask(N, T):
    """Padding that real positions do see (right padding only hides positions after them)."""
    mask = np.ones((N, T), dtype=np.int64)
    mask[0, :2] = 0
    mask[1, 3] = 0
    return mask


def right_padded_mask(N, T):
    mask = np.ones((N, T), dtype=np.int64)
    mask[1, T - 2:] = 0
    if N > 2:
        mask[2, 3:] = 0
    return mask


# -- pieces against HF ------------------------------------------------------------------------
def test_conv1d_float64_vs_hf(rng):
    conv = Conv1D(6, 4, dtype=np.float64, rng=0)
    randomize(conv, rng)
    ref = HFConv1D(6, 4).double()
    with torch.no_grad():
        ref.weight.copy_(t(conv.weight))
        ref.bias.copy_(t(conv.bias))
    x = rng.standard_normal((2, 3, 4))
    G = rng.standard_normal((2, 3, 6))
    xt = t(x, grad=True)
    out = ref(xt)
    out.backward(t(G))
    np.testing.assert_allclose(conv.forward(x), out.detach().numpy(), **TOL64)
    np.testing.assert_allclose(conv.backward(G), xt.grad.numpy(), **TOL64)
    np.testing.assert_allclose(conv.grads["weight"], ref.weight.grad.numpy(), **TOL64)
    np.testing.assert_allclose(conv.grads["bias"], ref.bias.grad.numpy(), **TOL64)


@pytest.mark.parametrize("dtype, tol", [(np.float64, TOL64), (np.float32, TOL32)])
def test_tanh_gelu_is_hf_gelu_new(rng, dtype, tol):
    x = (rng.standard_normal((5, 7)) * 3).astype(dtype)
    G = rng.standard_normal(x.shape).astype(dtype)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    xt = t(x, tdt, grad=True)
    out = NewGELUActivation()(xt)
    out.backward(t(G, tdt))
    gelu = GELU(approximate="tanh")
    y = gelu.forward(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, out.detach().numpy(), **tol)
    np.testing.assert_allclose(gelu.backward(G), xt.grad.numpy(), **(tol if dtype == np.float64 else TOL32_GRAD))


def test_gpt2_mlp_float64_vs_hf(rng):
    cfg = config(n_embd=8)
    ref = hf.GPT2MLP(20, cfg).double().eval()  # eval: no dropout
    mlp = GPT2MLP(8, 20, dtype=np.float64, rng=0)
    randomize(mlp, rng)
    mlp.load_state_dict({k: t(v) for k, v in mlp.state_dict().items()})
    ref.load_state_dict({k: t(v) for k, v in mlp.state_dict().items()}, strict=True)
    x = rng.standard_normal((2, 3, 8))
    G = rng.standard_normal(x.shape)
    xt = t(x, grad=True)
    out = ref(xt)
    out.backward(t(G))
    np.testing.assert_allclose(mlp.forward(x), out.detach().numpy(), **TOL64)
    np.testing.assert_allclose(mlp.backward(G), xt.grad.numpy(), **TOL64)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(mlp.grads[name], p.grad.numpy(), **TOL64)


# -- finite differences ----------------------------------------------------------------------
def test_conv1d_backward_finite_differences(gradcheck, rng):
    conv = Conv1D(5, 4, dtype=np.float64, rng=0)
    randomize(conv, rng)
    x = rng.standard_normal((2, 3, 4))
    gradcheck.module(conv, lambda: conv.forward(x), {"x": x}, lambda G: {"x": conv.backward(G)}, rng)


def test_gpt2_mlp_backward_finite_differences(gradcheck, rng):
    mlp = GPT2MLP(6, 10, dtype=np.float64, rng=0)
    randomize(mlp, rng)
    x = rng.standard_normal((2, 3, 6))
    gradcheck.module(mlp, lambda: mlp.forward(x), {"x": x}, lambda G: {"x": mlp.backward(G)}, rng, max_entries=25)


def test_gpt2_attention_backward_finite_differences(gradcheck, rng):
    attn = GPT2Attention(8, 2, dtype=np.float64, rng=0)
    randomize(attn, rng)
    x = rng.standard_normal((2, 5, 8))
    pad = np.zeros((2, 5), dtype=bool)
    pad[1, 3:] = True
    gradcheck.module(attn, lambda: attn.forward(x, pad), {"x": x}, lambda G: {"x": attn.backward(G)}, rng,
                     max_entries=25)


def test_gpt2_block_backward_finite_differences(gradcheck, rng):
    block = GPT2Block(8, 2, n_inner=12, dtype=np.float64, rng=0)
    randomize(block, rng)
    x = rng.standard_normal((2, 4, 8))
    pad = np.zeros((2, 4), dtype=bool)
    pad[0, 3] = True
    gradcheck.module(block, lambda: block.forward(x, pad), {"x": x}, lambda G: {"x": block.backward(G)}, rng,
                     max_entries=15)


# -- the whole model against HF ----------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(n_inner=24, n_head=4, n_layer=1, attn_implementation="eager"),
                                dict(tie_word_embeddings=False, n_layer=1, layer_norm_epsilon=1e-3)],
                         ids=["default", "n_inner-eager", "untied"])
def test_logits_and_every_gradient_float64_vs_hf(kw, rng):
    ref = hf_model(**kw)
    ours = gpt2_from_hf(ref)
    N, T = 3, 7
    ids = rng.integers(0, V, (N, T))
    unmasked = None
    for mask in (None, right_padded_mask(N, T), left_and_middle_padded_mask(N, T)):
        keep = np.ones((N, T), dtype=bool) if mask is None else mask.astype(bool)
        logits = ours(ids, mask)
        assert logits.dtype == np.float64 and logits.shape == (N, T, V)
        ref_logits = ref(torch.tensor(ids), attention_mask=None if mask is None else torch.tensor(mask)).logits
        np.testing.assert_allclose(logits[keep], ref_logits.detach().numpy()[keep], **TOL64)
        if mask is None:
            unmasked = logits
        elif mask[0, 0] == 0:  # the mask is not vacuous: real positions that saw padding change
            assert np.abs(logits - unmasked)[keep].max() > 1e-3
        W = rng.standard_normal(logits.shape) * keep[..., None]  # loss = Σ logits · W over real positions
        ref.zero_grad()
        (ref_logits * t(W)).sum().backward()
        assert ours.backward(W) is None
        hf_grads = {n: p.grad.numpy() for n, p in ref.named_parameters()}
        assert list(ours.grads) == list(hf_grads) == list(ours.params)
        for name, g in hf_grads.items():
            np.testing.assert_allclose(ours.grads[name], g, **TOL64, err_msg=name)
    assert ("lm_head.weight" in ours.grads) == (kw.get("tie_word_embeddings") is False)


def test_float32_vs_hf(rng):
    ref = hf_model(torch.float32)
    ours = gpt2_from_hf(ref)
    assert ours.dtype == np.float32
    ids = rng.integers(0, V, (2, 6))
    mask = right_padded_mask(2, 6)
    keep = mask.astype(bool)
    logits = ours(ids, mask)
    assert logits.dtype == np.float32
    ref_logits = ref(torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
    np.testing.assert_allclose(logits[keep], ref_logits.detach().numpy()[keep], **TOL32)
    W = (rng.standard_normal(logits.shape) * keep[..., None]).astype(np.float32)
    (ref_logits * t(W, torch.float32)).sum().backward()
    ours.backward(W)
    for name, p in ref.named_parameters():
        assert ours.grads[name].dtype == np.float32
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), **TOL32_GRAD, err_msg=name)


# -- KV cache and generation -------------------------------------------------------------------
def test_kv_cache_forward_equals_full_forward(rng):
    ours = gpt2_from_hf(hf_model(n_head=4))
    N, T = 2, 9
    ids = rng.integers(0, V, (N, T))
    mask = np.ones((N, T), dtype=np.int64)
    mask[1, 2] = 0  # a padded position in the middle of the cached part
    full = ours(ids, mask)
    cache = KVCache()
    parts = [ours(ids[:, :4], mask[:, :4], cache=cache)]
    assert cache.length == 4 and len(cache.layers) == 2
    assert cache.layers[0]["self_k"].shape == cache.layers[1]["self_v"].shape == (N, 4, 4, 4)  # (N, H, t, D)
    parts.append(ours(ids[:, 4:5], mask[:, :5], cache=cache))
    parts.append(ours(ids[:, 5:], mask, cache=cache))
    assert cache.length == T and cache.layers[1]["self_k"].shape == (N, 4, T, 4)
    keep = mask.astype(bool)
    np.testing.assert_allclose(np.concatenate(parts, axis=1)[keep], full[keep], **TOL64)
    with pytest.raises(BackwardError, match="KV cache"):
        ours.backward(np.ones_like(parts[-1]))
    with pytest.raises(ValueError, match=r"attention_mask has shape \(2, 4\), expected \(N, S\)=\(2, 10\)"):
        ours(ids[:, :1], mask[:, :4], cache=cache)


def test_kv_cache_after_reorder(rng):
    """Beam search reorders the cache's rows; the next forward follows the new rows."""
    ours = gpt2_from_hf(hf_model(n_layer=1))
    ids = rng.integers(0, V, (2, 5))
    cache = KVCache()
    ours(ids[:, :4], cache=cache)
    index = np.array([1, 1, 0])
    cache.reorder(index)
    step = ours(ids[index, 4:], cache=cache)  # (3, 1, V)
    np.testing.assert_allclose(step, ours(ids[index])[:, 4:], **TOL64)
    assert cache.layers[0]["self_k"].shape == (3, 2, 5, 8)


@pytest.mark.parametrize("use_cache", [True, False])
def test_greedy_generate_equals_hf(rng, use_cache):
    ref = hf_model(n_layer=1)
    ours = gpt2_from_hf(ref)
    assert isinstance(ours, CausalLM)
    ids = rng.integers(0, V, (2, 4))
    ids_t = torch.tensor(ids)
    expected = ref.generate(ids_t, attention_mask=torch.ones_like(ids_t), max_new_tokens=7, do_sample=False,
                            use_cache=use_cache, pad_token_id=0).numpy()
    out = ours.generate(ids, max_new_tokens=7, use_cache=use_cache)
    assert out.dtype == np.int64 and out.shape == (2, 11)
    np.testing.assert_array_equal(out, expected)
    ours.train()
    np.testing.assert_array_equal(ours.generate(ids, max_new_tokens=7, use_cache=not use_cache), expected)
    assert ours.training  # the caller's mode is restored


def test_sampled_generate_same_seed_same_tokens_with_and_without_cache(rng):
    ours = gpt2_from_hf(hf_model(n_layer=1))
    ids = rng.integers(0, V, (3, 2))
    kw = dict(max_new_tokens=8, do_sample=True, temperature=1.5, top_k=10, top_p=0.9, seed=7)
    a = ours.generate(ids, use_cache=True, **kw)
    np.testing.assert_array_equal(a, ours.generate(ids, use_cache=False, **kw))
    assert a.shape == (3, 10) and not np.array_equal(a, ours.generate(ids, max_new_tokens=8))


# -- from_hf, config, state dicts ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gpt2_from_hf_dtype_eval_and_copies(dtype):
    ref = hf_model(dtype, n_layer=1).train()
    ours = gpt2_from_hf(ref)
    assert ours.dtype == {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    assert not ours.training and all(not m.training for _, m in ours.named_modules())
    ref_sd = ref.state_dict()
    assert list(ours.state_dict()) == list(ref_sd)
    for name, p in ours.state_dict().items():
        np.testing.assert_array_equal(p, ref_sd[name].numpy())
    for name, p in ours.params.items():
        assert not np.shares_memory(p, ref_sd[name].numpy()), name
    before = ours.transformer.wte.weight.copy()
    with torch.no_grad():
        ref.transformer.wte.weight.add_(1.0)
    np.testing.assert_array_equal(ours.transformer.wte.weight, before)
    assert ours.lm_head.weight is ours.transformer.wte.weight  # tied: one array
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())


def test_gpt2_from_hf_refuses_other_models_and_dtypes():
    with pytest.raises(TypeError, match="GPT2Model"):
        gpt2_from_hf(hf.GPT2Model(config(n_layer=1)))
    with pytest.raises(TypeError, match="bfloat16"):
        gpt2_from_hf(hf_model(n_layer=1).to(torch.bfloat16))


@pytest.mark.parametrize("field, value", [
    ("activation_function", "relu"),
    ("activation_function", "gelu"),
    ("scale_attn_by_inverse_layer_idx", True),
    ("add_cross_attention", True),
    ("scale_attn_weights", False),
])
def test_check_gpt2_config_refuses_what_changes_numbers(field, value):
    cfg = config(**{field: value})
    with pytest.raises(UnsupportedConfigError, match=f"{field}={value!r}"):
        check_gpt2_config(cfg)
    if field != "add_cross_attention":  # (HF's cross-attention model needs encoder states)
        with pytest.raises(UnsupportedConfigError, match=field):
            gpt2_from_hf(HFGPT2LMHeadModel(cfg).double())


def test_check_gpt2_config_accepts_dropout_and_refuses_other_configs():
    check_gpt2_config(config(resid_pdrop=0.5, embd_pdrop=0.3, attn_pdrop=0.2, n_inner=7, layer_norm_epsilon=1e-3))
    with pytest.raises(TypeError, match="LlamaConfig"):
        check_gpt2_config(LlamaConfig())


def test_refused_fields_do_change_hf_numbers(rng):
    """The refusals are not arbitrary: with these fields HF computes different logits."""
    ref = hf_model(n_layer=2)
    ids = torch.tensor(rng.integers(0, V, (1, 6)))
    base = ref(ids).logits
    for field, value in [("scale_attn_by_inverse_layer_idx", True), ("scale_attn_weights", False),
                         ("activation_function", "relu")]:
        other = HFGPT2LMHeadModel(config(n_layer=2, **{field: value})).double().eval()
        other.load_state_dict(ref.state_dict())
        assert (other(ids).logits - base).abs().max() > 1e-6, field


def test_reorder_and_upcast_attn_is_accepted_same_numbers_in_float32(rng):
    """HF's mixed-precision trick (scale before the product, softmax in float32) is the same
    mathematics: accepted, and float32 logits match at 1e-5 (a float64 HF model refuses it)."""
    ref = hf_model(torch.float32, n_layer=2, attn_implementation="eager", reorder_and_upcast_attn=True)
    ours = gpt2_from_hf(ref)
    ids = rng.integers(0, V, (2, 6))
    np.testing.assert_allclose(ours(ids), ref(torch.tensor(ids)).logits.detach().numpy(), **TOL32)


def test_state_dict_round_trip_and_tied_head():
    ref = hf_model(n_layer=1)
    ours = GPT2LMHeadModel(V, n_embd=16, n_layer=1, n_head=2, n_positions=NPOS, dtype=np.float64, rng=1)
    sd = ref.state_dict()
    ours.load_state_dict(sd, strict=True)
    without_head = {k: v for k, v in sd.items() if k != "lm_head.weight"}
    ours.load_state_dict(without_head, strict=True)  # tied: the head is the embedding
    bad = dict(sd)
    bad["lm_head.weight"] = sd["lm_head.weight"] + 1
    with pytest.raises(StateDictError, match="lm_head.weight differs from transformer.wte.weight"):
        ours.load_state_dict(bad)
    with pytest.raises(StateDictError, match="missing keys"):
        ours.load_state_dict({k: v for k, v in sd.items() if "ln_f" not in k})
    untied = GPT2LMHeadModel(V, n_embd=16, n_layer=1, n_head=2, n_positions=NPOS, tie_word_embeddings=False,
                             dtype=np.float64, rng=1)
    untied.load_state_dict(bad)  # two arrays: any values
    assert "lm_head.weight" in untied.params
    with pytest.raises(StateDictError, match="lm_head.weight"):
        untied.load_state_dict(without_head)
    for m in (ours.clone(), ours.to(np.float32)):
        assert m.lm_head.weight is m.transformer.wte.weight


# -- constructors, initialisation, boundary checks ---------------------------------------------
def test_constructor_signature_defaults_and_init():
    sig = inspect.signature(GPT2LMHeadModel)
    assert [(p.name, p.default) for p in sig.parameters.values()][:8] == [
        ("vocab_size", inspect.Parameter.empty), ("n_embd", 64), ("n_layer", 2), ("n_head", 4),
        ("n_positions", 512), ("n_inner", None), ("layer_norm_epsilon", 1e-5), ("tie_word_embeddings", True)]
    m = GPT2LMHeadModel(50, rng=0)
    assert m.dtype == np.float32 and m.transformer.h[0].mlp.c_fc.weight.shape == (64, 256)
    for name, p in m.params.items():
        if name.endswith("bias"):
            assert not p.any(), name
        elif ".ln_" in name:
            assert (p == 1).all(), name
        else:
            assert abs(p.std() - 0.02) < 0.004 and abs(p.mean()) < 0.004, name
    np.testing.assert_array_equal(GPT2LMHeadModel(50, rng=0).transformer.wte.weight, m.transformer.wte.weight)
    assert isinstance(GPT2Model(5, rng=0).h[1], GPT2Block)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(n_embd=10, n_head=4), ValueError, "n_embd=10 is not divisible by n_head=4"),
    (dict(vocab_size=0), ValueError, "vocab_size=0"),
    (dict(n_layer=1.5), TypeError, "n_layer=1.5"),
    (dict(n_inner=-1), ValueError, "n_inner=-1"),
    (dict(layer_norm_epsilon=-1.0), ValueError, "layer_norm_epsilon"),
    (dict(tie_word_embeddings="yes"), TypeError, "tie_word_embeddings='yes'"),
])
def test_constructor_errors_name_the_argument(kw, exc, match):
    args = dict(vocab_size=11, n_embd=8, n_head=2)
    args.update(kw)
    with pytest.raises(exc, match=match):
        GPT2LMHeadModel(**args)


def test_bad_ids_positions_and_backward_errors(rng):
    m = GPT2LMHeadModel(V, n_embd=8, n_layer=1, n_head=2, n_positions=NPOS, dtype=np.float64, rng=0)
    with pytest.raises(TokenIdError, match=f"token id {V} is out of range"):
        m(np.array([[1, V]]))
    with pytest.raises(TokenIdError, match="token id -1"):
        m(np.array([[-1, 2]]))
    with pytest.raises(TypeError, match="input_ids"):
        m(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"positions 0\.\.12 do not fit n_positions=12"):
        m(rng.integers(0, V, (1, NPOS + 1)))
    cache = KVCache()
    m(rng.integers(0, V, (1, 10)), cache=cache)
    with pytest.raises(ValueError, match=r"positions 10\.\.12 do not fit n_positions=12"):
        m(rng.integers(0, V, (1, 3)), cache=cache)
    assert cache.length == 10  # a refused forward leaves the cache alone
    with pytest.raises(ValueError, match="attention_mask must hold only 0"):
        m(np.array([[1, 2]]), np.array([[1, 2]]))
    fresh = GPT2LMHeadModel(V, n_embd=8, n_layer=1, n_head=2, n_positions=NPOS, rng=0)
    with pytest.raises(BackwardError, match="before forward"):
        fresh.backward(np.zeros((1, 2, V)))
    logits = m(np.array([[1, 2]]))
    with pytest.raises(BackwardShapeError, match=r"\(1, 2, 23\)"):
        m.backward(np.zeros((1, 3, V)))
    m.backward(np.ones_like(logits))
    attn = GPT2Attention(8, 2, rng=0)
    y = attn(np.ones((1, 2, 8), dtype=np.float32), layer_cache={})
    with pytest.raises(BackwardError, match="KV cache"):
        attn.backward(np.ones_like(y))
