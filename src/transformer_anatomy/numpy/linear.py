"""Linear layer ``y = x Wᵀ + b`` and its backward pass.

Page: ``docs/backprop.md`` (linear backward) and ``docs/blocks.md`` (feed-forward).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .module import Module, check_dtype, check_positive, make_rng


class LinearCache(NamedTuple):
    """What :meth:`Linear.backward` needs: the input."""

    x: np.ndarray  # (..., in)


class Linear(Module):
    """Affine map ``y = x Wᵀ + b``, keyed ``weight`` (out, in) and ``bias`` (out,) as in PyTorch.

    Initialised like ``torch.nn.Linear``: ``W, b ~ U(-1/√in, 1/√in)``.

    Args:
        in_features: width of the input.
        out_features: width of the output.
        bias: whether to add a bias.
        dtype: float32 (default) or float64.
        rng: generator or seed for the initial weights.

    Shape:
        x: ``(..., in)`` -> y: ``(..., out)``.
        backward: dy ``(..., out)`` -> dx ``(..., in)``; fills dW ``(out, in)``, db ``(out,)``.

    Examples:
        >>> lin = Linear(3, 2, rng=0)
        >>> y = lin(np.ones((4, 3)))
        >>> dx = lin.backward(np.ones((4, 2)))
        >>> y.shape, dx.shape, lin.grads["weight"].tolist()
        ((4, 2), (4, 3), [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive("in_features", in_features)
        self.out_features = check_positive("out_features", out_features)
        dt = check_dtype(dtype)
        rng = make_rng(rng)
        bound = 1.0 / math.sqrt(in_features)
        self.register_parameter(
            "weight", rng.uniform(-bound, bound, (out_features, in_features)).astype(dt)
        )
        if bias:
            self.register_parameter("bias", rng.uniform(-bound, bound, out_features).astype(dt))

    @property
    def has_bias(self) -> bool:
        return "bias" in self._params

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``y = x Wᵀ + b``; caches ``x`` for the backward pass."""
        x = self._input("x", x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x has shape {x.shape}, expected (..., in_features={self.in_features})")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)  # (..., in) -> (M, in), M = prod(...)
        y = x2 @ self.weight.T  # (M, in) @ (in, out) -> (M, out)
        if "bias" in self._params:
            y += self.bias  # (M, out) + (out,)
        return self._forwarded(y.reshape(*lead, self.out_features), cache=LinearCache(x))  # (M, out) -> (..., out)

    # --8<-- [start:linear_backward]
    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Gradients of ``y = x Wᵀ + b``: ``dW = dyᵀ x``, ``db = Σ dy``, ``dx = dy W``.

        Shape:
            dy: ``(..., out)`` -> dx: ``(..., in)``; dW: ``(out, in)``, db: ``(out,)``.
        """
        dy = self._grad_input("dy", dy)
        (x,) = self._cached()
        dy2 = dy.reshape(-1, self.out_features)  # (..., out) -> (M, out)
        x2 = x.reshape(-1, self.in_features)  # (..., in) -> (M, in)
        np.matmul(dy2.T, x2, out=self._grads["weight"])  # (out, M) @ (M, in) -> (out, in)
        if "bias" in self._params:
            np.sum(dy2, axis=0, out=self._grads["bias"])  # (M, out) -> (out,)
        dx = dy2 @ self.weight  # (M, out) @ (out, in) -> (M, in)
        return dx.reshape(x.shape)  # (M, in) -> (..., in)
    # --8<-- [end:linear_backward]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}"
