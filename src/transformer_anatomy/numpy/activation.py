"""Activations of the feed-forward block: ReLU and GELU (exact erf form and tanh form).

NumPy has no ``erf`` and this package does not depend on SciPy, so :func:`erf` is
implemented here to float64 accuracy (absolute error below 1e-15, checked against
``math.erf`` in ``tests/numpy/test_activation.py``).

Page: ``docs/blocks.md`` (feed-forward) and ``docs/backprop.md``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .module import Module

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

# erf(x) = 2/√π · e^{-x²} · Σ_n 2ⁿ x^{2n+1} / (1·3·5···(2n+1)): every term is positive, so
# summing it loses no digits; 32 terms reach float64 accuracy for |x| < 2.
_SERIES_COEFFS = [1.0]
for _n in range(1, 32):
    _SERIES_COEFFS.append(_SERIES_COEFFS[-1] * 2.0 / (2 * _n + 1))
_SERIES_LIMIT = 2.0
# For |x| ≥ 2: erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated
# bottom-up from depth 48; erf(x) = 1 in float64 once |x| ≥ 6.
_CF_DEPTH = 48


def erf(x: np.ndarray) -> np.ndarray:
    """The error function ``erf(x) = 2/√π ∫₀ˣ e^{-t²} dt``, elementwise, to float64 accuracy.

    A positive-term power series for ``|x| < 2`` and a continued fraction for ``erfc`` above.
    Computed in float64 and returned in the input's floating dtype.

    Shape:
        x: any shape -> same shape.

    Examples:
        >>> erf(np.array([0.0, 1.0])).round(6).tolist()
        [0.0, 0.842701]
    """
    x = np.asarray(x)
    out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
    z = np.abs(x.astype(np.float64))
    out = np.empty_like(z)
    small = z < _SERIES_LIMIT
    zs = z[small]
    u = zs * zs
    poly = np.full_like(zs, _SERIES_COEFFS[-1])
    for c in reversed(_SERIES_COEFFS[:-1]):  # Horner in u = x²
        poly *= u
        poly += c
    out[small] = _TWO_OVER_SQRT_PI * np.exp(-u) * zs * poly
    big = ~small & (z < 6.0)
    zb = z[big]
    frac = zb.copy()
    for k in range(_CF_DEPTH, 0, -1):
        frac = zb + (0.5 * k) / frac
    out[big] = 1.0 - _INV_SQRT_PI * np.exp(-zb * zb) / frac
    out[z >= 6.0] = 1.0
    nan = np.isnan(z)
    out[nan] = np.nan
    return np.copysign(out, x).astype(out_dtype, copy=False)


class ActivationCache(NamedTuple):
    """What an activation's backward needs: ``x`` (ReLU: its output) and an auxiliary array
    (GELU: ``Φ(x)``, or ``tanh(...)`` in the tanh form)."""

    x: np.ndarray
    aux: np.ndarray | None


class ReLU(Module):
    """``relu(x) = max(x, 0)``.

    Shape:
        x: any shape -> same shape. backward: dy -> dx = dy · [x > 0], same shape.

    Examples:
        >>> relu = ReLU()
        >>> relu(np.array([-1.0, 2.0])).tolist(), relu.backward(np.ones(2)).tolist()
        ([0.0, 2.0], [0.0, 1.0])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input("x", x, cast=False)
        out = np.maximum(x, 0)
        return self._forwarded(out, cache=ActivationCache(out, None))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx = dy`` where the input was positive, 0 elsewhere (0 at exactly 0, as PyTorch)."""
        dy = self._grad_input("dy", dy)
        return dy * (self._cached().x > 0)


class GELU(Module):
    """Gaussian error linear unit ``gelu(x) = x Φ(x)``, as ``torch.nn.GELU``.

    ``approximate="none"``: ``Φ(x) = (1 + erf(x/√2)) / 2`` (exact).
    ``approximate="tanh"``: ``0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))``.

    Shape:
        x: any shape -> same shape. backward: dy -> dx, same shape.

    Examples:
        >>> GELU()(np.array([0.0, 1.0])).round(4).tolist()
        [0.0, 0.8413]
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._input("x", x, cast=False)
        if self.approximate == "none":
            cdf = 0.5 * (1.0 + erf(x * _INV_SQRT_2))  # Φ(x)
            return self._forwarded(x * cdf, cache=ActivationCache(x, cdf))
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = np.tanh(inner)
        return self._forwarded(0.5 * x * (1.0 + t), cache=ActivationCache(x, t))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Exact: ``d gelu/dx = Φ(x) + x φ(x)``; tanh form: the derivative of that formula."""
        dy = self._grad_input("dy", dy)
        x, aux = self._cached()
        if self.approximate == "none":
            pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)  # φ(x)
            return dy * (aux + x * pdf)
        t = aux
        dinner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


def make_activation(activation: str | Module) -> Module:
    """``"relu"`` -> :class:`ReLU`, ``"gelu"`` -> :class:`GELU`; a module is returned as is.

    Shape:
        the returned module maps any shape to the same shape.

    Raises:
        ValueError: for any other name, naming it.

    Examples:
        >>> type(make_activation("gelu")).__name__
        'GELU'
    """
    if isinstance(activation, Module):
        return activation
    if activation == "relu":
        return ReLU()
    if activation == "gelu":
        return GELU()
    raise ValueError(f"activation should be 'relu' or 'gelu', got activation={activation!r}")
