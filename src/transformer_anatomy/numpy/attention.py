"""Scaled dot-product attention and multi-head attention, forward and backward.

Mask convention (as ``torch.nn.MultiheadAttention`` and ``torch.nn.Transformer``): a boolean
mask is **True where a query may not attend**; a float mask is **added** to the scores (use
``-inf`` to block). Note that ``torch.nn.functional.scaled_dot_product_attention`` uses the
opposite boolean convention (True = attend); the function of the same name here does not.
The mask helpers live in :mod:`transformer_anatomy.numpy.masks` (as in the torch backend).

A query row whose keys are all blocked is defined here: its attention weights are all zero,
its output is zero and its gradients are zero (finite). PyTorch is not consistent there
(pytorch/pytorch issue 41508): in torch 2.13 ``F.scaled_dot_product_attention`` also returns
zeros, but ``nn.MultiheadAttention`` with ``need_weights=True`` (the default) and the inference
fast path of ``nn.TransformerEncoderLayer`` return NaN.

:class:`MultiheadAttention` reads like the torch one: :meth:`~MultiheadAttention.project_qkv`
(one fused matmul for self-attention, a fused key/value matmul when ``key is value``, three
matmuls otherwise), :meth:`~MultiheadAttention.attend` (attention on the heads, concatenation,
``out_proj``), and each step's backward beside it.

Page: ``docs/attention.md`` (forward) and ``docs/backprop.md`` (backward).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import check_probability, check_qkv_shapes

from .dropout import check_dropout, keep_mask
from .init import xavier_uniform
from .linear import Linear
from .masks import (  # noqa: F401  (re-exported: the mask helpers used to live here)
    causal_mask,
    generate_square_subsequent_mask,
    make_key_padding_mask,
    merge_masks,
    to_additive_mask,
)
from .module import Module, check_dtype, check_positive, make_rng

__all__ = [
    "AttentionCache",
    "MHACache",
    "MultiheadAttention",
    "masked_softmax",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
]


class AttentionCache(NamedTuple):
    """What :func:`scaled_dot_product_attention_backward` needs from the forward pass.

    Shape:
        q ``(..., T, D)``, k ``(..., S, D)``, v ``(..., S, Dv)``; probs, weights and
        dropout_mask ``(..., T, S)``.

    Examples:
        >>> x = np.ones((1, 2, 4))
        >>> _, _, cache = scaled_dot_product_attention(x, x, x, return_cache=True)
        >>> cache.probs.shape, cache.dropout_mask, cache.scale
        ((1, 2, 2), None, 0.5)
    """

    q: np.ndarray  # (..., T, D)
    k: np.ndarray  # (..., S, D)
    v: np.ndarray  # (..., S, Dv)
    probs: np.ndarray  # softmax of the scores, (..., T, S)
    weights: np.ndarray  # probs after dropout (the matrix applied to v), (..., T, S)
    dropout_mask: np.ndarray | None  # 0 or 1/(1-p), (..., T, S); None without dropout
    scale: float  # 1/√D, or the caller's scale


def masked_softmax(scores: np.ndarray, masked: bool = True) -> np.ndarray:
    """Softmax over the last axis, **in place**; a row that is all ``-inf`` becomes all zeros.

    Shape:
        scores: ``(..., S)`` -> the same array, rows summing to 1 (or 0 for blocked rows).

    Examples:
        >>> masked_softmax(np.array([[0.0, 0.0], [-np.inf, -np.inf]])).tolist()
        [[0.5, 0.5], [0.0, 0.0]]
    """
    if scores.shape[-1] == 0:  # no keys (S = 0): nothing to normalise; the output is zeros
        return scores
    row_max = scores.max(axis=-1, keepdims=True)  # (..., 1)
    if masked:
        row_max[row_max == -np.inf] = 0.0  # fully blocked row: exp(-inf - 0) = 0, not NaN
    scores -= row_max
    np.exp(scores, out=scores)
    denom = scores.sum(axis=-1, keepdims=True)  # (..., 1)
    if masked:
        denom[denom == 0.0] = 1.0  # fully blocked row stays all zeros
    scores /= denom
    return scores


def _sdpa_mask(attn_mask: Any, is_causal: bool, key_padding_mask: Any, T: int, S: int,
               ndim: int, dtype: Any) -> np.ndarray | None:
    """``attn_mask`` + the causal mask + the key padding mask, as one additive float mask."""
    mask = to_additive_mask(attn_mask, dtype)
    if is_causal:
        causal = to_additive_mask(causal_mask(T, S), dtype)  # (T, S)
        mask = causal if mask is None else mask + causal
    if key_padding_mask is not None:
        kpm = to_additive_mask(key_padding_mask, dtype)
        kpm = kpm.reshape(kpm.shape[0], *([1] * (ndim - 2)), S)  # (N, S) -> (N, 1, ..., 1, S)
        mask = kpm if mask is None else mask + kpm
    return mask


# --8<-- [start:scaled_dot_product_attention]
def scaled_dot_product_attention(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    attn_mask: np.ndarray | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    *,
    key_padding_mask: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    return_cache: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, AttentionCache]:
    """``softmax(q kᵀ · scale + mask) v``, returning the output and the attention weights.

    The same arguments as :func:`transformer_anatomy.torch.scaled_dot_product_attention`; the
    keyword-only ones after ``*`` are NumPy-only.

    Args:
        query, key, value: queries, keys, values (any leading axes, shared by all three).
        attn_mask: bool (True = blocked) or float (added to the scores), broadcastable to
            ``(..., T, S)``.
        dropout_p: dropout on the attention weights (needs ``rng``); 0 in evaluation.
        is_causal: block keys after the query (``s > t``), in addition to ``attn_mask``.
        scale: factor applied to the scores; default ``1/√D``.
        key_padding_mask: NumPy-only. Bool (True = padding) or float, ``(N, S)``: blocks
            whole key columns of each sequence; ``N`` is the first axis of ``query``.
        rng: NumPy-only. Generator for the dropout mask.
        return_cache: NumPy-only. Also return an :class:`AttentionCache` for the backward pass.

    A query row with every key blocked gets zero weights and a zero output (as
    ``F.scaled_dot_product_attention`` in torch 2.13; ``nn.MultiheadAttention`` gives NaN).

    Shape:
        query: ``(N, ..., T, D)``, key: ``(N, ..., S, D)``, value: ``(N, ..., S, Dv)``;
        attn_mask: broadcastable to ``(N, ..., T, S)`` (e.g. ``(T, S)``, or ``(N*H, T, S)`` with
        heads folded into the batch axis); key_padding_mask: ``(N, S)``
        -> output ``(N, ..., T, Dv)``, weights ``(N, ..., T, S)``.

    Examples:
        >>> x = np.eye(2)[None]  # (N=1, T=2, D=2)
        >>> out, w = scaled_dot_product_attention(x, x, x, is_causal=True)
        >>> w[0].round(3).tolist()
        [[1.0, 0.0], [0.33, 0.67]]
    """
    check_qkv_shapes(np.shape(query), np.shape(key), np.shape(value))  # the torch function's checks and wording
    if dropout_p:
        check_probability("dropout_p", dropout_p)
    T, S = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale  # 1/√D
    scores = (query * scale) @ np.swapaxes(key, -1, -2)  # (..., T, D) @ (..., D, S) -> (..., T, S)
    mask = _sdpa_mask(attn_mask, is_causal, key_padding_mask, T, S, query.ndim, scores.dtype)
    if mask is not None:  # blocked entries become -inf, (..., T, S)
        if np.broadcast_shapes(scores.shape, mask.shape) == scores.shape:
            scores += mask
        else:  # the mask has more leading axes than query and key
            scores = scores + mask
    probs = masked_softmax(scores, masked=mask is not None)  # each row sums to 1, (..., T, S)
    weights, drop = probs, None
    if dropout_p > 0.0:
        drop = keep_mask(rng, probs.shape, dropout_p, probs.dtype)  # 0 or 1/(1-p), (..., T, S)
        weights = probs * drop
    out = weights @ value  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)
    if return_cache:
        return out, weights, AttentionCache(query, key, value, probs, weights, drop, scale)
    return out, weights
# --8<-- [end:scaled_dot_product_attention]


# --8<-- [start:scaled_dot_product_attention_backward]
def scaled_dot_product_attention_backward(
    dout: np.ndarray, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`scaled_dot_product_attention` with respect to ``q``, ``k``, ``v``.

    ``dv = Wᵀ dout``; ``dW = dout vᵀ``; softmax backward ``dZ = P ⊙ (dP - Σ dP ⊙ P)``;
    ``dq = dZ k / √D``; ``dk = dZᵀ q / √D``. Blocked entries have ``P = 0``, so they (and fully
    blocked rows) get zero gradient.

    Shape:
        dout: ``(..., T, Dv)`` -> dq ``(..., T, D)``, dk ``(..., S, D)``, dv ``(..., S, Dv)``.

    Examples:
        >>> x = np.ones((1, 2, 4))
        >>> out, _, cache = scaled_dot_product_attention(x, x, x, return_cache=True)
        >>> dq, dk, dv = scaled_dot_product_attention_backward(np.ones_like(out), cache)
        >>> dv.tolist() == np.ones((1, 2, 4)).tolist(), float(abs(dq).max())
        (True, 0.0)
    """
    q, k, v, probs, weights, drop, scale = cache
    dv = np.swapaxes(weights, -1, -2) @ dout  # (..., S, T) @ (..., T, Dv) -> (..., S, Dv)
    dprobs = dout @ np.swapaxes(v, -1, -2)  # (..., T, Dv) @ (..., Dv, S) -> (..., T, S)
    if drop is not None:
        dprobs *= drop  # through the dropout mask
    # softmax backward: dZ = P ⊙ (dP - rowsum(dP ⊙ P))
    row = np.einsum("...ts,...ts->...t", dprobs, probs)[..., None]  # (..., T, 1)
    dprobs -= row
    dprobs *= probs  # now dZ, the gradient of the masked, scaled scores, (..., T, S)
    dprobs *= scale  # through the 1/√D scaling
    dq = dprobs @ k  # (..., T, S) @ (..., S, D) -> (..., T, D)
    dk = np.swapaxes(dprobs, -1, -2) @ q  # (..., S, T) @ (..., T, D) -> (..., S, D)
    return dq, dk, dv
