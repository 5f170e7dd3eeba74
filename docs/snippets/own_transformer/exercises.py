"""Solutions to the exercises of docs/own-transformer.md (tests/docs/test_own_transformer_snippets.py
checks each against PyTorch)."""

import torch


# --8<-- [start:causal_mask]
def causal_mask(T):
    """(T, T) bool, True = may not attend: position t may see positions 0..t only."""
    rows = torch.arange(T).unsqueeze(1)  # (T, 1): query positions
    cols = torch.arange(T).unsqueeze(0)  # (1, T): key positions
    return cols > rows  # (T, T): a key after the query is blocked
# --8<-- [end:causal_mask]


# --8<-- [start:sdpa_to_mha]
def sdpa_to_mha_mask(allowed):
    """A boolean mask in F.scaled_dot_product_attention's convention (True = may attend)
    turned into nn.MultiheadAttention's (True = may not attend)."""
    return ~allowed
# --8<-- [end:sdpa_to_mha]


# --8<-- [start:cache_bytes]
def kv_cache_bytes(num_layers, N, H, t, S, head_dim, dtype=torch.float64, source_padding=True,
                   target_padding=False):
    """Bytes a KVCache holds after t decoding steps, predicted from the shapes alone.

    Per decoder layer: self_k and self_v (N, H, t, E/H), cross_k and cross_v (N, H, S, E/H),
    the (N, S) bool memory_pad when the source is padded, and the (N, t) bool self_pad once
    a finished sequence has been fed a pad.
    """
    item = torch.empty((), dtype=dtype).element_size()
    per_layer = 2 * N * H * t * head_dim * item + 2 * N * H * S * head_dim * item
    per_layer += N * S if source_padding else 0  # one byte per bool
    per_layer += N * t if target_padding else 0
    return num_layers * per_layer
# --8<-- [end:cache_bytes]
