"""Softmax and log-softmax, numerically stable, with their backward passes.

Page: ``docs/library-vs-manual.md`` (softmax) and ``docs/backprop.md``.
"""

from __future__ import annotations

import numpy as np


# --8<-- [start:softmax]
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable softmax: ``exp(x - max(x)) / sum(exp(x - max(x)))`` along ``axis``.

    Subtracting the maximum changes nothing mathematically (softmax is shift-invariant) but
    keeps ``exp`` from overflowing: logits like ``[1000, 0, -1000]`` stay finite.

    Shape:
        x: any shape ``(..., C)``; output: same shape, non-negative, sums to 1 along ``axis``.

    Examples:
        >>> softmax(np.array([0.0, np.log(3.0)])).round(6).tolist()
        [0.25, 0.75]
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    shifted = x - np.max(x, axis=axis, keepdims=True)  # largest entry becomes 0
    e = np.exp(shifted)  # every entry in (0, 1]
    return e / np.sum(e, axis=axis, keepdims=True)
# --8<-- [end:softmax]


# --8<-- [start:log_softmax]
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable log-softmax: ``x - max - log(sum(exp(x - max)))``.

    Shape:
        x: ``(..., C)``; output: same shape, ``exp(output)`` sums to 1 along ``axis``.

    Examples:
        >>> np.exp(log_softmax(np.array([0.0, np.log(3.0)]))).round(6).tolist()
        [0.25, 0.75]
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    with np.errstate(over="ignore"):  # logits ±3e38 apart: the difference is -inf, exp(-inf) = 0
        shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
# --8<-- [end:log_softmax]


# --8<-- [start:softmax_backward]
def softmax_backward(dout: np.ndarray, out: np.ndarray, axis: int = -1) -> np.ndarray:
    """Backward of softmax given its output ``out = softmax(x)``.

    ``dx = out * (dout - sum(dout * out))`` — the Jacobian ``diag(p) - p pᵀ`` applied to ``dout``
    without building it.

    Shape:
        dout: ``(..., C)``, out: ``(..., C)`` -> dx: ``(..., C)``.

    Examples:
        >>> out = softmax(np.array([1.0, 2.0]))
        >>> softmax_backward(np.ones(2), out).round(12).tolist()  # a constant shift changes nothing
        [0.0, 0.0]
    """
    return out * (dout - np.sum(dout * out, axis=axis, keepdims=True))
# --8<-- [end:softmax_backward]


def log_softmax_backward(dout: np.ndarray, out: np.ndarray, axis: int = -1) -> np.ndarray:
    """Backward of log-softmax given its output ``out = log_softmax(x)``.

    ``dx = dout - softmax(x) * sum(dout)``.

    Shape:
        dout: ``(..., C)``, out: ``(..., C)`` -> dx: ``(..., C)``.

    Examples:
        >>> out = log_softmax(np.array([1.0, 2.0]))
        >>> float(log_softmax_backward(np.array([1.0, 0.0]), out).sum().round(12))
        0.0
    """
    return dout - np.exp(out) * np.sum(dout, axis=axis, keepdims=True)