# --8<-- [end:scaled_dot_product_attention_backward]


def check_heads(embed_dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``num_heads > 0`` and divides ``embed_dim``.

    Examples:
        >>> check_heads(8, 2)
        >>> check_heads(10, 4)
        Traceback (most recent call last):
        ...
        ValueError: d_model=10 is not divisible by nhead=4
    """
    check_positive("d_model", embed_dim)
    check_positive("nhead", num_heads)
    if embed_dim % num_heads != 0:
        raise ValueError(f"d_model={embed_dim} is not divisible by nhead={num_heads}")


class MHACache(NamedTuple):
    """What :meth:`MultiheadAttention.backward` needs from the forward pass.

    ``mode`` is ``"self"`` (one fused q/k/v matmul), ``"kv"`` (a fused k/v matmul) or
    ``"sep"`` (three matmuls); ``inputs`` are the flattened projection inputs of that mode.

    Shape:
        inputs: ``(N·T, E)`` and/or ``(N·S, kdim)``, ``(N·S, vdim)``; shape: ``(N, T, S)``.

    Examples:
        >>> m = MultiheadAttention(4, 2, batch_first=True, rng=0)
        >>> x = np.ones((1, 3, 4), dtype=np.float32)
        >>> _ = m(x, x, x)
        >>> m._cached().mode, m._cached().shape
        ('self', (1, 3, 3))
    """

    mode: str  # "self", "kv" or "sep"
    inputs: tuple[np.ndarray, ...]  # the 2-D inputs of the projections of that mode
    attn: AttentionCache  # the per-head attention
    shape: tuple[int, int, int]  # (N, T, S)
    unbatched: bool  # the input was (L, E)


class MultiheadAttention(Module):
    """Multi-head attention, state-dict compatible with ``torch.nn.MultiheadAttention``.

    ``in_proj_weight`` (3E, E) packs the query, key and value projections in that order; with
    ``kdim`` or ``vdim`` different from ``E`` there are separate ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) instead. ``in_proj_bias`` (3E,),
    ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,). Initialised as PyTorch: Xavier-uniform
    projections, zero biases. ``bias_k``/``bias_v``/``add_zero_attn`` are not supported.

    Self-attention (the same array passed as query, key and value) uses one fused
    ``(N·T, E) @ (E, 3E)`` matmul for all three projections; ``backward`` then returns the
    total input gradient as ``dquery`` and ``None`` for ``dkey`` and ``dvalue``. Likewise
    cross-attention with ``key is value`` fuses the key/value projections and returns the
    total gradient as ``dkey`` and ``None`` for ``dvalue``.

    Args:
        embed_dim: ``E``.
        num_heads: ``H``; must divide ``E``.
        dropout: dropout on the attention weights (training only).
        bias: whether the projections have biases.
        kdim, vdim: widths of key and value inputs (default ``E``).
        batch_first: inputs ``(N, T, E)`` if True, ``(T, N, E)`` if False (the default, as
            ``torch.nn.MultiheadAttention``).
        dtype: float32 (default) or float64.
        rng: generator (or seed) for initial weights and dropout.

    Shape:
        query: ``(T, N, E)`` (``(N, T, E)`` with ``batch_first``; unbatched ``(T, E)`` works
        too), key: ``(S, N, kdim)``, value: ``(S, N, vdim)``; key_padding_mask: ``(N, S)``;
        attn_mask: ``(T, S)`` or ``(N*H, T, S)`` -> output like query, weights ``(N, T, S)``
        (averaged) or ``(N, H, T, S)``.
        backward: dout like the output -> dquery, dkey, dvalue like query, key, value.

    Examples:
        >>> m = MultiheadAttention(8, 2, batch_first=True, rng=0)
        >>> x = np.random.default_rng(0).normal(size=(2, 5, 8))
        >>> out, w = m(x, x, x, is_causal=True)
        >>> out.shape, w.shape
        ((2, 5, 8), (2, 5, 5))
        >>> dx, dkey, dvalue = m.backward(np.ones_like(out))  # self-attention: the total in dx
        >>> dx.shape, dkey, dvalue
        ((2, 5, 8), None, None)
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        check_heads(embed_dim, num_heads)
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        self.kdim = check_positive("kdim", kdim) if kdim is not None else self.embed_dim
        self.vdim = check_positive("vdim", vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout = check_dropout(dropout)
        self.batch_first = bool(batch_first)
        dt = check_dtype(dtype)
        self.rng = make_rng(rng)
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            self.register_parameter("in_proj_weight", xavier_uniform(self.rng, (3 * E, E), dt))
        else:
            self.register_parameter("q_proj_weight", xavier_uniform(self.rng, (E, E), dt))
            self.register_parameter("k_proj_weight", xavier_uniform(self.rng, (E, self.kdim), dt))
            self.register_parameter("v_proj_weight", xavier_uniform(self.rng, (E, self.vdim), dt))
        if bias:
            self.register_parameter("in_proj_bias", np.zeros(3 * E, dtype=dt))
        self.out_proj = Linear(E, E, bias=bias, dtype=dt, rng=self.rng)
        if bias:
            self.out_proj.bias[...] = 0.0

    # -- weights of q, k, v as views of the packed matrix -------------------------------
    def _proj_weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._qkv_same_embed_dim:
            W = self.in_proj_weight  # (3E, E)
            E = self.embed_dim
            return W[:E], W[E : 2 * E], W[2 * E :]
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def _proj_biases(self) -> tuple[np.ndarray | None, ...]:
        if "in_proj_bias" not in self._params:
            return None, None, None
        E = self.embed_dim
        b = self.in_proj_bias
        return b[:E], b[E : 2 * E], b[2 * E :]

    def _split_heads(self, x2: np.ndarray, N: int, L: int) -> np.ndarray:
        """``(N·L, E)`` -> ``(N, H, L, E/H)``."""
        return x2.reshape(N, L, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def _merge_heads(self, x: np.ndarray) -> np.ndarray:
        """``(N, H, L, E/H)`` -> ``(N·L, E)``, the inverse of :meth:`_split_heads`."""
        N, _, L, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(N * L, self.embed_dim)

    # -- mode "sep": three projections (the general path) -------------------------------
    # --8<-- [start:mha_split_heads]
    def _project_sep(self, query: np.ndarray, key: np.ndarray, value: np.ndarray):
        """``q = query W_qᵀ + b_q`` (likewise k, v), each split into ``H`` heads of width E/H."""
        (N, T, E), S = query.shape, key.shape[1]
        Wq, Wk, Wv = self._proj_weights()
        bq, bk, bv = self._proj_biases()
        q2 = query.reshape(N * T, E)  # (N, T, E) -> (N·T, E)
        k2 = key.reshape(N * S, self.kdim)  # (N, S, kdim) -> (N·S, kdim)
        v2 = value.reshape(N * S, self.vdim)  # (N, S, vdim) -> (N·S, vdim)
        q = q2 @ Wq.T  # (N·T, E) @ (E, E) -> (N·T, E)
        k = k2 @ Wk.T  # (N·S, kdim) @ (kdim, E) -> (N·S, E)
        v = v2 @ Wv.T  # (N·S, vdim) @ (vdim, E) -> (N·S, E)
        if bq is not None:
            q += bq
            k += bk
            v += bv
        heads = self._split_heads(q, N, T), self._split_heads(k, N, S), self._split_heads(v, N, S)
        return heads, (q2, k2, v2)  # (N, H, T, E/H), 2 x (N, H, S, E/H)
    # --8<-- [end:mha_split_heads]

    def _project_sep_backward(self, dq, dk, dv, inputs):
        q2, k2, v2 = inputs
        N, _, T, _ = dq.shape
        S = dk.shape[2]
        E = self.embed_dim
        dq2, dk2, dv2 = self._merge_heads(dq), self._merge_heads(dk), self._merge_heads(dv)  # (N·L, E)
        if self._qkv_same_embed_dim:
            dW = self._grads["in_proj_weight"]
            dWq, dWk, dWv = dW[:E], dW[E : 2 * E], dW[2 * E :]
        else:
            dWq, dWk, dWv = (self._grads[n] for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight"))
        np.matmul(dq2.T, q2, out=dWq)  # (E, N·T) @ (N·T, E) -> (E, E)
        np.matmul(dk2.T, k2, out=dWk)  # (E, N·S) @ (N·S, kdim) -> (E, kdim)
        np.matmul(dv2.T, v2, out=dWv)  # (E, N·S) @ (N·S, vdim) -> (E, vdim)
        if "in_proj_bias" in self._params:
            db = self._grads["in_proj_bias"]
            np.sum(dq2, axis=0, out=db[:E])
            np.sum(dk2, axis=0, out=db[E : 2 * E])
            np.sum(dv2, axis=0, out=db[2 * E :])
        Wq, Wk, Wv = self._proj_weights()
        return (
            (dq2 @ Wq).reshape(N, T, E),  # (N·T, E) @ (E, E) -> (N, T, E)
            (dk2 @ Wk).reshape(N, S, self.kdim),  # (N·S, E) @ (E, kdim) -> (N, S, kdim)
            (dv2 @ Wv).reshape(N, S, self.vdim),  # (N·S, E) @ (E, vdim) -> (N, S, vdim)
        )

    # -- mode "self": query is key is value, one (E, 3E) matmul --------------------------
    def _project_self(self, x: np.ndarray):
        N, T, E = x.shape
        H, D = self.num_heads, self.head_dim
        x2 = x.reshape(N * T, E)  # (N, T, E) -> (N·T, E)
        qkv = x2 @ self.in_proj_weight.T  # (N·T, E) @ (E, 3E) -> (N·T, 3E)
        if "in_proj_bias" in self._params:
            qkv += self.in_proj_bias
        qkv = qkv.reshape(N, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # -> (3, N, H, T, D)
        q, k, v = np.ascontiguousarray(qkv)  # each (N, H, T, D)
        return (q, k, v), (x2,)

    def _project_self_backward(self, dq, dk, dv, inputs):
        (x2,) = inputs
        N, H, T, D = dq.shape
        E = self.embed_dim
        dqkv = np.empty((N, T, 3, H, D), dtype=dq.dtype)
        dqkv_heads = dqkv.transpose(2, 0, 3, 1, 4)  # view (3, N, H, T, D)
        dqkv_heads[0], dqkv_heads[1], dqkv_heads[2] = dq, dk, dv
        dqkv2 = dqkv.reshape(N * T, 3 * E)  # (N, T, 3, H, D) -> (N·T, 3E)
        np.matmul(dqkv2.T, x2, out=self._grads["in_proj_weight"])  # (3E, N·T) @ (N·T, E)
        if "in_proj_bias" in self._params:
            np.sum(dqkv2, axis=0, out=self._grads["in_proj_bias"])
        dx = dqkv2 @ self.in_proj_weight  # (N·T, 3E) @ (3E, E) -> (N·T, E)
        return dx.reshape(N, T, E), None, None  # the total input gradient

    # -- mode "kv": key is value, one (E, 2E) matmul for k and v -------------------------
    def _project_kv(self, query: np.ndarray, key: np.ndarray):
        (N, T, E), S = query.shape, key.shape[1]
        H, D = self.num_heads, self.head_dim
        Wq, _, _ = self._proj_weights()
        bq, _, _ = self._proj_biases()
        q2 = query.reshape(N * T, E)  # (N, T, E) -> (N·T, E)
        q = q2 @ Wq.T  # (N·T, E) @ (E, E) -> (N·T, E)
        k2 = key.reshape(N * S, self.kdim)  # (N, S, E) -> (N·S, E)
        kv = k2 @ self.in_proj_weight[E:].T  # (N·S, E) @ (E, 2E) -> (N·S, 2E)
        if bq is not None:
            q += bq
            kv += self.in_proj_bias[E:]
        kv = kv.reshape(N, S, 2, H, D).transpose(2, 0, 3, 1, 4)  # -> (2, N, H, S, D)
        k, v = np.ascontiguousarray(kv)  # each (N, H, S, D)
        return (self._split_heads(q, N, T), k, v), (q2, k2)

    def _project_kv_backward(self, dq, dk, dv, inputs):
        q2, k2 = inputs
        N, H, T, D = dq.shape
        S, E = dk.shape[2], self.embed_dim
        dq2 = self._merge_heads(dq)  # (N, H, T, D) -> (N·T, E)
        dkv = np.empty((N, S, 2, H, D), dtype=dk.dtype)
        dkv_heads = dkv.transpose(2, 0, 3, 1, 4)  # view (2, N, H, S, D)
        dkv_heads[0], dkv_heads[1] = dk, dv
        dkv2 = dkv.reshape(N * S, 2 * E)  # (N, S, 2, H, D) -> (N·S, 2E)
        dW = self._grads["in_proj_weight"]
        np.matmul(dq2.T, q2, out=dW[:E])  # (E, N·T) @ (N·T, E) -> (E, E)
        np.matmul(dkv2.T, k2, out=dW[E:])  # (2E, N·S) @ (N·S, E) -> (2E, E)
        if "in_proj_bias" in self._params:
            db = self._grads["in_proj_bias"]
            np.sum(dq2, axis=0, out=db[:E])
            np.sum(dkv2, axis=0, out=db[E:])
        dquery = dq2 @ self.in_proj_weight[:E]  # (N·T, E) @ (E, E) -> (N·T, E)
        dkey = dkv2 @ self.in_proj_weight[E:]  # (N·S, 2E) @ (2E, E) -> (N·S, E)
        return dquery.reshape(N, T, E), dkey.reshape(N, S, E), None  # dkey: the total for key and value

    # -- the three modes behind one pair ------------------------------------------------
    def _mode(self, query: Any, key: Any, value: Any) -> str:
        """Which projections can be fused: ``"self"``, ``"kv"`` or ``"sep"``."""
        if key is value and self._qkv_same_embed_dim:
            return "self" if query is key else "kv"
        return "sep"

    def project_qkv(self, query: np.ndarray, key: np.ndarray, value: np.ndarray, *, mode: str | None = None):
        """Per-head ``q, k, v`` and what their backward needs, fusing matmuls where it can.

        ``mode`` (NumPy-only) names the fused path when the caller has lost the ``is``
        identity of its arrays (a transposed view); by default it is read from them.

        Shape:
            query ``(N, T, E)``, key ``(N, S, kdim)``, value ``(N, S, vdim)`` (batch-first) ->
            ``((q (N, H, T, E/H), k (N, H, S, E/H), v (N, H, S, E/H)), inputs)``.
        """
        mode = mode or self._mode(query, key, value)
        if mode == "self":
            return self._project_self(query)
        if mode == "kv":
            return self._project_kv(query, key)
        return self._project_sep(query, key, value)

    def project_qkv_backward(self, dq, dk, dv, mode: str, inputs: tuple[np.ndarray, ...]):
        """Fills the projection gradients; returns ``(dquery, dkey, dvalue)`` (``None`` where a
        fused mode returned the total elsewhere).

        Shape:
            dq ``(N, H, T, E/H)``, dk and dv ``(N, H, S, E/H)`` -> dquery ``(N, T, E)``,
            dkey ``(N, S, kdim)`` or None, dvalue ``(N, S, vdim)`` or None.
        """
        backward = {"self": self._project_self_backward, "kv": self._project_kv_backward,
                    "sep": self._project_sep_backward}[mode]
        return backward(dq, dk, dv, inputs)

    def attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None,
               is_causal: bool = False, need_weights: bool = False, *, return_cache: bool = False):
        """Attention on the projected heads, then concatenate the heads and apply ``out_proj``.

        As the torch backend's ``attend``; ``return_cache`` (NumPy-only) also returns the
        :class:`AttentionCache` that :meth:`attend_backward` needs.

        Shape:
            q ``(N, H, T, E/H)``, k, v ``(N, H, S, E/H)``, mask broadcastable to
            ``(N, H, T, S)`` -> output ``(N, T, E)``, weights ``(N, H, T, S)`` or None
            [, cache].
        """
        N, _, T, _ = q.shape
        p = self.dropout if self.training else 0.0
        heads, weights, cache = scaled_dot_product_attention(
            q, k, v, mask, dropout_p=p, is_causal=is_causal, rng=self.rng, return_cache=True
        )  # heads: (N, H, T, D), weights: (N, H, T, S)
        concat = self._merge_heads(heads).reshape(N, T, self.embed_dim)  # (N, H, T, D) -> (N, T, H·D = E)
        out = self.out_proj(concat)  # (N, T, E) @ (E, E) -> (N, T, E)
        weights = weights if need_weights else None
        return (out, weights, cache) if return_cache else (out, weights)

    def attend_backward(self, dout: np.ndarray, cache: AttentionCache):
        """Back through ``out_proj``, the concatenation and the attention: ``dq, dk, dv``.

        Shape:
            dout ``(N, T, E)`` -> dq ``(N, H, T, E/H)``, dk, dv ``(N, H, S, E/H)``.
        """
        N, T, _ = dout.shape
        dconcat = self.out_proj.backward(dout)  # (N, T, E)
        dheads = self._split_heads(dconcat.reshape(N * T, self.embed_dim), N, T)  # -> (N, H, T, D)
        return scaled_dot_product_attention_backward(dheads, cache)  # (N, H, ·, D)

    # -- layout: unbatched / sequence-first inputs to batch-first and back ---------------
    def _to_batch_first(self, x: np.ndarray, unbatched: bool) -> np.ndarray:
        if unbatched:
            return x[None]  # (L, E) -> (1, L, E)
        return x if self.batch_first else x.swapaxes(0, 1)  # (L, N, E) -> (N, L, E)

    def _from_batch_first(self, x: np.ndarray | None, unbatched: bool) -> np.ndarray | None:
        if x is None:
            return None
        if unbatched:
            return x[0]  # (1, L, ·) -> (L, ·)
        return x if self.batch_first else x.swapaxes(0, 1)  # (N, L, ·) -> (L, N, ·)

    # --8<-- [start:mha_forward]
    def forward(
        self,
        query: np.ndarray,
        key: np.ndarray,
        value: np.ndarray,
        key_padding_mask: np.ndarray | None = None,
        need_weights: bool = True,
        attn_mask: np.ndarray | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Project, split into heads, attend, concatenate, project.

        ``is_causal=True`` without ``attn_mask`` applies the causal mask (PyTorch requires the
        mask itself and treats the flag as a hint).
        """
        mode = self._mode(query, key, value)  # before the casts, which keep `is` identity
        query, key, value = self._check_inputs(query, key, value)
        unbatched = query.ndim == 2
        if unbatched and key_padding_mask is not None:
            key_padding_mask = np.asarray(key_padding_mask)[None]  # (S,) -> (1, S)
        query, key, value = (self._to_batch_first(a, unbatched) for a in (query, key, value))
        (N, T, _), S = query.shape, key.shape[1]  # batch, target length, source length
        if key.shape[0] != N or value.shape[:2] != key.shape[:2]:
            raise ValueError(
                f"batch/length mismatch: query {query.shape}, key {key.shape}, value {value.shape}"
            )
        mask = merge_masks(attn_mask, key_padding_mask, N, self.num_heads, T, S, query.dtype, is_causal)
        (q, k, v), inputs = self.project_qkv(query, key, value, mode=mode)  # (N, H, T, D), 2 x (N, H, S, D)
        out, weights, attn = self.attend(q, k, v, mask, need_weights=True, return_cache=True)  # (N, T, E), (N, H, T, S)
        out = self._forwarded(self._from_batch_first(out, unbatched),
                              cache=MHACache(mode, inputs, attn, (N, T, S), unbatched))
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)  # (N, H, T, S) -> (N, T, S)
        return out, (weights[0] if unbatched else weights)
    # --8<-- [end:mha_forward]

    def backward(
        self, dout: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Gradients with respect to query, key and value; fills the parameter gradients.

        For self-attention (one array passed three times) the total input gradient is returned
        as ``dquery`` with ``dkey = dvalue = None``; for ``key is value`` the total is ``dkey``
        with ``dvalue = None``.

        Shape:
            dout: like the output -> dquery, dkey, dvalue like query, key, value;
            dW_in ``(3E, E)``, db_in ``(3E,)``, dW_out ``(E, E)``.
        """
        dout = self._grad_input("dout", dout)
        c: MHACache = self._cached()
        dq, dk, dv = self.attend_backward(self._to_batch_first(dout, c.unbatched), c.attn)
        grads = self.project_qkv_backward(dq, dk, dv, c.mode, c.inputs)
        return tuple(self._from_batch_first(g, c.unbatched) for g in grads)  # type: ignore[return-value]

    def _check_inputs(self, query: Any, key: Any, value: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cast to the module's dtype (keeping ``query is key is value``) and check the dims and
        feature sizes, with the torch backend's wording."""
        q = self._input("query", query)
        k = q if key is query else self._input("key", key)
        v = q if value is query else (k if value is key else self._input("value", value))
        if q.ndim not in (2, 3):
            raise ValueError(f"query must be 2-D (unbatched) or 3-D, got shape {q.shape}")
        if k.ndim != q.ndim or v.ndim != q.ndim:
            raise ValueError(
                f"query, key and value must have the same number of dims, got {q.shape}, {k.shape}, {v.shape}"
            )
        for name, x, attr, want in (("query", q, "embed_dim", self.embed_dim), ("key", k, "kdim", self.kdim),
                                    ("value", v, "vdim", self.vdim)):
            if x.shape[-1] != want:
                raise ValueError(f"{name}: expected feature size {want}, got {x.shape[-1]} "
                                 f"(shape {tuple(x.shape)}, {attr}={want})")
        return q, k, v

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"kdim={self.kdim}, vdim={self.vdim}, batch_first={self.batch_first}")
