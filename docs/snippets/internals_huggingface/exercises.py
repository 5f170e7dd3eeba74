"""Solutions to the exercises of docs/internals-huggingface.md (shown on the page, checked by tests/docs/test_internals_huggingface.py)."""

import torch


# --8<-- [start:extended]
def extended_mask(attention_mask, T=None, dtype=torch.float32):
    """HuggingFace's 2-D attention_mask (N, S), 1 = attend -> the (N, 1, T, S) additive mask eager BERT adds."""
    N, S = attention_mask.shape
    T = S if T is None else T
    blocked = attention_mask[:, None, None, :] == 0  # (N, 1, 1, S): True at padding
    return torch.zeros(N, 1, T, S, dtype=dtype).masked_fill(blocked, torch.finfo(dtype).min)
# --8<-- [end:extended]


# --8<-- [start:key_padding]
def to_key_padding_mask(attention_mask):
    """HuggingFace (1 = attend) -> PyTorch key_padding_mask (True = ignore)."""
    return attention_mask == 0
# --8<-- [end:key_padding]
