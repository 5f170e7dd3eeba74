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
  :func:`length_mask`: the masks of the statistics used on the site;
- :func:`head_statistics`: task-independent numbers per example and head (mean attended
  offset, entropy, mass on the diagonal, the mirror and the first token), with
  :func:`uniform_weights` for their chance levels and :func:`summarize_head_statistics` for
  the JSON-ready means (``attention_reading["head_stats"]``, shown on ``docs/results.md``).
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


# ============================================================================================
# Per-head statistics: what each head does, whatever the task

HEAD_STATISTICS = {  # name -> definition (per query row over its real keys, then averaged)
    "mean_offset": "attended offset: the attention-weighted mean of (key index - query index); "
                   "negative = looks back, positive = looks ahead",
    "entropy": "entropy of the row in nats, -sum_s w_s log w_s (0 = one key, log n = uniform over n keys)",
    "entropy_normalized": "entropy divided by log of the number of keys the row can see (1 = uniform; "
                          "rows with a single key are left out)",
    "diagonal": "mass on the key at the query's own index (query t -> key t)",
    "mirror": "mass on the mirrored key (query t -> key n-1-t, n the number of real keys)",
    "first_token": "mass on the first key (index 0)",
}


def _check_lengths(name: str, lengths, N: int, limit: int) -> np.ndarray:
    """``lengths`` as an ``(N,)`` int array with values in ``[0, limit]``, else an error naming it."""
    arr = np.asarray(lengths)
    if arr.shape != (N,):
        raise ValueError(f"{name} must have shape ({N},) (one length per example), got shape {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > limit):
        raise ValueError(f"{name} must hold integers in [0, {limit}], got {name}={arr.tolist()}")
    return arr.astype(np.int64)


def _key_mask(query_lengths, key_lengths, T: int, S: int, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(N, T)`` real queries and ``(N, T, S)`` the real keys each real query may see."""
    t = np.arange(T)[None, :, None]
    s = np.arange(S)[None, None, :]
    queries = np.arange(T)[None, :] < query_lengths[:, None]  # (N, T)
    keys = (s < key_lengths[:, None, None]) & queries[:, :, None]  # (N, T, S)
    if causal:
        keys &= s <= t
    return queries, keys


def uniform_weights(query_lengths, key_lengths, T: int, S: int, causal: bool = False) -> np.ndarray:
    """``(N, 1, T, S)``: each real query spreads its attention evenly over the keys it may see.

    :func:`head_statistics` of these weights is the chance level of each statistic.

    Examples:
        >>> w = uniform_weights([2], [3], T=3, S=4)  # two real queries over three real keys
        >>> w.shape, w[0, 0, 0].round(3).tolist(), w[0, 0, 2].tolist()
        ((1, 1, 3, 4), [0.333, 0.333, 0.333, 0.0], [0.0, 0.0, 0.0, 0.0])
    """
    ql = _check_lengths("query_lengths", query_lengths, len(np.atleast_1d(query_lengths)), T)
    kl = _check_lengths("key_lengths", key_lengths, len(ql), S)
    _, keys = _key_mask(ql, kl, T, S, causal)
    k = keys.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(keys, k / k.sum(-1, keepdims=True), 0.0)
    return w[:, None]


def _row_mean(values: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """``(N, H, T)`` per-row values -> ``(N, H)`` mean over the rows where ``defined``; NaN if none."""
    d = np.broadcast_to(defined, values.shape)
    count = d.sum(-1)
    total = np.where(d, values, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# --8<-- [start:head_statistics]
def head_statistics(weights, query_lengths, key_lengths, causal: bool = False) -> dict[str, np.ndarray]:
    """Per example and head: where a head looks, in numbers that mean the same on every task.

    Each query row is first restricted to the keys it may see (the real keys, and with
    ``causal`` those at or before it) and renormalised over them; weights on padding, which a
    key padding mask makes zero anyway, are dropped. Each statistic of
    :data:`HEAD_STATISTICS` is computed per row and averaged over the example's real queries
    (those that have the key in question: query ``t`` has a diagonal key only if ``t < n``).

    Args:
        weights: attention weights ``(N, H, T, S)``, rows summing to 1 over the keys.
        query_lengths: ``(N,)`` ints, the real queries of each example (``t < query_lengths``).
        key_lengths: ``(N,)`` ints, its real keys (``s < key_lengths``).
        causal: whether query ``t`` may see only keys ``s <= t`` (decoder self-attention).

    Returns:
        dict statistic name -> ``(N, H)`` float64, NaN where an example has no row it applies to.

    Shape:
        weights ``(N, H, T, S)``, query_lengths ``(N,)``, key_lengths ``(N,)`` -> each ``(N, H)``.

    Examples:
        >>> import numpy as np
        >>> w = np.zeros((1, 2, 3, 3))
        >>> w[0, 0] = np.eye(3)[::-1]  # head 0: query t -> key 2 - t (the mirror)
        >>> w[0, 1] = 1 / 3  # head 1: uniform
        >>> st = head_statistics(w, [3], [3])
        >>> st["mirror"].round(3).tolist(), st["entropy_normalized"].round(3).tolist()
        ([[1.0, 0.333]], [[0.0, 1.0]])
        >>> st["mean_offset"].round(3).tolist()  # the mirror looks ahead, then back
        [[0.0, 0.0]]
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"weights must have shape (N, H, T, S), got shape {w.shape}")
    N, H, T, S = w.shape
    ql = _check_lengths("query_lengths", query_lengths, N, T)
    kl = _check_lengths("key_lengths", key_lengths, N, S)
    queries, keys = _key_mask(ql, kl, T, S, bool(causal))  # (N, T), (N, T, S)
    w = np.where(keys[:, None], np.nan_to_num(w), 0.0)  # (N, H, T, S), only the keys a row may see
    mass = w.sum(-1, keepdims=True)  # (N, H, T, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(mass > 0, w / mass, 0.0)  # renormalised over the visible keys
    live = queries[:, None] & (mass[..., 0] > 0)  # (N, H, T): a real query with some mass
    t = np.arange(T)[:, None]  # (T, 1)
    s = np.arange(S)[None, :]  # (1, S)
    n_keys = keys.sum(-1)  # (N, T)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)  # (N, H, T), 0 log 0 = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        normalized = entropy / np.log(np.where(n_keys > 1, n_keys, 2))[:, None]
    mirror = (s == kl[:, None, None] - 1 - t) & keys  # (N, T, S)
    diagonal = (s == t)[None] & keys
    first = (s == 0)[None] & keys
    return {
        "mean_offset": _row_mean((p * (s - t)).sum(-1), live),
        "entropy": _row_mean(entropy, live),
        "entropy_normalized": _row_mean(normalized, live & (n_keys > 1)[:, None]),
        "diagonal": _row_mean((p * diagonal[:, None]).sum(-1), live & diagonal.any(-1)[:, None]),
        "mirror": _row_mean((p * mirror[:, None]).sum(-1), live & mirror.any(-1)[:, None]),
        "first_token": _row_mean((p * first[:, None]).sum(-1), live & first.any(-1)[:, None]),
    }
# --8<-- [end:head_statistics]


def _mean_per_head(x: np.ndarray) -> list[float | None]:
    """``(N, H)`` -> per-head mean over the examples where it is finite (None if none is)."""
    out = []
    for col in np.asarray(x, dtype=np.float64).T:
        col = col[np.isfinite(col)]
        out.append(float(col.mean()) if col.size else None)
    return out


def summarize_head_statistics(layers: dict[str, list[dict[str, np.ndarray]]],
                              uniform: list[dict[str, np.ndarray]] | None = None,
                              shown: int | None = None) -> dict:
    """JSON-ready means over the examples of :func:`head_statistics` results collected in chunks.

    Args:
        layers: layer name -> list of :func:`head_statistics` results (one per chunk of examples,
            in order).
        uniform: the same for :func:`uniform_weights` (one head): the chance levels.
        shown: index of one example (the figure's) whose own values are kept as well.

    Returns:
        ``{"definitions", "examples", "layers": {layer: {statistic: [per head]}}, "uniform":
        {statistic: value}}`` and, with ``shown``, ``"figure_example"`` (same layout) and
        ``"figure_example_uniform"``.

    Examples:
        >>> import numpy as np
        >>> w = np.full((2, 1, 2, 2), 0.5)  # two examples, one head, uniform over two keys
        >>> part = head_statistics(w, [2, 2], [2, 2])
        >>> out = summarize_head_statistics({"layer": [part]}, shown=0)
        >>> out["examples"], out["layers"]["layer"]["entropy_normalized"], out["figure_example"]["layer"]["first_token"]
        (2, [1.0], [0.5])
    """
    def joined(parts):
        return {k: np.concatenate([p[k] for p in parts]) for k in HEAD_STATISTICS}

    per_layer = {name: joined(parts) for name, parts in layers.items()}
    examples = len(next(iter(per_layer.values()))["entropy"]) if per_layer else 0
    out = {"definitions": dict(HEAD_STATISTICS), "examples": examples,
           "layers": {name: {k: _mean_per_head(v) for k, v in st.items()} for name, st in per_layer.items()}}
    u = joined(uniform) if uniform else None
    if u is not None:
        out["uniform"] = {k: _mean_per_head(v)[0] for k, v in u.items()}
    if shown is not None:
        out["figure_example"] = {name: {k: _mean_per_head(v[shown:shown + 1]) for k, v in st.items()}
                                 for name, st in per_layer.items()}
        if u is not None:
            out["figure_example_uniform"] = {k: _mean_per_head(v[shown:shown + 1])[0] for k, v in u.items()}
    return out
