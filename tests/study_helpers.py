"""What the study tests share: a ``scripts/<name>_study.py`` loaded by path, and its quick run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def load_study(name: str):
    """``scripts/<name>_study.py`` as a module (the scripts folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_study", ROOT / "scripts" / f"{name}_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quick_study(module, out: Path) -> dict:
    """``module.run_study(out, quick=True)`` on one thread, the caller's thread count restored after."""
    n = torch.get_num_threads()
    try:
        return module.run_study(out, quick=True, seed=0, threads=1, progress=False, command=["test"])
    finally:
        torch.set_num_threads(n)
