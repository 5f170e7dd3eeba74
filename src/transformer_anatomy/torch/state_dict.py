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


from transformer_anatomy.numpy.module import StateDictError  # one error type for both backends


def check_state_dict(module: nn.Module, state_dict: Mapping[str, Any], strict: bool = True) -> None:
    """Raise :class:`StateDictError` if ``state_dict`` does not fit ``module``.

    With ``strict=True`` missing and unexpected keys are errors; mis-sized keys always are (as
    in torch, which cannot copy a tensor of the wrong shape).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    missized = [
        f"{k}: model {tuple(own[k].shape)} vs state_dict {tuple(state_dict[k].shape)}"
        for k in own
        if k in state_dict
        and hasattr(state_dict[k], "shape")
        and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    lines = []
    if strict and missing:
        lines.append(f"  missing keys (in the model, not in the state_dict): {missing}")
    if strict and unexpected:
        lines.append(f"  unexpected keys (in the state_dict, not in the model): {unexpected}")
    if missized:
        lines.append(f"  mis-sized keys: {missized}")
    if lines:
        raise StateDictError(
            f"state_dict does not fit {type(module).__name__}:\n" + "\n".join(lines)
        )


class StrictLoadMixin:
    """Mixin for ``nn.Module`` subclasses: ``load_state_dict`` checks keys and shapes first."""

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        check_state_dict(self, state_dict, strict)  # type: ignore[arg-type]
        return super().load_state_dict(state_dict, strict=strict, assign=assign)  # type: ignore[misc]
