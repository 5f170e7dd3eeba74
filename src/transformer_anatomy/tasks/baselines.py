"""Task-independent trivial baselines: the scores a model must beat to have learned anything.

- :func:`majority_class_baseline`: always predict the most frequent training label.
- :func:`position_majority_baseline`: for sequence outputs, predict at every position the
  token most frequent at that position in the training targets (ignores the input).

Task-specific baselines live with their task: ``sentiment.bow_bayes_ceiling`` and
``sentiment.bow_logistic_regression``, ``tagging.lookup_baseline``,
``qa.first_candidate_baseline`` and ``qa.most_frequent_span_baseline``,
``reversal.copy_baseline``. Page: ``docs/data-flow.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import accuracy, sequence_exact_match, token_accuracy
from .vocab import PAD_ID


def majority_class_baseline(train_labels: object, eval_labels: object) -> dict[str, Any]:
    """Predict the most frequent training label for every evaluation example.

    Ties go to the smallest label. Returns ``label`` (the predicted class) and ``accuracy``.

    Shape:
        train_labels: ``(N_train,)``, eval_labels: ``(N_eval,)``

    Examples:
        >>> majority_class_baseline([0, 1, 1], [1, 0])
        {'label': 1, 'accuracy': 0.5}
    """
    train = np.asarray(train_labels).reshape(-1)
    ev = np.asarray(eval_labels).reshape(-1)
    if train.size == 0:
        raise ValueError("majority_class_baseline needs at least one training label")
    values, counts = np.unique(train, return_counts=True)
    label = int(values[np.argmax(counts)])  # np.unique sorts, argmax takes the first maximum
    return {"label": label, "accuracy": accuracy(np.full_like(ev, label), ev)}


def position_majority_baseline(train_tgt_out: object, eval_tgt_out: object) -> dict[str, Any]:
    """Predict, at each target position, the most frequent training token there.

    Padding in the training targets does not vote (a position where every training row is
    ``<pad>`` predicts ``<pad>``). Returns ``pred`` (the one predicted row, tiled to
    ``(N_eval, T_eval)``), ``token_accuracy`` and ``exact_match``.

    Shape:
        train_tgt_out: ``(N_train, T)``, eval_tgt_out: ``(N_eval, T_eval)``

    Examples:
        >>> import numpy as np
        >>> position_majority_baseline(np.array([[5, 6], [5, 7], [8, 6]]), np.array([[5, 6]]))["pred"].tolist()
        [[5, 6]]
    """
    train = np.asarray(train_tgt_out)
    ev = np.asarray(eval_tgt_out)
    if train.ndim != 2 or ev.ndim != 2:
        raise ValueError(f"targets must be 2-D (N, T), got shapes {train.shape} and {ev.shape}")
    T = ev.shape[1]
    row = np.full(T, PAD_ID, dtype=np.int64)
    for t in range(min(T, train.shape[1])):
        col = train[:, t]
        col = col[col != PAD_ID]  # pad does not vote
        if col.size:
            values, counts = np.unique(col, return_counts=True)
            row[t] = values[np.argmax(counts)]
    pred = np.tile(row, (ev.shape[0], 1))  # (T,) -> (N_eval, T)
    return {"pred": pred, "token_accuracy": token_accuracy(pred, ev),
            "exact_match": sequence_exact_match(pred, ev)}
