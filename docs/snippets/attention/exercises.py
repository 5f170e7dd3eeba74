"""Solutions to the exercises of docs/attention.md (each one checked by tests/docs/test_attention_snippets.py)."""

import numpy as np

from transformer_anatomy.numpy import softmax


# --8<-- [start:shift]
def shifted_weights(scores, c):
    """Softmax of each row of ``scores`` (T, S), and of the same rows with ``c`` added to every score."""
    return softmax(scores, axis=-1), softmax(scores + c, axis=-1)  # e^(z+c) = e^c e^z: e^c cancels
# --8<-- [end:shift]


# --8<-- [start:causal]
def causal_mask(T):
    """(T, T) boolean mask, True = may not attend: query t is blocked from every key s > t."""
    t = np.arange(T)
    return t[None, :] > t[:, None]  # (1, T) > (T, 1) -> (T, T): key index greater than query index
# --8<-- [end:causal]


# --8<-- [start:params]
def mha_parameter_count(E, H):
    """Parameters of nn.MultiheadAttention(E, H): W_q, W_k, W_v, W_O (E x E each) and four biases of E."""
    assert E % H == 0, "E must be divisible by H"
    per_head = 3 * (E * (E // H) + E // H)  # W_q^h, W_k^h, W_v^h (E, E/H) and their biases
    return H * per_head + E * E + E  # + W_O (E, E) and its bias: 4E² + 4E, whatever H is
# --8<-- [end:params]


# --8<-- [start:sdpa_mask]
def sdpa_attend_mask(key_padding_mask, T):
    """Our key padding mask (N, S), True = <pad>, as the (N, 1, T, S) mask F.scaled_dot_product_attention
    wants, where True = may attend."""
    N, S = key_padding_mask.shape
    allowed = ~np.asarray(key_padding_mask, dtype=bool)  # invert: SDPA's True means attend
    return np.broadcast_to(allowed[:, None, None, :], (N, 1, T, S))  # one row per query, every head
# --8<-- [end:sdpa_mask]
