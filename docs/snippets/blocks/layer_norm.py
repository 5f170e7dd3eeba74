"""LayerNorm: ours against torch.nn.LayerNorm, and the two details that must match exactly
(biased variance, eps inside the square root)."""

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.numpy import LayerNorm
from transformer_anatomy.viz import figure_to_svg

E = 8  # model width


def inputs(seed=0):
    """Rows of three kinds: ordinary, large offset and scale, and almost constant."""
    rng = np.random.default_rng(seed)
    return np.stack([
        rng.standard_normal(E),
        1000.0 + 50.0 * rng.standard_normal(E),  # large mean and scale
        1.0 + 1e-3 * rng.standard_normal(E),  # variance ~1e-6, comparable to eps = 1e-5
    ])  # (3, E)


def compare_with_torch(seed=0):
    """Max |ours - nn.LayerNorm| in float64 and float32, with random weight and bias."""
    x = inputs(seed)
    rng = np.random.default_rng(seed + 1)
    w, b = rng.standard_normal(E), rng.standard_normal(E)
    diffs = {}
    for dt, tdt in ((np.float64, torch.float64), (np.float32, torch.float32)):
        ours = LayerNorm(E, dtype=dt)
        ours.load_state_dict({"weight": w, "bias": b})
        ref = nn.LayerNorm(E, dtype=tdt)
        with torch.no_grad():
            ref.weight.copy_(torch.from_numpy(w))
            ref.bias.copy_(torch.from_numpy(b))
            want = ref(torch.from_numpy(x).to(tdt)).numpy()
        diffs[np.dtype(dt).name] = float(np.abs(ours(x.astype(dt)) - want).max())
    return diffs


def variants(eps=1e-5, seed=0):
    """Max |variant - nn.LayerNorm| for two plausible mistakes, row by row."""
    x = inputs(seed)
    want = nn.LayerNorm(E, eps=eps, dtype=torch.float64)(torch.from_numpy(x)).detach().numpy()
    mu = x.mean(-1, keepdims=True)
    var_biased = x.var(-1, keepdims=True)  # divide by E (what LayerNorm uses)
    var_unbiased = x.var(-1, ddof=1, keepdims=True)  # divide by E - 1 (torch.var's default)
    out = {
        "ours (biased var, eps inside sqrt)": (x - mu) / np.sqrt(var_biased + eps),
        "unbiased variance": (x - mu) / np.sqrt(var_unbiased + eps),
        "eps outside the sqrt": (x - mu) / (np.sqrt(var_biased) + eps),
    }
    return {name: np.abs(y - want).max(axis=-1) for name, y in out.items()}  # (3,) per variant


def report():
    """Print both comparisons."""
    for dt, d in compare_with_torch().items():
        print(f"{dt}: max |ours - nn.LayerNorm| = {d:.1e}")
    print()
    print("max |variant - nn.LayerNorm| per row:  ordinary    large    nearly constant")
    for name, d in variants().items():
        print(f"{name:36s}  {d[0]:8.1e}  {d[1]:8.1e}  {d[2]:8.1e}")


def distribution_rows(E_wide=256, seed=0):
    """Three token vectors of width ``E_wide`` with different means and scales, before and after LayerNorm
    (γ = 1, β = 0). Returns (x, y, [(mean, std) before], [(mean, std) after])."""
    rng = np.random.default_rng(seed)
    x = np.stack([m + s * rng.standard_normal(E_wide) for m, s in ((-4.0, 0.5), (1.0, 2.0), (6.0, 1.0))])
    y = LayerNorm(E_wide, dtype=np.float64)(x)  # (3, E_wide): each row normalised on its own
    stats = lambda a: [(round(float(r.mean()), 3) + 0.0, float(r.std())) for r in a]  # + 0.0: no "-0.0"
    return x, y, stats(x), stats(y)


def figure_distributions():
    """Histograms of three rows' features before and after LayerNorm."""
    x, y, before, after = distribution_rows()
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2)
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c")
    for i, c in enumerate(colors):
        a.hist(x[i], bins=30, color=c, alpha=0.6, label=f"row {i}: mean {before[i][0]:.1f}, std {before[i][1]:.1f}")
        b.hist(y[i], bins=30, color=c, alpha=0.6, label=f"row {i}: mean {after[i][0]:.1f}, std {after[i][1]:.2f}")
    a.set_title("input rows", fontsize=10)
    b.set_title("after LayerNorm (γ = 1, β = 0)", fontsize=10)
    for ax in (a, b):
        ax.set_xlabel("feature value")
        ax.set_ylabel("features per bin")
        ax.legend(fontsize=7, frameon=False)
    return figure_to_svg(fig, alt="Histograms of the features of three token vectors: before LayerNorm they sit at "
                         "different places with different widths; after it all three are centred at 0 with width 1",
                         caption=f"Three rows of {x.shape[1]} features each, normalised one row at a time.")
