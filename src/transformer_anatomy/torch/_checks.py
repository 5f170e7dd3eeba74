"""Boundary checks of the PyTorch backend, with the NumPy backend's wording
(see :mod:`transformer_anatomy.errors`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from transformer_anatomy.errors import describe_dtype


def check_tensor(name: str, x: Any) -> Tensor:
    """``x`` if it is a tensor, else ``TypeError`` (a list, a NumPy array, ...)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float_input(name: str, x: Any, dtype: torch.dtype | None) -> Tensor:
    """``x`` if it is a floating tensor of the model's ``dtype``.

    Integer, bool and complex tensors are refused with the NumPy backend's message
    (``"src has dtype int64, the model is float32 (expected a real floating array)"``); a float
    of another precision is refused too (torch's own rule: it fails later inside a matmul with
    "mat1 and mat2 must have the same dtype"), except under ``torch.autocast``, where the layers
    themselves hand lower-precision activations to each other. The NumPy backend casts floats
    instead (see :func:`transformer_anatomy.numpy.module.as_float_input`).
    """
    check_tensor(name, x)
    want = describe_dtype(dtype) if dtype is not None else "floating"
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name} has dtype {describe_dtype(x.dtype)}, the model is {want} (expected a real floating array)")
    if dtype is not None and x.dtype != dtype and not _autocast_on(x):
        raise TypeError(f"{name} has dtype {describe_dtype(x.dtype)}, the model is {want} (cast it with .to(torch.{want}))")
    return x


def _autocast_on(x: Tensor) -> bool:
    try:
        return bool(torch.is_autocast_enabled(x.device.type))
    except TypeError:  # pragma: no cover - older torch: no device argument
        return bool(torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled())


def param_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """The dtype of the module's first floating parameter (None without parameters)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None
