"""Softmax and log-softmax written out, the torch twins of ``transformer_anatomy.numpy``'s.

``torch.softmax`` / ``torch.log_softmax`` compute the same thing in one fused kernel (and are
what the attention code calls); these versions show the stable formula and are checked against
them in the tests.

Page: ``docs/library-vs-manual.md`` (softmax).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["softmax", "log_softmax"]


# --8<-- [start:softmax]
def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Stable softmax ``exp(x - max) / sum(exp(x - max))`` along ``axis``.

    Shape:
        x: ``(..., C)`` -> output: same shape, non-negative, sums to 1 along ``axis``.

    Examples:
        >>> import torch
        >>> softmax(torch.tensor([1000.0, 1000.0]))  # no overflow
        tensor([0.5000, 0.5000])
    """
    shifted = x - x.amax(dim=axis, keepdim=True)  # largest entry becomes 0: exp cannot overflow
    e = shifted.exp()
    return e / e.sum(dim=axis, keepdim=True)
# --8<-- [end:softmax]


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Stable log-softmax ``x - max - log(sum(exp(x - max)))`` along ``axis``.

    Shape:
        x: ``(..., C)`` -> output: same shape; ``exp(output)`` sums to 1 along ``axis``.

    Examples:
        >>> import torch
        >>> log_softmax(torch.tensor([0.0, -1000.0]))  # finite where log(softmax) gives -inf
        tensor([    0., -1000.])
    """
    shifted = x - x.amax(dim=axis, keepdim=True)
    return shifted - shifted.exp().sum(dim=axis, keepdim=True).log()
