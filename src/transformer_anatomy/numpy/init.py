"""Weight initialisation shared by the NumPy modules (``torch.nn.init``'s Xavier-uniform).

``nn.MultiheadAttention`` initialises its projections with Xavier-uniform, and
``nn.Transformer`` re-initialises **every** matrix of its layers the same way; the NumPy
backend does both through :func:`xavier_uniform` and :func:`xavier_uniform_matrices_`, drawing
from the generator in the same order as before (one draw per matrix, in parameter order).

Page: ``docs/own-transformer.md`` (initialisation) and ``docs/internals-pytorch.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["xavier_uniform", "xavier_uniform_matrices_"]


def xavier_uniform(rng: np.random.Generator, shape: tuple[int, int], dtype: Any) -> np.ndarray:
    """A matrix drawn from ``U(-a, a)``, ``a = √(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010).

    ``shape`` is ``(fan_out, fan_in)``, as a PyTorch weight ``(out_features, in_features)``.

    Shape:
        output: ``shape``, in ``dtype``.

    Examples:
        >>> w = xavier_uniform(np.random.default_rng(0), (6, 2), np.float32)
        >>> w.shape, w.dtype, bool(np.abs(w).max() <= (6 / 8) ** 0.5)
        ((6, 2), dtype('float32'), True)
    """
    fan_out, fan_in = shape
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape).astype(dtype)


def xavier_uniform_matrices_(module: Any, rng: np.random.Generator) -> None:
    """Re-draw, in place and in parameter order, every parameter of ``module`` with more than
    one axis (as ``nn.Transformer._reset_parameters``); vectors (biases, norms) are kept.

    Shape:
        module: any :class:`~transformer_anatomy.numpy.Module`; its parameters keep their shapes.

    Examples:
        >>> from transformer_anatomy.numpy import Linear
        >>> lin = Linear(4, 3, rng=0)
        >>> bias = lin.bias.copy()
        >>> xavier_uniform_matrices_(lin, np.random.default_rng(1))
        >>> bool((lin.bias == bias).all())
        True
    """
    for _, p in module.named_parameters():
        if p.ndim > 1:
            p[...] = xavier_uniform(rng, p.shape, p.dtype)
