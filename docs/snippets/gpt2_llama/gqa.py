"""MHA -> GQA -> MQA: key/value heads shared by groups of query heads; GQA with Hk = H is plain
multi-head attention; the KV cache's memory per token computed and measured after a real
generation with our LlamaForCausalLM."""

import functools

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from transformers.models.llama.modeling_llama import repeat_kv

from gpt2_llama.hf_ref import max_diff
from transformer_anatomy.numpy.causal_lm import causal_attention, causal_attention_backward
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient
from transformer_anatomy.numpy.kv_cache import KVCache
from transformer_anatomy.numpy.llama import LlamaForCausalLM
from transformer_anatomy.viz import figure_to_svg

# Published shapes (the models' config.json on the Hugging Face Hub, Meta's Llama 2 and 3 papers):
# layers L, query heads H, key/value heads Hk, head size D.
PUBLISHED = {
    "Llama-2-7B": dict(L=32, H=32, Hk=32, D=128),
    "Llama-3-8B": dict(L=32, H=32, Hk=8, D=128),
    "Llama-2-70B": dict(L=80, H=64, Hk=8, D=128),
}
SMALL = dict(vocab_size=40, hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4)


def versus_mha(N=2, H=4, T=5, D=8, seed=0):
    """Our causal_attention with Hk = H vs torch's causal SDPA; with Hk = 2 and 1 vs SDPA on
    repeat_kv'd keys/values (HF's way) and vs SDPA's own enable_gqa. float64."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((N, H, T, D))
    out = {}
    for Hk in (H, H // 2, 1):
        k, v = rng.standard_normal((N, Hk, T, D)), rng.standard_normal((N, Hk, T, D))
        ours = causal_attention(q, k, v)
        qt, kt, vt = (torch.from_numpy(a) for a in (q, k, v))
        rep = F.scaled_dot_product_attention(qt, repeat_kv(kt, H // Hk), repeat_kv(vt, H // Hk), is_causal=True)
        gqa = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True, enable_gqa=True)
        out[Hk] = {"repeat_kv": max_diff(ours, rep), "enable_gqa": max_diff(ours, gqa)}
    return out


def report_versus_mha():
    H = 4
    for Hk, d in versus_mha(H=H).items():
        name = {H: "multi-head", 1: "multi-query"}.get(Hk, "grouped-query")
        print(f"H = {H}, Hk = {Hk} ({name:13}): max |ours - torch SDPA| = {d['repeat_kv']:.1e} "
              f"(repeat_kv), {d['enable_gqa']:.1e} (enable_gqa)")


def gqa_gradcheck(H=4, Hk=2, T=3, D=4, seed=0):
    """causal_attention_backward against central finite differences (float64, h = 1e-6)."""
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((1, H, T, D)), rng.standard_normal((1, Hk, T, D)), rng.standard_normal((1, Hk, T, D))
    w = rng.standard_normal((1, H, T, D))
    _, cache = causal_attention(q, k, v, return_cache=True)
    dq, dk, dv = causal_attention_backward(w, cache)
    loss = lambda: float(np.sum(w * causal_attention(q, k, v)))  # noqa: E731
    return {n: max_relative_error(g, numerical_gradient(loss, a)) for n, g, a in (("dq", dq, q), ("dk", dk, k), ("dv", dv, v))}


def report_gradcheck():
    print("causal_attention_backward (H = 4, Hk = 2) vs finite differences, max relative error: "
          + ", ".join(f"{n} {e:.1e}" for n, e in gqa_gradcheck().items()))


# --8<-- [start:kv_bytes]
def kv_bytes_per_token(L, Hk, D, bytes_per_number):
    """Keys and values (2) of every layer (L), every key/value head (Hk), D numbers each."""
    return 2 * L * Hk * D * bytes_per_number


def generate_with_cache(model, ids, max_new_tokens):
    """Greedy decoding through a KVCache: the prompt in one forward, then one token per step."""
    cache = KVCache()
    logits = model(ids, cache=cache)  # (N, T, V); the cache holds the T prompt positions
    for _ in range(max_new_tokens):
        next_id = logits[:, -1].argmax(axis=-1)[:, None]  # (N, V) -> (N, 1)
        ids = np.concatenate([ids, next_id], axis=1)  # (N, t) -> (N, t + 1)
        logits = model(next_id, cache=cache)  # one new position; every layer's cache grows by one
    return ids, cache
# --8<-- [end:kv_bytes]


@functools.cache
def measured(Hk_values=(4, 2, 1), N=2, T=5, K=11, seed=0):
    """For our small LlamaForCausalLM with each Hk: bytes per token computed, measured, and
    whether the cached tokens equal model.generate's."""
    rows = []
    ids = np.random.default_rng(seed).integers(0, SMALL["vocab_size"], (N, T))
    for Hk in Hk_values:
        model = LlamaForCausalLM(**SMALL, num_key_value_heads=Hk, rng=seed).eval()
        out, cache = generate_with_cache(model, ids, K)
        D = SMALL["hidden_size"] // SMALL["num_attention_heads"]
        rows.append({"Hk": Hk, "parameters": model.num_parameters(),
                     "computed": kv_bytes_per_token(SMALL["num_hidden_layers"], Hk, D, model.dtype.itemsize),
                     "measured": cache.memory_bytes() / (N * cache.length), "length": cache.length,
                     "same_as_generate": bool(np.array_equal(out, model.generate(ids, max_new_tokens=K)))})
    return rows


