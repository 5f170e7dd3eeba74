"""Scaled dot-product attention and multi-head attention, forward and backward.

Mask convention (as ``torch.nn.MultiheadAttention`` and ``torch.nn.Transformer``): a boolean
mask is **True where a query may not attend**; a float mask is **added** to the scores (use
``-inf`` to block). Note that ``torch.nn.functional.scaled_dot_product_attention`` uses the
opposite boolean convention (True = attend); the function of the same name here does not.

A query row whose keys are all blocked is defined here: its attention weights are all zero,
its output is zero and its gradients are zero (finite). PyTorch is not consistent there
(pytorch/pytorch issue 41508): in torch 2.13 ``F.scaled_dot_product_attention`` also returns
zeros, but ``nn.MultiheadAttention`` with ``need_weights=True`` (the default) and the inference
fast path of ``nn.TransformerEncoderLayer`` return NaN.

Page: ``docs/attention.md`` (forward) and ``docs/backprop.md`` (backward).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import check_probability, check_qkv_shapes

from .dropout import check_dropout, keep_mask
from .module import Module, check_dtype, check_positive, make_rng
from .linear import Linear


def generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> np.ndarray:
    """Causal mask for a sequence of length ``sz``: position ``t`` may attend to ``s <= t``.

    As ``torch.nn.Transformer.generate_square_subsequent_mask``: a float mask with ``-inf``
    above the diagonal and 0 elsewhere; with ``dtype=bool`` a boolean mask, True above the
    diagonal (True = may not attend).

    Shape:
        output: ``(sz, sz)``.
    """
    if isinstance(sz, bool) or not isinstance(sz, (int, np.integer)) or sz < 0:
        raise ValueError(f"sz must be a non-negative integer, got sz={sz!r}")
    blocked = np.triu(np.ones((sz, sz), dtype=bool), k=1)  # True where s > t
    if np.dtype(dtype) == np.dtype(bool):
        return blocked
    return np.where(blocked, -np.inf, 0.0).astype(dtype)


def make_key_padding_mask(ids: Any, pad_id: int) -> np.ndarray:
    """Boolean key padding mask, True at pad positions (keys that may not be attended to).

    Shape:
        ids: ``(N, S)`` integers -> ``(N, S)`` bool.
    """
    return np.asarray(ids) == pad_id


def to_additive_mask(mask: np.ndarray | None, dtype: Any) -> np.ndarray | None:
    """Bool mask (True = blocked) -> float mask with ``-inf`` where blocked, 0 elsewhere;
    a float mask is cast to ``dtype``; ``None`` stays ``None``.

    Shape:
        mask: any shape -> same shape.
    """
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        return np.where(mask, -np.inf, 0.0).astype(dtype)
    if not np.issubdtype(mask.dtype, np.floating):
        raise TypeError(f"masks must be bool (True = blocked) or float (added), got dtype {mask.dtype}")
    return mask.astype(dtype, copy=False)


def merge_masks(
    attn_mask: np.ndarray | None,
    key_padding_mask: np.ndarray | None,
    N: int,
    H: int,
    T: int,
    S: int,
    dtype: Any,
) -> np.ndarray | None:
    """Check shapes and combine both masks into one additive mask, as ``nn.MultiheadAttention``.

    Raises:
        ValueError: ``"attn_mask: expected (T, S) = (3, 4) or (N*H, T, S) = (8, 3, 4), got
            (4, 3)"``, and likewise for ``key_padding_mask`` (expected ``(N, S)``).

    Shape:
        attn_mask: ``(T, S)`` or ``(N*H, T, S)``; key_padding_mask: ``(N, S)``;
        output: broadcastable to ``(N, H, T, S)``, or None when both are None.
    """
    mask = None
    if attn_mask is not None:
        shape = tuple(np.shape(attn_mask))
        if shape == (T, S):
            mask = to_additive_mask(attn_mask, dtype)  # (T, S), broadcasts over (N, H)
        elif shape == (N * H, T, S):
            mask = to_additive_mask(attn_mask, dtype).reshape(N, H, T, S)  # (N*H, T, S) -> (N, H, T, S)
        else:
            raise ValueError(
                f"attn_mask: expected (T, S) = ({T}, {S}) or (N*H, T, S) = ({N * H}, {T}, {S}), "
                f"got {shape}"
            )
    if key_padding_mask is not None:
        shape = tuple(np.shape(key_padding_mask))
        if shape != (N, S):
            raise ValueError(f"key_padding_mask: expected (N, S) = ({N}, {S}), got {shape}")
        kpm = to_additive_mask(key_padding_mask, dtype).reshape(N, 1, 1, S)  # (N, S) -> (N, 1, 1, S)
        mask = kpm if mask is None else mask + kpm  # -> (N, 1 or H, T, S)
    return mask


class AttentionCache(NamedTuple):
    """What :func:`scaled_dot_product_attention_backward` needs from the forward pass.

    Shape:
        q ``(..., T, D)``, k ``(..., S, D)``, v ``(..., S, Dv)``; probs, weights and
        dropout_mask ``(..., T, S)``.
    """

    q: np.ndarray  # (..., T, D)
    k: np.ndarray  # (..., S, D)
    v: np.ndarray  # (..., S, Dv)
    probs: np.ndarray  # softmax of the scores, (..., T, S)
    weights: np.ndarray  # probs after dropout (the matrix applied to v), (..., T, S)
    dropout_mask: np.ndarray | None  # 0 or 1/(1-p), (..., T, S); None without dropout
    scale: float  # 1/√D


def masked_softmax(scores: np.ndarray, masked: bool = True) -> np.ndarray:
    """Softmax over the last axis, **in place**; a row that is all ``-inf`` becomes all zeros.

    Shape:
        scores: ``(..., S)`` -> the same array, rows summing to 1 (or 0 for blocked rows).
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


