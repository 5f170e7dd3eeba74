"""The ×√E scaling of token embeddings: how large token vectors are next to the positional encoding."""

import math

import numpy as np
import torch

from transformer_anatomy.numpy import sinusoidal_table
from transformer_anatomy.torch import Seq2SeqTransformer


def norm_ratios(E=64, V=1000, L=50, seed=0):
    """Mean row norm of token embeddings (three set-ups) and of the sinusoidal table PE[:L].

    Returns a list of rows (set-up, init std, multiplier, mean ‖token‖, mean ‖PE‖, ratio).
    """
    rng = np.random.default_rng(seed)
    pe_norm = float(np.linalg.norm(sinusoidal_table(L, E), axis=1).mean())  # each row: sqrt(E/2)
    rows = []
    for name, std, mult in (
        ("N(0, 1), no scaling", 1.0, 1.0),
        ("N(0, 1) × √E  (nn.Embedding default + the paper's scaling)", 1.0, math.sqrt(E)),
        ("N(0, 1/E) × √E  (our contract)", E ** -0.5, math.sqrt(E)),
    ):
        W = rng.normal(0.0, std, (V, E)) * mult  # (V, E): every token vector as the model sees it
        tok_norm = float(np.linalg.norm(W, axis=1).mean())
        rows.append({"setup": name, "std": std, "mult": mult, "token": tok_norm, "pe": pe_norm,
                     "ratio": tok_norm / pe_norm})
    return rows


def model_embedding_std(E=64, seed=0):
    """Std of Seq2SeqTransformer's token table, and of the table times √E, with scale_embedding=True."""
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(100, 100, d_model=E, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=4 * E, scale_embedding=True)
    w = model.src_tok_emb.weight.detach()
    return float(w.std()), float((w * math.sqrt(E)).std())


def report(E=64):
    print(f"E = {E}; mean vector norm over 1000 tokens and over PE rows 0..49")
    print(f"{'token embedding as the model sees it':62} {'‖token‖':>8} {'‖PE‖':>6} {'ratio':>6}")
    for r in norm_ratios(E):
        print(f"{r['setup']:62} {r['token']:8.2f} {r['pe']:6.2f} {r['ratio']:6.2f}")
    w_std, scaled_std = model_embedding_std(E)
    print(f"\nour Seq2SeqTransformer(d_model={E}, scale_embedding=True): "
          f"std(weight) = {w_std:.4f} (1/√E = {E ** -0.5:.4f}), std(weight · √E) = {scaled_std:.3f}")
