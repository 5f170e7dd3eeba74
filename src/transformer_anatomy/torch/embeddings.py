"""Positions: the fixed sinusoidal encoding of the paper and a learned position embedding.

Attention is permutation-equivariant: without positions an encoder cannot tell "ab" from "ba".
Both modules **add** a position vector to each token vector: ``x[:, p] + P[p]``.

Page: ``docs/embeddings.md``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from transformer_anatomy.errors import check_positive_int

__all__ = ["PositionalEncoding", "LearnedPositionalEmbedding", "sinusoidal_table"]


# --8<-- [start:sinusoidal]
def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """The paper's table (§3.5), computed in float64.

    ``PE[p, 2i] = sin(p / 10000^(2i/E))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/E))``.

    Shape:
        output: ``(max_len, E)``.
    """
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(E/2),): 0, 2, 4, ...
    inv_freq = torch.exp(two_i * (-math.log(10000.0) / d_model))  # 1 / 10000^(2i/E)
    angles = position * inv_freq  # (max_len, 1) * (ceil(E/2),) -> (max_len, ceil(E/2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)  # even columns
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # odd columns (one fewer when E is odd)
    return pe
# --8<-- [end:sinusoidal]


class PositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal encoding: ``x + PE[offset : offset + L]``.

    The table is a non-persistent buffer: it moves with ``.to(device)`` but is not in the
    state_dict (it is a function of ``max_len`` and ``E``, not a parameter).

    Shape:
        x: ``(N, L, E)`` or ``(L, E)`` -> output: same shape; ``offset + L <= max_len``.
    """

    def __init__(
        self, d_model: int, max_len: int = 512, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)  # the NumPy backend's checks and wording
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        pe = sinusoidal_table(max_len, d_model).to(device=device, dtype=dtype or torch.get_default_dtype())
        self.register_buffer("pe", pe, persistent=False)

    def _apply(self, fn, recurse=True):
        """After ``.to()`` / ``.double()`` / ``.cuda()``, recompute the table in the new dtype
        (so a float64 model gets the exact float64 table, not a widened float32 one)."""
        super()._apply(fn, recurse)
        self.pe = sinusoidal_table(self.max_len, self.d_model).to(device=self.pe.device, dtype=self.pe.dtype)
        return self

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        L = x.size(-2)
        _check_length(offset + L, self.max_len)
        return x + self.pe[offset : offset + L].to(x.dtype)  # (L, E) broadcast over N


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned vector per position: ``x + weight[offset : offset + L]``.

    ``weight`` is initialised N(0, 1), like ``nn.Embedding``: the same scale as token embeddings
    after their ``× √E`` (or unscaled N(0, 1) ones), so neither signal drowns the other at the
    start of training (see the embeddings page for the measured effect of a mismatch).

    Shape:
        weight: ``(max_len, E)``; x: ``(N, L, E)`` or ``(L, E)`` -> output: same shape.
    """

    def __init__(
        self, max_len: int, d_model: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)  # the NumPy backend's checks and wording
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.weight = nn.Parameter(torch.empty(max_len, d_model, device=device, dtype=dtype))
        nn.init.normal_(self.weight)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        L = x.size(-2)
        _check_length(offset + L, self.max_len)
        return x + self.weight[offset : offset + L]  # (L, E) broadcast over N


def _check_length(length: int, max_len: int) -> None:
    if length > max_len:
        raise ValueError(f"sequence length {length} exceeds max_len={max_len} of the positional table")
