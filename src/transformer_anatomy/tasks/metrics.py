"""Evaluation metrics for the tasks: accuracy, padded-token accuracy, sequence exact match,
tag precision/recall/F1 and answer-span exact match / F1.

All functions take NumPy arrays (or nested lists) of integer ids and return Python floats
(or dicts of floats), so results can go straight into a JSON results file.

Conventions:

- ``<pad>`` (id 0) positions of the *target* are never scored.
- Sequence exact match compares the tokens up to the first ``<eos>``; what follows it (in
  the prediction or the target) is ignored.
- Tag P/R/F1 are token-level. ``average="micro"`` pools every token; when each token gets
  exactly one predicted tag (as here), micro precision = recall = F1 = token accuracy.
  ``average="macro"`` computes P/R/F1 per tag and takes the unweighted mean over the tags
  that occur in the target or the prediction, so rare tags count as much as frequent ones.
- Span EM/F1 follow SQuAD: EM is 1 when start and end both match; F1 is the harmonic mean of
  precision and recall of the predicted tokens against the answer's tokens (by position,
  or, given ``ids``, by token identity as SQuAD's bag-of-tokens overlap). An invalid
  prediction (``end < start``) scores 0.

Page: ``docs/data-flow.md`` (how each task is scored).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .vocab import EOS_ID, PAD_ID


def _as_int_array(x: object, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise TypeError(f"{name} must be an array of integer ids, got dtype {a.dtype}")
    return a


def _check_same_shape(pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")


def accuracy(pred: object, target: object) -> float:
    """Fraction of equal entries (e.g. predicted class vs label).

    Shape:
        pred, target: any equal shapes, e.g. ``(N,)`` -> float in ``[0, 1]``

    Examples:
        >>> import numpy as np
        >>> accuracy(np.array([1, 0, 1]), np.array([1, 1, 1]))
        0.6666666666666666
    """
    pred, target = np.asarray(pred), np.asarray(target)
    _check_same_shape(pred, target)
    if target.size == 0:
        raise ValueError("accuracy of an empty array is undefined")
    return float(np.mean(pred == target))


def token_accuracy(pred: object, target: object, pad_id: int = PAD_ID) -> float:
    """Fraction of correct tokens over the positions where ``target`` is not ``<pad>``.

    Shape:
        pred, target: ``(N, T)`` -> float in ``[0, 1]``

    Examples:
        >>> import numpy as np
        >>> token_accuracy(np.array([[5, 6, 0]]), np.array([[5, 7, 0]]))  # the pad position is not scored
        0.5
    """
    pred, target = _as_int_array(pred, "pred"), _as_int_array(target, "target")
    _check_same_shape(pred, target)
    real = target != pad_id  # (N, T) True at scored positions
    if not real.any():
        raise ValueError("target has no non-pad positions to score")
    return float(np.mean(pred[real] == target[real]))


def _until_eos(row: Sequence[int], eos_id: int, pad_id: int) -> list[int]:
    out = []
    for t in row:
        t = int(t)
        if t == eos_id:
            break
        if t != pad_id:
            out.append(t)
    return out


def sequence_exact_match(
    pred: object, target: object, eos_id: int = EOS_ID, pad_id: int = PAD_ID
) -> float:
    """Fraction of rows whose tokens before the first ``<eos>`` are identical.

    ``<pad>`` tokens are dropped and everything after the first ``<eos>`` is ignored on
    both sides, so ``pred`` may be a different width than ``target`` (e.g. the output of
    greedy decoding). A prediction that never writes ``<eos>`` is compared over all its
    non-pad tokens (and is therefore wrong if it runs on).

    Shape:
        pred: ``(N, T')``, target: ``(N, T)`` (or lists of ``N`` id lists) -> float

    Examples:
        >>> import numpy as np
        >>> sequence_exact_match(np.array([[5, 6, 0], [1, 2, 0]]), np.array([[5, 6, 0], [1, 3, 0]]))
        0.5
    """
    if len(pred) != len(target):  # type: ignore[arg-type]
        raise ValueError(f"pred has {len(pred)} rows but target has {len(target)}")  # type: ignore[arg-type]
    if len(target) == 0:  # type: ignore[arg-type]
        raise ValueError("exact match of zero sequences is undefined")
    hits = [
        _until_eos(p, eos_id, pad_id) == _until_eos(t, eos_id, pad_id)
        for p, t in zip(pred, target)  # type: ignore[call-overload]
    ]
    return float(np.mean(hits))


def tag_prf(
    pred: object,
    target: object,
    average: str = "micro",
    pad_id: int = PAD_ID,
    ignore: Sequence[int] = (),
) -> dict[str, float]:
    """Token-level precision, recall and F1 of predicted tags.

    Positions where ``target`` is ``<pad>`` are skipped. Tags in ``ignore`` (e.g. an
    "outside" tag) are not counted as classes, but a wrong prediction *of* or *for* them
    still costs the other class its precision or recall.

    Args:
        average ({"micro", "macro"}): ``"micro"`` pools true/false positives over all tags; ``"macro"``
            averages the per-tag scores over the tags occurring in target or prediction.

    Returns:
        dict: ``precision``, ``recall``, ``f1`` and ``per_tag`` (tag id -> dict of the three), ``support``
            (tag id -> count in target).

    Shape:
        pred, target: ``(N, S)`` tag ids

    Examples:
        >>> import numpy as np
        >>> tag_prf(np.array([[4, 5, 0]]), np.array([[4, 4, 0]]))["f1"]
        0.5
    """
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro', got {average!r}")
    pred, target = _as_int_array(pred, "pred"), _as_int_array(target, "target")
    _check_same_shape(pred, target)
    real = target != pad_id
    p, t = pred[real], target[real]  # (K,) scored positions
    if t.size == 0:
        raise ValueError("target has no non-pad positions to score")
    skip = set(int(i) for i in ignore)
    tags = sorted((set(np.unique(t).tolist()) | set(np.unique(p).tolist())) - skip - {pad_id})
    per_tag: dict[int, dict[str, float]] = {}
    support: dict[int, int] = {}
    tp_sum = fp_sum = fn_sum = 0
    for c in tags:
        tp = int(np.sum((p == c) & (t == c)))
        fp = int(np.sum((p == c) & (t != c)))
        fn = int(np.sum((p != c) & (t == c)))
        tp_sum, fp_sum, fn_sum = tp_sum + tp, fp_sum + fp, fn_sum + fn
        per_tag[c] = _prf(tp, fp, fn)
        support[c] = int(np.sum(t == c))
    if average == "micro":
        scores = _prf(tp_sum, fp_sum, fn_sum)
    else:
        keys = ("precision", "recall", "f1")
        scores = {k: float(np.mean([per_tag[c][k] for c in tags])) if tags else 0.0 for k in keys}
    return {**scores, "per_tag": per_tag, "support": support}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


# --8<-- [start:span_metrics]
def span_exact_match(pred_start: object, pred_end: object, start: object, end: object) -> float:
    """Fraction of predicted spans whose start and end both equal the answer's.

    Shape:
        pred_start, pred_end, start, end: ``(N,)`` positions (end inclusive) -> float

    Examples:
        >>> import numpy as np
        >>> span_exact_match(np.array([2, 3]), np.array([4, 3]), np.array([2, 3]), np.array([4, 5]))
        0.5
    """
    ps, pe, s, e = (np.asarray(a).reshape(-1) for a in (pred_start, pred_end, start, end))
    if not len(ps) == len(pe) == len(s) == len(e):
        raise ValueError(f"span arrays differ in length: {len(ps)}, {len(pe)}, {len(s)}, {len(e)}")
    if len(s) == 0:
        raise ValueError("exact match of zero spans is undefined")
    return float(np.mean((ps == s) & (pe == e)))


def span_f1(
    pred_start: object, pred_end: object, start: object, end: object, ids: object | None = None
) -> float:
    """Mean token-overlap F1 between predicted and true spans (SQuAD-style).

    Without ``ids`` the overlap is positional: ``|[ps, pe] ∩ [s, e]|`` tokens. With ``ids``
    (the input rows) the overlap is the multiset intersection of the two spans' token ids,
    as SQuAD compares answer strings; the two differ only when a span's words repeat
    elsewhere. ``precision = overlap / pred length``, ``recall = overlap / answer length``.

    Shape:
        pred_start, pred_end, start, end: ``(N,)``; ids: ``(N, S)`` -> float

    Examples:
        >>> import numpy as np
        >>> span_f1(np.array([2]), np.array([4]), np.array([3]), np.array([4]))  # 2 of 3 predicted, 2 of 2 gold
        0.8
    """
    ps, pe, s, e = (np.asarray(a).reshape(-1).astype(np.int64) for a in (pred_start, pred_end, start, end))
    if not len(ps) == len(pe) == len(s) == len(e):
        raise ValueError(f"span arrays differ in length: {len(ps)}, {len(pe)}, {len(s)}, {len(e)}")
    if len(s) == 0:
        raise ValueError("F1 of zero spans is undefined")
    if np.any(e < s):
        bad = int(np.flatnonzero(e < s)[0])
        raise ValueError(f"true span {bad} has end {e[bad]} < start {s[bad]}")
    rows = np.asarray(ids) if ids is not None else None
    scores = []
    for i in range(len(s)):
        if pe[i] < ps[i]:  # invalid prediction
            scores.append(0.0)
            continue
        if rows is None:
            overlap = max(0, min(pe[i], e[i]) - max(ps[i], s[i]) + 1)  # shared positions
        else:
            pred_tokens = Counter(rows[i, ps[i] : pe[i] + 1].tolist())
            true_tokens = Counter(rows[i, s[i] : e[i] + 1].tolist())
            overlap = sum((pred_tokens & true_tokens).values())  # shared tokens (multiset)
        if overlap == 0:
            scores.append(0.0)
            continue
        precision = overlap / (pe[i] - ps[i] + 1)
        recall = overlap / (e[i] - s[i] + 1)
        scores.append(2 * precision * recall / (precision + recall))
    return float(np.mean(scores))
# --8<-- [end:span_metrics]
