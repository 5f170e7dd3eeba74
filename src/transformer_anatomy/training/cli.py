"""Argument checks for ``scripts/reproduce.py``, run before any work starts.

:func:`validate_reproduce_args` looks at the parsed namespace and raises
:class:`ArgumentError` (a ``ValueError``) with one line that names the argument, the value and
what was expected, so the script can print it and exit with status 2 (argparse's status for a
usage error) before it writes anything into ``--out`` or seeds anything. It writes nothing
itself: the ``--out`` check walks up to the nearest existing folder and asks the OS whether
files could be created there.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from transformer_anatomy.errors import SEED_MAX

__all__ = ["ArgumentError", "validate_reproduce_args", "check_output_folder", "call_script_function"]


class ArgumentError(ValueError):
    """A command-line argument that cannot work; ``str(err)`` is one line naming it.

    Examples:
        >>> import argparse
        >>> try:
        ...     validate_reproduce_args(argparse.Namespace(seed=-1))
        ... except ArgumentError as e:
        ...     print(e)
        --seed -1: expected an integer in [0, 2**63 - 1]
    """


def check_output_folder(flag: str, value: Any) -> Path:
    """Raise :class:`ArgumentError` unless files can be written into folder ``value``
    (it exists and is writable, or can be created: its nearest existing ancestor is a
    writable folder). Nothing is created."""
    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise ArgumentError(f"{flag} {value!r}: expected a folder path")
    from transformer_anatomy.training.checkpoint import folder_write_problem

    folder = Path(value)
    problem, code = folder_write_problem(folder)
    if code == errno.ENOTDIR:
        raise ArgumentError(f"{flag} {value}: {problem.removeprefix('it ')}; expected a folder")
    if problem:
        raise ArgumentError(f"{flag} {value}: {problem}")
    return folder


def validate_reproduce_args(args: Any) -> None:
    """Check the namespace of ``reproduce.py``'s argparse before any work.

    Checks: ``--seed`` an integer in ``[0, 2**63 - 1]`` (NumPy refuses negative seeds, torch
    seeds above ``2**64``; both accept this range); ``--threads`` ``None`` or an integer >= 1;
    ``--out`` a folder that can be written (not a file, not under a file, not read-only).
    Attributes the namespace lacks are skipped.

    Raises:
        ArgumentError: ``"--seed -1: expected an integer in [0, 2**63 - 1]"``.

    Examples:
        >>> import argparse, tempfile
        >>> validate_reproduce_args(argparse.Namespace(seed=0, threads=2, out=tempfile.mkdtemp()))  # fine: no error
    """
    if hasattr(args, "seed"):
        seed = args.seed
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
            raise ArgumentError(f"--seed {seed}: expected an integer in [0, 2**63 - 1]")
    threads = getattr(args, "threads", None)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ArgumentError(f"--threads {threads}: expected an integer >= 1")
    if hasattr(args, "out"):
        check_output_folder("--out", args.out)


_SCRIPTS: dict[str, Any] = {}


def call_script_function(path: str | os.PathLike, name: str, *args: Any) -> Any:
    """Load the script at ``path`` as a module (once per process) and call its function ``name``.

    What ``scripts/reproduce.py --jobs`` hands to its worker processes: a function of this package
    pickles by name wherever the script was started from (run as ``__main__`` or loaded by path),
    a function of the script itself does not.

    Shape: no arrays; returns what the function returns.

    Examples:
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as d:
        ...     script = pathlib.Path(d) / "demo.py"
        ...     _ = script.write_text("def twice(x):\\n    return 2 * x\\n")
        ...     call_script_function(script, "twice", 21)
        42
    """
    import importlib.util

    key = str(Path(path).resolve())
    module = _SCRIPTS.get(key)
    if module is None:
        spec = importlib.util.spec_from_file_location(f"_script_{len(_SCRIPTS)}", key)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPTS[key] = module
    return getattr(module, name)(*args)