# --8<-- [start:sdpa]
def scaled_dot_product_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    attn_mask: np.ndarray | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    key_padding_mask: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    return_cache: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, AttentionCache]:
    """``softmax(q kᵀ / √D + mask) v``, returning the output and the attention weights.

    Args:
        q, k, v: queries, keys, values (any leading axes, shared by all three).
        attn_mask: bool (True = blocked) or float (added to the scores), broadcastable to
            ``(..., T, S)``.
        dropout_p: dropout on the attention weights (needs ``rng``); 0 in evaluation.
        is_causal: block keys after the query (``s > t``), in addition to ``attn_mask``.
        key_padding_mask: bool (True = padding) or float, ``(N, S)``: blocks whole key columns
            of each sequence; ``N`` is the first axis of ``q``.
        rng: generator for the dropout mask.
        return_cache: also return an :class:`AttentionCache` for the backward pass.

    A query row with every key blocked gets zero weights and a zero output (as
    ``F.scaled_dot_product_attention`` in torch 2.13; ``nn.MultiheadAttention`` gives NaN).

    Shape:
        q: ``(N, ..., T, D)``, k: ``(N, ..., S, D)``, v: ``(N, ..., S, Dv)``;
        attn_mask: broadcastable to ``(N, ..., T, S)`` (e.g. ``(T, S)``, or ``(N*H, T, S)`` with
        heads folded into the batch axis); key_padding_mask: ``(N, S)``
        -> output ``(N, ..., T, Dv)``, weights ``(N, ..., T, S)``.
    """
    check_qkv_shapes(np.shape(q), np.shape(k), np.shape(v))  # the torch function's checks and wording
    if dropout_p:
        check_probability("dropout_p", dropout_p)
    T, S = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])  # 1/√D
    scores = (q * scale) @ np.swapaxes(k, -1, -2)  # (..., T, D) @ (..., D, S) -> (..., T, S)
    mask = to_additive_mask(attn_mask, scores.dtype)
    if is_causal:
        causal = to_additive_mask(np.triu(np.ones((T, S), dtype=bool), k=1), scores.dtype)  # (T, S)
        mask = causal if mask is None else mask + causal
    if key_padding_mask is not None:
        kpm = to_additive_mask(key_padding_mask, scores.dtype)
        kpm = kpm.reshape(kpm.shape[0], *([1] * (q.ndim - 2)), S)  # (N, S) -> (N, 1, ..., 1, S)
        mask = kpm if mask is None else mask + kpm
    if mask is not None:  # blocked entries become -inf, (..., T, S)
        if np.broadcast_shapes(scores.shape, mask.shape) == scores.shape:
            scores += mask
        else:  # the mask has more leading axes than q and k
            scores = scores + mask
    probs = masked_softmax(scores, masked=mask is not None)  # each row sums to 1, (..., T, S)
    weights, drop = probs, None
    if dropout_p > 0.0:
        drop = keep_mask(rng, probs.shape, dropout_p, probs.dtype)  # 0 or 1/(1-p), (..., T, S)
        weights = probs * drop
    out = weights @ v  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)
    if return_cache:
        return out, weights, AttentionCache(q, k, v, probs, weights, drop, scale)
    return out, weights
# --8<-- [end:sdpa]


