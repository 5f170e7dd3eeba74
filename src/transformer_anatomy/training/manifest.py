"""What a results file records about how it was made: versions, hardware, git state, times.

One home for ``scripts/reproduce.py``, ``scripts/bench.py`` and every ``scripts/*_study.py``:
:func:`environment` (versions, git, hardware, BLAS, environment variables), :func:`json_safe`
(what a results file may hold), :func:`write_study` (a study's JSON and manifest) and
:func:`study_main` (the command line every ``scripts/*_study.py`` shares). Nothing here prints
(:func:`study_main` hands its closing line to the ``echo`` its caller passes); :func:`write_study`
writes only into the folder its caller names.

Examples:
    >>> from transformer_anatomy.training.manifest import iso, json_safe
    >>> iso(0.0)
    '1970-01-01T00:00:00+00:00'
    >>> import numpy as np
    >>> json_safe({"loss": np.float32(0.5), "curve": (1, float("nan")), 3: np.arange(2)})
    {'loss': 0.5, 'curve': [1, None], '3': [0, 1]}
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

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
    """Everything a manifest records about the machine: versions, git, hardware, BLAS, env variables.

    Examples:
        >>> env = environment("cpu", ".")
        >>> sorted(env)
        ['blas', 'env', 'git', 'hardware', 'versions']
        >>> sorted(env["git"])
        ['commit', 'dirty', 'results_changed']
    """
    keys = (*env_keys, *ENV_KEYS)
    return {"versions": versions(extra_versions), "git": git_state(root), "hardware": hardware(device),
            "blas": blas(), "env": {k: os.environ[k] for k in dict.fromkeys(keys) if os.environ.get(k) is not None}}


def json_safe(x: Any) -> Any:
    """A JSON-safe copy: dict keys -> str, tuples -> lists, NumPy scalars and arrays -> Python,
    NaN and infinities -> ``None`` (so ``json.dumps(..., allow_nan=False)`` accepts it)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if hasattr(x, "tolist") and type(x).__module__ == "numpy":  # ndarray and NumPy scalars
        return json_safe(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_study(out: str | os.PathLike, name: str, result: dict, *, command: list[str], seed: int, quick: bool,
                started: float, root: str | os.PathLike, files: Iterable[str] = (), device: str = "cpu",
                extra_versions: Iterable[str] = (), extra: Mapping[str, Any] | None = None) -> dict:
    """Write ``<name>.json`` (``result`` plus the command) and ``<name>-manifest.json`` into ``out``.

    ``files`` are the other files the study wrote (figures), listed in the manifest. ``started`` is
    the ``time.time()`` the study began at; ``extra`` adds fields to the manifest (the threads a
    study ran with, say). Returns the manifest.

    Examples:
        >>> import tempfile, time
        >>> with tempfile.TemporaryDirectory() as out:
        ...     m = write_study(out, "demo", {"x": 1.0}, command=["python", "demo.py"], seed=0, quick=True,
        ...                     started=time.time(), root=out)
        ...     sorted(m["results"]), m["command"], Path(out, "demo-manifest.json").is_file()
        (['demo.json'], 'python demo.py', True)
    """
    out = Path(out)
    result["command"] = " ".join(command)
    (out / f"{name}.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    finished = time.time()
    manifest = {"command": result["command"], "seed": seed, "quick": quick, "device": device, **(extra or {}),
                **environment(device, root, extra_versions=extra_versions),
                "started": iso(started), "finished": iso(finished), "wall_time_s": finished - started,
                "results": {f: {"written": iso(finished)} for f in (f"{name}.json", *files)}}
    (out / f"{name}-manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


class StudyClock:
    """The opening every ``scripts/<name>_study.py`` shares (:func:`start_study`): the output
    folder, the start time for the manifest, the elapsed seconds, and a progress line writer.

    Examples:
        >>> import tempfile
        >>> lines = []
        >>> with tempfile.TemporaryDirectory() as d:
        ...     clock = start_study(d, echo=lines.append)
        ...     clock.say("data ready")
        ...     clock.out.is_dir(), clock.elapsed() >= 0
        (True, True)
        >>> lines[0].endswith("s] data ready")
        True
    """

    def __init__(self, out: str | os.PathLike, echo: Callable[[str], Any] | None = None) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.started = time.time()  # for the manifest's "started"
        self._t0 = time.perf_counter()
        self._echo = echo

    def elapsed(self) -> float:
        """Seconds since the study started."""
        return time.perf_counter() - self._t0

    def say(self, msg: str) -> None:
        """Hand ``"[  12.3 s] msg"`` to ``echo`` (nothing without one: the library prints nothing)."""
        if self._echo is not None:
            self._echo(f"[{self.elapsed():7.1f} s] {msg}")


def start_study(out: str | os.PathLike, threads: int | None = None,
                echo: Callable[[str], Any] | None = None) -> StudyClock:
    """Set torch's threads (when given), create ``out``, start the clock: a :class:`StudyClock`."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return StudyClock(out, echo)



def parts_wall_time(parts: dict | None) -> float:
    """Seconds the parts of a study spent in their own jobs (``part -> {"wall_time_s", ...}``); 0 for none."""
    return sum(float(p["wall_time_s"]) for p in (parts or {}).values())


def record_parts(result: dict, parts: dict | None, joining_s: float, how: str) -> dict:
    """Put a study's time into ``result``: ``wall_time_s`` is ``joining_s`` plus the time of the
    ``parts`` (pieces run as jobs of ``scripts/reproduce.py --jobs``, ``part -> {"result",
    "wall_time_s"}``); with parts, ``result["parts"]`` says ``how`` they ran and each one's time,
    keyed by part name. Returns ``result``.

    Examples:
        >>> r = record_parts({}, {"a": {"wall_time_s": 2.0}, "b": {"wall_time_s": 3.0}}, 0.5, "each run in its own job")
        >>> r["wall_time_s"], r["parts"]["wall_time_s"]
        (5.5, {'a': 2.0, 'b': 3.0})
        >>> record_parts({}, None, 4.0, "unused")
        {'wall_time_s': 4.0}
    """
    result["wall_time_s"] = joining_s + parts_wall_time(parts)
    if parts is not None:
        result["parts"] = {"how": f"{how}; wall_time_s is their sum plus joining them",
                           "wall_time_s": {str(k): float(p["wall_time_s"]) for k, p in parts.items()}}
    return result


def study_arguments(name: str, description: str, argv: list[str] | None = None,
                    default_out: str | os.PathLike = "docs/results") -> argparse.Namespace:
    """The command line every ``scripts/<name>_study.py`` takes: ``--out``, ``--quick``, ``--seed``,
    ``--threads``, ``--no-progress`` (bad values exit with status 2, naming the argument).

    Examples:
        >>> args = study_arguments("demo", "a demo study", ["--quick", "--threads", "1"])
        >>> args.quick, args.threads, args.seed, args.progress
        (True, 1, 0, True)
    """
    parser = argparse.ArgumentParser(prog=f"{name}_study.py", description=description)
    parser.add_argument("--out", type=Path, default=Path(default_out),
                        help=f"folder for {name}.json, its figures and {name}-manifest.json (default: {default_out})")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every step (seconds to a minute)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the model and the data order")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="print nothing while running")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"argument --threads: must be >= 1, got {args.threads}")
    if args.seed < 0:
        parser.error(f"argument --seed: must be >= 0, got {args.seed}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {args.out} exists and is not a folder")
    return args


def study_main(run_study: Callable[..., dict], name: str, description: str, argv: list[str] | None = None,
               default_out: str | os.PathLike = "docs/results", echo: Callable[[str], Any] | None = None) -> int:
    """``main()`` of a ``scripts/<name>_study.py``: parse :func:`study_arguments`, call
    ``run_study(out, quick=, seed=, threads=, progress=, command=)``; returns the exit status 0.

    ``echo`` (``print`` in the scripts; nothing by default) gets the closing line saying where
    the study wrote, unless ``--no-progress`` was given.
    """
    import sys

    args = study_arguments(name, description, argv, default_out)
    command = ["python", f"scripts/{name}_study.py", *(sys.argv[1:] if argv is None else argv)]
    t0 = time.perf_counter()
    run_study(args.out, quick=args.quick, seed=args.seed, threads=args.threads, progress=args.progress,
              command=command)
    if args.progress and echo is not None:
        echo(f"wrote {name}.json, its figures and {name}-manifest.json to {args.out} "
             f"in {time.perf_counter() - t0:.0f} s")
    return 0
