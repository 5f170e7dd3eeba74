"""LayerNorm: ours against torch.nn.LayerNorm, and the two details that must match exactly
(biased variance, eps inside the square root)."""

import numpy as np
import torch
from torch import nn

from transformer_anatomy.numpy import LayerNorm

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
