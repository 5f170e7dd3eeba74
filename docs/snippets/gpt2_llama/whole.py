"""The whole model: our from_hf on a small HF GPT-2 and Llama built from a config — logits and
the gradient of every parameter against HF (autograd), and the parameter counts of both
families at equal width."""

import functools

import numpy as np
import torch

from gpt2_llama.hf_ref import hf_float64, hf_gpt2, hf_llama, llama_config, max_diff
from transformer_anatomy.numpy.hf import from_hf

# Published shapes (HF's GPT2Config defaults are GPT-2 small; Llama-2-7B's config.json).
GPT2_SMALL = dict(V=50257, P=1024, E=768, L=12, F=3072)
LLAMA2_7B = dict(V=32000, E=4096, L=32, H=32, Hk=32, F=11008, tied=False)


def batch(V, N=2, T=7, pad=2, seed=0):
    """ids (N, T) and HF's attention_mask (1 = attend) with the last row right-padded by ``pad``."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, (N, T))
    mask = np.ones((N, T), dtype=np.int64)
    mask[-1, T - pad:] = 0
    return ids, mask


# --8<-- [start:versus_hf]
def versus_hf(hf_model, seed=0):
    """Logits and every parameter's gradient of from_hf(hf_model) against HF, at real positions.
    The loss is sum(logits * w) with random w, zero at the padded positions."""
    ours = from_hf(hf_model)  # our model, the same weights, in hf_model's dtype
    ids, mask = batch(hf_model.config.vocab_size, seed=seed)
    logits = ours(ids, attention_mask=mask)  # (N, T, V)
    with hf_float64():  # HF's float32 upcasts made float64 (a no-op for GPT-2)
        ref = hf_model(torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
    w = np.random.default_rng(seed + 1).standard_normal(logits.shape) * mask[..., None]  # (N, T, V)
    ours.backward(w.astype(logits.dtype))  # fills ours.grads, keyed by HF's parameter names
    hf_model.zero_grad()
    (ref * torch.from_numpy(w).to(ref.dtype)).sum().backward()  # autograd through HF's model
    real = mask.astype(bool)
    grads = {name: max_diff(ours.grads[name], p.grad) for name, p in hf_model.named_parameters()}
    return {"logits": max_diff(logits[real], ref[torch.from_numpy(real)]), "grads": grads}
# --8<-- [end:versus_hf]


@functools.cache
def comparison():
    """Both families, float64 and float32 (HF's float32 model as it is, no patch needed)."""
    out = {}
    for family, make in (("GPT-2", hf_gpt2), ("Llama", hf_llama)):
        for dtype in (torch.float64, torch.float32):
            r = versus_hf(make(dtype))
            out[(family, str(dtype).removeprefix("torch."))] = {
                "logits": r["logits"], "grad": max(r["grads"].values()), "n": len(r["grads"]),
                "worst": max(r["grads"], key=r["grads"].get)}
    return out


def rope_buffer_effect():
    """A float64 HF Llama built *outside* hf_float64 (its RoPE inv_freq computed in float32 at
    construction), then run with the patch: max |Δ logits| against ours."""
    from transformers import LlamaForCausalLM

    from gpt2_llama.hf_ref import llama_config

    torch.manual_seed(0)
    return versus_hf(LlamaForCausalLM(llama_config()).to(torch.float64).eval())["logits"]


def report_comparison():
    print(f"{'model':6} {'dtype':8} {'max |Δ logits|':>15} {'max |Δ grad|':>13}  over")
    for (family, dtype), r in comparison().items():
        print(f"{family:6} {dtype:8} {r['logits']:15.1e} {r['grad']:13.1e}  {r['n']} parameters "
              f"(largest: {r['worst']})")
    print(f"float64 HF Llama whose RoPE frequencies were made in float32: max |Δ logits| {rope_buffer_effect():.1e}")


# --8<-- [start:counts]
def gpt2_parameters(V, P, E, L, F):
    """wte, wpe, L blocks (two LayerNorms, c_attn, c_proj, c_fc, c_proj with biases), ln_f; head tied."""
    block = 2 * 2 * E + (E * 3 * E + 3 * E) + (E * E + E) + (E * F + F) + (F * E + E)
    return V * E + P * E + L * block + 2 * E


def llama_parameters(V, E, L, H, Hk, F, tied):
    """embed_tokens, L layers (two RMSNorms, q/k/v/o_proj, gate/up/down_proj, no biases), norm, lm_head."""
    D = E // H
    layer = 2 * E + E * H * D + 2 * E * Hk * D + H * D * E + 3 * E * F
    return V * E + L * layer + E + (0 if tied else V * E)
# --8<-- [end:counts]


@functools.cache
def counts():
    """At equal width (the small models above): formula, ours (num_parameters) and HF."""
    rows = {}
    g = hf_gpt2(torch.float32)
    c = g.config
    rows["GPT-2"] = (gpt2_parameters(c.vocab_size, c.n_positions, c.n_embd, c.n_layer, 4 * c.n_embd),
                     from_hf(g).num_parameters(), g.num_parameters())
    for name, Hk, tied in (("Llama", 2, False), ("Llama, Hk = H, tied", 4, True)):
        m = hf_llama(torch.float32, num_key_value_heads=Hk, tie_word_embeddings=tied)
        c = m.config
        rows[name] = (llama_parameters(c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
                                       c.num_key_value_heads, c.intermediate_size, tied),
                      from_hf(m).num_parameters(), m.num_parameters())
    return rows


@functools.cache
def block_counts():
    """Parameters of one block of our models (from from_hf of the small HF models)."""
    return {"GPT-2 block": from_hf(hf_gpt2(torch.float32)).transformer.h[0].num_parameters(),
            "Llama layer, Hk = 2": from_hf(hf_llama(torch.float32)).model.layers[0].num_parameters(),
            "Llama layer, Hk = H": from_hf(hf_llama(torch.float32, num_key_value_heads=4)).model.layers[0].num_parameters()}


def report_counts():
    c = llama_config()
    head = f"model (E = {c.hidden_size}, L = {c.num_hidden_layers}, V = {c.vocab_size})"
    print(f"{head:30} {'formula':>8} {'ours':>8} {'HF':>8}")
    for name, (f, ours, hf) in counts().items():
        print(f"{name:30} {f:>8,} {ours:>8,} {hf:>8,}")
    print("one block: " + ", ".join(f"{k} {v:,}" for k, v in block_counts().items()))
    print(f"\nGPT-2 small (HF's GPT2Config defaults): {gpt2_parameters(**GPT2_SMALL):,}")
    print(f"Llama-2-7B (its published config):      {llama_parameters(**LLAMA2_7B):,}")
