"""FlashAttention's idea in NumPy: exact attention, one tile of scores at a time.

Naive attention builds the whole ``(T, S)`` matrix of scores, softmaxes it and multiplies it by
the values: memory ``O(T·S)``. FlashAttention (Dao et al. 2022, "FlashAttention: Fast and
Memory-Efficient Exact Attention with IO-Awareness", Algorithm 1) never holds that matrix. It
walks over tiles of keys with the **online softmax** (Milakov and Gimelshein 2018): each query
row keeps a running maximum ``m``, a running sum ``ℓ`` of ``e^(s - m)`` and an unnormalised
output; when a tile raises the maximum, what was accumulated is rescaled by ``e^(m_old - m_new)``.
The result is the same attention (to rounding), with ``O(T + S)`` extra memory beyond the tiles.

The loop order here is FlashAttention-2's (Dao 2023): queries outside, keys inside, so a tile of
queries finishes its row statistics before it is written; Algorithm 1 of the first paper swaps
the loops (keys outside, re-reading and rescaling ``O, ℓ, m`` per query tile) — the same
arithmetic. The forward saves one number per query row, the log-sum-exp
``lse = m + log ℓ``; the backward (FlashAttention-2's) recomputes each tile of probabilities
from it, ``P = e^(s - lse)``, and needs ``D = rowsum(dO ⊙ O)`` for the softmax backward
``dS = P ⊙ (dP - D)``.

In NumPy this saves memory but not time: the Python loop over tiles is slower than one big
matrix product. The speed of the real kernel comes from keeping the tiles in a GPU's on-chip
SRAM instead of its HBM, which NumPy cannot express.

Causal masking means what :func:`transformer_anatomy.numpy.scaled_dot_product_attention`
(``is_causal=True``) means — torch's top-left alignment: query ``i`` sees keys ``j <= i``, also
when ``S != T``. Tiles entirely above the diagonal are skipped. A query row with no key (``S = 0``)
gives zeros and ``lse = -inf``.

Page: ``docs/flash-attention.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from transformer_anatomy.errors import check_bool, check_number, check_positive_int

__all__ = ["flash_attention", "flash_attention_backward", "flash_attention_forward"]


def _check(name: str, arrays: dict[str, Any], is_causal: Any, block_size: Any, block_size_q: Any,
           block_size_k: Any, scale: Any) -> tuple[list[np.ndarray], bool, int, int, float]:
    """The shared argument checks: arrays as float arrays of one dtype, the block sizes, the scale."""
    arrs = [np.asarray(a) for a in arrays.values()]
    for (arg, a) in zip(arrays, arrs):
        if a.dtype.kind != "f":
            raise TypeError(f"{name}: {arg} must be a floating-point array, got dtype {a.dtype}")
    dtype = np.result_type(*arrs)
    arrs = [a.astype(dtype, copy=False) for a in arrs]
    q, k, v = arrs[-3:] if name == "flash_attention_backward" else arrs[:3]
    for arg, a in zip(("q", "k", "v"), (q, k, v)):
        if a.ndim < 2:
            raise ValueError(f"{name}: {arg} must be at least 2-D (..., L, D), got {arg} {a.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{name}: q {q.shape} and k {k.shape} must have the same feature size D (last axis)")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: k {k.shape} and v {v.shape} must have the same length S (second-to-last axis)")
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"{name}: q {q.shape}, k {k.shape} and v {v.shape} must have the same leading axes")
    is_causal = check_bool("is_causal", is_causal)
    block_size = check_positive_int("block_size", block_size)
    Bq = block_size if block_size_q is None else check_positive_int("block_size_q", block_size_q)
    Bk = block_size if block_size_k is None else check_positive_int("block_size_k", block_size_k)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0  # 1/√D
    else:
        scale = check_number("scale", scale)
    return arrs, is_causal, Bq, Bk, scale


def flash_attention_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    is_causal: bool = False,
    block_size: int = 64,
    scale: float | None = None,
    block_size_q: int | None = None,
    block_size_k: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact attention ``softmax(q kᵀ · scale) v`` computed tile by tile (online softmax).

    Args:
        q, k, v: queries, keys, values of one floating dtype (float32 or float64); the result
            has that dtype.
        is_causal: query ``i`` sees keys ``j <= i`` (torch's top-left alignment, as
            :func:`~transformer_anatomy.numpy.scaled_dot_product_attention`).
        block_size: rows per tile, for queries and keys.
        scale: factor applied to the scores; default ``1/√D``.
        block_size_q, block_size_k: extras, separate tile sizes for queries and keys (default
            ``block_size``).

    Shape:
        q: ``(..., T, D)``, k: ``(..., S, D)``, v: ``(..., S, Dv)`` (the same leading axes)
        -> out ``(..., T, Dv)``, lse ``(..., T)`` (the log-sum-exp of each row of scaled scores;
        ``-inf`` for a row with no key).

    Raises:
        ValueError: mismatched shapes (naming them), ``block_size <= 0``.
        TypeError: a non-float array, a non-integer block size, a non-bool ``is_causal``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> q, k, v = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 7, 4)), rng.normal(size=(3, 7, 4))
        >>> out, lse = flash_attention_forward(q, k, v, block_size=2)
        >>> out.shape, lse.shape
        ((3, 5, 4), (3, 5))
        >>> from transformer_anatomy.numpy.attention import scaled_dot_product_attention
        >>> bool(np.allclose(out, scaled_dot_product_attention(q, k, v)[0], rtol=1e-12, atol=1e-12))
        True
    """
    (q, k, v), is_causal, Bq, Bk, scale = _check(
        "flash_attention_forward", {"q": q, "k": k, "v": v}, is_causal, block_size, block_size_q, block_size_k, scale)
    *lead, T, _ = q.shape
    S, Dv = v.shape[-2:]
    out = np.zeros((*lead, T, Dv), dtype=q.dtype)  # (..., T, Dv)
    lse = np.full((*lead, T), -np.inf, dtype=q.dtype)  # (..., T)
    if S == 0:  # no key at all: every row gives zeros, lse = -inf
        return out, lse
    # --8<-- [start:online_softmax]
    for i0 in range(0, T, Bq):                  # one tile of queries at a time
        qi = q[..., i0:i0 + Bq, :] * scale      # (..., Bq, D)
        rows = qi.shape[:-1]                    # (..., Bq): a state per row
        m = np.full(rows, -np.inf, q.dtype)     # running max of the scores
        l = np.zeros(rows, q.dtype)             # running sum of e^(s - m)
        acc = np.zeros((*rows, Dv), q.dtype)    # unnormalised output
        last = min(S, T, i0 + Bq) if is_causal else S  # causal: to the diagonal
        for j0 in range(0, last, Bk):           # tiles of keys
            kj = k[..., j0:j0 + Bk, :]          # (..., Bk, D)
            s = qi @ np.swapaxes(kj, -1, -2)    # (..., Bq, Bk) scores
            if is_causal:                       # query i sees keys j <= i
                i, j = np.ogrid[i0:i0 + s.shape[-2], j0:j0 + s.shape[-1]]
                s = np.where(j > i, -np.inf, s)
            m_new = np.maximum(m, s.max(axis=-1))
            alpha = np.exp(m - m_new)           # e^(m_old - m_new)
            p = np.exp(s - m_new[..., None])    # this tile, under the new max
            l = alpha * l + p.sum(axis=-1)
            acc = alpha[..., None] * acc + p @ v[..., j0:j0 + Bk, :]
            m = m_new
        out[..., i0:i0 + Bq, :] = acc / l[..., None]  # normalise, once
        lse[..., i0:i0 + Bq] = m + np.log(l)    # log-sum-exp, for the backward
    # --8<-- [end:online_softmax]
    return out, lse


