"""Token embeddings and positional information: sinusoidal encoding or learned embedding.

Also the embedding helpers the task models share (as in :mod:`transformer_anatomy.torch.embeddings`):
:func:`check_token_ids`, :func:`make_token_embedding` and :func:`make_positional`.

Page: ``docs/embeddings.md``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import TokenIdError

from .module import Module, check_dtype, check_positive, make_rng

__all__ = [
    "Embedding",
    "PositionalEncoding",
    "LearnedPositionalEmbedding",
    "sinusoidal_table",
    "check_ids",
    "check_token_ids",
    "make_token_embedding",
    "make_positional",
]


def check_ids(ids: Any, vocab_size: int, name: str = "token id") -> np.ndarray:
    """Return ``ids`` as an integer array, or raise naming the first id outside ``[0, V)``.

    Raises:
        TypeError: if ``ids`` is not an integer array.
        TokenIdError: ``"token id 17 is out of range for vocabulary size 16"``.

    Shape:
        ids: any shape -> the same shape, as an integer array.

    Examples:
        >>> check_ids([3, 1], vocab_size=4).tolist()
        [3, 1]
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


class EmbeddingCache(NamedTuple):
    """What :meth:`Embedding.backward` needs: the looked-up ids."""

    ids: np.ndarray  # (...) integers


class PositionsCache(NamedTuple):
    """What :meth:`LearnedPositionalEmbedding.backward` needs: which rows were added."""

    offset: int  # the first position
    length: int  # S


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

    Examples:
        >>> emb = Embedding(5, 4, rng=0)
        >>> emb(np.array([[1, 1, 2]])).shape
        (1, 3, 4)
        >>> emb.backward(np.ones((1, 3, 4)))
        >>> emb.grads["weight"][:, 0].tolist()  # token 1 appeared twice
        [0.0, 2.0, 1.0, 0.0, 0.0]
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

    @property
    def multiplier(self) -> float:
        """``√E`` if ``scale`` else 1."""
        return math.sqrt(self.embedding_dim) if self.scale else 1.0

    def forward(self, ids: Any) -> np.ndarray:
        """Look up each id (checked against the vocabulary size); caches the ids."""
        ids = check_ids(ids, self.num_embeddings)
        out = self.weight[ids]  # (...) -> (..., E)
        if self.scale:
            out *= self.multiplier  # x · √E
        return self._forwarded(out, cache=EmbeddingCache(ids))

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
        np.add.at(dW, self._cached().ids.reshape(-1), dy2)  # dW[ids[m]] += dy2[m] for every m
    # --8<-- [end:embedding_backward]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, scale={self.scale}"


def _check_positions_input(m: Module, x: Any, offset: int) -> np.ndarray:
    """``x`` cast to the module's dtype, with shape ``(..., S, d_model)`` and ``offset + S <= max_len``."""
    x = m._input("x", x)
    if x.ndim < 2 or x.shape[-1] != m.d_model:
        raise ValueError(f"x has shape {x.shape}, expected (..., S, d_model={m.d_model})")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, got offset={offset!r}")
    if offset + x.shape[-2] > m.max_len:
        raise ValueError(f"sequence length {offset + x.shape[-2]} exceeds max_len={m.max_len}")
    return x


# --8<-- [start:positional_encoding]
# --8<-- [start:sinusoidal_table]
def sinusoidal_table(max_len: int, d_model: int, dtype: Any = np.float64) -> np.ndarray:
    """``PE[pos, 2i] = sin(pos / 10000^(2i/E))``, ``PE[pos, 2i+1] = cos(pos / 10000^(2i/E))``.

    Shape:
        output: ``(max_len, E)``.

    Examples:
        >>> sinusoidal_table(2, 4).round(3).tolist()
        [[0.0, 1.0, 0.0, 1.0], [0.841, 0.54, 0.01, 1.0]]
    """
    pos = np.arange(max_len, dtype=np.float64)[:, None]  # (max_len, 1)
    inv_freq = np.exp(np.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (ceil(E/2),)
    angles = pos * inv_freq  # (max_len, 1) * (ceil(E/2),) -> (max_len, ceil(E/2))
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(angles)  # even columns
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])  # odd columns
    return pe.astype(dtype)
# --8<-- [end:sinusoidal_table]


class PositionalEncoding(Module):
    """Add the fixed sinusoidal table of the paper (section 3.5): ``x + PE[offset : offset + S]``.

    No parameters (the table is a fixed buffer, not part of the state dict). ``offset`` is the
    position of ``x[..., 0, :]`` (for decoding one step at a time), as in the torch backend.

    Shape:
        x: ``(N, S, E)`` (or ``(S, E)``) with ``offset + S <= max_len`` -> same shape.
        backward: dy -> dx = dy, same shape.

    Examples:
        >>> pe = PositionalEncoding(4, max_len=8)
        >>> x = np.zeros((1, 3, 4), dtype=np.float32)
        >>> bool((pe(x, offset=2)[0, 0] == pe.pe[2]).all())
        True
    """

    def __init__(self, d_model: int, max_len: int = 512, *, dtype: Any = np.float32) -> None:
        super().__init__()
        self.d_model = check_positive("d_model", d_model)
        self.max_len = check_positive("max_len", max_len)
        self._dtype = check_dtype(dtype)
        self.pe = sinusoidal_table(self.max_len, self.d_model, self._dtype)  # (max_len, E)

    def _on_dtype_change(self, dtype: np.dtype) -> None:
        self.pe = self.pe.astype(dtype)

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        x = _check_positions_input(self, x, offset)
        S = x.shape[-2]
        return x + self.pe[offset : offset + S]  # (N, S, E) + (S, E)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """The table is a constant: ``dx = dy``."""
        return dy

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"
# --8<-- [end:positional_encoding]


