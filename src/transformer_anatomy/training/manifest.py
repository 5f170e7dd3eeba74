"""What a results file records about how it was made: versions, hardware, git state, times.

One home for ``scripts/reproduce.py``, ``scripts/bench.py`` and every ``scripts/*_study.py``.
Nothing here prints; :func:`write_study` writes only into the folder its caller names.

Examples:
    >>> from transformer_anatomy.training.manifest import iso
    >>> iso(0.0)
    '1970-01-01T00:00:00+00:00'
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Iterable

# Environment variables that change speed or numbers; recorded when set.
ENV_KEYS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def iso(t: float) -> str:
    """A POSIX time as an ISO-8601 UTC string to the second."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")


def now() -> str:
    """The current time as :func:`iso` writes it."""
    return iso(time.time())


def git_state(root: str | os.PathLike) -> dict:
    """``{"commit", "dirty", "results_changed"}`` of the checkout at ``root`` (``None`` where git is absent).

    ``dirty`` means the code differs from the commit; results written under ``docs/results`` (by
    an earlier command of the same reproduction, say) do not count and are listed apart.
    """
    def git(*cmd):
        try:
            return subprocess.run(["git", *cmd], cwd=root, capture_output=True, text=True, timeout=20,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain", "--", ".", ":(exclude)docs/results")
    results_changed = git("status", "--porcelain", "--", "docs/results")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None,
            "results_changed": bool(results_changed) if results_changed is not None else None}


def versions(extra: Iterable[str] = ()) -> dict:
    """Versions of Python, NumPy, torch, matplotlib, tqdm, this package and any module in ``extra``."""
    import importlib

    import numpy as np

    import transformer_anatomy

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "matplotlib", "tqdm", *extra):
        try:
            out[name] = importlib.import_module(name).__version__
        except ImportError:
            out[name] = None
    out["transformer_anatomy"] = transformer_anatomy.__version__
    return out


def hardware(device: str = "cpu") -> dict:
    """CPU model, core counts, torch threads, GPU name (on ``cuda``), platform."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "usable_cpus": usable,
            "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if str(device).startswith("cuda") else None,
            "platform": platform.platform()}


def blas() -> list[dict] | None:
    """The BLAS and OpenMP thread pools (``threadpoolctl``), or ``None`` where it is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for i in threadpool_info()]


def environment(device: str, root: str | os.PathLike, env_keys: Iterable[str] = (),
                extra_versions: Iterable[str] = ()) -> dict:
    """Everything a manifest records about the machine: versions, git, hardware, BLAS, env variables."""
    keys = (*env_keys, *ENV_KEYS)
    return {"versions": versions(extra_versions), "git": git_state(root), "hardware": hardware(device),
            "blas": blas(), "env": {k: os.environ[k] for k in dict.fromkeys(keys) if os.environ.get(k) is not None}}


def write_study(out: str | os.PathLike, name: str, result: dict, *, command: list[str], seed: int, quick: bool,
                started: float, root: str | os.PathLike, files: Iterable[str] = (), device: str = "cpu",
                extra_versions: Iterable[str] = ()) -> dict:
    """Write ``<name>.json`` (``result`` plus the command) and ``<name>-manifest.json`` into ``out``.

    ``files`` are the other files the study wrote (figures), listed in the manifest. ``started`` is
    the ``time.time()`` the study began at. Returns the manifest.
    """
    out = Path(out)
    result["command"] = " ".join(command)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    finished = time.time()
    manifest = {"command": result["command"], "seed": seed, "quick": quick, "device": device,
                **environment(device, root, extra_versions=extra_versions),
                "started": iso(started), "finished": iso(finished), "wall_time_s": finished - started,
                "results": {f: {"written": iso(finished)} for f in (f"{name}.json", *files)}}
    (out / f"{name}-manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
