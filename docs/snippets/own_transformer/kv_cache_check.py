"""Incremental decoding with a key/value cache gives the same logits as recomputing the whole
prefix, and beam search with one beam is greedy decoding."""

import torch

import transformer_anatomy.torch as tt
from transformer_anatomy.tasks import EOS_ID, REVERSAL_PRESETS, SOS_ID, make_reversal_task

MAX_LEN = 10  # <sos> + 9 generated tokens


def setup(seed=0):
    """A random Seq2SeqTransformer (float64, eval) and a padded batch of reversal sources."""
    data = make_reversal_task(n_train=8, n_valid=1, n_test=1, rng=seed, **REVERSAL_PRESETS["variable"])
    src = torch.from_numpy(data.train["src"][:4])  # (N, S), padded
    torch.manual_seed(seed)
    V = len(data.src_vocab)
    model = tt.Seq2SeqTransformer(V, V, d_model=32, nhead=4, dim_feedforward=64).double().eval()
    return model, src


@torch.no_grad()
def cached_vs_full(seed=0):
    """Greedy steps, each computing the newest logits both ways: max |difference| and cache size."""
    model, src = setup(seed)
    memory = model.encode(src)  # (N, S, E)
    cache = model.init_cache(memory, src)
    ys = torch.full((src.size(0), 1), SOS_ID)  # (N, 1)
    diffs = []
    for _ in range(MAX_LEN - 1):
        step = model.decode_step(ys, cache)  # (N, V): only the newest position is computed
        full = model.decode(ys, memory, src)[:, -1]  # (N, V): every position recomputed
        diffs.append(float((step - full).abs().max()))
        ys = torch.cat([ys, step.argmax(-1, keepdim=True)], dim=1)  # (N, t) -> (N, t + 1)
    return max(diffs), len(diffs), cache.memory_bytes(), tuple(cache.layers[0]["self_k"].shape)


@torch.no_grad()
def decoders_agree(seed=0):
    """Greedy with cache == greedy without; beam search with beam_size=1 == greedy."""
    model, src = setup(seed)
    with_cache = model.greedy_decode(src, MAX_LEN, SOS_ID, EOS_ID, use_cache=True)
    without = model.greedy_decode(src, MAX_LEN, SOS_ID, EOS_ID, use_cache=False)
    beam1 = model.beam_search(src, 1, MAX_LEN, SOS_ID, EOS_ID)
    return {"greedy, cache == greedy, no cache": torch.equal(with_cache, without),
            "beam_search(beam_size=1) == greedy": torch.equal(beam1, with_cache),
            "shape": tuple(with_cache.shape)}


def report():
    """Print both checks."""
    d, steps, nbytes, k_shape = cached_vs_full()
    print(f"max |cached logits - recomputed logits| over {steps} steps (float64): {d:.1e}")
    print(f"cache after {steps} steps: {nbytes:,} bytes; layer 0 self-attention keys {k_shape} = (N, H, t, E/H)")
    for name, ok in decoders_agree().items():
        print(f"{name}: {ok}")
