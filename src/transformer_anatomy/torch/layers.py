"""The building blocks that PyTorch already has, under the names the NumPy backend uses.

``transformer_anatomy.numpy`` writes these from scratch (forward and backward); on the torch
side the library's own modules are the reference, so they are re-exported as they are:
``Linear`` (``y = x Wᵀ + b``, weight ``(out, in)``), ``Embedding`` (row lookup, weight
``(V, E)``), ``Dropout`` (inverted dropout: kept entries scaled by ``1/(1-p)`` in training),
``ReLU``, ``GELU`` (exact erf form; ``approximate="tanh"`` for the tanh form) and ``LayerNorm``
(biased variance, eps inside the square root).

Page: ``docs/library-vs-manual.md``.
"""

from __future__ import annotations

from torch import nn

__all__ = ["Linear", "Embedding", "Dropout", "ReLU", "GELU", "LayerNorm"]

Linear = nn.Linear
Embedding = nn.Embedding
Dropout = nn.Dropout
ReLU = nn.ReLU
GELU = nn.GELU
LayerNorm = nn.LayerNorm
