"""Each task's trivial baselines in one dict, and the headline: a model's held-out metric beside one.

``scripts/reproduce.py`` writes both into every results file; the pages read them back.

- :func:`task_baselines`: the trivial baselines of a task on one split (JSON-friendly numbers
  and a sentence saying what each one does).
- :data:`HEADLINE_BASELINE`: the baseline shown beside the model for each (task, kind).
- :func:`headline`: ``{"metric", "value", "baseline", "baseline_value", "others"}``.

Examples:
    >>> from transformer_anatomy.tasks import make_reversal_task
    >>> data = make_reversal_task(n_train=64, n_valid=8, n_test=16)
    >>> base = task_baselines("reversal", data)
    >>> sorted(base)
    ['copy', 'position_majority']
    >>> h = headline("reversal", "seq2seq", {"exact_match": 1.0}, base)
    >>> h["metric"], h["value"], h["baseline"], h["baseline_value"] == base["copy"]["exact_match"]
    ('exact_match', 1.0, 'copy', True)
"""

from __future__ import annotations

from typing import Any

from .baselines import majority_class_baseline, position_majority_baseline
from .qa import first_candidate_baseline, most_frequent_span_baseline
from .reversal import copy_baseline
from .sentiment import bow_baselines
from .tagging import lookup_baseline
from .task_data import MAIN_METRIC, TaskData

# (task, kind) -> the baseline shown beside the model's held-out metric
HEADLINE_BASELINE: dict[tuple[str, str], str] = {
    ("reversal", "seq2seq"): "copy",
    ("sentiment", "classification"): "majority_class",
    ("tagging", "tagging"): "lookup",
    ("tagging", "seq2seq"): "lookup",
    ("numbers", "seq2seq"): "position_majority",
    ("qa", "qa"): "first_candidate",
}


def task_baselines(task: str, data: TaskData, split: str = "test") -> dict[str, dict[str, Any]]:
    """The trivial baselines of ``task`` on ``split`` (fit on ``"train"``), each with ``what`` it does.

    Sequence tasks get ``position_majority``; then per task: ``copy`` (reversal),
    ``majority_class`` and ``bag_of_words`` (sentiment), ``lookup`` (tagging),
    ``first_candidate`` and ``most_frequent_span`` (qa).

    Shape:
        reads the ``"train"`` and ``split`` arrays of ``data`` (tgt_out ``(N, T)``, label ``(N,)``,
        tags ``(N, S)``, start / end ``(N,)`` as the task has them) -> floats in ``[0, 1]``
    """
    ev, train = data.split(split), data.split("train")
    out: dict[str, dict[str, Any]] = {}
    if "tgt_out" in train:
        pm = position_majority_baseline(train["tgt_out"], ev["tgt_out"])
        out["position_majority"] = {"exact_match": pm["exact_match"], "token_accuracy": pm["token_accuracy"],
                                    "what": "predict at each target position its most frequent training token"}
    if task == "reversal":
        cb = copy_baseline(data, split)
        out["copy"] = {"exact_match": cb["exact_match"], "token_accuracy": cb["token_accuracy"],
                       "what": "output the source unchanged"}
    elif task == "sentiment":
        mc = majority_class_baseline(train["label"], ev["label"])
        out["majority_class"] = {"accuracy": mc["accuracy"], "what": "always the most frequent training label"}
        bow = bow_baselines(data, split)
        out["bag_of_words"] = {"accuracy": bow["logreg_eval_accuracy"], "train_accuracy": bow["logreg_train_accuracy"],
                               "data_ceiling": bow["data_ceiling"], "grammar_ceiling": bow["grammar_ceiling"],
                               "what": "logistic regression on word counts (ignores order)"}
    elif task == "tagging":
        lb = lookup_baseline(data, split)
        out["lookup"] = {"token_accuracy": lb["token_accuracy"], "sentence_accuracy": lb["sentence_accuracy"],
                         "exact_match": lb["sentence_accuracy"], "what": "each word's most frequent training tag"}
    elif task == "qa":
        for name, fn, what in (("first_candidate", first_candidate_baseline,
                                "the first fact of the asked relation, ignoring who/what is asked"),
                               ("most_frequent_span", most_frequent_span_baseline,
                                "the (start, end) most frequent in training")):
            r = fn(data, split)
            out[name] = {"exact_match": r["exact_match"], "f1": r["f1"], "what": what}
    return out


def headline(task: str, kind: str, metrics: dict[str, float], baselines: dict[str, dict[str, Any]],
             split: str = "test") -> dict[str, Any]:
    """The model's main metric (:data:`MAIN_METRIC` of ``kind``) beside the task's headline baseline.

    ``others`` holds the same metric of every other baseline that has it.
    """
    metric = MAIN_METRIC[kind]
    base = HEADLINE_BASELINE[(task, kind)]
    return {"metric": metric, "split": split, "value": metrics[metric], "baseline": base,
            "baseline_value": baselines[base][metric],
            "others": {name: b[metric] for name, b in baselines.items() if name != base and metric in b}}


__all__ = ["HEADLINE_BASELINE", "headline", "task_baselines"]
