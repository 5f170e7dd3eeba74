"""Finite-difference gradient checks for the hand-written backward passes.

Page: ``docs/backprop.md`` (gradient checks).
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def numerical_gradient(
    f: Callable[[], float],
    x: np.ndarray,
    h: float = 1e-6,
    indices: Iterable[tuple[int, ...]] | None = None,
) -> np.ndarray:
    """Central differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for entries of ``x``.

    ``f`` takes no argument and reads ``x``, which is perturbed **in place** (and restored), so
    ``x`` may be a parameter array inside a module. Use float64: in float32 the rounding error
    of ``f`` divided by ``h`` swamps the derivative.

    Args:
        f: the scalar function of ``x``.
        x: the array to differentiate with respect to.
        h: the step.
        indices: entries to differentiate (default: all); others are left 0 in the result.

    Shape:
        x: any shape -> gradient: same shape as ``x``.

    Examples:
        >>> x = np.array([1.0, 2.0])
        >>> numerical_gradient(lambda: float(np.sum(x ** 2)), x).round(6).tolist()
        [2.0, 4.0]
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.ndindex(*x.shape) if indices is None else indices
    for idx in it:
        old = x[idx]
        x[idx] = old + h
        f_plus = f()
        x[idx] = old - h
        f_minus = f()
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * h)
    return grad


def max_relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``max |analytic - numeric| / max(|analytic|, |numeric|)`` over the compared entries.

    The error is relative to the gradient's largest entry (so a tiny entry with a tiny
    absolute error does not count as a large relative error). 0 when both are all zero.

    Shape:
        analytic, numeric: the same shape -> float.

    Examples:
        >>> round(max_relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0002])), 6)
        0.0001
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.abs(analytic - numeric).max() / scale)
