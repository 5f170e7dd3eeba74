"""Scoring model outputs, the same way for both backends: losses and metrics in NumPy.

The backends hand over plain arrays (logits, decoded ids); everything here is NumPy in
float64, so a NumPy model and a PyTorch model with the same weights get the same numbers.

==================  ===========================================  ===============
kind                metrics                                      main metric
==================  ===========================================  ===============
``seq2seq``         loss, token_accuracy (teacher forcing),      exact_match
                    exact_match and decoded_token_accuracy
                    (autoregressive decoding)
``classification``  loss, accuracy                               accuracy
``tagging``         loss, token_accuracy, sentence_accuracy      token_accuracy
``qa``              loss (mean of start and end CE),             exact_match
                    exact_match, f1 (best span with start<=end)
==================  ===========================================  ===============

Evaluation losses are plain cross-entropy (no label smoothing), averaged over the non-pad
targets, so they can be compared across runs with different smoothing.

Page: ``docs/training.md`` (evaluation) and ``docs/data-flow.md`` (how each task is scored).
"""

from __future__ import annotations

import numpy as np

from transformer_anatomy.tasks import sequence_exact_match, span_exact_match, span_f1, token_accuracy
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID

MAIN_METRIC = {"seq2seq": "exact_match", "classification": "accuracy", "tagging": "token_accuracy", "qa": "exact_match"}
"""The metric each kind of task is selected and early-stopped on (higher is better)."""


def cross_entropy_sum(logits: np.ndarray, targets: np.ndarray, ignore_index: int | None = PAD_ID) -> tuple[float, int]:
    """Summed ``-log p(target)`` over non-ignored positions, and their count (float64).

    Shape:
        logits: ``(..., C)``, targets: ``(...)`` -> (float, int)
    """
    C = logits.shape[-1]
    z = logits.reshape(-1, C).astype(np.float64)  # (M, C)
    y = np.asarray(targets).reshape(-1)  # (M,)
    keep = np.ones_like(y, dtype=bool) if ignore_index is None else y != ignore_index
    z, y = z[keep], y[keep]
    if y.size == 0:
        return 0.0, 0
    zmax = z.max(axis=1, keepdims=True)
    logz = np.log(np.exp(z - zmax).sum(axis=1)) + zmax[:, 0]  # log Σ exp, (K,)
    return float((logz - z[np.arange(y.size), y]).sum()), int(y.size)


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, max_answer_len: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """The span ``(s, e)`` maximising ``start[s] + end[e]`` with ``s <= e < s + max_answer_len``.

    Shape:
        start_logits, end_logits: ``(N, S)`` -> starts ``(N,)``, ends ``(N,)``
    """
    N, S = start_logits.shape
    scores = start_logits[:, :, None].astype(np.float64) + end_logits[:, None, :]  # (N, S, 1) + (N, 1, S) -> (N, S, S)
    s_idx, e_idx = np.arange(S)[:, None], np.arange(S)[None, :]
    allowed = (e_idx >= s_idx) & (e_idx < s_idx + max_answer_len)  # (S, S)
    scores = np.where(allowed[None], scores, -np.inf)
    flat = scores.reshape(N, S * S).argmax(axis=1)  # (N,)
    return flat // S, flat % S


def decoded_targets(decoded: np.ndarray, width: int) -> np.ndarray:
    """Decoder output without its ``<sos>``, padded or cut to ``width`` columns (pad after ``<eos>``).

    Shape:
        decoded: ``(N, L)`` (``decoded[:, 0]`` is ``<sos>``) -> ``(N, width)``
    """
    out = np.full((decoded.shape[0], width), PAD_ID, dtype=np.int64)
    body = decoded[:, 1 : 1 + width]
    out[:, : body.shape[1]] = body
    after_eos = np.cumsum(out == EOS_ID, axis=1) - (out == EOS_ID) > 0  # positions after the first <eos>
    out[after_eos] = PAD_ID
    return out


def score_seq2seq(logits: np.ndarray, tgt_out: np.ndarray, decoded: np.ndarray | None) -> dict[str, float]:
    """Teacher-forced loss and token accuracy; exact match and token accuracy of the decoded ids.

    Shape:
        logits: ``(N, T, V)``, tgt_out: ``(N, T)``, decoded: ``(N, L)`` or None
    """
    loss, count = cross_entropy_sum(logits, tgt_out)
    out = {"loss": loss / max(count, 1), "token_accuracy": token_accuracy(logits.argmax(-1), tgt_out)}
    if decoded is not None:
        pred = decoded_targets(decoded, tgt_out.shape[1])
        out["exact_match"] = sequence_exact_match(pred, tgt_out)
        out["decoded_token_accuracy"] = token_accuracy(pred, tgt_out)
    return out


def score_classification(logits: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Shape: logits ``(N, C)``, label ``(N,)``."""
    loss, count = cross_entropy_sum(logits, label, ignore_index=None)
    return {"loss": loss / count, "accuracy": float(np.mean(logits.argmax(-1) == label))}


def score_tagging(logits: np.ndarray, tags: np.ndarray) -> dict[str, float]:
    """Shape: logits ``(N, S, C)``, tags ``(N, S)`` (pad = 0 is not scored)."""
    loss, count = cross_entropy_sum(logits, tags)
    pred = logits.argmax(-1)
    ok = (pred == tags) | (tags == PAD_ID)
    return {"loss": loss / max(count, 1), "token_accuracy": token_accuracy(pred, tags),
            "sentence_accuracy": float(np.mean(ok.all(axis=1)))}


def score_qa(start_logits: np.ndarray, end_logits: np.ndarray, start: np.ndarray, end: np.ndarray,
             ids: np.ndarray | None = None) -> dict[str, float]:
    """Span exact match and F1 of the best valid span (F1 by token identity when ``ids`` is
    given, as SQuAD and the task's baselines; by position otherwise).

    Shape: start_logits, end_logits ``(N, S)``; start, end ``(N,)``; ids ``(N, S)``."""
    ls, n = cross_entropy_sum(start_logits, start, ignore_index=None)
    le, _ = cross_entropy_sum(end_logits, end, ignore_index=None)
    ps, pe = best_spans(start_logits, end_logits)
    return {"loss": 0.5 * (ls + le) / n, "exact_match": span_exact_match(ps, pe, start, end),
            "f1": span_f1(ps, pe, start, end, ids=ids)}
