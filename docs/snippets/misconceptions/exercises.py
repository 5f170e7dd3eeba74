"""Solutions to the exercises of docs/misconceptions.md (tests/docs/test_misconceptions_snippets.py checks them)."""

import math

import torch


# --8<-- [start:ffn_crossover]
def ffn_crossover(E, F):
    """The shortest length S at which the feed-forward network does under half of an encoder layer's FLOPs.

    FFN: 4·S·E·F. Attention: 8·S·E² (projections) + 4·S²·E (scores, weighted sum). The FFN's share
    drops below one half when 4SEF < 8SE² + 4S²E, i.e. S > F - 2E.
    """
    return max(F - 2 * E + 1, 1)
# --8<-- [end:ffn_crossover]


# --8<-- [start:adam_first_update]
def adam_first_update(grad, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Adam's first update Δθ from θ, for gradient ``grad`` (step t = 1, state all zeros)."""
    m = (1 - betas[0]) * grad  # first moment after one step
    v = (1 - betas[1]) * grad**2  # second moment
    m_hat, v_hat = m / (1 - betas[0]), v / (1 - betas[1])  # bias correction: m̂ = g, v̂ = g²
    return -lr * m_hat / (v_hat.sqrt() + eps)  # ≈ -lr · sign(g)
# --8<-- [end:adam_first_update]


# --8<-- [start:masked_softmax]
def masked_softmax(scores, blocked):
    """Softmax over the last axis with ``blocked`` (True = may not attend) keys left out.

    Uses the dtype's most negative finite value (representable in float16 too) rather than
    -inf, so a fully blocked row gives a uniform row instead of NaN; blocked keys of a row with
    at least one open key get exactly 0 after the max is subtracted.
    """
    filled = scores.masked_fill(blocked, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1)
# --8<-- [end:masked_softmax]


# --8<-- [start:initial_loss]
def expected_initial_loss(V, s):
    """Second-order estimate of the first loss: logits with variance s² around any mean."""
    return math.log(V) + s * s / 2
# --8<-- [end:initial_loss]
