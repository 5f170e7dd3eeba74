"""Token embeddings and positional information: sinusoidal encoding or learned embedding.

Page: ``docs/embeddings.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from transformer_anatomy.errors import TokenIdError

from .module import Module, check_dtype, check_positive, make_rng


def check_ids(ids: Any, vocab_size: int, name: str = "token id") -> np.ndarray:
    """Return ``ids`` as an integer array, or raise naming the first id outside ``[0, V)``.

    Raises:
        TypeError: if ``ids`` is not an integer array.
        TokenIdError: ``"token id 17 is out of range for vocabulary size 16"``.
    """
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name}s must be integers, got dtype {ids.dtype}")
    if ids.size:
        lo, hi = ids.min(), ids.max()
        if lo < 0 or hi >= vocab_size:
            bad = int(lo) if lo < 0 else int(hi)
            raise TokenIdError(f"{name} {bad} is out of range for vocabulary size {vocab_size}")
    return ids


class Embedding(Module):
    """Lookup table: row ``i`` of ``weight`` (V, E) is the vector of token ``i``.

    With ``scale=True`` the output is multiplied by ``√E`` (the paper's section 3.4), which
    assumes ``weight`` is initialised small: pass ``init_std=E**-0.5`` so that ``x·√E`` has
    unit variance. Default init is ``N(0, 1)`` as ``torch.nn.Embedding``.

    Args:
        num_embeddings: vocabulary size ``V``.
        embedding_dim: ``E``.
        scale: multiply the output by ``√E``.
        init_std: standard deviation of the normal initialisation (default 1).
        dtype: float32 (default) or float64.
        rng: generator or seed for the initial weights.

    Shape:
        ids: ``(...)`` integers in ``[0, V)`` -> ``(..., E)``.
        backward: dy ``(..., E)`` -> None (ids have no gradient); fills dweight ``(V, E)``.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        scale: bool = False,
        init_std: float = 1.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = check_positive("num_embeddings", num_embeddings)
        self.embedding_dim = check_positive("embedding_dim", embedding_dim)
        self.scale = bool(scale)
        weight = make_rng(rng).normal(0.0, init_std, (num_embeddings, embedding_dim))
        self.register_parameter("weight", weight.astype(check_dtype(dtype)))
        self._ids: np.ndarray | None = None

    @property
    def multiplier(self) -> float:
        """``√E`` if ``scale`` else 1."""
        return math.sqrt(self.embedding_dim) if self.scale else 1.0

    def forward(self, ids: Any) -> np.ndarray:
        """Look up each id (checked against the vocabulary size); caches the ids."""
        ids = check_ids(ids, self.num_embeddings)
        self._ids = ids
        out = self.weight[ids]  # (...) -> (..., E)
        if self.scale:
            out *= self.multiplier  # x · √E
        return self._forwarded(out)

    # --8<-- [start:embedding_backward]
    def backward(self, dy: np.ndarray) -> None:
        """Scatter-add each output gradient into the row of its id.

        A token that appears k times receives the sum of its k gradients: ``np.add.at``
        accumulates repeated indices, where ``dW[ids] += dy`` would keep only one of them.

        Shape:
            dy: ``(..., E)`` -> dweight: ``(V, E)``; returns None.
        """
        dy = self._grad_input("dy", dy)  # forward ran, dy has its output's shape
        dW = self._grads["weight"]
        dW[...] = 0
        dy2 = dy.reshape(-1, self.embedding_dim)  # (..., E) -> (M, E)
        if self.scale:
            dy2 = dy2 * self.multiplier  # chain rule through x · √E
        np.add.at(dW, self._ids.reshape(-1), dy2)  # dW[ids[m]] += dy2[m] for every m
    # --8<-- [end:embedding_backward]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, scale={self.scale}"


# --8<-- [start:positional_encoding]
def _check_positions_input(m: Module, x: Any) -> np.ndarray:
    """``x`` cast to the module's dtype, with shape ``(..., S, d_model)``."""
    x = m._input("x", x)
    if x.ndim < 2 or x.shape[-1] != m.d_model:
        raise ValueError(f"x has shape {x.shape}, expected (..., S, d_model={m.d_model})")
    return x


def sinusoidal_table(max_len: int, d_model: int, dtype: Any = np.float64) -> np.ndarray:
    """``PE[pos, 2i] = sin(pos / 10000^(2i/E))``, ``PE[pos, 2i+1] = cos(pos / 10000^(2i/E))``.

    Shape:
        output: ``(max_len, E)``.
    """
    pos = np.arange(max_len, dtype=np.float64)[:, None]  # (max_len, 1)
    inv_freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (ceil(E/2),)
    angles = pos * inv_freq  # (max_len, 1) * (ceil(E/2),) -> (max_len, ceil(E/2))
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(angles)  # even columns
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])  # odd columns
    return pe.astype(dtype)