class LearnedPositionalEmbedding(Module):
    """Add a learned vector per position: ``x + weight[offset : offset + S]``, ``weight`` (max_len, E).

    Initialised ``N(0, init_std²)`` (default 1, as ``torch.nn.Embedding``). Positions beyond
    ``max_len`` cannot be represented: longer inputs raise ``ValueError``.

    Shape:
        x: ``(N, S, E)`` (or ``(S, E)``) -> same shape.
        backward: dy -> dx = dy; fills dweight ``(max_len, E)`` (rows outside the positions
        used are zero).

    Examples:
        >>> pos = LearnedPositionalEmbedding(6, 4, rng=0)
        >>> y = pos(np.zeros((2, 3, 4)), offset=1)
        >>> _ = pos.backward(np.ones_like(y))
        >>> pos.grads["weight"][:, 0].tolist()  # positions 1..3, summed over the batch of 2
        [0.0, 2.0, 2.0, 2.0, 0.0, 0.0]
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

    def forward(self, x: np.ndarray, offset: int = 0) -> np.ndarray:
        x = _check_positions_input(self, x, offset)
        S = x.shape[-2]
        out = x + self.weight[offset : offset + S]  # (N, S, E) + (S, E)
        return self._forwarded(out, cache=PositionsCache(offset, S))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dweight[:S] = Σ_n dy[n]``; ``dx = dy``.

        Shape:
            dy: ``(N, S, E)`` -> dx: ``(N, S, E)``; dweight: ``(max_len, E)``.
        """
        dy = self._grad_input("dy", dy)  # forward ran, dy has its output's shape
        offset, S = self._cached()
        dW = self._grads["weight"]
        dW[...] = 0
        dW[offset : offset + S] = dy.reshape(-1, S, self.d_model).sum(axis=0)  # (N, S, E) -> (S, E)
        return dy

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"


# -- the helpers of the task models (as in transformer_anatomy.torch.embeddings) ----------
def check_token_ids(ids: Any, vocab_size: int, name: str) -> np.ndarray:
    """``ids`` as an integer array of shape ``(N, L)`` with every id in ``[0, vocab_size)``;
    the torch backend's check of the same name, with its wording.

    Raises:
        TypeError: ``"src_ids must be an integer array of token ids, got dtype float64"``.
        ValueError: ``"src_ids must have shape (N, L), got (3,)"``.
        TokenIdError: ``"src_ids: token id 11 is out of range for vocabulary size 11 (valid ids: 0..10)"``.

    Shape:
        ids: ``(N, L)`` -> the same ``(N, L)`` integer array.

    Examples:
        >>> check_token_ids([[1, 2]], 11, "src_ids").shape
        (1, 2)
        >>> check_token_ids([[11]], 11, "src_ids")
        Traceback (most recent call last):
        ...
        transformer_anatomy.errors.TokenIdError: src_ids: token id 11 is out of range for vocabulary size 11 (valid ids: 0..10)
    """
    if hasattr(ids, "detach") and hasattr(ids, "numpy"):  # a torch tensor
        ids = ids.detach().cpu().numpy()
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name} must have shape (N, L), got {ids.shape}")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            bad = hi if hi >= vocab_size else lo
            raise TokenIdError(
                f"{name}: token id {bad} is out of range for vocabulary size {vocab_size} (valid ids: 0..{vocab_size - 1})"
            )
    return ids


def make_token_embedding(vocab_size: int, d_model: int, scale_embedding: bool, dtype: Any,
                         rng: np.random.Generator) -> Embedding:
    """The task models' token embedding: ``N(0, 1/E)`` and ``× √E`` when ``scale_embedding``
    (so ``x·√E`` is ``~N(0, 1)``), ``N(0, 1)`` and unscaled otherwise (the torch backend's
    ``init_token_embedding``).

    Shape:
        the embedding maps ids ``(N, L)`` -> ``(N, L, E)``.

    Examples:
        >>> emb = make_token_embedding(100, 64, True, np.float64, np.random.default_rng(0))
        >>> emb.scale, round(float(emb.weight.std() * 64 ** 0.5), 1)
        (True, 1.0)
    """
    std = 1.0 / math.sqrt(d_model) if scale_embedding else 1.0
    return Embedding(vocab_size, d_model, scale=scale_embedding, init_std=std, dtype=dtype, rng=rng)


def make_positional(positional: str, max_len: int, d_model: int, dtype: Any,
                    rng: np.random.Generator) -> Module:
    """``"sinusoidal"`` -> :class:`PositionalEncoding`, ``"learned"`` -> :class:`LearnedPositionalEmbedding`.

    Raises:
        ValueError: ``"positional must be 'sinusoidal' or 'learned', got positional='rope'"``.

    Shape:
        the module maps ``(N, L, E)`` -> ``(N, L, E)``.

    Examples:
        >>> type(make_positional("learned", 16, 8, np.float32, np.random.default_rng(0))).__name__
        'LearnedPositionalEmbedding'
    """
    if positional == "sinusoidal":
        return PositionalEncoding(d_model, max_len, dtype=dtype)
    if positional == "learned":
        return LearnedPositionalEmbedding(max_len, d_model, dtype=dtype, rng=rng)
    raise ValueError(f"positional must be 'sinusoidal' or 'learned', got positional={positional!r}")