def flash_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    is_causal: bool = False,
    block_size: int = 64,
    scale: float | None = None,
    block_size_q: int | None = None,
    block_size_k: int | None = None,
) -> np.ndarray:
    """The output of :func:`flash_attention_forward` (without the log-sum-exp): exact attention
    ``softmax(q kᵀ · scale) v`` computed one tile of scores at a time.

    Args:
        q, k, v: queries, keys, values of one floating dtype.
        is_causal: query ``i`` sees keys ``j <= i`` (torch's top-left alignment).
        block_size: rows per tile, for queries and keys.
        scale: factor applied to the scores; default ``1/√D``.
        block_size_q, block_size_k: extras, separate tile sizes (default ``block_size``).

    Shape:
        q: ``(..., T, D)``, k: ``(..., S, D)``, v: ``(..., S, Dv)`` -> ``(..., T, Dv)``.

    Examples:
        >>> x = np.eye(2)[None]  # (N=1, T=2, D=2)
        >>> flash_attention(x, x, x, is_causal=True, block_size=1).round(3).tolist()
        [[[1.0, 0.0], [0.33, 0.67]]]
    """
    return flash_attention_forward(q, k, v, is_causal=is_causal, block_size=block_size, scale=scale,
                                   block_size_q=block_size_q, block_size_k=block_size_k)[0]


