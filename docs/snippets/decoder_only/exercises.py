"""Solutions to the exercises of docs/decoder-only.md (checked by
tests/docs/test_decoder_only_snippets.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
from decoder_only.trace import batch, data, models
from three_families.exercises import layer_params


# --8<-- [start:units]
def units(nats):
    """A loss in nats per token as bits per token and as perplexity (e^nats = 2^bits)."""
    return {"nats": nats, "bits": nats / math.log(2), "perplexity": math.exp(nats)}
# --8<-- [end:units]


def units_of_uniform():
    V = data().vocab_size
    u = units(math.log(V))  # the uniform distribution: -ln(1/V) at every position
    return f"V = {V}: {u['nats']:.4f} nats, {u['bits']:.4f} bits, perplexity {u['perplexity']:.1f}"


# --8<-- [start:inputs_targets]
def inputs_targets(windows):
    """(N, T + 1) windows -> inputs (N, T) and targets (N, T), each input's next token."""
    windows = np.asarray(windows)
    return windows[:, :-1], windows[:, 1:]
# --8<-- [end:inputs_targets]


# --8<-- [start:future_influence]
def future_influence(seed=0):
    """Largest change of the logits at positions 0..t when the tokens after t change."""
    inputs, _ = batch()
    model, x = models()[0], torch.as_tensor(inputs)
    (Nb, T), V = x.shape, data().vocab_size
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    with torch.no_grad():
        base = model(x)  # (N, T, V)
        for t in range(T - 1):
            y = x.clone()
            y[:, t + 1:] = torch.randint(0, V, (Nb, T - t - 1), generator=g)  # a new future
            change = model(y)[:, : t + 1] - base[:, : t + 1]  # positions 0..t only
            worst = max(worst, float(change.abs().max()))
    return worst
# --8<-- [end:future_influence]


def saved_per_layer(E, F=None):
    """Parameters of a 2017 decoder layer minus those of an encoder layer (= a GPT-2 block)."""
    F = 4 * E if F is None else F
    return layer_params(E, F, cross_attention=True) - layer_params(E, F)
