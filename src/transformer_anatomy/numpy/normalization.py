"""Layer normalisation over the last axis, with its backward pass.

Page: ``docs/blocks.md`` (add & norm) and ``docs/backprop.md`` (LayerNorm backward).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .module import Module, check_dtype, check_positive


class LayerNormCache(NamedTuple):
    """What :meth:`LayerNorm.backward` needs: ``x̂`` and ``1/σ``."""

    xhat: np.ndarray  # (..., E), zero mean and unit variance per row
    rstd: np.ndarray  # (..., 1), 1 / sqrt(var + eps)


class LayerNorm(Module):
    """``y = (x - mean) / sqrt(var + eps) * weight + bias`` over the last axis.

    As ``torch.nn.LayerNorm(E)``: biased variance (divide by ``E``), ``eps`` inside the square
    root, ``weight`` initialised to 1 and ``bias`` to 0.

    Args:
        normalized_shape: ``E``, the width of the last axis.
        eps: added to the variance (default ``1e-5``).
        elementwise_affine: learn ``weight`` (and ``bias``); without it ``y = x̂``.
        bias: whether to learn a bias (PyTorch's ``bias=False`` option).
        dtype: float32 (default) or float64.

    Shape:
        x: ``(..., E)`` -> y: ``(..., E)``.
        backward: dy ``(..., E)`` -> dx ``(..., E)``; fills dweight ``(E,)``, dbias ``(E,)``.

    Examples:
        >>> ln = LayerNorm(4, dtype=np.float64)
        >>> y = ln(np.array([[1.0, 2.0, 3.0, 4.0]]))
        >>> round(float(y.mean()), 6), round(float(y.std()), 3)
        (0.0, 1.0)
    """

    def __init__(
        self,
        normalized_shape: int,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, (tuple, list)):
            if len(normalized_shape) != 1:
                raise ValueError(f"only normalisation over the last axis is supported, got {normalized_shape}")
            normalized_shape = normalized_shape[0]
        self.normalized_shape = check_positive("normalized_shape", normalized_shape)
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got eps={eps!r}")
        self.eps = float(eps)
        dt = check_dtype(dtype)
        self._dtype = dt
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.register_parameter("weight", np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.register_parameter("bias", np.zeros(self.normalized_shape, dtype=dt))

    # --8<-- [start:layer_norm]
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Normalise each row of the last axis; caches ``x̂`` and ``1/σ`` for backward."""
        x = self._input("x", x)
        if x.ndim == 0 or x.shape[-1] != self.normalized_shape:
            raise ValueError(f"x has shape {x.shape}, expected (..., normalized_shape={self.normalized_shape})")
        mu = x.mean(axis=-1, keepdims=True)  # (..., E) -> (..., 1)
        xc = x - mu  # centred input, (..., E)
        var = np.mean(xc * xc, axis=-1, keepdims=True)  # biased variance, (..., 1)
        rstd = 1.0 / np.sqrt(var + self.eps)  # 1 / σ, eps inside the square root, (..., 1)
        xhat = xc * rstd  # x̂, zero mean and unit variance per row, (..., E)
        y = xhat * self.weight if self.elementwise_affine else xhat.copy()  # (..., E) * (E,)
        if "bias" in self._params:
            y += self.bias
        return self._forwarded(y, cache=LayerNormCache(xhat, rstd))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx = (1/σ) (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂))`` with ``dx̂ = dy · weight``.

        Shape:
            dy: ``(..., E)`` -> dx: ``(..., E)``; dweight: ``(E,)``, dbias: ``(E,)``.
        """
        dy = self._grad_input("dy", dy)
        xhat, rstd = self._cached()
        E = self.normalized_shape
        dy2 = dy.reshape(-1, E)  # (..., E) -> (M, E)
        if self.elementwise_affine:
            np.einsum("me,me->e", dy2, xhat.reshape(-1, E), out=self._grads["weight"])  # Σ dy·x̂, (E,)
        if "bias" in self._params:
            np.sum(dy2, axis=0, out=self._grads["bias"])  # Σ dy, (E,)
        dxhat = dy * self.weight if self.elementwise_affine else dy  # (..., E)
        mean_dxhat = dxhat.mean(axis=-1, keepdims=True)  # (..., 1)
        mean_dxhat_xhat = np.mean(dxhat * xhat, axis=-1, keepdims=True)  # (..., 1)
        return rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)  # (..., E)
    # --8<-- [end:layer_norm]

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
