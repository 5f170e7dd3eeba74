"""The claims of docs/training.md and docs/results.md, checked by importing their snippet files."""

import functools
import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def snippet(page, name):
    """Import docs/snippets/<page>/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"{page}_{name}", ROOT / "docs" / "snippets" / page / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
