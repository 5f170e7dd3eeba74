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


# --8<-- [start:plateau_cuts]
def plateau_cuts(losses, lr=1.0, factor=0.5, patience=1):
    """ReduceLROnPlateau (mode "min", no threshold, no cooldown) by hand: (evaluations after
    which the rate was cut, 1-based; the final rate)."""
    best, bad, cuts = float("inf"), 0, []
    for i, loss in enumerate(losses, start=1):
        if loss < best:
            best, bad = loss, 0  # a new best resets the count
        else:
            bad += 1
        if bad > patience:  # patience + 1 evaluations without a new best
            lr, bad = lr * factor, 0
            cuts.append(i)
    return cuts, lr
# --8<-- [end:plateau_cuts]


# --8<-- [start:best_eval]
def best_eval(records):
    """The evaluation record of a log file with the lowest validation loss: (step, loss, lr)."""
    evals = [r for r in records if r["kind"] == "eval"]
    best = min(evals, key=lambda r: r["metrics"]["loss"])
    return best["step"], best["metrics"]["loss"], best["lr"]
# --8<-- [end:best_eval]
