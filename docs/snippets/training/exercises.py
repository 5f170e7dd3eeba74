"""Solutions of the exercises of docs/training.md (checked by tests/docs/test_training_snippets.py)."""

import numpy as np


# --8<-- [start:shift]
def shift(tgt):
    """``<sos> y1 .. ym <eos>`` rows (N, T+1) -> (tgt_in, tgt_out), both (N, T)."""
    tgt = np.asarray(tgt)
    return tgt[:, :-1], tgt[:, 1:]  # drop the last / the first token
# --8<-- [end:shift]


# --8<-- [start:causal_mask]
def causal_mask(T):
    """(T, T) bool, True where query t may attend to key s (s <= t)."""
    return np.tril(np.ones((T, T), dtype=bool))
# --8<-- [end:causal_mask]


# --8<-- [start:smoothed_target]
def smoothed_target(y, V, eps):
    """Label-smoothed target distribution: (1 - eps) on the right class + eps spread over all V."""
    q = np.full((len(y), V), eps / V)  # (M, V)
    q[np.arange(len(y)), y] += 1.0 - eps
    return q


def smoothed_cross_entropy(logits, y, eps):
    """Cross-entropy against the smoothed target, averaged over the M rows."""
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))  # (M, V) log-softmax
    return float(-(smoothed_target(y, logits.shape[-1], eps) * logp).sum(-1).mean())
# --8<-- [end:smoothed_target]
