"""Checkpoints that survive crashes and load without unpickling code.

A checkpoint holds everything needed to continue training bit for bit: the model's
parameters, the optimizer's moments and step count, the learning-rate schedule's state, every
random generator (torch's CPU generator, NumPy ``Generator`` bit-generator states, Python's
``random``), the step, epoch and position inside the epoch, the best metric so far, the
metrics history and the configuration.

Two formats, one per backend:

- PyTorch: ``torch.save`` of a dict of tensors and plain Python values (dicts, lists, str,
  int, float, bool, None). No NumPy object is allowed inside, so the file loads with
  ``torch.load(path, weights_only=True)`` (the default since torch 2.6), which refuses to
  run arbitrary pickled code. Random states are tensors or plain ints.
- NumPy: ``np.savez`` with one entry per array under a flattened key
  (``model/encoder.layers.0.self_attn.in_proj_weight``, ``optimizer/state/…/exp_avg``) and
  everything else in one JSON document stored as a string (``__meta__``), so
  ``np.load(path, allow_pickle=False)`` reads it.

Saving is atomic: the bytes go to a temporary file in the same folder, are flushed and
``fsync``-ed, and only then ``os.replace`` puts them at the final path (a rename within one
file system is atomic). A crash while writing leaves the previous checkpoint untouched and
removes the temporary file. A truncated or corrupt file raises :class:`CheckpointError`
naming the path.

Page: ``docs/training.md`` (checkpoints and resuming).
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import socket
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from transformer_anatomy.errors import CheckpointError, CheckpointWriteError  # noqa: F401  (re-exported)

FORMAT = "transformer_anatomy/checkpoint-v1"
META_KEY = "__meta__"
_ARRAY_TAG = "__array__"
_BIGINT_TAG = "__int_words__"


_TMP_SUFFIX = ".tmp"
_TMP_RE = re.compile(r"^\..+\.ta-(?P<host>[A-Za-z0-9_.-]*)-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")
_OLD_TMP_RE = re.compile(r"^\..+\.(pt|npz)\.[A-Za-z0-9_]{8}\.tmp$")  # before the writer was in the name
STALE_TMP_SECONDS = 24 * 3600
"""A temporary file of ours whose writer cannot be checked (another host) counts as stale after this."""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # maybe another thread of ours is writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that a killed :func:`atomic_write` left in ``folder``.

    Only files of our own naming (``.<name>.ta-<host>-<pid>-<random>.tmp``) are touched, and
    only if their writer is gone: on this host, a process id that no longer exists; from
    another host, older than :data:`STALE_TMP_SECONDS`. Temporaries of the earlier naming
    (``.<name>.pt.<8 characters>.tmp``, ``.npz`` likewise), whose writer is unknown, go when
    older than :data:`STALE_TMP_SECONDS`. A save in progress is never disturbed,
    and nothing else in the folder is. Returns the deleted paths (errors are ignored: a
    clean-up that cannot run leaves the files as they were).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    me, now = _host(), time.time()
    for e in entries:
        m = _TMP_RE.match(e.name)
        old = m is None and _OLD_TMP_RE.match(e.name) is not None
        if (m is None and not old) or not e.is_file(follow_symlinks=False):
            continue
        try:
            if old:
                stale = now - e.stat(follow_symlinks=False).st_mtime > STALE_TMP_SECONDS
            elif m["host"] == me:
                stale = not _pid_alive(int(m["pid"]))
            else:
                stale = now - e.stat(follow_symlinks=False).st_mtime > STALE_TMP_SECONDS
            if stale:
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed


# --------------------------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------------------------
# --8<-- [start:atomic_write]
def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it over ``path``.

    The temporary file is flushed and ``fsync``-ed before ``os.replace``; the folder is
    ``fsync``-ed after it, so the new name survives a power cut. If ``write`` raises, the
    temporary file is deleted, ``path`` keeps its previous content and the error propagates.
    The file gets the permissions a plain ``open(path, "w")`` would give (``0o666`` minus
    the umask), not ``mkstemp``'s private ``0o600``.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = atomic_write(Path(tempfile.mkdtemp()) / "out.txt", lambda f: f.write(b"done"))
        >>> path.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)  # left by earlier saves that were killed
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.ta-{_host()}-{os.getpid()}-",
                               suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())  # the bytes are on disk before the rename
        os.replace(tmp, path)  # atomic on POSIX and Windows within one file system
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path
# --8<-- [end:atomic_write]


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide, not thread-safe)
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: reading it means setting it; put it straight back
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse; the data is still written
        pass
    finally:
        os.close(fd)


def write_torch(obj: Any, f: BinaryIO) -> None:
    """The writer of PyTorch checkpoints (a module attribute so tests can make it fail)."""
    import torch

    torch.save(obj, f)


def write_numpy(arrays: Mapping[str, np.ndarray], f: BinaryIO) -> None:
    """The writer of NumPy checkpoints (a module attribute so tests can make it fail)."""
    np.savez(f, **arrays)


# --------------------------------------------------------------------------------------------
# random generator states as plain values
# --------------------------------------------------------------------------------------------
def _encode_ints(x: Any) -> Any:
    """Replace ints outside int64 (PCG64's 128-bit state) by ``{"__int_words__": [32-bit words]}``."""
    if isinstance(x, dict):
        return {k: _encode_ints(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_encode_ints(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        x = int(x)
        if -(2**63) <= x < 2**63:
            return x
        sign, mag, words = (x < 0), abs(x), []
        while mag:
            words.append(mag & 0xFFFFFFFF)  # least significant word first
            mag >>= 32
        return {_BIGINT_TAG: words, "negative": sign}
    return x


def _decode_ints(x: Any) -> Any:
    if isinstance(x, dict):
        if _BIGINT_TAG in x:
            mag = sum(int(w) << (32 * i) for i, w in enumerate(x[_BIGINT_TAG]))
            return -mag if x["negative"] else mag
        return {k: _decode_ints(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_decode_ints(v) for v in x]
    return x


def numpy_generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """``gen.bit_generator.state`` with big ints split into 32-bit words (plain ints, lists,
    arrays for generators whose state has one)."""
    return _encode_ints(gen.bit_generator.state)


def set_numpy_generator_state(gen: np.random.Generator, state: Mapping[str, Any]) -> None:
    """Inverse of :func:`numpy_generator_state` (arrays may come back as tensors or arrays)."""
    decoded = _decode_ints(dict(state))
    for k, v in list(decoded.get("state", {}).items()):
        if hasattr(v, "numpy"):  # an array stored as a torch tensor
            decoded["state"][k] = v.numpy()
    gen.bit_generator.state = decoded


def python_random_state() -> dict[str, Any]:
    """``random.getstate()`` as ``{"version", "internal": list of ints, "gauss_next"}``."""
    version, internal, gauss_next = random.getstate()
    return {"version": int(version), "internal": [int(i) for i in internal], "gauss_next": gauss_next}


def set_python_random_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`python_random_state`."""
    internal = state["internal"]
    if hasattr(internal, "tolist"):
        internal = internal.tolist()
    random.setstate((int(state["version"]), tuple(int(i) for i in internal), state["gauss_next"]))


# --------------------------------------------------------------------------------------------
# PyTorch format
# --------------------------------------------------------------------------------------------
def _check_torch_safe(obj: Any, where: str = "checkpoint") -> None:
    """Raise ``TypeError`` naming the first value ``torch.load(weights_only=True)`` would refuse."""
    import torch

    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}; use str or int keys")
            _check_torch_safe(v, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_torch_safe(v, f"{where}[{i}]")
    elif isinstance(obj, (np.ndarray, np.generic)):
        raise TypeError(f"{where} is a NumPy {type(obj).__name__}; convert it to a tensor or a Python value")
    elif not (obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor, torch.Size, torch.dtype))):
        raise TypeError(f"{where} is a {type(obj).__name__}, which torch.load(weights_only=True) refuses")


def save_torch_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Atomically ``torch.save`` ``state`` (tensors and plain Python only) to ``path``.

    ``state`` gets a ``"format"`` entry. Raises ``TypeError`` (before touching the disk) if
    something inside would not load with ``weights_only=True``.

    Shape:
        state: nested dicts/lists of tensors of any shape (``model.state_dict()``: e.g.
        ``(V, E)`` embeddings, ``(3E, E)`` ``in_proj_weight``; optimizer moments: the shape
        of their parameter) and plain values; every tensor is saved with its shape and dtype.

    Examples:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "ckpt.pt"
        >>> _ = save_torch_checkpoint(path, {"model": {"w": torch.ones(2)}, "step": 3})
        >>> state = load_torch_checkpoint(path)
        >>> state["step"], state["model"]["w"].tolist()
        (3, [1.0, 1.0])
    """
    obj = {"format": FORMAT, "backend": "torch", **state}
    _check_torch_safe(obj)
    return _write(path, lambda f: write_torch(obj, f))


def _write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """:func:`atomic_write`, with an ``OSError`` raised as :class:`CheckpointWriteError`."""
    try:
        return atomic_write(path, write)
    except CheckpointError:
        raise
    except OSError as e:
        raise _write_error(f"cannot write checkpoint {path}: {e.strerror or e}", e.errno) from e


def _write_error(message: str, code: int | None) -> CheckpointWriteError:
    err = CheckpointWriteError(message)  # one argument: str(err) is the message itself
    err.errno = code
    return err


def check_writable_folder(folder: str | os.PathLike) -> Path:
    """Raise :class:`CheckpointWriteError` unless checkpoints can be written into ``folder``
    (it is a writable folder, or could be created: its nearest existing ancestor is one).
    Nothing is created. Called by the trainers at start-up, not at the first evaluation."""
    folder = Path(folder)
    problem, code = folder_write_problem(folder)
    if problem:
        raise _write_error(f"cannot write checkpoints into {folder}: {problem}", code)
    return folder


def folder_write_problem(folder: str | os.PathLike) -> tuple[str | None, int]:
    """Why files could not be written into ``folder`` (``(None, 0)`` if they could), and the
    errno that says so. Walks up to the nearest existing folder and asks the OS; creates nothing.
    Used by the trainers and by ``scripts/reproduce.py``'s ``--out`` check."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return ("it is a file" if probe == folder else f"it is under a file ({probe})"), errno.ENOTDIR
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable", errno.EACCES
    return None, 0


def load_torch_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)``; any failure becomes :class:`CheckpointError`.

    Shape:
        returns the saved dict: every tensor has the shape and dtype it was saved with (see
        :func:`save_torch_checkpoint`), on ``map_location``.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    clean_stale_temporaries(path.parent)
    _verify_zip(path)  # torch.load does not check the CRC of tensor data
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, refused type, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("backend") != "torch":
        raise CheckpointError(f"{path} is not a transformer_anatomy PyTorch checkpoint")
    return obj


def _verify_zip(path: Path) -> None:
    """Read every member of the zip archive ``torch.save`` wrote and check its CRC-32."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()  # the name of the first member whose CRC does not match
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from e
    if bad is not None:
        raise CheckpointError(f"checkpoint {path} is corrupt: the CRC of {bad!r} does not match its data")


# --------------------------------------------------------------------------------------------
# NumPy format
# --------------------------------------------------------------------------------------------
def _split_arrays(obj: Any, path: tuple[str, ...], arrays: dict[str, np.ndarray]) -> Any:
    """JSON skeleton of ``obj`` with every array moved into ``arrays`` under its joined path."""
    where = "/".join(path) or "/"
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"checkpoint key {k!r} under {where} must be a str")
            out[k] = _split_arrays(v, path + (k,), arrays)
        return out
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"checkpoint array {where} has dtype object, which needs pickle")
        if where in arrays or where == META_KEY:
            raise ValueError(f"two checkpoint arrays would share the key {where!r}")
        arrays[where] = obj
        return {_ARRAY_TAG: where}
    if isinstance(obj, (list, tuple)):
        return [_split_arrays(v, path + (str(i),), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint value at {where} is a {type(obj).__name__}; use arrays or plain values")


def _join_arrays(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY_TAG}:
            return arrays[obj[_ARRAY_TAG]]
        return {k: _join_arrays(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, arrays) for v in obj]
    return obj


def save_numpy_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Atomically write ``state`` (nested dicts of arrays and plain values) with ``np.savez``.

    Arrays are stored under their flattened path (``model/generator.weight``); the rest goes
    into the JSON string ``__meta__``. ``path`` is used as given (``np.savez`` would append
    ``.npz`` to a name; writing through a file object does not).

    Shape:
        state: nested dicts/lists of arrays of any shape (``model.state_dict()``: e.g.
        ``(V, E)`` embeddings, ``(3E, E)`` ``in_proj_weight``; optimizer moments: the shape
        of their parameter) and plain values; every array is saved with its shape and dtype.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "ckpt.npz"
        >>> _ = save_numpy_checkpoint(path, {"model": {"w": np.ones((2, 3))}, "step": 3})
        >>> state = load_numpy_checkpoint(path)
        >>> state["step"], state["model"]["w"].shape
        (3, (2, 3))
    """
    arrays: dict[str, np.ndarray] = {}
    skeleton = _split_arrays(_encode_ints({"format": FORMAT, "backend": "numpy", **state}), (), arrays)
    arrays[META_KEY] = np.array(json.dumps(skeleton, allow_nan=True))  # 0-d unicode array, no pickle
    return _write(path, lambda f: write_numpy(arrays, f))


def load_numpy_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``np.load(path, allow_pickle=False)`` back into the nested dict; failures raise
    :class:`CheckpointError` naming the path.

    Shape:
        returns the saved dict: every array has the shape and dtype it was saved with (see
        :func:`save_numpy_checkpoint`).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    clean_stale_temporaries(path.parent)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        skeleton = json.loads(str(arrays.pop(META_KEY)))
        obj = _decode_ints(_join_arrays(skeleton, arrays))
    except Exception as e:  # BadZipFile, EOFError, missing __meta__, bad JSON, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or obj.get("backend") != "numpy":
        raise CheckpointError(f"{path} is not a transformer_anatomy NumPy checkpoint")
    return obj
