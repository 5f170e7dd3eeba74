"""What every module of the PyTorch backend adds to ``nn.Module``: a ``load_state_dict`` that
names every missing, unexpected and mis-sized key in one error, and ``num_parameters()``.

The twin of ``numpy/module.py`` (the NumPy ``Module`` base class has the same two methods).
``torch.nn.Module.load_state_dict`` already refuses bad keys; :class:`ModuleMixin` checks first,
so the message lists all three kinds of problem together (with both shapes for a mis-sized key)
and says which model they were loaded into. Loading an ``nn.Transformer`` state_dict with
``strict=True`` is how the tests prove that our parameter names are PyTorch's.

Page: ``docs/own-transformer.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from transformer_anatomy.modes import eval_mode  # noqa: F401  (one home for both backends)
from typing import Any

from torch import nn

from transformer_anatomy.errors import StateDictError
from transformer_anatomy.errors import check_state_dict as _check_shapes

__all__ = ["ModuleMixin", "StateDictError", "check_state_dict", "eval_mode", "num_parameters"]


def check_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool = True) -> None:
    """Raise :class:`~transformer_anatomy.errors.StateDictError` if ``state_dict`` does not fit ``module``.

    With ``strict=True`` missing and unexpected keys are errors; mis-sized keys always are (as
    in torch, which cannot copy a tensor of the wrong shape). The check and its message are
    :func:`transformer_anatomy.errors.check_state_dict`, shared with the NumPy backend.

    Args:
        module: the model the weights are meant for.
        state_dict: parameter name -> tensor (anything with a ``.shape``).
        strict: also refuse missing and unexpected keys.

    Raises:
        StateDictError: naming every bad key.

    Examples:
        >>> from torch import nn
        >>> check_state_dict(nn.Linear(2, 3), nn.Linear(2, 3).state_dict())  # fits: no error
        >>> try:
        ...     check_state_dict(nn.Linear(2, 3), nn.Linear(2, 4).state_dict())
        ... except StateDictError as e:
        ...     print(e)
        state_dict does not fit Linear:
          mis-sized keys: ['weight: model (3, 2) vs state_dict (4, 2)', 'bias: model (3,) vs state_dict (4,)']
    """
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    _check_shapes(type(module).__name__, own, state_dict, strict)


def num_parameters(module: nn.Module) -> int:
    """Number of trainable scalars in ``module``; a tied (shared) tensor counts once.

    Works on any ``nn.Module`` (``nn.Transformer`` too); our modules also have it as the method
    :meth:`ModuleMixin.num_parameters`, named like the NumPy ``Module``'s.

    Examples:
        >>> from torch import nn
        >>> num_parameters(nn.Linear(4, 3))  # 4 * 3 weights + 3 biases
        15
    """
    return sum(p.numel() for p in module.parameters())  # parameters() yields a shared tensor once


class ModuleMixin:
    """Mixin for ``nn.Module`` subclasses: a checking ``load_state_dict`` and ``num_parameters``.

    Put it first among the bases: ``class MultiheadAttention(ModuleMixin, nn.Module)``.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> class Tiny(ModuleMixin, nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.proj = nn.Linear(2, 2)
        >>> Tiny().num_parameters()
        6
        >>> try:
        ...     Tiny().load_state_dict({"proj.weight": torch.zeros(2, 2)})
        ... except StateDictError as e:
        ...     print(e)
        state_dict does not fit Tiny:
          missing keys (in the model, not in the state_dict): ['proj.bias']
    """

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` after :func:`check_state_dict` (one error naming every bad key)."""
        check_state_dict(self, state_dict, strict)  # type: ignore[arg-type]
        return super().load_state_dict(state_dict, strict=strict, assign=assign)  # type: ignore[misc]

    def num_parameters(self) -> int:
        """Number of trainable scalars (see :func:`num_parameters`)."""
        return num_parameters(self)  # type: ignore[arg-type]
