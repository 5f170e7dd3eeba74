"""The errors this library raises, and the argument checks both backends share.

Every bad input is refused at the public boundary (a constructor, ``forward``, ``backward``,
a decoding method, a loader) *before* any work, with a message that names the argument, the
value and what was expected — ``dropout must be in [0, 1], got dropout=1.5``, ``src has dtype
float64, the model is float32`` — and the same wording in the NumPy and the PyTorch backend
for the same mistake (both call the functions below).

The exception classes:

- ``ValueError`` / ``TypeError`` (built in) for a bad argument value / type;
- :class:`TokenIdError` (an ``IndexError`` and a ``ValueError``):
  a token id outside ``[0, V)``, in both backends;
- :class:`StateDictError` (a ``RuntimeError``): a state dict that
  does not fit a module, in both backends (one check, :func:`check_state_dict`, one message);
- :class:`CheckpointError` (a ``RuntimeError``): a checkpoint
  that cannot be read (missing, truncated, corrupt — the zip CRC of a PyTorch file is checked —,
  wrong format, made for other task data); the message names the file. Its subclass
  ``CheckpointWriteError`` (also an ``OSError``) is a checkpoint that cannot be written
  (read-only folder, a path under a file, a full disk), raised by the trainers at start-up
  for an unusable ``checkpoint_dir``;
- :class:`BackwardError` (a ``RuntimeError``): a NumPy
  ``backward`` called before ``forward``; its subclass ``BackwardShapeError`` (also a
  ``ValueError``): a gradient whose shape is not the shape of the last forward's output;
- ``ArgumentError`` (a ``ValueError``, :mod:`transformer_anatomy.training.cli`): a bad
  command-line argument of ``scripts/reproduce.py``, in one line.

Where torch and NumPy conventions differ: the NumPy modules cast a floating input of another
precision to their dtype (float64 data into a float32 model gives float32 outputs and
gradients) and refuse integer, bool, complex and object inputs; the torch modules refuse any
dtype that is not their parameters' (as torch's own matmuls do), except under
``torch.autocast``. Both name the two dtypes (``src has dtype int64, the model is float32``).

They are defined here and re-exported by the backends (``transformer_anatomy.numpy.StateDictError``, ``transformer_anatomy.torch.StateDictError`` and ``transformer_anatomy.training.CheckpointError`` are these classes).
This module imports neither NumPy's model code nor torch.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Mapping

__all__ = [
    "ArgumentError",
    "BackwardError",
    "BackwardShapeError",
    "CheckpointError",
    "CheckpointWriteError",
    "StateDictError",
    "TokenIdError",
    "check_bool",
    "check_state_dict",
    "check_int",
    "check_number",
    "check_positive_int",
    "check_probability",
    "check_qkv_shapes",
    "check_rotary",
    "check_gqa_heads",
    "check_seed",
    "UnsupportedConfigError",
    "check_token_id",
]

SEED_MAX = 2**63 - 1
"""Largest seed accepted everywhere (``torch.manual_seed`` takes ``[-2**63, 2**64)``, NumPy
any non-negative int; ``[0, 2**63)`` is what both accept and what an int64 can hold)."""


class TokenIdError(IndexError, ValueError):
    """A token id outside ``[0, V)``. An ``IndexError`` (as ``torch.nn.Embedding``) and a
    ``ValueError`` (as the other argument checks)."""


class StateDictError(RuntimeError):
    """A state dict does not fit a module: the message lists missing, unexpected and mis-sized
    keys, in the same words in both backends (:func:`check_state_dict`)."""


class BackwardError(RuntimeError):
    """A NumPy ``backward`` called before ``forward`` (nothing is cached). A ``RuntimeError``, as
    torch's "backward through the graph" errors; a wrong shape raises :class:`BackwardShapeError`."""


class BackwardShapeError(BackwardError, ValueError):
    """The gradient given to ``backward`` does not have the shape of the forward output."""


