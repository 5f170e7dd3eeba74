"""A study run in parts (``reproduce.py --jobs``: each part its own job, then joined) writes what
the one-process study writes: the speed study's seeds and seed 003's data sets, quick settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from study_helpers import load_study, run_quick_study  # noqa: E402

TIMES = ("time", "seconds", "elapsed", "ms", "wall", "load_average", "parts", "threads", "command",
         "_vs_")  # "_vs_": the speed study's ratios of step times


def strip_times(x):
    """The record without wall times and how it was run (those differ between two runs)."""
    if isinstance(x, dict):
        return {k: strip_times(v) for k, v in x.items() if not any(t in k for t in TIMES)}
    if isinstance(x, list):
        return [strip_times(v) for v in x]
    return x


@pytest.mark.parametrize("name", ["seed003", "speed"])
def test_parts_joined_equal_the_whole_study(name, tmp_path):
    study = load_study(name)
    whole = run_quick_study(study, tmp_path / "whole")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pieces = {p: {"result": study.run_part(p, tmp_path / "parts", quick=True, seed=0), "wall_time_s": 1.0}
                  for p in study.parts(quick=True)}
        joined = study.run_study(tmp_path / "parts", quick=True, seed=0, threads=1, progress=False,
                                 command=["test"], parts=pieces)
    finally:
        torch.set_num_threads(n)
    assert pieces, "the quick study has parts"
    assert strip_times(joined) == strip_times(whole)
    assert sorted(joined["parts"]["wall_time_s"]) == sorted(
        str(int(p)) if name == "speed" else p for p in pieces)
    assert joined["wall_time_s"] >= len(pieces) * 1.0  # the parts' time is counted in
    assert (tmp_path / "parts" / f"{name}.json").is_file()


@pytest.mark.parametrize("name", ["seed003", "speed", "lm"])
def test_an_unknown_part_is_refused_by_name(name, tmp_path):
    with pytest.raises(ValueError, match="part='nope'"):
        load_study(name).run_part("nope", tmp_path, quick=True)


def test_the_full_lm_study_has_one_part_per_run():
    lm = load_study("lm")
    assert lm.parts(quick=False) == [f"{f}-{b}" for f, b in lm.RUNS]
    assert lm.parts(quick=True) == []