def flash_attention_backward(
    dout: np.ndarray,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    out: np.ndarray,
    lse: np.ndarray,
    *,
    is_causal: bool = False,
    block_size: int = 64,
    scale: float | None = None,
    block_size_q: int | None = None,
    block_size_k: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`flash_attention_forward` from its saved log-sum-exp (FlashAttention-2).

    The probabilities are recomputed one tile at a time, ``P = e^(q kᵀ · scale - lse)``, never
    the whole ``(T, S)`` matrix. With ``D = rowsum(dout ⊙ out)`` (equal to ``rowsum(dP ⊙ P)``):
    ``dV += Pᵀ dout``, ``dP = dout Vᵀ``, ``dS = P ⊙ (dP - D)``, ``dQ += dS K · scale``,
    ``dK += dSᵀ Q · scale``. Pass the same ``is_causal``, block sizes and ``scale`` as the forward
    (the block sizes only change the order of the sums).

    Args:
        dout: the gradient of the loss with respect to ``out``.
        q, k, v: the forward's inputs.
        out, lse: what :func:`flash_attention_forward` returned.
        is_causal, block_size, scale, block_size_q, block_size_k: as in the forward.

    Raises:
        ValueError: ``dout``, ``out`` or ``lse`` of the wrong shape (naming it), and the checks
            of the forward.

    Shape:
        dout, out: ``(..., T, Dv)``, lse: ``(..., T)``, q: ``(..., T, D)``, k: ``(..., S, D)``,
        v: ``(..., S, Dv)`` -> dq ``(..., T, D)``, dk ``(..., S, D)``, dv ``(..., S, Dv)``.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> q, k, v = rng.normal(size=(4, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
        >>> out, lse = flash_attention_forward(q, k, v, is_causal=True, block_size=2)
        >>> dq, dk, dv = flash_attention_backward(np.ones_like(out), q, k, v, out, lse, is_causal=True, block_size=2)
        >>> dq.shape, dk.shape, dv.shape
        ((4, 3), (6, 3), (6, 3))
        >>> dv[4:].tolist()  # keys 4 and 5 come after every query: no gradient
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    where = "flash_attention_backward"
    (dout, out, lse, q, k, v), is_causal, Bq, Bk, scale = _check(
        where, {"dout": dout, "out": out, "lse": lse, "q": q, "k": k, "v": v},
        is_causal, block_size, block_size_q, block_size_k, scale)
    *lead, T, _ = q.shape
    S, Dv = v.shape[-2:]
    if dout.shape != (*lead, T, Dv) or out.shape != (*lead, T, Dv):
        raise ValueError(f"{where}: dout {dout.shape} and out {out.shape} must have the shape "
                         f"{(*lead, T, Dv)} of the forward's output")
    if lse.shape != (*lead, T):
        raise ValueError(f"{where}: lse {lse.shape} must have the shape {(*lead, T)} (one value per query row)")
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    if S == 0 or T == 0:
        return dq, dk, dv
    # --8<-- [start:backward]
    Di = np.einsum("...td,...td->...t", dout, out)  # rowsum(dO ⊙ O), (..., T)
    for j0 in range(0, S, Bk):            # keys outside: dK, dV finish per tile
        kj = k[..., j0:j0 + Bk, :]        # (..., Bk, D)
        vj = v[..., j0:j0 + Bk, :]        # (..., Bk, Dv)
        first = (j0 // Bq) * Bq if is_causal else 0  # earlier queries see none
        for i0 in range(first, T, Bq):
            qi = q[..., i0:i0 + Bq, :]    # (..., Bq, D)
            s = (qi * scale) @ np.swapaxes(kj, -1, -2)   # (..., Bq, Bk)
            p = np.exp(s - lse[..., i0:i0 + Bq, None])   # P, recomputed
            if is_causal:
                i, j = np.ogrid[i0:i0 + s.shape[-2], j0:j0 + s.shape[-1]]
                p = np.where(j > i, 0.0, p)
            dOi = dout[..., i0:i0 + Bq, :]               # (..., Bq, Dv)
            dv[..., j0:j0 + Bk, :] += np.swapaxes(p, -1, -2) @ dOi
            dp = dOi @ np.swapaxes(vj, -1, -2)           # dP = dO Vᵀ
            ds = p * (dp - Di[..., i0:i0 + Bq, None])    # dS = P ⊙ (dP - D)
            ds *= scale                                  # through the scaling
            dq[..., i0:i0 + Bq, :] += ds @ kj            # (..., Bq, D)
            dk[..., j0:j0 + Bk, :] += np.swapaxes(ds, -1, -2) @ qi
    # --8<-- [end:backward]
    return dq, dk, dv