# --8<-- [start:sdpa_backward]
def scaled_dot_product_attention_backward(
    dout: np.ndarray, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`scaled_dot_product_attention` with respect to ``q``, ``k``, ``v``.

    ``dv = Wᵀ dout``; ``dW = dout vᵀ``; softmax backward ``dZ = P ⊙ (dP - Σ dP ⊙ P)``;
    ``dq = dZ k / √D``; ``dk = dZᵀ q / √D``. Blocked entries have ``P = 0``, so they (and fully
    blocked rows) get zero gradient.

    Shape:
        dout: ``(..., T, Dv)`` -> dq ``(..., T, D)``, dk ``(..., S, D)``, dv ``(..., S, Dv)``.
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
# --8<-- [end:sdpa_backward]


def _xavier_uniform(rng: np.random.Generator, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    fan_out, fan_in = shape
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, shape).astype(dtype)


def check_heads(embed_dim: int, num_heads: int) -> None:
    """Raise ``ValueError`` unless ``num_heads > 0`` and divides ``embed_dim``."""
    check_positive("d_model", embed_dim)
    check_positive("nhead", num_heads)
    if embed_dim % num_heads != 0:
        raise ValueError(f"d_model={embed_dim} is not divisible by nhead={num_heads}")


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
        batch_first: inputs ``(N, T, E)`` if True (default here), ``(T, N, E)`` if False.
        dtype: float32 (default) or float64.
        rng: generator (or seed) for initial weights and dropout.

    Shape:
        query: ``(N, T, E)``, key: ``(N, S, kdim)``, value: ``(N, S, vdim)`` (batch-first;
        unbatched ``(T, E)`` works too); key_padding_mask: ``(N, S)``; attn_mask: ``(T, S)`` or
        ``(N*H, T, S)`` -> output ``(N, T, E)``, weights ``(N, T, S)`` (averaged) or
        ``(N, H, T, S)``.
        backward: dout ``(N, T, E)`` -> dquery ``(N, T, E)``, dkey ``(N, S, kdim)``,
        dvalue ``(N, S, vdim)``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = True,
        *,
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
            self.register_parameter("in_proj_weight", _xavier_uniform(self.rng, (3 * E, E), dt))
        else:
            self.register_parameter("q_proj_weight", _xavier_uniform(self.rng, (E, E), dt))
            self.register_parameter("k_proj_weight", _xavier_uniform(self.rng, (E, self.kdim), dt))
            self.register_parameter("v_proj_weight", _xavier_uniform(self.rng, (E, self.vdim), dt))
        if bias:
            self.register_parameter("in_proj_bias", np.zeros(3 * E, dtype=dt))
        self.out_proj = Linear(E, E, bias=bias, dtype=dt, rng=self.rng)
        if bias:
            self.out_proj.bias[...] = 0.0
        self._cache: dict[str, Any] = {}

    # -- projections (weights of q, k, v as views of the packed matrix) -----------------
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
        same = self._qkv_same_embed_dim
        mode = "self" if (query is key and key is value and same) else (
            "kv" if (key is value and same) else "sep")  # which projections can be fused
        query, key, value = self._check_inputs(query, key, value)
        unbatched = query.ndim == 2
        if unbatched:  # (T, E) -> (1, T, E)
            query, key, value = query[None], key[None], value[None]
            if key_padding_mask is not None:
                key_padding_mask = np.asarray(key_padding_mask)[None]
        elif not self.batch_first:  # (T, N, E) -> (N, T, E)
            query, key, value = (a.swapaxes(0, 1) for a in (query, key, value))  # (L, N, ·) -> (N, L, ·)
        N, T, E = query.shape  # batch, target length, model width
        S = key.shape[1]  # source length
        H, D = self.num_heads, self.head_dim  # heads, head width E/H
        if E != self.embed_dim:
            raise ValueError(f"query has feature size {E}, expected embed_dim={self.embed_dim}")
        if key.shape[0] != N or value.shape[:2] != key.shape[:2]:
            raise ValueError(
                f"batch/length mismatch: query {query.shape}, key {key.shape}, value {value.shape}"
            )
        if is_causal and attn_mask is None:
            attn_mask = np.triu(np.ones((T, S), dtype=bool), k=1)  # True above the diagonal
        mask = merge_masks(attn_mask, key_padding_mask, N, H, T, S, query.dtype)

        # --8<-- [start:mha_split_heads]
        Wq, Wk, Wv = self._proj_weights()
        bq, bk, bv = self._proj_biases()
        if mode == "self":  # one fused matmul for q, k and v
            x2 = query.reshape(N * T, E)  # (N, T, E) -> (N·T, E)
            qkv = x2 @ self.in_proj_weight.T  # (N·T, E) @ (E, 3E) -> (N·T, 3E)
            if bq is not None:
                qkv += self.in_proj_bias
            qkv = qkv.reshape(N, T, 3, H, D).transpose(2, 0, 3, 1, 4)  # -> (3, N, H, T, D)
            q, k, v = np.ascontiguousarray(qkv)  # each (N, H, T, D)
            inputs = (x2,)
        else:
            q2 = query.reshape(N * T, E)  # (N, T, E) -> (N·T, E)
            q = q2 @ Wq.T  # (N·T, E) @ (E, E) -> (N·T, E)
            if bq is not None:
                q += bq
            q = q.reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N·T, E) -> (N, H, T, D)
            if mode == "kv":  # one fused matmul for k and v
                k2 = key.reshape(N * S, self.kdim)  # (N, S, E) -> (N·S, E)
                kv = k2 @ self.in_proj_weight[E:].T  # (N·S, E) @ (E, 2E) -> (N·S, 2E)
                if bk is not None:
                    kv += self.in_proj_bias[E:]
                kv = kv.reshape(N, S, 2, H, D).transpose(2, 0, 3, 1, 4)  # -> (2, N, H, S, D)
                k, v = np.ascontiguousarray(kv)  # each (N, H, S, D)
                inputs = (q2, k2)
            else:
                k2 = key.reshape(N * S, self.kdim)  # (N, S, kdim) -> (N·S, kdim)
                v2 = value.reshape(N * S, self.vdim)  # (N, S, vdim) -> (N·S, vdim)
                k = k2 @ Wk.T  # (N·S, kdim) @ (kdim, E) -> (N·S, E)
                v = v2 @ Wv.T  # (N·S, vdim) @ (vdim, E) -> (N·S, E)
                if bk is not None:
                    k += bk
                    v += bv
                k = k.reshape(N, S, H, D).transpose(0, 2, 1, 3)  # (N·S, E) -> (N, H, S, D)
                v = v.reshape(N, S, H, D).transpose(0, 2, 1, 3)  # (N·S, E) -> (N, H, S, D)
                inputs = (q2, k2, v2)
        # --8<-- [end:mha_split_heads]

        p = self.dropout if self.training else 0.0
        heads, weights, attn_cache = scaled_dot_product_attention(
            q, k, v, mask, dropout_p=p, rng=self.rng, return_cache=True
        )  # heads: (N, H, T, D), weights: (N, H, T, S)
        concat = heads.transpose(0, 2, 1, 3).reshape(N, T, E)  # (N, H, T, D) -> (N, T, H·D = E)
        out = self.out_proj(concat)  # (N, T, E) @ (E, E) -> (N, T, E)
        self._cache = dict(mode=mode, inputs=inputs, attn=attn_cache, shape=(N, T, S),
                           unbatched=unbatched, key_shape=key.shape, value_shape=value.shape)
        self._forwarded(out[0] if unbatched else (out if self.batch_first else out.swapaxes(0, 1)))

        if unbatched:
            out = out[0]
        elif not self.batch_first:
            out = out.swapaxes(0, 1)  # (N, T, E) -> (T, N, E)
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
            dout: ``(N, T, E)`` -> dquery ``(N, T, E)``, dkey ``(N, S, kdim)``,
            dvalue ``(N, S, vdim)``; dW_in ``(3E, E)``, db_in ``(3E,)``, dW_out ``(E, E)``.
        """
        dout = self._grad_input("dout", dout)
        c = self._cache
        N, T, S = c["shape"]
        H, D, E = self.num_heads, self.head_dim, self.embed_dim
        if c["unbatched"]:
            dout = dout[None]
        elif not self.batch_first:
            dout = dout.swapaxes(0, 1)  # (T, N, E) -> (N, T, E)
        dconcat = self.out_proj.backward(dout)  # (N, T, E)
        dheads = dconcat.reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N, T, E) -> (N, H, T, D)
        dq, dk, dv = scaled_dot_product_attention_backward(dheads, c["attn"])  # (N, H, ·, D)
        mode, inputs = c["mode"], c["inputs"]
        has_bias = "in_proj_bias" in self._params
        db = self._grads["in_proj_bias"] if has_bias else None
        if mode == "self":
            (x2,) = inputs
            dqkv = np.empty((N, T, 3, H, D), dtype=dq.dtype)
            dqkv_heads = dqkv.transpose(2, 0, 3, 1, 4)  # view (3, N, H, T, D)
            dqkv_heads[0], dqkv_heads[1], dqkv_heads[2] = dq, dk, dv
            dqkv2 = dqkv.reshape(N * T, 3 * E)  # (N, T, 3, H, D) -> (N·T, 3E)
            np.matmul(dqkv2.T, x2, out=self._grads["in_proj_weight"])  # (3E, N·T) @ (N·T, E)
            if has_bias:
                np.sum(dqkv2, axis=0, out=db)
            dx = dqkv2 @ self.in_proj_weight  # (N·T, 3E) @ (3E, E) -> (N·T, E)
            grads = (dx.reshape(N, T, E), None, None)  # (N·T, E) -> (N, T, E)
        else:
            dq2 = dq.transpose(0, 2, 1, 3).reshape(N * T, E)  # (N, H, T, D) -> (N·T, E)
            Wq, Wk, Wv = self._proj_weights()
            if mode == "kv":
                q2, k2 = inputs
                dkv = np.empty((N, S, 2, H, D), dtype=dk.dtype)
                dkv_heads = dkv.transpose(2, 0, 3, 1, 4)  # view (2, N, H, S, D)
                dkv_heads[0], dkv_heads[1] = dk, dv
                dkv2 = dkv.reshape(N * S, 2 * E)  # (N, S, 2, H, D) -> (N·S, 2E)
                dW = self._grads["in_proj_weight"]
                np.matmul(dq2.T, q2, out=dW[:E])  # (E, N·T) @ (N·T, E) -> (E, E)
                np.matmul(dkv2.T, k2, out=dW[E:])  # (2E, N·S) @ (N·S, E) -> (2E, E)
                if has_bias:
                    np.sum(dq2, axis=0, out=db[:E])
                    np.sum(dkv2, axis=0, out=db[E:])
                dquery = dq2 @ Wq  # (N·T, E) @ (E, E) -> (N·T, E)
                dkey = dkv2 @ self.in_proj_weight[E:]  # (N·S, 2E) @ (2E, E) -> (N·S, E)
                grads = (dquery.reshape(N, T, E), dkey.reshape(N, S, E), None)  # -> (N, T, E), (N, S, E)
            else:
                q2, k2, v2 = inputs
                dk2 = dk.transpose(0, 2, 1, 3).reshape(N * S, E)  # (N, H, S, D) -> (N·S, E)
                dv2 = dv.transpose(0, 2, 1, 3).reshape(N * S, E)  # (N, H, S, D) -> (N·S, E)
                if self._qkv_same_embed_dim:
                    dW = self._grads["in_proj_weight"]
                    dWq, dWk, dWv = dW[:E], dW[E : 2 * E], dW[2 * E :]
                else:
                    dWq, dWk, dWv = (self._grads[n] for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight"))
                np.matmul(dq2.T, q2, out=dWq)  # (E, N·T) @ (N·T, E) -> (E, E)
                np.matmul(dk2.T, k2, out=dWk)  # (E, N·S) @ (N·S, kdim) -> (E, kdim)
                np.matmul(dv2.T, v2, out=dWv)  # (E, N·S) @ (N·S, vdim) -> (E, vdim)
                if has_bias:
                    np.sum(dq2, axis=0, out=db[:E])
                    np.sum(dk2, axis=0, out=db[E : 2 * E])
                    np.sum(dv2, axis=0, out=db[2 * E :])
                grads = (
                    (dq2 @ Wq).reshape(N, T, E),  # (N·T, E) @ (E, E) -> (N, T, E)
                    (dk2 @ Wk).reshape(N, S, self.kdim),  # (N·S, E) @ (E, kdim) -> (N, S, kdim)
                    (dv2 @ Wv).reshape(N, S, self.vdim),  # (N·S, E) @ (E, vdim) -> (N, S, vdim)
                )
        if c["unbatched"]:
            return tuple(g[0] if g is not None else None for g in grads)  # type: ignore[return-value]
        if not self.batch_first:
            return tuple(g.swapaxes(0, 1) if g is not None else None for g in grads)  # type: ignore[return-value]
        return grads

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
        for name, x, attr, want in (("query", q, "embed_dim", self.embed_dim), ("key", k, "kdim", self.kdim), ("value", v, "vdim", self.vdim)):
            if x.shape[-1] != want:
                raise ValueError(f"{name}: expected feature size {want}, got {x.shape[-1]} (shape {tuple(x.shape)}, {attr}={want})")
        return q, k, v

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"kdim={self.kdim}, vdim={self.vdim}, batch_first={self.batch_first}")