class UnsupportedConfigError(ValueError):
    """A HuggingFace config field whose value our models do not implement (``from_hf``): the
    message names the field and its value, e.g. ``"rope_scaling={'rope_type': 'linear'} is not
    supported: only the default RoPE"``. A ``ValueError``: a bad argument, caught at the boundary."""


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; the message names the file."""


class CheckpointWriteError(OSError, CheckpointError):
    """Writing a checkpoint failed (full disk, read-only folder, a path under a file, ...):
    a :class:`CheckpointError` and, as the ``OSError`` behind it, an ``OSError``."""


def check_state_dict(owner: str, own_shapes: Mapping[str, tuple[int, ...]], state_dict: Mapping[str, Any],
                     strict: bool = True) -> None:
    """Raise :class:`StateDictError` if ``state_dict`` does not fit a module with ``own_shapes``.

    Both backends' ``load_state_dict`` call this, so the message is the same in both. With
    ``strict=True`` missing and unexpected keys are errors; mis-sized keys always are (as in
    torch, which cannot copy a tensor of the wrong shape). Values without a ``shape`` are not
    size-checked here.

    Args:
        owner: the module's class name, for the message.
        own_shapes: parameter (and buffer) name -> shape, in the module's order.
        state_dict: name -> array or tensor.
        strict: whether missing and unexpected keys are errors.

    Examples:
        >>> check_state_dict("Linear", {"weight": (2, 3)}, {"weight": [[0.0] * 3] * 2, "bias": 0}, strict=False)
        >>> try:
        ...     check_state_dict("Linear", {"weight": (2, 3), "bias": (2,)}, {"weight": __import__("numpy").zeros((3, 3))})
        ... except StateDictError as e:
        ...     print(e)
        state_dict does not fit Linear:
          missing keys (in the model, not in the state_dict): ['bias']
          mis-sized keys: ['weight: model (2, 3) vs state_dict (3, 3)']
    """
    missing = [k for k in own_shapes if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own_shapes]
    missized = []
    for k, shape in own_shapes.items():
        if k in state_dict:
            got = getattr(state_dict[k], "shape", None)
            if got is None and isinstance(state_dict[k], (list, tuple)):
                import numpy as np  # lists of numbers (what ``np.asarray`` accepts)

                got = np.shape(state_dict[k])
            if got is not None and tuple(got) != tuple(shape):
                missized.append(f"{k}: model {tuple(shape)} vs state_dict {tuple(got)}")
    lines = []
    if strict and missing:
        lines.append(f"  missing keys (in the model, not in the state_dict): {missing}")
    if strict and unexpected:
        lines.append(f"  unexpected keys (in the state_dict, not in the model): {unexpected}")
    if missized:
        lines.append(f"  mis-sized keys: {missized}")
    if lines:
        raise StateDictError(f"state_dict does not fit {owner}:\n" + "\n".join(lines))


def __getattr__(name: str) -> Any:  # lazy re-export: no import cycle
    if name == "ArgumentError":
        from transformer_anatomy.training.cli import ArgumentError

        return ArgumentError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_int(value: Any) -> bool:
    """A Python or NumPy integer (a 0-d integer tensor too), never a bool."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return False
    if isinstance(value, numbers.Integral):
        return True
    dtype = getattr(value, "dtype", None)  # a 0-d torch tensor / NumPy array of an int dtype
    return (getattr(value, "ndim", None) == 0 and dtype is not None
            and str(dtype).replace("torch.", "") in ("int8", "int16", "int32", "int64", "uint8",
                                                       "uint16", "uint32", "uint64"))


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``int(value)`` if ``value`` is an integer (not a bool, not a float) in ``[minimum, maximum]``.

    Raises:
        TypeError: ``"nhead must be an integer, got nhead=True (bool)"``.
        ValueError: ``"max_len must be an integer >= 1, got max_len=0"``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {name}={value!r} ({type(value).__name__})")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        if maximum is None:
            want = f">= {minimum}"
        elif minimum is None:
            want = f"<= {maximum}"
        else:
            want = f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be an integer {want}, got {name}={value!r}")
    return v


def check_positive_int(name: str, value: Any) -> int:
    """``int(value)`` if it is an integer > 0 (``d_model``, ``nhead``, ``dim_feedforward``, ...).

    Raises:
        TypeError: for a bool, a float (``16.0``), a string, ...: ``"d_model must be a positive
            integer, got d_model=16.0 (float)"``.
        ValueError: for ``<= 0``: ``"nhead must be a positive integer, got nhead=0"``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer, got {name}={value!r} ({type(value).__name__})")
    if int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def check_number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 *, min_open: bool = False, finite: bool = True) -> float:
    """``float(value)`` for a real number (not a bool, not a string) in the given range.

    Raises:
        TypeError: ``"lr must be a real number, got lr='0.1' (str)"``.
        ValueError: ``"lr must be a finite number > 0, got lr=inf"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {name}={value!r} ({type(value).__name__})")
    v = float(value)
    bad = math.isnan(v) or (finite and math.isinf(v))
    if minimum is not None:
        bad = bad or (v <= minimum if min_open else v < minimum)
    if maximum is not None:
        bad = bad or v > maximum
    if bad:
        parts = []
        if minimum is not None:
            parts.append(f"{'>' if min_open else '>='} {minimum:g}")
        if maximum is not None:
            parts.append(f"<= {maximum:g}")
        want = ("a finite number" if finite else "a number") + (" " + " and ".join(parts) if parts else "")
        raise ValueError(f"{name} must be {want}, got {name}={value!r}")
    return v


