"""The GPU workflow runs what the GPU issue measures: the CUDA benchmark, uploaded as JSON."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _make_recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert m, f"no Makefile target {target}"
    return m.group(1)


def test_gpu_workflow_runs_the_cuda_benchmark_and_uploads_its_json():
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "gpu.yml").read_text())
    steps = wf["jobs"]["reproduce"]["steps"]
    runs = [s.get("run", "") for s in steps]
    bench = [r for r in runs if "make bench-cuda" in r]
    assert bench, runs
    m = re.search(r"BENCH_OUT=(\S+)", bench[0])
    assert m, bench[0]
    recipe = _make_recipe("bench-cuda")
    assert "scripts/bench.py --device cuda" in recipe and "--out $(BENCH_OUT)" in recipe, recipe
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads
    paths = uploads[0]["with"]["path"].split()
    out = m.group(1)
    assert any(out == p or out.startswith(p.rstrip("/") + "/") for p in paths), (out, paths)
    assert any("reproduce" in r and "--device cuda" in r for r in runs), runs
