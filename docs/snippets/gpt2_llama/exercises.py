"""Solutions to the exercises of docs/gpt2-llama.md (each checked by tests/docs/test_gpt2_llama_snippets.py)."""

import numpy as np
import torch

from gpt2_llama.gqa import kv_bytes_per_token
from gpt2_llama.hf_ref import hf_float64, hf_gpt2, hf_llama, max_diff
from gpt2_llama.whole import llama_parameters
from transformer_anatomy.numpy.llama import LlamaForCausalLM

# Llama-3-8B's published config.json (a citation): vocabulary, width, layers, heads, F.
LLAMA3_8B = dict(V=128256, E=4096, L=32, H=32, Hk=8, F=14336, tied=False)


# --8<-- [start:savings]
def gqa_savings(c=LLAMA3_8B, context=8192):
    """What Hk = 8 instead of Hk = H saves: parameters (k_proj, v_proj) and KV cache (16-bit)."""
    gqa = llama_parameters(**c)
    mha = llama_parameters(**(c | {"Hk": c["H"]}))
    D = c["E"] // c["H"]
    cache = lambda hk: kv_bytes_per_token(c["L"], hk, D, 2) * context  # noqa: E731  bytes per sequence
    return {"parameters": gqa, "parameters_mha": mha, "parameter_saving": 1 - gqa / mha,
            "cache_gib": cache(c["Hk"]) / 2**30, "cache_gib_mha": cache(c["H"]) / 2**30,
            "cache_saving": 1 - cache(c["Hk"]) / cache(c["H"])}
# --8<-- [end:savings]


# --8<-- [start:shift]
def position_shift(shift=40, seed=0):
    """max |logits(positions 0..T-1) - logits(positions shift..shift+T-1)| for HF's Llama and GPT-2."""
    ids = torch.from_numpy(np.random.default_rng(seed).integers(0, 40, (1, 8)))
    pos = torch.arange(8)[None]
    out = {}
    for name, model in (("Llama", hf_llama()), ("GPT-2", hf_gpt2())):
        with torch.no_grad(), hf_float64():
            a = model(ids, position_ids=pos).logits
            b = model(ids, position_ids=pos + shift).logits  # every position moved by `shift`
        out[name] = max_diff(a, b)
    return out
# --8<-- [end:shift]


# --8<-- [start:mean_pool]
def mean_pool_kv(mha, Hk):
    """A GQA model from a multi-head one (Ainslie et al. 2023): each group's k/v heads averaged."""
    m = mha.model
    H, D = m.layers[0].self_attn.num_heads, m.layers[0].self_attn.head_dim
    gqa = LlamaForCausalLM(mha.vocab_size, m.hidden_size, m.layers[0].mlp.intermediate_size,
                           m.num_hidden_layers, H, Hk, dtype=mha.dtype)
    state = mha.state_dict()
    for name in state:
        if name.endswith(("k_proj.weight", "v_proj.weight")):  # (H·D, E) -> (Hk, H/Hk, D, E) -> mean -> (Hk·D, E)
            state[name] = state[name].reshape(Hk, H // Hk, D, -1).mean(axis=1).reshape(Hk * D, -1)
    gqa.load_state_dict(state, strict=True)
    return gqa.eval()
# --8<-- [end:mean_pool]


def mean_pool_check(seed=0):
    """Hk = H changes nothing; smaller Hk gives a working model with a smaller state dict."""
    mha = LlamaForCausalLM(40, 32, 88, 2, 4, dtype=np.float64, rng=seed).eval()
    ids = np.random.default_rng(seed).integers(0, 40, (1, 6))
    same = max_diff(mean_pool_kv(mha, 4)(ids), mha(ids))
    sizes = {hk: mean_pool_kv(mha, hk).num_parameters() for hk in (4, 2, 1)}
    return {"same_at_H": same, "parameters": sizes,
            "finite": bool(np.isfinite(mean_pool_kv(mha, 1)(ids)).all())}
