"""Solutions to the exercises of docs/generation.md (each one checked by
tests/docs/test_generation_snippets.py)."""

import numpy as np

from transformer_anatomy.numpy.kv_cache import KVCache

from generation.beam import beam_search
from generation.models import ours, prompt
from generation.sampling import top_p_filter


# --8<-- [start:cold]
def cold_sampling_is_greedy(model, ids, max_new_tokens=12, temperature=0.01, seed=0):
    """Sampling at a temperature near 0 against greedy decoding: (sampled ids, greedy ids)."""
    sampled = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, seed=seed)
    return np.asarray(sampled), np.asarray(model.generate(ids, max_new_tokens=max_new_tokens))
# --8<-- [end:cold]


# --8<-- [start:nucleus]
def nucleus_size(logits, p):
    """How many tokens top-p keeps: at least one (p -> 0), all of them at p = 1."""
    return int(np.isfinite(top_p_filter(np.asarray(logits, dtype=np.float64), p)).sum())
# --8<-- [end:nucleus]


# --8<-- [start:kv_bytes]
def kv_bytes_per_token(num_layers, num_key_value_heads, head_dim, bytes_per_number=4):
    """Bytes the KV cache grows by per token and sequence: a key and a value vector of
    head_dim numbers per key/value head and layer."""
    return 2 * num_layers * num_key_value_heads * head_dim * bytes_per_number
# --8<-- [end:kv_bytes]


def measured_kv_bytes_per_token(T=10):
    """The same number read from a real KVCache after a prompt of T tokens (our NumPy Llama)."""
    model = ours("llama")
    cache = KVCache()
    model(prompt(T=T), cache=cache)
    return cache.memory_bytes() // T


def one_beam_is_greedy(K=10):
    """beam_search with num_beams = 1 against greedy generate, on a few prompts."""
    model = ours("llama")
    return [bool(np.array_equal(beam_search(model, prompt(seed=s), 1, K),
                                np.asarray(model.generate(prompt(seed=s), max_new_tokens=K)))) for s in range(3)]
