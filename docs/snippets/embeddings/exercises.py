"""Solutions to the exercises of docs/embeddings.md (tests/docs/test_embeddings_snippets.py checks them)."""

import math

import numpy as np
import torch


# --8<-- [start:mask_from_lengths]
def mask_from_lengths(lengths, L):
    """Key padding mask from sequence lengths: True where position >= length (a <pad>).

    Shape: lengths (N,) -> mask (N, L).
    """
    positions = np.arange(L)[None, :]  # (1, L)
    return positions >= np.asarray(lengths)[:, None]  # (1, L) >= (N, 1) -> (N, L)
# --8<-- [end:mask_from_lengths]


# --8<-- [start:predicted_ratio]
def predicted_ratio(std, mult):
    """Predicted ‖token‖ / ‖PE‖ for token entries N(0, std²) times ``mult``.

    ‖token‖ ≈ std · mult · √E and ‖PE row‖ = √(E/2), so E cancels: std · mult · √2.
    """
    return std * mult * math.sqrt(2)
# --8<-- [end:predicted_ratio]


# --8<-- [start:shift]
def shift(pe_row, k):
    """PE[p + k] from PE[p] alone: rotate each (sin, cos) pair by the angle k · ω_i.

    Shape: pe_row (E,) with E even -> (E,).
    """
    E = len(pe_row)
    w = np.exp(np.arange(0, E, 2) * (-math.log(10000.0) / E))  # (E/2,) frequencies ω_i
    s, c = pe_row[0::2], pe_row[1::2]  # sin(p ω_i), cos(p ω_i)
    out = np.empty(E)
    out[0::2] = s * np.cos(k * w) + c * np.sin(k * w)  # sin(a + b)
    out[1::2] = c * np.cos(k * w) - s * np.sin(k * w)  # cos(a + b)
    return out
# --8<-- [end:shift]


# --8<-- [start:permuted]
@torch.no_grad()
def permutation_gap(positions, E=16, S=5, seed=0):
    """max |enc(x)[perm] - enc(x[perm])| for a torch encoder layer, with or without positions added."""
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(E, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True)
    x = torch.randn(1, S, E)  # (N, S, E): S token vectors
    perm = torch.randperm(S)
    pe = torch.stack([torch.sin(torch.arange(S) / 10 ** (i / E)) for i in range(E)], dim=1)  # (S, E), any table
    add = (lambda t: t + pe) if positions else (lambda t: t)
    return float((layer(add(x))[:, perm] - layer(add(x[:, perm]))).abs().max())
# --8<-- [end:permuted]
