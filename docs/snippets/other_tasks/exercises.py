"""Coded solutions of the exercises of docs/other-tasks.md (checked by tests/docs/test_other_tasks_snippets.py)."""

import math

import torch

from transformer_anatomy.tasks.vocab import Vocab
from transformer_anatomy.torch import TransformerClassifier


# --8<-- [start:trend_only]
def trend_only_mae(slope, horizon, season):
    """MAE of the two baselines on y = slope · t, from any origin (horizon <= season).

    Last value: the error at step h = 1..H is slope · h, so the mean is slope · (H + 1) / 2.
    Seasonal naive: every forecast is one season old, so the error is slope · season.
    """
    if horizon > season:
        raise ValueError(f"horizon={horizon} must be <= season={season} here")
    return {"last_value": abs(slope) * (horizon + 1) / 2, "seasonal_naive": abs(slope) * season}
# --8<-- [end:trend_only]


# --8<-- [start:noise_floor]
def noise_floor(sigma):
    """E|ε| for ε ~ N(0, σ²): the MAE of a forecaster that knows the noiseless series."""
    return sigma * math.sqrt(2 / math.pi)
# --8<-- [end:noise_floor]


# --8<-- [start:max_pool]
class MaxPoolClassifier(TransformerClassifier):
    """Max over the non-pad positions of each feature, then the classifier."""

    def forward(self, ids):
        h, pad = self.encode(ids)  # (N, S, E), (N, S)
        h = h.masked_fill(pad.unsqueeze(-1), float("-inf"))  # pads never win the max
        pooled = h.max(dim=1).values  # (N, S, E) -> (N, E)
        pooled = torch.where(torch.isinf(pooled), torch.zeros_like(pooled), pooled)  # an all-pad row -> 0
        return self.classifier(pooled)
# --8<-- [end:max_pool]


# --8<-- [start:shared_vocab]
def shared_vocabulary(pairs):
    """One vocabulary for both languages (as Vaswani et al. 2017, §5.1, share one BPE vocabulary)."""
    words = sorted({w for src, tgt in pairs for w in (*src, *tgt)})
    return Vocab(words)
# --8<-- [end:shared_vocab]
