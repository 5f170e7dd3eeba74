"""tasks.headlines: every task's baselines in one dict, and the headline beside the right one."""

from __future__ import annotations

import pytest

from transformer_anatomy.tasks import (
    HEADLINE_BASELINE,
    KINDS,
    MAIN_METRIC,
    TASKS,
    copy_baseline,
    first_candidate_baseline,
    headline,
    lookup_baseline,
    make_task,
    task_baselines,
)

SMALL = dict(n_train=120, n_valid=20, n_test=40)
EXPECTED = {"reversal": {"position_majority", "copy"}, "sentiment": {"majority_class", "bag_of_words"},
            "tagging": {"position_majority", "lookup"}, "numbers": {"position_majority"},
            "qa": {"first_candidate", "most_frequent_span"}}


@pytest.fixture(scope="module")
def tasks():
    return {name: make_task(name, **SMALL, rng=0) for name in TASKS}


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_gets_its_baselines_with_a_sentence_each(tasks, task):
    base = task_baselines(task, tasks[task], "test")
    assert set(base) == EXPECTED[task]
    for name, b in base.items():
        assert b["what"] and all(0.0 <= v <= 1.0 for k, v in b.items() if k != "what"), (name, b)


def test_baselines_are_the_task_modules_own(tasks):
    base = {t: task_baselines(t, tasks[t], "test") for t in ("reversal", "tagging", "qa")}
    assert base["reversal"]["copy"]["exact_match"] == copy_baseline(tasks["reversal"], "test")["exact_match"]
    assert base["tagging"]["lookup"]["token_accuracy"] == lookup_baseline(tasks["tagging"], "test")["token_accuracy"]
    assert base["qa"]["first_candidate"]["f1"] == first_candidate_baseline(tasks["qa"], "test")["f1"]


@pytest.mark.parametrize("task, kind", list(HEADLINE_BASELINE))
def test_headline_sits_beside_its_baseline(tasks, task, kind):
    base = task_baselines(task, tasks[task], "test")
    metric = MAIN_METRIC[kind]
    h = headline(task, kind, {metric: 0.75, "loss": 1.0}, base)
    assert (h["metric"], h["value"], h["split"]) == (metric, 0.75, "test")
    assert h["baseline_value"] == base[HEADLINE_BASELINE[(task, kind)]][metric]
    assert h["baseline"] not in h["others"]
    assert set(h["others"]) == {n for n, b in base.items() if n != h["baseline"] and metric in b}


def test_main_metric_covers_the_one_list_of_kinds():
    from transformer_anatomy.training.config import TASK_KINDS
    from transformer_anatomy.training.evaluation import MAIN_METRIC as trainer_metric

    assert TASK_KINDS is KINDS and trainer_metric is MAIN_METRIC and set(MAIN_METRIC) == set(KINDS)
