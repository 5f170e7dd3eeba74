"""Attention masks: the causal (subsequent) mask, key padding masks, and how they merge.

Convention (the same as ``torch.nn.Transformer``): a **boolean** mask is ``True`` where a query
may **not** attend; a **float** mask is added to the scores (``0`` = attend, ``-inf`` = blocked).
``F.scaled_dot_product_attention`` uses the opposite boolean convention (``True`` = attend), so
:func:`merge_masks` returns ``blocked`` and callers invert it once, right before calling SDPA.

Page: ``docs/attention.md`` (masks and the mask-convention table).
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_anatomy.errors import check_int

__all__ = [
    "generate_square_subsequent_mask",
    "make_key_padding_mask",
    "sliding_window_mask",
    "padding_mask_or_none",
    "is_causal_mask",
    "canonical_attn_mask",
    "merge_masks",
]


def generate_square_subsequent_mask(
    sz: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Tensor:
    """Causal mask as ``nn.Transformer`` makes it: ``-inf`` above the diagonal, ``0`` elsewhere.

    Position ``i`` may attend to positions ``0..i`` only ("outputs shifted right" plus this mask
    is what makes the decoder autoregressive).

    Shape:
        output: ``(sz, sz)``, float (``dtype`` or the default float dtype).

    Examples:
        >>> generate_square_subsequent_mask(3)
        tensor([[0., -inf, -inf],
                [0., 0., -inf],
                [0., 0., 0.]])
    """
    if sz < 0:
        raise ValueError(f"sz must be >= 0, got {sz}")
    return torch.triu(torch.full((sz, sz), float("-inf"), dtype=dtype, device=device), diagonal=1)


# --8<-- [start:sliding_window_mask]
def sliding_window_mask(L: int, window: int) -> Tensor:
    """Local ("sliding-window") attention: True where query ``i`` may NOT attend key ``j``,
    that is where ``|i - j| > window`` (the library's convention: True = blocked).

    Shape:
        output: ``(L, L)`` bool.

    Examples:
        >>> sliding_window_mask(4, 1).int().tolist()
        [[0, 0, 1, 1], [0, 0, 0, 1], [1, 0, 0, 0], [1, 1, 0, 0]]
    """
    L, window = check_int("L", L, minimum=0), check_int("window", window, minimum=0)
    i = torch.arange(L)[:, None]  # (L, 1) queries
    j = torch.arange(L)[None, :]  # (1, L) keys
    return (i - j).abs() > window  # (L, L)
# --8<-- [end:sliding_window_mask]


def make_key_padding_mask(ids: Tensor, pad_id: int) -> Tensor:
    """Boolean key padding mask: ``True`` where ``ids == pad_id`` (those keys are ignored).

    Shape:
        ids: ``(N, S)`` (or ``(S,)`` unbatched), integer -> output: same shape, bool.

    Examples:
        >>> make_key_padding_mask(torch.tensor([[5, 6, 0, 0]]), pad_id=0)
        tensor([[False, False,  True,  True]])
    """
    return ids == pad_id


def padding_mask_or_none(ids: Tensor, pad_id: int) -> Tensor | None:
    """:func:`make_key_padding_mask`, or None when no id is ``pad_id``.

    The models pass None on to attention when nothing is padded, so that
    ``F.scaled_dot_product_attention`` runs unmasked (and may pick a faster kernel).

    Examples:
        >>> padding_mask_or_none(torch.tensor([[5, 6, 0]]), pad_id=0)
        tensor([[False, False,  True]])
        >>> padding_mask_or_none(torch.tensor([[5, 6, 7]]), pad_id=0) is None
        True
    """
    pad = make_key_padding_mask(ids, pad_id)
    return pad if bool(pad.any()) else None


def is_causal_mask(mask: Tensor | None, size: int) -> bool:
    """True when ``mask`` is exactly the ``(size, size)`` causal mask, boolean or float.

    ``nn.Transformer`` runs the same check (``_detect_is_causal_mask``) so that a causal
    ``tgt_mask`` can be replaced by ``is_causal=True`` in ``F.scaled_dot_product_attention``,
    which then skips the blocked half of the scores instead of adding ``-inf`` to it.

    Examples:
        >>> is_causal_mask(generate_square_subsequent_mask(4), 4), is_causal_mask(torch.zeros(4, 4), 4)
        (True, False)
    """
    if mask is None or mask.dim() != 2 or tuple(mask.shape) != (size, size):
        return False
    upper = torch.ones(size, size, dtype=torch.bool, device=mask.device).triu_(1)
    if mask.dtype == torch.bool:
        return bool(torch.equal(mask, upper))
    return bool(torch.equal(torch.isneginf(mask), upper) and not mask.masked_fill(upper, 0).any())


def canonical_attn_mask(
    attn_mask: Tensor, N: int, H: int, T: int, S: int, unbatched: bool = False
) -> Tensor:
    """Check an ``attn_mask`` and view it as 4-D so it broadcasts against ``(N, H, T, S)``.

    A 2-D mask ``(T, S)`` is shared by every batch element and head; a 3-D mask
    ``(N*H, T, S)`` (``(H, T, S)`` for unbatched input) gives each (batch, head) pair its own.

    Shape:
        attn_mask: ``(T, S)`` -> ``(1, 1, T, S)``; ``(N*H, T, S)`` -> ``(N, H, T, S)``.

    Examples:
        >>> canonical_attn_mask(torch.zeros(2 * 4, 3, 5), N=2, H=4, T=3, S=5).shape
        torch.Size([2, 4, 3, 5])
    """
    _check_mask_dtype(attn_mask, "attn_mask")
    if attn_mask.dim() == 2 and tuple(attn_mask.shape) == (T, S):
        return attn_mask.view(1, 1, T, S)  # (T, S) -> (1, 1, T, S)
    if attn_mask.dim() == 3 and tuple(attn_mask.shape) == (N * H, T, S):
        return attn_mask.view(N, H, T, S)  # (N*H, T, S) -> (N, H, T, S)
    nh = "H" if unbatched else "N*H"
    raise ValueError(
        f"attn_mask: expected (T, S) or ({nh}, T, S) = ({T}, {S}) or ({N * H}, {T}, {S}), "
        f"got {tuple(attn_mask.shape)}"
    )


def _check_mask_dtype(mask: Tensor, name: str) -> None:
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a bool or float torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not torch.is_floating_point(mask):
        raise TypeError(f"{name} must be bool (True = blocked) or float (added), got {mask.dtype}")


# --8<-- [start:merge_masks]
def merge_masks(
    attn_mask: Tensor | None,
    key_padding_mask: Tensor | None,
    is_causal: bool,
    N: int,
    H: int,
    T: int,
    S: int,
    dtype: torch.dtype,
    device: torch.device,
    unbatched: bool = False,
) -> Tensor | None:
    """Merge ``attn_mask``, ``key_padding_mask`` and ``is_causal`` into one mask.

    Returns ``None`` (no masking), a **boolean** ``blocked`` mask when every input is boolean, or
    an **additive float** mask (booleans become ``-inf``) when any input is float — the same
    arithmetic as ``nn.MultiheadAttention``, which adds a float key padding mask to the scores.
    ``is_causal`` is used only when ``attn_mask`` is None (with a mask it is a hint, as in torch).

    Shape:
        attn_mask: ``(T, S)`` or ``(N*H, T, S)``; key_padding_mask: ``(N, S)``;
        output: broadcastable to ``(N, H, T, S)``: ``(1 or N, 1 or H, T or 1, S)``.

    Examples:
        >>> pad = torch.tensor([[False, False, True]])  # (N, S) = (1, 3)
        >>> merge_masks(None, pad, True, 1, 2, 3, 3, torch.float32, torch.device("cpu")).int()[0, 0]
        tensor([[0, 1, 1],
                [0, 0, 1],
                [0, 0, 1]], dtype=torch.int32)
        >>> merge_masks(torch.zeros(3, 3), pad, False, 1, 2, 3, 3, torch.float32, torch.device("cpu")).dtype
        torch.float32
    """
    masks = []
    if attn_mask is not None:
        masks.append(canonical_attn_mask(attn_mask, N, H, T, S, unbatched))
    elif is_causal:
        causal = torch.ones(T, S, dtype=torch.bool, device=device).triu_(1)
        masks.append(causal.view(1, 1, T, S))  # (T, S) -> (1, 1, T, S)
    if key_padding_mask is not None:
        _check_mask_dtype(key_padding_mask, "key_padding_mask")
        if tuple(key_padding_mask.shape) != (N, S):
            want = f"(S,) = ({S},)" if unbatched else f"(N, S) = ({N}, {S})"
            raise ValueError(
                f"key_padding_mask: expected {want}, got {tuple(key_padding_mask.shape)}"
            )
        masks.append(key_padding_mask.view(N, 1, 1, S))  # (N, S) -> (N, 1, 1, S)
    if not masks:
        return None
    if all(m.dtype == torch.bool for m in masks):
        merged = masks[0]
        for m in masks[1:]:
            merged = merged | m  # blocked if any mask blocks
        return merged
    merged = None
    for m in masks:
        if m.dtype == torch.bool:  # True -> -inf, False -> 0
            m = torch.zeros(m.shape, dtype=dtype, device=device).masked_fill_(m, float("-inf"))
        else:
            m = m.to(dtype)
        merged = m if merged is None else merged + m
    return merged
# --8<-- [end:merge_masks]
