"""``scripts/reproduce.py --quick`` end to end on a small subset: results, figures, manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "reproduce.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    cmd = [sys.executable, str(SCRIPT), "--quick", "--task", "reversal", "--task", "sentiment",
           "--backend", "both", "--device", "cpu", "--threads", "1", "--jobs", "2", "--no-progress", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "TA_REPRODUCE_REEXEC"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.mark.timeout(180)
def test_jobs_give_the_results_of_one_process(quick_run, tmp_path):
    """--jobs 2 (the fixture's run, two worker processes) trains exactly what --jobs 1 does: with one
    thread (torch, OpenMP and the BLAS: a job's settings) a CPU run is bit-reproducible, so every loss
    and metric of the histories is equal."""
    out, proc = quick_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jobs"] == 2 and manifest["threads_per_job"] == 1
    one = tmp_path / "one"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--task", "reversal", "--backend", "both", "--device", "cpu",
           "--threads", "1", "--jobs", "1", "--no-progress", "--out", str(one)]
    env = {k: v for k, v in os.environ.items() if k != "TA_REPRODUCE_REEXEC"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")  # NumPy's BLAS as in a job
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "jobs" not in json.loads((one / "manifest.json").read_text())
    for backend in ("numpy", "torch"):
        a = json.loads((out / f"reversal-{backend}.json").read_text())
        b = json.loads((one / f"reversal-{backend}.json").read_text())
        assert a["runs"].keys() == b["runs"].keys()
        for name in a["runs"]:
            assert a["runs"][name]["history"] == b["runs"][name]["history"], (backend, name)
            assert a["runs"][name]["test_metrics"] == b["runs"][name]["test_metrics"], (backend, name)


@pytest.mark.timeout(180)  # about 30-60 s on 2 shared cores
def test_quick_run_writes_valid_results(quick_run):
    out, proc = quick_run
    for task in ("reversal", "sentiment"):
        for backend in ("numpy", "torch"):
            result = json.loads((out / f"{task}-{backend}.json").read_text())
            assert result["task"] == task and result["backend"] == backend and result["quick"] is True
            assert result["seed"] == 0 and result["device"] == "cpu"
            assert result["command"].startswith("python scripts/reproduce.py --quick")
            assert {"numpy", "torch", "python", "matplotlib"} <= set(result["versions"])
            assert {"commit", "dirty", "results_changed"} <= set(result["git"]) and result["wall_time_s"] > 0
            for name, run in result["runs"].items():
                h = run["headline"]
                assert h["split"] == "test" and 0.0 <= h["value"] <= 1.0 and 0.0 <= h["baseline_value"] <= 1.0
                assert run["history"]["train"] and run["history"]["eval"]
                assert run["train_config"]["seed"] == 0 and run["model"]["num_params"] > 0
                assert set(run["test_metrics"]) >= {"loss"}
                if name != "nn.Transformer":  # the attention of the figure's model, read with numbers
                    a = run["attention_reading"]
                    assert a["split"] == "test" and a["correct"] + a["wrong"] == a["examples"] > 0
                    assert a["figure_layer"] in a["layers"] and a["statistics"]
                    for st in a["statistics"].values():
                        per_head = st["layers"][a["figure_layer"]]["per_head"]
                        assert len(per_head) == run["model"]["config"]["nhead"]
                        assert all(v is None or 0.0 <= v <= 1.0 + 1e-9 for v in per_head)
        summary_lines = [line for line in proc.stdout.splitlines() if line.startswith(task)]
        assert len(summary_lines) >= 2  # one line per trained model
    torch_reversal = json.loads((out / "reversal-torch.json").read_text())
    assert set(torch_reversal["runs"]) == {"encoder_decoder", "nn.Transformer"}  # --with-reference default
    assert "side by side" in proc.stdout


def test_quick_run_writes_figures_tables_and_manifest(quick_run):
    out, _ = quick_run
    pngs = ["positional_encoding.png", "reversal-curves.png", "sentiment-curves.png",
            "reversal-attention-numpy.png", "reversal-attention-torch.png", "sentiment-attention-torch.png"]
    for name in pngs:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    table = (out / "reversal-predictions-torch.md").read_text()
    assert "| input | target | prediction |" in table and ("✓" in table or "✗" in table)
    assert (out / "sentiment-predictions-numpy.html").read_text().startswith("<table")
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["results"]) == {"reversal-numpy.json", "reversal-torch.json", "sentiment-numpy.json",
                                        "sentiment-torch.json"}
    assert manifest["hardware"]["cpu"] and manifest["hardware"]["usable_cpus"] >= 1
    assert manifest["env"].get("MALLOC_TOP_PAD_") == "268435456"  # the re-exec happened
    assert manifest["seed"] == 0 and manifest["wall_time_s"] > 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_help_explains_every_option():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--task", "--backend", "--device", "--quick", "--seed", "--out", "--with-reference", "MALLOC_"):
        assert flag in proc.stdout


@pytest.mark.parametrize(
    "args, starts",
    [
        (["--seed", "-1"], "--seed -1:"),
        (["--seed", str(2**64)], f"--seed {2**64}:"),
        (["--seed", "1.5"], "argparse"),
        (["--threads", "0"], "--threads"),
        (["--jobs", "0"], "--jobs"),
        (["--task", "translation"], "argparse"),
        (["--backend", "jax"], "argparse"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_before_any_work(tmp_path, args, starts):
    """Every argument is checked before anything is written into --out (issue 14, item 10)."""
    out = tmp_path / "results"
    out.mkdir()
    cmd = [sys.executable, str(SCRIPT), "--quick", "--no-progress", "--out", str(out), *args]
    env = dict(os.environ, TA_REPRODUCE_REEXEC="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("reproduce.py: error: "), last
    if starts != "argparse":
        assert last.removeprefix("reproduce.py: error: ").startswith(starts), last
    assert list(out.iterdir()) == []  # nothing written


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_out_that_cannot_be_a_folder_exits_2(tmp_path, where):
    f = tmp_path / "a-file"
    f.write_text("keep me")
    out = f if where == "file" else f / "results"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--no-progress", "--out", str(out)]
    env = dict(os.environ, TA_REPRODUCE_REEXEC="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"reproduce.py: error: --out {out}"), last
    assert "Traceback" not in proc.stderr
    assert f.read_text() == "keep me"  # what the user saved is untouched


def test_quick_pretraining_study_runs_from_reproduce(tmp_path):
    """`reproduce.py` runs every result of the site, the pre-training study included."""
    out = tmp_path / "results"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--task", "pretraining", "--threads", "1", "--no-progress",
           "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "TA_REPRODUCE_REEXEC"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = json.loads((out / "pretraining.json").read_text())
    assert study["quick"] is True and study["labels"], sorted(study)
    for name in ("pretraining-loss.png", "pretraining-labels.png", "pretraining-tips.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["results"]["pretraining.json"]
    assert entry["command"].endswith(f"--out {out}") and len(entry["git_commit"]) == 40
    study_manifest = json.loads((out / "pretraining-manifest.json").read_text())
    assert study_manifest["git"]["commit"] == entry["git_commit"]


def test_default_run_includes_the_study():
    import importlib.util

    spec = importlib.util.spec_from_file_location("reproduce_cli", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.parse_args([]).tasks == [*mod.TASKS, *mod.STUDIES]
    assert {"pretraining", "other_tasks", "rnn", "sweep", "debugging", "seed003", "speed", "lm"} == set(mod.STUDIES)
    for name in mod.STUDIES:  # every study is a scripts/<name>_study.py with run_study()
        assert (ROOT / "scripts" / f"{name}_study.py").read_text().count("def run_study(") == 1, name
    assert mod.parse_args(["--task", "qa"]).tasks == ["qa"]


def test_json_safe_makes_results_loadable_without_nan():
    import numpy as np

    from transformer_anatomy.training.manifest import json_safe

    x = {"a": np.float32(0.25), "b": (1, np.int64(2)), "c": [float("nan"), float("inf")], 4: np.ones(2), "d": True}
    safe = json_safe(x)
    assert safe == {"a": 0.25, "b": [1, 2], "c": [None, None], "4": [1.0, 1.0], "d": True}
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
