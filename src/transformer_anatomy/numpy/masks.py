"""Attention masks: the causal (subsequent) mask, key padding masks, and how they merge.

Convention (the same as ``torch.nn.Transformer`` and :mod:`transformer_anatomy.torch.masks`):
a **boolean** mask is ``True`` where a query may **not** attend; a **float** mask is added to
the scores (``0`` = attend, ``-inf`` = blocked). ``F.scaled_dot_product_attention`` uses the
opposite boolean convention (``True`` = attend). The NumPy backend works on additive masks:
:func:`merge_masks` always returns a float mask (``-inf`` where blocked).

Page: ``docs/attention.md`` (masks and the mask-convention table).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transformer_anatomy.errors import check_int

__all__ = [
    "generate_square_subsequent_mask",
    "make_key_padding_mask",
    "causal_mask",
    "sliding_window_mask",
    "to_additive_mask",
    "merge_masks",
]


def causal_mask(T: int, S: int) -> np.ndarray:
    """Boolean causal mask, True where key ``s`` lies after query ``t`` (``s > t``).

    Shape:
        output: ``(T, S)`` bool.

    Examples:
        >>> causal_mask(2, 3).astype(int).tolist()
        [[0, 1, 1], [0, 0, 1]]
    """
    return np.triu(np.ones((T, S), dtype=bool), k=1)


# --8<-- [start:sliding_window_mask]
def sliding_window_mask(L: int, window: int) -> np.ndarray:
    """Local ("sliding-window") attention: True where query ``i`` may NOT attend key ``j``,
    that is where ``|i - j| > window`` (the library's convention: True = blocked).

    Shape:
        output: ``(L, L)`` bool.

    Examples:
        >>> sliding_window_mask(4, 1).astype(int).tolist()
        [[0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 0, 0], [1, 1, 0, 0]]
    """
    L, window = check_int("L", L, minimum=0), check_int("window", window, minimum=0)
    i = np.arange(L)[:, None]  # (L, 1) queries
    j = np.arange(L)[None, :]  # (1, L) keys
    return np.abs(i - j) > window  # (L, L)
# --8<-- [end:sliding_window_mask]


def generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> np.ndarray:
    """Causal mask for a sequence of length ``sz``: position ``t`` may attend to ``s <= t``.

    As ``torch.nn.Transformer.generate_square_subsequent_mask``: a float mask with ``-inf``
    above the diagonal and 0 elsewhere; with ``dtype=bool`` a boolean mask, True above the
    diagonal (True = may not attend).

    Shape:
        output: ``(sz, sz)``.

    Examples:
        >>> generate_square_subsequent_mask(3).tolist()
        [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
    """
    if isinstance(sz, bool) or not isinstance(sz, (int, np.integer)) or sz < 0:
        raise ValueError(f"sz must be a non-negative integer, got sz={sz!r}")
    blocked = causal_mask(sz, sz)  # True where s > t
    if np.dtype(dtype) == np.dtype(bool):
        return blocked
    return np.where(blocked, -np.inf, 0.0).astype(dtype)


def make_key_padding_mask(ids: Any, pad_id: int) -> np.ndarray:
    """Boolean key padding mask, True at pad positions (keys that may not be attended to).

    Shape:
        ids: ``(N, S)`` integers -> ``(N, S)`` bool.

    Examples:
        >>> make_key_padding_mask([[5, 6, 0]], pad_id=0).tolist()
        [[False, False, True]]
    """
    return np.asarray(ids) == pad_id


def to_additive_mask(mask: np.ndarray | None, dtype: Any) -> np.ndarray | None:
    """Bool mask (True = blocked) -> float mask with ``-inf`` where blocked, 0 elsewhere;
    a float mask is cast to ``dtype``; ``None`` stays ``None``.

    Raises:
        TypeError: for a mask that is neither bool nor float.

    Shape:
        mask: any shape -> same shape.

    Examples:
        >>> to_additive_mask(np.array([True, False]), np.float32).tolist()
        [-inf, 0.0]
    """
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype == np.bool_:
        return np.where(mask, -np.inf, 0.0).astype(dtype)
    if not np.issubdtype(mask.dtype, np.floating):
        raise TypeError(f"masks must be bool (True = blocked) or float (added), got dtype {mask.dtype}")
    return mask.astype(dtype, copy=False)


# --8<-- [start:merge_masks]
def merge_masks(
    attn_mask: np.ndarray | None,
    key_padding_mask: np.ndarray | None,
    N: int,
    H: int,
    T: int,
    S: int,
    dtype: Any,
    is_causal: bool = False,
) -> np.ndarray | None:
    """Check shapes and combine the masks into one **additive float** mask, as
    ``nn.MultiheadAttention``.

    ``is_causal`` adds the causal mask only when ``attn_mask`` is None (with a mask it is a
    hint, as in torch). Unlike the torch backend's ``merge_masks`` (which keeps an all-boolean
    result boolean for ``F.scaled_dot_product_attention``), the result here is always float:
    ``-inf`` where blocked, the float masks' values elsewhere.

    Raises:
        ValueError: ``"attn_mask: expected (T, S) = (3, 4) or (N*H, T, S) = (8, 3, 4), got
            (4, 3)"``, and likewise for ``key_padding_mask`` (expected ``(N, S)``).

    Shape:
        attn_mask: ``(T, S)`` or ``(N*H, T, S)``; key_padding_mask: ``(N, S)``;
        output: broadcastable to ``(N, H, T, S)``, or None when there is nothing to mask.

    Examples:
        >>> m = merge_masks(None, np.array([[False, True]]), N=1, H=2, T=1, S=2, dtype=np.float32)
        >>> m.shape, m.ravel().tolist()
        ((1, 1, 1, 2), [0.0, -inf])
    """
    mask = None
    if attn_mask is None and is_causal:
        attn_mask = causal_mask(T, S)  # True above the diagonal
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
# --8<-- [end:merge_masks]