def check_probability(name: str, value: Any) -> float:
    """``float(value)`` for a real number in ``[0, 1]`` (a dropout rate, label smoothing).

    Raises:
        TypeError: ``"dropout must be in [0, 1], got dropout='0.1' (str)"``.
        ValueError: ``"dropout must be in [0, 1], got dropout=1.5"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be in [0, 1], got {name}={value!r} ({type(value).__name__})")
    if not 0.0 <= float(value) <= 1.0:  # NaN fails too
        raise ValueError(f"{name} must be in [0, 1], got {name}={value!r}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is a bool (or a NumPy bool), else ``TypeError`` naming it."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {name}={value!r} ({type(value).__name__})")


def check_seed(name: str, value: Any) -> int:
    """A seed: an integer in ``[0, 2**63 - 1]`` (see :data:`SEED_MAX`).

    Raises:
        TypeError: not an integer. ValueError: ``"seed must be an integer in [0, 2**63 - 1], got seed=-1"``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer in [0, 2**63 - 1], got {name}={value!r} ({type(value).__name__})")
    if not 0 <= int(value) <= SEED_MAX:
        raise ValueError(f"{name} must be an integer in [0, 2**63 - 1], got {name}={value!r}")
    return int(value)


def check_token_id(name: str, value: Any, vocab_size: int) -> int:
    """A single token id (``pad_id``, ``sos_id``, ``eos_id``) in ``[0, vocab_size)``.

    Raises:
        TypeError: not an integer.
        ValueError: ``"pad_id=20 is not a valid id for vocabulary size 11 (expected 0 <= pad_id < 11)"``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer token id, got {name}={value!r} ({type(value).__name__})")
    v = int(value)
    if not 0 <= v < vocab_size:
        raise ValueError(
            f"{name}={v} is not a valid id for vocabulary size {vocab_size} (expected 0 <= {name} < {vocab_size})"
        )
    return v


def check_qkv_shapes(q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]) -> None:
    """Shapes for ``scaled_dot_product_attention``: ``q (..., T, D)``, ``k (..., S, D)``,
    ``v (..., S, Dv)``, at least 2-D, with the leading axes broadcastable.

    Raises:
        ValueError: ``"scaled_dot_product_attention: q (2, 5, 8) and k (2, 7, 6) must have the
            same feature size D (last axis)"``.
    """
    q, k, v = (tuple(int(n) for n in s) for s in (q_shape, k_shape, v_shape))
    where = "scaled_dot_product_attention"
    if min(len(q), len(k), len(v)) < 2:
        raise ValueError(f"{where}: q {q}, k {k} and v {v} must be at least 2-D (..., L, D)")
    if q[-1] != k[-1]:
        raise ValueError(f"{where}: q {q} and k {k} must have the same feature size D (last axis)")
    if k[-2] != v[-2]:
        raise ValueError(f"{where}: k {k} and v {v} must have the same length S (second-to-last axis)")


def check_gqa_heads(hidden_size: Any, num_attention_heads: Any,
                    num_key_value_heads: Any) -> tuple[int, int, int]:
    """``(E, H, Hk)`` checked for grouped-query attention: positive ints, ``H`` divides ``E``,
    ``Hk`` divides ``H`` (``None`` means ``H``); the Llama modules of both backends use it.

    Examples:
        >>> check_gqa_heads(8, 4, None)
        (8, 4, 4)
        >>> check_gqa_heads(8, 4, 3)
        Traceback (most recent call last):
        ...
        ValueError: num_attention_heads=4 is not divisible by num_key_value_heads=3
    """
    E = check_positive_int("hidden_size", hidden_size)
    H = check_positive_int("num_attention_heads", num_attention_heads)
    Hk = H if num_key_value_heads is None else check_positive_int("num_key_value_heads", num_key_value_heads)
    if E % H:
        raise ValueError(f"hidden_size={E} is not divisible by num_attention_heads={H}")
    if H % Hk:
        raise ValueError(f"num_attention_heads={H} is not divisible by num_key_value_heads={Hk}")
    return E, H, Hk


def check_rotary(head_dim: Any, max_position_embeddings: Any, rope_theta: Any, rope_type: Any) -> tuple[int, int, float]:
    """The arguments of ``RotaryEmbedding`` (both backends): ``(head_dim, max_position_embeddings,
    rope_theta)`` checked, or an error naming the argument and its value.

    Examples:
        >>> check_rotary(8, 2048, 10000.0, "default")
        (8, 2048, 10000.0)
        >>> check_rotary(7, 2048, 10000.0, "default")
        Traceback (most recent call last):
        ...
        ValueError: head_dim must be even for rotary embedding, got head_dim=7
    """
    head_dim = check_positive_int("head_dim", head_dim)
    if head_dim % 2:
        raise ValueError(f"head_dim must be even for rotary embedding, got head_dim={head_dim!r}")
    max_position_embeddings = check_positive_int("max_position_embeddings", max_position_embeddings)
    rope_theta = check_number("rope_theta", rope_theta, minimum=0.0, min_open=True)
    if rope_type != "default":
        raise ValueError(f"rope_type must be 'default' (no RoPE scaling is implemented), got rope_type={rope_type!r}")
    return head_dim, max_position_embeddings, rope_theta


def describe_dtype(dtype: Any) -> str:
    """``float32`` for ``np.float32`` / ``torch.float32`` / ``dtype('float32')``."""
    return str(dtype).replace("torch.", "")