def report_measured():
    print(f"our LlamaForCausalLM: E = {SMALL['hidden_size']}, H = {SMALL['num_attention_heads']}, "
          f"L = {SMALL['num_hidden_layers']}, float32; cache after a greedy generation")
    print(f"{'Hk':>3} {'parameters':>11} {'bytes/token computed':>21} {'measured':>9} {'tokens = generate()':>20}")
    for r in measured():
        print(f"{r['Hk']:>3} {r['parameters']:>11,} {r['computed']:>21,} {r['measured']:>9,.0f} "
              f"{str(r['same_as_generate']):>20}")
    first, last = measured()[0], measured()[-1]
    print(f"Hk {first['Hk']} -> {last['Hk']}: cache x {last['measured'] / first['measured']:.2f}, "
          f"parameters x {last['parameters'] / first['parameters']:.2f}")


def published(context=8192, bytes_per_number=2):
    """KV cache per token and for one sequence of ``context`` tokens, 16-bit numbers."""
    rows = {}
    for name, c in PUBLISHED.items():
        per_token = kv_bytes_per_token(c["L"], c["Hk"], c["D"], bytes_per_number)
        rows[name] = c | {"per_token": per_token, "context": context, "sequence": per_token * context}
    return rows


def report_published():
    print(f"{'model':12} {'L':>3} {'H':>3} {'Hk':>3} {'D':>4} {'KiB/token':>10} {'GiB at 8192 tokens':>19}")
    for name, r in published().items():
        print(f"{name:12} {r['L']:>3} {r['H']:>3} {r['Hk']:>3} {r['D']:>4} {r['per_token'] / 2**10:>10,.0f} "
              f"{r['sequence'] / 2**30:>19.2f}")


def figure_kv_memory(context=8192):
    """Left: our model, computed vs measured bytes per token per Hk. Right: Llama-3-8B's shape
    with Hk = 32 (MHA), 8 (its GQA), 1 (MQA): GiB for one sequence of ``context`` tokens."""
    rows = measured()
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2)
    x = np.arange(len(rows))
    a.bar(x - 0.2, [r["computed"] for r in rows], 0.4, color="#1f77b4", label="computed 2·L·Hk·D·4")
    a.bar(x + 0.2, [r["measured"] for r in rows], 0.4, color="#ff7f0e", label="measured memory_bytes()")
    a.set_xticks(x, [f"Hk = {r['Hk']}" for r in rows])
    a.set_ylabel("bytes per token")
    a.set_title(f"our model (H = {SMALL['num_attention_heads']}, float32)", fontsize=10)
    a.legend(fontsize=8, frameon=False)
    c = PUBLISHED["Llama-3-8B"]
    variants = [(c["H"], "MHA"), (c["Hk"], "GQA (Llama-3-8B)"), (1, "MQA")]
    gib = [kv_bytes_per_token(c["L"], hk, c["D"], 2) * context / 2**30 for hk, _ in variants]
    b.bar(np.arange(3), gib, 0.6, color=["#7f7f7f", "#2ca02c", "#9467bd"])
    b.set_xticks(np.arange(3), [f"{n}\nHk = {hk}" for hk, n in variants], fontsize=8)
    b.set_ylabel(f"GiB per sequence of {context} tokens")
    b.set_title("Llama-3-8B's shape, 16-bit numbers", fontsize=10)
    for i, g in enumerate(gib):
        b.text(i, g, f"{g:.2f}", ha="center", va="bottom", fontsize=8)
    return figure_to_svg(fig, alt=f"Left: bytes per token of our small model's KV cache for Hk = 4, 2 and 1, the "
                         f"computed and the measured bars of equal height, halving with Hk. Right: the KV cache of "
                         f"one {context}-token sequence for Llama-3-8B's shape: {gib[0]:.2f} GiB with 32 key/value "
                         f"heads, {gib[1]:.2f} GiB with its 8, {gib[2]:.3f} GiB with 1",
                         caption="The KV cache shrinks by H / Hk: computed and measured agree for every Hk.")
