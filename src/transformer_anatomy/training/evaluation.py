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

from typing import Any

import numpy as np

from transformer_anatomy.tasks import sequence_exact_match, span_exact_match, span_f1, token_accuracy
from transformer_anatomy.tasks.task_data import MAIN_METRIC  # kind -> metric, beside the one list of kinds
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID


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

    Examples:
        >>> start = np.array([[0.0, 3.0, 1.0]])
        >>> end = np.array([[4.0, 0.0, 2.0]])  # the best end (0) lies before the best start (1)
        >>> best_spans(start, end)
        (array([1]), array([2]))
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

    Examples:
        >>> decoded_targets(np.array([[1, 7, 8, 2, 9]]), width=5).tolist()  # <sos> dropped, pad after <eos>
        [[7, 8, 2, 0, 0]]
    """
    out = np.full((decoded.shape[0], width), PAD_ID, dtype=np.int64)
    body = decoded[:, 1 : 1 + width]
    out[:, : body.shape[1]] = body
    after_eos = np.cumsum(out == EOS_ID, axis=1) - (out == EOS_ID) > 0  # positions after the first <eos>
    out[after_eos] = PAD_ID
    return out


# --8<-- [start:teacher_forced_exact_match]
def teacher_forced_exact_match(logits: np.ndarray, tgt_out: np.ndarray) -> float:
    """Fraction of rows whose teacher-forced argmax is right at every target position (``<eos>`` included).

    For greedy decoding this *is* the exact match, found with one forward pass instead of one
    per output token: greedy decoding feeds back its own argmax, so while it is right its input
    is the teacher-forced input, its logits are the teacher-forced logits (a causal decoder
    never sees later positions) and its next argmax is the teacher-forced one. A row decodes
    to its target exactly when every teacher-forced argmax is right, ``<eos>`` included. (Up to
    rounding: the decoder runs at other shapes, so a near tie could break the other way, and a
    model that writes ``<pad>`` mid-sequence, which greedy scoring drops, counts as wrong here.)
    Beam search has no such shortcut.

    Shape:
        logits: ``(N, T, V)``, tgt_out: ``(N, T)`` (pad = 0 is not scored) -> float

    Examples:
        >>> tgt_out = np.array([[5, 2, 0], [5, 4, 2]])  # <pad> after the first row's <eos>
        >>> logits = np.eye(6)[np.array([[5, 2, 3], [5, 3, 2]])]  # row 1 is wrong at position 2
        >>> teacher_forced_exact_match(logits, tgt_out)
        0.5
    """
    ok = (logits.argmax(-1) == tgt_out) | (tgt_out == PAD_ID)  # (N, T)
    return float(np.mean(ok.all(axis=1)))
# --8<-- [end:teacher_forced_exact_match]


def score_seq2seq(logits: np.ndarray, tgt_out: np.ndarray, decoded: np.ndarray | None) -> dict[str, float]:
    """Teacher-forced loss and token accuracy; exact match and token accuracy of the decoded ids.

    Without ``decoded`` (``TrainConfig.eval_decoding=False``) the exact match comes from the
    teacher-forced argmax (:func:`teacher_forced_exact_match`, equal to greedy decoding's) and
    there is no ``decoded_token_accuracy``.

    Shape:
        logits: ``(N, T, V)``, tgt_out: ``(N, T)``, decoded: ``(N, L)`` or None

    Examples:
        >>> tgt_out = np.array([[5, 2]])  # y_1 <eos>
        >>> logits = np.log(np.eye(6)[tgt_out] * 0.9 + 0.02)  # (N, T, V): 90 % on the right token
        >>> r = score_seq2seq(logits, tgt_out, decoded=np.array([[1, 5, 2]]))
        >>> r["token_accuracy"], r["exact_match"]
        (1.0, 1.0)
    """
    loss, count = cross_entropy_sum(logits, tgt_out)
    out = {"loss": loss / max(count, 1), "token_accuracy": token_accuracy(logits.argmax(-1), tgt_out)}
    if decoded is None:  # no decoding: exact match from the teacher-forced pass (equal for greedy decoding)
        out["exact_match"] = teacher_forced_exact_match(logits, tgt_out)
    else:
        pred = decoded_targets(decoded, tgt_out.shape[1])
        out["exact_match"] = sequence_exact_match(pred, tgt_out)
        out["decoded_token_accuracy"] = token_accuracy(pred, tgt_out)
    return out


def score_classification(logits: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Shape: logits ``(N, C)``, label ``(N,)``.

    Examples:
        >>> score_classification(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))["accuracy"]
        0.5
    """
    loss, count = cross_entropy_sum(logits, label, ignore_index=None)
    return {"loss": loss / count, "accuracy": float(np.mean(logits.argmax(-1) == label))}


def score_tagging(logits: np.ndarray, tags: np.ndarray) -> dict[str, float]:
    """Shape: logits ``(N, S, C)``, tags ``(N, S)`` (pad = 0 is not scored).

    Examples:
        >>> logits = np.eye(6)[np.array([[4, 5, 0]])]  # (N, S, C): predicts 4 5 <pad>
        >>> r = score_tagging(logits, np.array([[4, 4, 0]]))
        >>> r["token_accuracy"], r["sentence_accuracy"]
        (0.5, 0.0)
    """
    loss, count = cross_entropy_sum(logits, tags)
    pred = logits.argmax(-1)
    ok = (pred == tags) | (tags == PAD_ID)
    return {"loss": loss / max(count, 1), "token_accuracy": token_accuracy(pred, tags),
            "sentence_accuracy": float(np.mean(ok.all(axis=1)))}


def score_qa(start_logits: np.ndarray, end_logits: np.ndarray, start: np.ndarray, end: np.ndarray,
             ids: np.ndarray | None = None) -> dict[str, float]:
    """Span exact match and F1 of the best valid span (F1 by token identity when ``ids`` is
    given, as SQuAD and the task's baselines; by position otherwise).

    Shape: start_logits, end_logits ``(N, S)``; start, end ``(N,)``; ids ``(N, S)``.

    Examples:
        >>> start_logits, end_logits = np.array([[0.0, 4.0, 0.0]]), np.array([[0.0, 0.0, 4.0]])
        >>> r = score_qa(start_logits, end_logits, start=np.array([1]), end=np.array([2]))
        >>> r["exact_match"], r["f1"]
        (1.0, 1.0)
    """
    ls, n = cross_entropy_sum(start_logits, start, ignore_index=None)
    le, _ = cross_entropy_sum(end_logits, end, ignore_index=None)
    ps, pe = best_spans(start_logits, end_logits)
    return {"loss": 0.5 * (ls + le) / n, "exact_match": span_exact_match(ps, pe, start, end),
            "f1": span_f1(ps, pe, start, end, ids=ids)}


def prediction_rows(kind: str, data: Any, outputs: dict[str, np.ndarray], split: str = "test", n_first: int = 8,
                    n_wrong: int = 4) -> list[dict[str, Any]]:
    """Predictions as words: the first ``n_first`` examples of ``split`` plus up to ``n_wrong`` mistakes.

    ``outputs`` is what a trainer's ``predict(split)`` returns (``decoded`` for seq2seq,
    ``logits`` for classification / tagging, ``start_logits`` / ``end_logits`` for QA). Each
    row: ``input``, ``target``, ``prediction`` (tokens joined by spaces; QA adds the
    ``[start, end]`` span) and ``correct``. ``transformer_anatomy.viz.prediction_table_markdown``
    and ``prediction_table_html`` draw them.

    Shape:
        reads src: ``(N, S)`` and the kind's targets of ``split``; outputs as above -> a list of
        at most ``n_first + n_wrong`` rows

    Examples:
        >>> from transformer_anatomy.tasks import make_sentiment_task
        >>> data = make_sentiment_task(n_train=16, n_valid=4, n_test=4)
        >>> logits = np.eye(2)[data.split("test")["label"]]  # a perfect classifier
        >>> rows = prediction_rows("classification", data, {"logits": logits}, n_first=2)
        >>> len(rows), all(r["correct"] for r in rows)
        (2, True)
    """
    ev = data.split(split)
    rows = [_prediction_row(kind, data, ev, outputs, i) for i in range(len(ev["src"]))]
    wrong = [r for r in rows[n_first:] if not r["correct"]][:n_wrong]
    return rows[:n_first] + wrong


def _prediction_row(kind: str, data: Any, ev: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
                    i: int) -> dict[str, Any]:
    src_v, tgt_v = data.src_vocab, data.tgt_vocab

    def words(vocab: Any, ids: Any) -> str:
        return " ".join(vocab.idx2word[int(t)] for t in ids)

    if kind == "seq2seq":
        pred = decoded_targets(outputs["decoded"][i : i + 1], ev["tgt_out"].shape[1])[0]
        target, predicted = " ".join(tgt_v.decode(ev["tgt_out"][i])), " ".join(tgt_v.decode(pred))
    elif kind == "classification":
        target = data.label_names[ev["label"][i]]
        predicted = data.label_names[int(outputs["logits"][i].argmax())]
    elif kind == "tagging":
        n = ev["src_len"][i]
        target, predicted = words(tgt_v, ev["tags"][i][:n]), words(tgt_v, outputs["logits"][i][:n].argmax(-1))
    else:
        s, e = best_spans(outputs["start_logits"][i : i + 1], outputs["end_logits"][i : i + 1])
        s, e = int(s[0]), int(e[0])
        target = words(src_v, ev["src"][i][ev["start"][i] : ev["end"][i] + 1]) + f"  [{ev['start'][i]}, {ev['end'][i]}]"
        predicted = words(src_v, ev["src"][i][s : e + 1]) + f"  [{s}, {e}]"
    return {"input": words(src_v, ev["src"][i][: ev["src_len"][i]]), "target": target, "prediction": predicted,
            "correct": target == predicted}
