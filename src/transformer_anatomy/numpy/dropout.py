"""Inverted dropout: zero each entry with probability ``p`` in training, scale the rest by
``1/(1-p)``; identity in evaluation.

Page: ``docs/blocks.md``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import check_probability

from .module import Module, make_rng


def check_dropout(p: float, name: str = "dropout") -> float:
    """Return ``float(p)`` if ``0 <= p <= 1``, else raise ``ValueError`` (``TypeError`` for a
    non-number such as ``'0.1'``) naming the value: ``dropout must be in [0, 1], got
    dropout=1.5`` (:func:`transformer_anatomy.errors.check_probability`, as in torch)."""
    return check_probability(name, p)


def keep_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: Any) -> np.ndarray:
    """Inverted-dropout multiplier: ``1/(1-p)`` with probability ``1-p``, else 0, in ``dtype``.

    Draws 32 random bits per entry straight from the generator's bit stream (twice as fast as
    ``rng.random``) and keeps an entry when its bits are ``>= p·2³²``: the keep probability
    is ``1-p`` to within ``2⁻³²``.

    Shape:
        output: ``shape``.
    """
    if p >= 1.0:
        return np.zeros(shape, dtype=dtype)
    n = math.prod(shape)
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)  # uniform on [0, 2³²)
    keep = bits >= np.uint32(min(math.ceil(p * 2.0**32), 2**32 - 1))
    return keep * np.dtype(dtype).type(1.0 / (1.0 - p))  # bool * scalar -> 0 or 1/(1-p)


class DropoutCache(NamedTuple):
    """What :meth:`Dropout.backward` needs: the mask of the last forward (None: identity)."""

    mask: np.ndarray | None  # 0 or 1/(1-p), the shape of the input


class Dropout(Module):
    """Inverted dropout with its own (or a shared) ``np.random.Generator``.

    In training each entry is kept with probability ``1-p`` and scaled by ``1/(1-p)``, so the
    expected output equals the input and evaluation needs no rescaling. ``p = 1`` gives zeros
    (as PyTorch). In evaluation, or with ``p = 0``, it is the identity.

    Args:
        p: drop probability in ``[0, 1]``.
        rng: a generator (shared with other layers, so one seed fixes every mask) or a seed.

    Shape:
        x: any shape -> same shape. backward: dy -> dx, same shape.

    Examples:
        >>> drop = Dropout(0.5, rng=0)
        >>> y = drop(np.ones(8))
        >>> sorted(set(y.tolist()))  # dropped, or kept and scaled by 1/(1-p)
        [0.0, 2.0]
        >>> drop.eval()(np.ones(3)).tolist()  # identity in evaluation
        [1.0, 1.0, 1.0]
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.p = check_dropout(p)
        self.rng = make_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the mask in training (and cache it); identity in evaluation."""
        if not self.training or self.p == 0.0:
            return self._forwarded(x, cache=DropoutCache(None))
        if self.p == 1.0:
            mask = np.zeros_like(x)
            return self._forwarded(mask.copy(), cache=DropoutCache(mask))
        mask = keep_mask(self.rng, x.shape, self.p, x.dtype)  # 0 or 1/(1-p), (same shape as x)
        return self._forwarded(x * mask, cache=DropoutCache(mask))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx = dy * mask`` (the same mask as the forward pass); ``dy`` itself after an
        evaluation-mode forward (or none: dropout is the identity until it drops something).

        Shape:
            dy: any shape -> dx: same shape.
        """
        cache = self.__dict__.get("_cache")
        if cache is None or cache.mask is None:
            return dy
        return dy * cache.mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
