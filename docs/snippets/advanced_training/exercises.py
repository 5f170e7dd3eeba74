"""Solutions to the exercises of docs/advanced-training.md (tests/docs/test_advanced_training_snippets.py checks them)."""

import math

import torch


# --8<-- [start:noam_peak]
def noam_peak(d_model, warmup, factor=1.0):
    """The largest learning rate of the Noam schedule, reached at step = warmup.

    lr(step) = factor · E^-0.5 · min(step^-0.5, step · warmup^-1.5): both terms equal
    warmup^-0.5 at step = warmup, so the peak is factor · (E · warmup)^-0.5.
    """
    return factor / math.sqrt(d_model * warmup)
# --8<-- [end:noam_peak]


# --8<-- [start:smoothed_minimum]
def smoothed_minimum(eps, V):
    """The smallest label-smoothed cross-entropy any prediction can reach: the entropy of q.

    q puts 1 - ε + ε/V on the true class and ε/V on each of the V - 1 others.
    """
    top, rest = 1 - eps + eps / V, eps / V
    return -(top * math.log(top) + (V - 1) * rest * math.log(rest)) if eps > 0 else 0.0
# --8<-- [end:smoothed_minimum]


# --8<-- [start:first_inexact_integer]
def first_inexact_integer(dtype):
    """The smallest positive integer that ``dtype`` cannot store exactly: 2^(p + 1) + 1, p = stored mantissa bits."""
    p = int(round(-math.log2(torch.finfo(dtype).eps)))  # bits after the leading 1
    return 2 ** (p + 1) + 1
# --8<-- [end:first_inexact_integer]
