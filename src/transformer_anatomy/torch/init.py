"""Weight initialisation shared by the PyTorch modules: ``nn.Transformer``'s Xavier-uniform.

The twin of ``numpy/init.py``. ``nn.MultiheadAttention``'s own init (Xavier-uniform on the
input projections only) lives in :class:`~transformer_anatomy.torch.MultiheadAttention`.

Page: ``docs/own-transformer.md`` (initialisation) and ``docs/internals-pytorch.md``.
"""

from __future__ import annotations

from torch import nn

__all__ = ["xavier_uniform_matrices_"]


def xavier_uniform_matrices_(module: nn.Module) -> None:
    """``nn.Transformer``'s initialisation: Xavier-uniform for every parameter with more than one
    dim (the weight matrices), in ``module.parameters()`` order; vectors keep their init.

    Examples:
        >>> lin = nn.Linear(6, 2)
        >>> xavier_uniform_matrices_(lin)
        >>> bool(lin.weight.abs().max() <= (6 / (6 + 2)) ** 0.5)  # U(-a, a), a = sqrt(6 / (fan_in + fan_out))
        True
    """
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
