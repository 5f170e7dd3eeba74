"""The claims of docs/training.md and docs/results.md, checked by importing their snippet files."""

import functools
import importlib
import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def snippet(page, name):
    """``docs/snippets/<page>/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"{page}.{name}")


def walk():
    return snippet("training", "walkthrough")


def test_targets_are_shifted_by_one():
    data, b = walk().batch()
    assert (b["tgt_in"][:, 1:] == b["tgt_out"][:, :-1]).all()
    assert (b["tgt_in"][:, 0] == data.tgt_vocab.sos_id).all()


def test_embedding_scaling_brings_tokens_to_unit_scale():
    r = walk().embedding_scaling()
    assert r["raw"] == pytest.approx(1 / math.sqrt(r["E"]), rel=0.1)
    assert r["scaled"] == pytest.approx(1.0, rel=0.1)


def test_label_smoothing_matches_formula():
    r = walk().label_smoothing()
    assert r["torch"] == pytest.approx(r["by_hand"], abs=1e-12)
    assert r["torch"] != pytest.approx(r["plain"])


def test_clipping_caps_the_global_norm():
    r = walk().gradient_clipping()
    assert r["before"] > r["max_norm"]
    assert r["after"] == pytest.approx(r["max_norm"], rel=1e-5)


def test_warmup_is_linear_then_decays():
    lrs = dict(walk().warmup_lrs())
    assert lrs[10] == pytest.approx(10 * lrs[1]) and lrs[50] < lrs[100]
    assert lrs[100] >= lrs[500] >= lrs[1000] >= lrs[1500]


def test_tiny_run_lowers_the_loss():
    r = walk().tiny_run(steps=20)
    losses = [rec["loss"] for rec in r["history"]["train"]]
    assert losses[-1] < losses[0]


def test_missing_results_degrade_gracefully(tmp_path):
    w = walk()
    assert w.load_result("reversal", "torch", tmp_path) is None
    assert w.image("reversal-curves.png", "x", tmp_path) is None
    assert w.predictions_markdown("torch", results=tmp_path) is None
    assert all(r.get("missing") for r in w.headline_rows(("reversal",), tmp_path))
    assert "python scripts/reproduce.py --task qa" in w.missing("qa")
    t = snippet("results", "table")
    assert t.rows(tmp_path) == [] and t.manifest(tmp_path) is None
    assert len(t.missing_tasks(tmp_path)) == len(t.TASKS) * len(t.BACKENDS)


def _fake_result(task, backend):
    run = {"model": {"class": "X"}, "summary": {"train_time_s": 1.5, "step": 10}, "ms_per_step": 3.0,
           "headline": {"metric": "accuracy", "split": "test", "value": 0.9, "baseline": "majority",
                        "baseline_value": 0.5}}
    return {"task": task, "backend": backend, "runs": {"m": run}, "wall_time_s": 2.0, "device": "cpu",
            "command": f"python scripts/reproduce.py --task {task}", "git": {"commit": "abc"}, "quick": True}


def test_results_table_reads_every_result_file(tmp_path):
    for task, backend in [("sentiment", "torch"), ("reversal", "numpy")]:
        (tmp_path / f"{task}-{backend}.json").write_text(json.dumps(_fake_result(task, backend)))
    (tmp_path / "manifest.json").write_text("{}")
    t = snippet("results", "table")
    rows = t.rows(tmp_path)
    assert [(r["task"], r["backend"]) for r in rows] == [("reversal", "numpy"), ("sentiment", "torch")]
    table = t.markdown_table(tmp_path)
    assert "accuracy 0.900 (test)" in table and "majority 0.500" in table and "--task sentiment" in table


def test_headline_rows_from_real_results_when_present():
    w = walk()
    r = w.load_result(results=ROOT / "docs" / "results")
    if r is None:
        pytest.skip("docs/results/reversal-torch.json not produced")
    rows = [row for row in w.headline_rows(results=ROOT / "docs" / "results") if row["backend"] == "torch"]
    assert {row["model"] for row in rows} == set(r["runs"])


def ex():
    return snippet("training", "exercises")


def test_exercise_shift_matches_the_task_batches():
    import numpy as np

    data, b = walk().batch(4)
    full = np.concatenate([b["tgt_in"], b["tgt_out"][:, -1:]], axis=1)  # <sos> y1 .. ym <eos>
    tgt_in, tgt_out = ex().shift(full)
    assert (tgt_in == b["tgt_in"]).all() and (tgt_out == b["tgt_out"]).all()


def test_exercise_causal_mask_matches_torch():
    from transformer_anatomy.torch import generate_square_subsequent_mask

    for T in (1, 4, 7):
        allowed = (generate_square_subsequent_mask(T) == 0).numpy()
        assert (ex().causal_mask(T) == allowed).all() and ex().causal_mask(T).sum() == T * (T + 1) // 2


def test_exercise_smoothed_cross_entropy_matches_torch():
    import numpy as np
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(6, 9)), rng.integers(0, 9, size=6)
    q = ex().smoothed_target(y, 9, 0.1)
    assert np.allclose(q.sum(-1), 1.0) and q[0, y[0]] == pytest.approx(0.9 + 0.1 / 9)
    for eps in (0.0, 0.1):
        ref = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y), label_smoothing=eps).item()
        assert ex().smoothed_cross_entropy(logits, y, eps) == pytest.approx(ref, abs=1e-12)


def test_amp_note_says_autocast_is_cuda_only():
    w = walk()
    assert not w.amp_active({"amp": True}, "cpu") and w.amp_active({"amp": True}, "cuda:0")
    assert not w.amp_active({"amp": False}, "cuda")
    assert "used False" in w.amp_note({"amp": True}, "cpu")


def test_figures_are_drawn_from_the_code():
    w = walk()
    fig, allowed = w.causal_mask_figure(5)
    assert allowed.sum() == 15 and fig.axes
    steps, lrs, cfg = w.schedule_curve()
    assert lrs.argmax() + 1 == cfg.warmup and lrs[-1] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------- saving, resuming, monitoring
def res():
    return snippet("training", "resume")


def test_resumed_run_equals_the_uninterrupted_one(tmp_path):
    cfg = res().CONFIG.replace(max_steps=12, eval_every=4)
    r = res().resume_check(tmp_path, k=5, config=cfg)
    assert r["max_diff"] == 0.0 and r["same_history"]
    assert r["path"].exists() and 0 < r["k"] < r["n"]
    lost = res().resume_check(tmp_path, k=5, config=cfg, forget_adam=True)  # the page's counter-check
    assert lost["max_diff"] > 0 and not lost["same_history"]


def test_checkpoint_holds_the_whole_training_state(tmp_path):
    keys = res().checkpoint_contents(tmp_path)
    assert {"model", "optimizer", "rng", "scheduler", "step", "epoch", "batch_in_epoch", "history"} <= set(keys)


def test_log_file_records_match_the_history(tmp_path):
    cfg = res().CONFIG.replace(max_steps=8, eval_every=4, log_every=2)
    records = res().logged_run(tmp_path, cfg)
    assert [(r["kind"], r["step"]) for r in records] == [("train", 2), ("train", 4), ("eval", 4), ("train", 6),
                                                         ("train", 8), ("eval", 8)]
    fig = res().log_figure(records)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines[0].get_xdata()) == 4
    step, loss, lr = ex().best_eval(records)
    evals = [r for r in records if r["kind"] == "eval"]
    assert loss == min(r["metrics"]["loss"] for r in evals) and step in (4, 8) and lr >= 0


def test_tensorboard_sentence_says_whether_it_is_installed(capsys):
    res().report_tensorboard()
    out = capsys.readouterr().out
    assert ("is installed" in out) == res().tensorboard_installed()


def test_exercise_plateau_by_hand_matches_torch():
    import numpy as np
    import torch

    losses = [1.0, 0.8, 0.9, 0.85, 0.7, 0.75, 0.72, 0.71]
    assert ex().plateau_cuts(losses) == ([4, 7], 0.25)  # the page's answer
    rng = np.random.default_rng(0)
    for trial in range(5):
        seq = (np.exp(-np.arange(30) / 10) + 0.1 * rng.standard_normal(30)).tolist()
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=trial % 3,
                                                         threshold=0.0)
        cuts = []
        for i, m in enumerate(seq, start=1):
            before = opt.param_groups[0]["lr"]
            ref.step(m)
            if opt.param_groups[0]["lr"] < before:
                cuts.append(i)
        assert ex().plateau_cuts(seq, patience=trial % 3) == (cuts, opt.param_groups[0]["lr"])


# ---------------------------------------------------------------- the sweep (sweep_study.py)
def sweep():
    return snippet("training", "sweep")


def test_sweep_snippets_say_what_is_missing(tmp_path, capsys):
    assert sweep().load_sweep(tmp_path) is None
    for name in ("report_sweep_setup", "report_sweep_table", "report_sweep_figure", "report_sweep_notice",
                 "report_plateau_setup", "report_plateau_figure", "report_plateau_table", "report_plateau_notice"):
        getattr(sweep(), name)(tmp_path)
    assert capsys.readouterr().out.count("scripts/sweep_study.py") == 8


def test_sweep_study_quick_writes_a_consistent_result(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("sweep_study", ROOT / "scripts" / "sweep_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    r = script.run_study(tmp_path, quick=True, seed=0, threads=1, progress=False)
    assert r == json.loads((tmp_path / "sweep.json").read_text())
    manifest = json.loads((tmp_path / "sweep-manifest.json").read_text())
    assert set(manifest["results"]) == {"sweep.json", "sweep.png", "sweep-plateau.png"}
    assert all((tmp_path / f).exists() for f in manifest["results"]) and "--quick" in r["command"]
    base, values = r["settings"]["base"], r["settings"]["values"]
    assert r["factors"] == list(script.FACTORS)
    for factor in r["factors"]:
        cells = r["sweep"][factor]
        assert [c["value"] for c in cells] == values[factor]
        for c in cells:  # one factor at a time: every other factor at the base value
            assert {k: v for k, v in c["point"].items() if k != factor} == {k: v for k, v in base.items()
                                                                          if k != factor}
            assert c["point"][factor] == c["value"] and c["train_config"]["lr"] == c["point"]["lr"]
            assert c["reached"] == (c["steps_to_target"] is not None) and c["steps"] <= r["settings"]["max_steps"]
            assert c["reached"] == (c["best_exact_match"] >= r["settings"]["target"])
    distinct = {json.dumps(c["point"], sort_keys=True) for f in r["factors"] for c in r["sweep"][f]}
    assert r["runs"] == len(distinct)  # the base cell ran once, shared by every factor's row
    p = r["plateau"]
    assert p["cosine"]["train_config"]["schedule"] == "cosine" and p["plateau"]["train_config"]["plateau_factor"] > 0
    for run in p.values():
        assert run["eval"][-1]["step"] == run["train_config"]["max_steps"]  # no early stop
    warm = p["plateau"]["train_config"]["warmup"]
    after = [x["lr"] for x in p["plateau"]["train"] if x["step"] > warm]
    assert all(b <= a for a, b in zip(after, after[1:]))  # after warmup the plateau only ever cuts
    s = sweep()
    assert len(s.table_rows(r)) == sum(len(v) for v in values.values())
    assert s.markdown_table(r).count("(base)") == len(r["factors"])
    for name in ("report_sweep_setup", "report_sweep_table", "report_sweep_figure", "report_sweep_notice",
                 "report_plateau_setup", "report_plateau_figure", "report_plateau_table", "report_plateau_notice"):
        getattr(s, name)(tmp_path)
    out = capsys.readouterr().out
    assert out.count("<img") == 2 and "warmup + ReduceLROnPlateau" in out


def test_the_pages_prose_matches_the_committed_sweep():
    """docs/training.md says in words that a bigger model pays more per step even where it needs
    fewer steps; a rerun that changes that must change the sentence too."""
    r = sweep().load_sweep(ROOT / "docs" / "results")
    if r is None or r["quick"]:
        pytest.skip("no full sweep in docs/results")
    rows = sweep().table_rows(r)
    base = next(x for x in rows if x["is_base"])
    bigger = [x for x in rows if x["params"] > base["params"]]
    assert bigger and all(x["ms"] > base["ms"] for x in bigger)
    assert any(x["steps"] is not None and x["steps"] < base["steps"] for x in bigger)


# ------------------------------------------------------- "Why the seed's recipe is slow"
def speed():
    return importlib.import_module("training.speed")


REPORTS = ("report_speed_recipes", "report_speed_setup", "report_speed_table", "report_ablation_table",
           "report_speed_ratios", "report_speed_figure", "report_speed_notice")


def test_speed_snippets_say_what_is_missing(tmp_path, capsys):
    assert speed().load_speed(tmp_path) is None
    for name in REPORTS:
        getattr(speed(), name)(tmp_path)
    assert capsys.readouterr().out.count("scripts/speed_study.py") == len(REPORTS)
    assert speed().evaluation_cost(tmp_path / "none.pt") is None


def test_speed_snippets_read_a_quick_study(tmp_path, capsys):
    from tests.study_helpers import load_study, run_quick_study

    r = run_quick_study(load_study("speed"), tmp_path)
    s = speed()
    assert s.speed_table(r, s.HEAD_TO_HEAD).count("\n") == 1 + len(s.HEAD_TO_HEAD)
    for name in REPORTS:
        getattr(s, name)(tmp_path)
    out = capsys.readouterr().out
    assert out.count("<img") == 1 and "Quick mode" in out and "pipeline check" in out
    assert all(name in out for name in r["runs"]["0"])  # every run has its row


def test_one_teacher_forced_pass_marks_the_rows_greedy_decoding_marks():
    cost = speed().evaluation_cost(noise=(0.0, 0.45), limit=200)
    if cost is None:
        pytest.skip("no trained reversal model in docs/results/models")
    assert [x["disagree"] for x in cost["rows"]] == [0, 0]
    assert cost["rows"][1]["greedy"] < cost["rows"][0]["greedy"]  # the noise did make it wrong somewhere
