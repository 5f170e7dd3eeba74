"""Solutions to the exercises of docs/blocks.md (each one checked by tests/docs/test_blocks_snippets.py)."""

import numpy as np


# --8<-- [start:layer_norm]
def layer_norm(x, gamma, beta, eps=1e-5):
    """LayerNorm over the last axis, from scratch: (..., E) -> (..., E)."""
    mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased: divide by E, not E - 1
    return (x - mu) / np.sqrt(var + eps) * gamma + beta  # eps inside the square root
# --8<-- [end:layer_norm]


# --8<-- [start:row_std]
def output_row_std(x, g, b):
    """Std of each row of LayerNorm(x) when every γ_i = g and every β_i = b: |g| (b only shifts)."""
    E = x.shape[-1]
    return layer_norm(x, np.full(E, g), np.full(E, b)).std(axis=-1)
# --8<-- [end:row_std]


# --8<-- [start:shift_right]
def shift_right(y, lengths, sos_id, eos_id, pad_id):
    """Teacher-forcing pair for a batch of targets y (N, m) with real lengths ``lengths``:
    tgt_in = <sos> y_1 .. y_m, tgt_out = y_1 .. y_m <eos>, both (N, m + 1), padded after the end."""
    N, m = y.shape
    tgt_in = np.full((N, m + 1), pad_id, dtype=y.dtype)
    tgt_out = np.full((N, m + 1), pad_id, dtype=y.dtype)
    for n, L in enumerate(lengths):
        tgt_in[n, : L + 1] = [sos_id, *y[n, :L]]  # prepend <sos>: shifted right by one
        tgt_out[n, : L + 1] = [*y[n, :L], eos_id]  # the next token at every position
    return tgt_in, tgt_out
# --8<-- [end:shift_right]


# --8<-- [start:ffn_params]
def ffn_parameter_count(E, F):
    """Parameters of the position-wise FFN: W_1 (F, E) + b_1 (F) + W_2 (E, F) + b_2 (E)."""
    return F * E + F + E * F + E  # = 2EF + F + E
# --8<-- [end:ffn_params]
