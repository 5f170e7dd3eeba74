"""Solutions to the exercises of docs/notation.md (tests/docs/test_notation_snippets.py checks them)."""

import torch


# --8<-- [start:heads]
def split_heads(x, H):
    """(N, L, E) -> (N, H, L, E/H): a reshape and a transpose, no new numbers."""
    N, L, E = x.shape
    return x.reshape(N, L, H, E // H).transpose(1, 2)  # (N, L, H, E/H) -> (N, H, L, E/H)


def merge_heads(x):
    """(N, H, L, E/H) -> (N, L, E): the inverse of split_heads (the "concat" of the paper)."""
    N, H, L, D = x.shape
    return x.transpose(1, 2).reshape(N, L, H * D)  # (N, L, H, E/H) -> (N, L, E)
# --8<-- [end:heads]


# --8<-- [start:masks]
def to_sdpa_mask(blocked):
    """Our boolean mask (True = may not attend) -> F.scaled_dot_product_attention's (True = attend)."""
    return ~blocked


def to_float_mask(blocked):
    """Our boolean mask -> the additive float mask: -inf where blocked, 0 elsewhere."""
    return torch.zeros(blocked.shape).masked_fill(blocked, float("-inf"))
# --8<-- [end:masks]


# --8<-- [start:params]
def mha_param_count(E, H):
    """Parameters of MultiheadAttention(E, H): W_q, W_k, W_v, W_o (E × E each) and four biases of E.

    H does not appear: heads split the width, they do not add to it.
    """
    return 4 * E * E + 4 * E
# --8<-- [end:params]