class PositionalEncoding(Module):
    """Add the fixed sinusoidal table of the paper (section 3.5): ``x + PE[:S]``.

    No parameters (the table is a fixed buffer, not part of the state dict).

    Shape:
        x: ``(N, S, E)`` (or ``(S, E)``) with ``S <= max_len`` -> same shape.
        backward: dy -> dx = dy, same shape.
    """

    def __init__(self, d_model: int, max_len: int = 512, *, dtype: Any = np.float32) -> None:
        super().__init__()
        self.d_model = check_positive("d_model", d_model)
        self.max_len = check_positive("max_len", max_len)
        self._dtype = check_dtype(dtype)
        self.pe = sinusoidal_table(self.max_len, self.d_model, self._dtype)  # (max_len, E)

    def _on_dtype_change(self, dtype: np.dtype) -> None:
        self.pe = self.pe.astype(dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _check_positions_input(self, x)
        S = x.shape[-2]
        if S > self.max_len:
            raise ValueError(f"sequence length {S} exceeds max_len={self.max_len}")
        return x + self.pe[:S]  # (N, S, E) + (S, E)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """The table is a constant: ``dx = dy``."""
        return dy
# --8<-- [end:positional_encoding]

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """Add a learned vector per position: ``x + weight[:S]`` with ``weight`` (max_len, E).

    Initialised ``N(0, init_std²)`` (default 1, as ``torch.nn.Embedding``). Positions beyond
    ``max_len`` cannot be represented: longer inputs raise ``ValueError``.

    Shape:
        x: ``(N, S, E)`` (or ``(S, E)``) -> same shape.
        backward: dy -> dx = dy; fills dweight ``(max_len, E)`` (rows >= S are zero).
    """

    def __init__(
        self,
        max_len: int,
        d_model: int,
        *,
        init_std: float = 1.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        self.max_len = check_positive("max_len", max_len)
        self.d_model = check_positive("d_model", d_model)
        weight = make_rng(rng).normal(0.0, init_std, (max_len, d_model))
        self.register_parameter("weight", weight.astype(check_dtype(dtype)))
        self._S = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = _check_positions_input(self, x)
        S = x.shape[-2]
        if S > self.max_len:
            raise ValueError(f"sequence length {S} exceeds max_len={self.max_len}")
        self._S = S
        return self._forwarded(x + self.weight[:S])  # (N, S, E) + (S, E)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dweight[:S] = Σ_n dy[n]``; ``dx = dy``.

        Shape:
            dy: ``(N, S, E)`` -> dx: ``(N, S, E)``; dweight: ``(max_len, E)``.
        """
        dy = self._grad_input("dy", dy)  # forward ran, dy has its output's shape
        dW = self._grads["weight"]
        dW[...] = 0
        dW[: self._S] = dy.reshape(-1, self._S, self.d_model).sum(axis=0)  # (N, S, E) -> (S, E)
        return dy

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
