"""``load_state_dict`` that names every missing, unexpected and mis-sized key in one error.

``torch.nn.Module.load_state_dict`` already refuses bad keys; this wrapper checks first, so the
message lists all three kinds of problem together (with both shapes for a mis-sized key) and says
which model they were loaded into. Loading an ``nn.Transformer`` state_dict with ``strict=True``
is how the tests prove that our parameter names are PyTorch's.

Page: ``docs/own-transformer.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

__all__ = ["StateDictError", "StrictLoadMixin", "check_state_dict"]


from transformer_anatomy.errors import StateDictError
from transformer_anatomy.errors import check_state_dict as _check_shapes


def check_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool = True) -> None:
    """Raise :class:`StateDictError` if ``state_dict`` does not fit ``module``.

    With ``strict=True`` missing and unexpected keys are errors; mis-sized keys always are (as
    in torch, which cannot copy a tensor of the wrong shape). The check and its message are
    :func:`transformer_anatomy.errors.check_state_dict`, shared with the NumPy backend.
    """
    _check_shapes(type(module).__name__, {k: tuple(v.shape) for k, v in module.state_dict().items()},
                  state_dict, strict)


class StrictLoadMixin:
    """Mixin for ``nn.Module`` subclasses: ``load_state_dict`` checks keys and shapes first."""

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        check_state_dict(self, state_dict, strict)  # type: ignore[arg-type]
        return super().load_state_dict(state_dict, strict=strict, assign=assign)  # type: ignore[misc]
