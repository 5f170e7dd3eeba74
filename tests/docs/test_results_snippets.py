"""The claims of docs/results.md, checked by importing its snippet files (and docs/snippets/results_io.py)."""

import functools
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"


@functools.cache
def load(rel):
    spec = importlib.util.spec_from_file_location(rel.replace("/", "_")[:-3], SNIPPETS / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_io_tasks_follow_the_library():
    from transformer_anatomy.tasks import TASKS

    io = load("results_io.py")
    assert io.TASKS == tuple(TASKS) and set(io.BACKENDS) == {"torch", "numpy"}
    assert load("results/table.py").TASKS == io.TASKS


def test_error_reduction():
    er = load("results/interpret.py").error_reduction
    assert er(0.75, 0.5) == pytest.approx(0.5) and er(0.5, 0.5) == 0.0 and er(1.0, 0.2) == pytest.approx(1.0)
    assert er(0.3, 0.5) < 0


def test_exercise_chance_exact_match_by_simulation():
    import numpy as np

    f = load("results/exercises.py").chance_exact_match
    rng = np.random.default_rng(0)
    guesses = rng.integers(0, 3, size=(200_000, 2))
    truth = rng.integers(0, 3, size=(200_000, 2))
    simulated = (guesses == truth).all(1).mean()
    assert f(3, 2) == pytest.approx(1 / 9) and simulated == pytest.approx(f(3, 2), abs=0.005)


def test_exercise_span_f1_matches_the_library():
    import numpy as np

    from transformer_anatomy.tasks.metrics import span_f1

    f = load("results/exercises.py").span_f1
    rng = np.random.default_rng(1)
    for _ in range(200):
        s, ps = rng.integers(0, 10, size=2)
        e, pe = s + rng.integers(0, 4), ps + rng.integers(0, 4)
        assert f((ps, pe), (s, e)) == pytest.approx(span_f1([ps], [pe], [s], [e]))


def _fake(tmp_path, task, backend, value, base):
    run = {"model": {"class": "X"}, "headline": {"metric": "accuracy", "split": "test", "value": value,
                                                 "baseline": "majority_class", "baseline_value": base,
                                                 "others": {"bag_of_words": 0.6}}}
    r = {"runs": {"encoder_classifier": run}, "baselines": {"majority_class": {"what": "always the most frequent"}}}
    (tmp_path / f"{task}-{backend}.json").write_text(json.dumps(r))


def test_report_task_reads_metric_baseline_and_gap(tmp_path, capsys):
    m = load("results/interpret.py")
    _fake(tmp_path, "sentiment", "torch", 0.9, 0.5)
    m.report_task("sentiment", tmp_path)
    out = capsys.readouterr().out
    assert "**0.500**" in out and "**0.900**, +0.400 over the baseline" in out and "removes 80%" in out
    assert "`bag_of_words` 0.600" in out
    m.report_task("qa", tmp_path)
    assert "python scripts/reproduce.py --task qa" in capsys.readouterr().out
    fig, d = m.gap_figure(tmp_path)
    assert d["model"] == [0.9] and d["baseline"] == [0.5]
