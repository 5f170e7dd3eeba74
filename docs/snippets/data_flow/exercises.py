"""Solutions of the exercises of docs/data-flow.md (checked by tests/docs/test_data_flow_snippets.py)."""

import numpy as np


# --8<-- [start:masked_mean]
def masked_mean(h, src_len):
    """Mean of ``h`` (N, S, E) over the first ``src_len[n]`` positions of each row -> (N, E)."""
    S = h.shape[1]
    keep = (np.arange(S)[None, :] < np.asarray(src_len)[:, None])[..., None]  # (N, S, 1)
    return (h * keep).sum(1) / keep.sum(1)  # (N, S, E) -> (N, E)
# --8<-- [end:masked_mean]


# --8<-- [start:best_span]
def best_span(start, end, max_len=30):
    """The (s, e) with s <= e < s + max_len maximising start[s] + end[e], for one example."""
    best, best_score = (0, 0), -np.inf
    for s in range(len(start)):
        for e in range(s, min(s + max_len, len(end))):
            if start[s] + end[e] > best_score:
                best, best_score = (s, e), start[s] + end[e]
    return best
# --8<-- [end:best_span]


# --8<-- [start:head_params]
def head_params(E, C, per_position=True):
    """Parameters of a task head on an E-wide encoder: Linear(E, C) is E*C weights + C biases,
    whether it is applied once (pooled) or at every position (shared across positions)."""
    return E * C + C
# --8<-- [end:head_params]
