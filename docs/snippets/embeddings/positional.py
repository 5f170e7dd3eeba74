"""The sinusoidal table: NumPy vs PyTorch, its heatmap, and why it encodes relative positions."""

import math

import numpy as np

from transformer_anatomy.numpy import sinusoidal_table
from transformer_anatomy.torch import sinusoidal_table as torch_sinusoidal_table
from transformer_anatomy.viz import figure_to_img, plot_positional_encoding


def numpy_vs_torch(max_len=512, E=64):
    """Max |NumPy table - PyTorch table| (both float64)."""
    return float(np.abs(sinusoidal_table(max_len, E) - torch_sinusoidal_table(max_len, E).numpy()).max())


def report_heatmap(L=64, E=64):
    fig = plot_positional_encoding(sinusoidal_table(L, E))
    print(figure_to_img(fig, alt=f"Heatmap of the sinusoidal positional encoding, {L} positions by {E} dimensions"))


def offset_dot_products(E=64, max_len=200, offsets=(0, 1, 2, 5, 20), positions=range(0, 150)):
    """PE[p] · PE[p + k] for many p: for each offset k, the min and max over p (equal: depends on k only)."""
    pe = sinusoidal_table(max_len, E)  # (max_len, E)
    rows = []
    for k in offsets:
        dots = np.array([pe[p] @ pe[p + k] for p in positions])
        # the closed form: sum over frequencies of cos(k * w_i)
        closed = float(np.cos(k * np.exp(np.arange(0, E, 2) * (-math.log(10000.0) / E))).sum())
        rows.append({"k": k, "min": float(dots.min()), "max": float(dots.max()), "closed": closed,
                     "spread": float(dots.max() - dots.min())})
    return rows


def rotation_check(E=64, max_len=200, k=7):
    """PE[p + k] = R_k PE[p] for every p, with R_k a block-diagonal rotation built from k alone.

    Returns max_p |PE[p + k] - R_k PE[p]|.
    """
    pe = sinusoidal_table(max_len, E)
    w = np.exp(np.arange(0, E, 2) * (-math.log(10000.0) / E))  # (E/2,) frequencies
    R = np.zeros((E, E))
    for i, wi in enumerate(w):  # each (sin, cos) pair turns by the angle k * w_i
        c, s = math.cos(k * wi), math.sin(k * wi)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[c, s], [-s, c]]
    moved = pe[:-k] @ R.T  # (max_len - k, E): R_k applied to every row
    return float(np.abs(moved - pe[k:]).max())


def report_offsets(E=64):
    print(f"E = {E}; PE[p] · PE[p + k] over positions p = 0..149")
    print(f"{'k':>3} {'min over p':>11} {'max over p':>11} {'Σ cos(k·ω_i)':>13}")
    for r in offset_dot_products(E):
        print(f"{r['k']:>3} {r['min']:11.6f} {r['max']:11.6f} {r['closed']:13.6f}")
    print(f"\nmax over p of |PE[p + 7] - R_7 PE[p]| = {rotation_check(E):.1e}")


def report_numpy_vs_torch():
    print(f"max |NumPy table - PyTorch table| (512 positions, E = 64, float64) = {numpy_vs_torch():.1e}")
