"""``scripts/speed_study.py --quick``: every run of the comparison, its records, the medians and ratios."""

from __future__ import annotations

import json
import math

import pytest

from tests.study_helpers import load_study, run_quick_study


def script():
    return load_study("speed")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed")
    S = script()
    return S, run_quick_study(S, out), out


def test_files_runs_and_records(study):
    S, result, out = study
    assert {p.name for p in out.iterdir()} >= {"speed.json", "speed-manifest.json", "speed-curves.png"}
    assert json.loads((out / "speed.json").read_text())["summary"] == result["summary"]
    runs = result["runs"]["0"]
    assert {S.OURS, S.SEED_REF, S.OUR_REF, "ours, seed recipe"} <= set(runs)
    assert any(name.startswith("ours, dropout") for name in runs)  # one choice put back at a time
    for name, r in runs.items():
        assert r["steps"] >= 1 and r["median_step_ms"] > 0 and 0.0 <= r["test_exact_match"] <= 1.0, name
        assert [p["step"] for p in r["curve"]] == sorted(p["step"] for p in r["curve"]), name
        assert all(math.isfinite(p["time_s"]) for p in r["curve"]), name
    assert runs[S.SEED_REF]["model"] == "ReferenceSeq2Seq" and runs[S.OURS]["model"] == "Seq2SeqTransformer"


def test_ratios_are_the_per_seed_quotients(study):
    S, result, _ = study
    s, runs = result["summary"], result["runs"]["0"]
    step = s["ours_vs_nn_our_recipe_step"]["per_seed"]["0"]
    assert step == pytest.approx(runs[S.OURS]["median_step_ms"] / runs[S.OUR_REF]["median_step_ms"])
    assert s["ours_vs_nn_our_recipe_step"]["median"] == pytest.approx(step)  # one seed: its own figure


def test_recipes_put_back_one_seed_choice_each():
    S = script()
    R = S.load_reproduce()
    rec = S.recipes(R, quick=False)
    ours_model, ours_train = rec[S.OURS][1], rec[S.OURS][2]
    assert rec[S.OUR_REF][1:] == (ours_model, ours_train)
    assert rec["ours, dropout 0.1"][1].dropout == R.SEED_RECIPE["model"].dropout != ours_model.dropout
    for name, field in (("ours, batch 128", "batch_size"), ("ours, warmup 100", "warmup")):
        changed = {k for k in ours_train if rec[name][2][k] != ours_train[k]}
        assert changed == {field} and rec[name][2][field] == R.SEED_RECIPE["train"][field], name
    for name, (_, _, train) in rec.items():  # every run stops by the same rule
        assert {k: train[k] for k in R.STOPPING} == R.STOPPING, name
