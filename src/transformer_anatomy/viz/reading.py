"""Numbers that read an attention map: how much of each head's attention goes where a task says.

A heatmap of attention invites claims ("this head looks at the mirrored position"); these
functions turn such a claim into a number computed from the same weights, so that a page can
print it next to the figure. ``scripts/reproduce.py`` computes them on the test split right
where it captures the attention of the trained model for its figure, and writes them into the
task's results JSON under ``"attention_reading"``.

Every function takes attention weights ``(N, H, T, S)`` (as returned by
:func:`~transformer_anatomy.viz.capture_attention`: ``N`` examples, ``H`` heads, ``T`` queries,
``S`` keys, rows summing to 1) and boolean masks:

- :func:`mass_on`: per example and head, the attention mass that the chosen queries put on
  the chosen keys, averaged over those queries;
- :func:`uniform_mass_on`: the same number for attention spread evenly over the real
  (non-pad) keys: the chance level to compare :func:`mass_on` with;
- :func:`peak_monotonic`: per example and head, whether the most attended key never moves
  backwards from one query to the next (a left-to-right alignment);
- :func:`mirror_mask`, :func:`diagonal_mask`, :func:`span_mask`, :func:`token_mask`,
  :func:`length_mask`: the masks of the statistics used on the site.
"""

from __future__ import annotations

import numpy as np


def length_mask(lengths: np.ndarray, width: int) -> np.ndarray:
    """``(N,)`` lengths -> ``(N, width)`` bool, True at positions ``< length``."""
    return np.arange(width)[None, :] < np.asarray(lengths)[:, None]


def mirror_mask(src_len: np.ndarray, T: int, S: int) -> np.ndarray:
    """``(N, T, S)``: query ``t`` -> key ``src_len - 1 - t`` (the reversed position), for ``t < src_len``."""
    src_len = np.asarray(src_len)
    t = np.arange(T)[None, :, None]
    s = np.arange(S)[None, None, :]
    n = src_len[:, None, None]
    return (s == n - 1 - t) & (t < n)


def diagonal_mask(N: int, T: int, S: int) -> np.ndarray:
    """``(N, T, S)``: query ``t`` -> key ``t`` (the same position)."""
    return np.broadcast_to(np.eye(T, S, dtype=bool)[None], (N, T, S)).copy()


def span_mask(start: np.ndarray, end: np.ndarray, T: int, S: int) -> np.ndarray:
    """``(N, T, S)``: every query -> the keys ``start .. end`` (inclusive) of its example."""
    s = np.arange(S)[None, :]
    keys = (s >= np.asarray(start)[:, None]) & (s <= np.asarray(end)[:, None])  # (N, S)
    return np.broadcast_to(keys[:, None, :], (keys.shape[0], T, S)).copy()


def token_mask(ids: np.ndarray, wanted: set[int] | frozenset[int], T: int) -> np.ndarray:
    """``(N, T, S)``: every query -> the keys whose token id is in ``wanted``."""
    keys = np.isin(np.asarray(ids), np.fromiter(wanted, dtype=np.int64, count=len(wanted)))  # (N, S)
    return np.broadcast_to(keys[:, None, :], (keys.shape[0], T, keys.shape[1])).copy()


def mass_on(weights: np.ndarray, targets: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Mean over the chosen queries of the attention mass on the target keys.

    Shape:
        weights ``(N, H, T, S)``, targets ``(N, T, S)`` bool, queries ``(N, T)`` bool -> ``(N, H)``;
        NaN for an example with no chosen query.
    """
    w = np.asarray(weights, dtype=np.float64)
    per_query = (w * targets[:, None]).sum(-1)  # (N, H, T)
    q = np.asarray(queries, dtype=np.float64)[:, None, :]  # (N, 1, T)
    count = q.sum(-1)  # (N, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (per_query * q).sum(-1) / count


def uniform_mass_on(targets: np.ndarray, keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """What :func:`mass_on` gives for attention spread evenly over the real keys: ``(N,)``.

    ``keys``: ``(N, S)`` bool, True at the real (non-pad) keys.
    """
    keys = np.asarray(keys, dtype=np.float64)
    n_keys = np.maximum(keys.sum(-1), 1.0)[:, None, None]  # (N, 1, 1)
    uniform = np.broadcast_to(keys[:, None, :] / n_keys, targets.shape)[:, None]  # (N, 1, T, S)
    return mass_on(uniform, targets, queries)[:, 0]


def peak_monotonic(weights: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``(N, H)`` bool: the argmax key of consecutive chosen queries never decreases."""
    peaks = np.asarray(weights).argmax(-1)  # (N, H, T)
    q = np.asarray(queries, dtype=bool)
    out = np.ones(peaks.shape[:2], dtype=bool)
    for i in range(peaks.shape[0]):
        p = peaks[i][:, q[i]]  # (H, T_i)
        if p.shape[1] > 1:
            out[i] = (np.diff(p, axis=1) >= 0).all(axis=1)
    return out


def summarize(per_example: np.ndarray, groups: dict[str, np.ndarray] | None = None) -> dict:
    """Per-head means (NaN-free) of an ``(N, H)`` statistic, overall and for each boolean group."""
    x = np.asarray(per_example, dtype=np.float64)

    def head_means(rows: np.ndarray) -> list[float | None]:
        sel = x[rows]
        out = []
        for h in range(x.shape[1]):
            col = sel[:, h][np.isfinite(sel[:, h])]
            out.append(float(col.mean()) if col.size else None)
        return out

    every = np.ones(x.shape[0], dtype=bool)
    result = {"per_head": head_means(every), "examples": int(x.shape[0])}
    for name, rows in (groups or {}).items():
        rows = np.asarray(rows, dtype=bool)
        result[name] = {"per_head": head_means(rows), "examples": int(rows.sum())}
    return result
