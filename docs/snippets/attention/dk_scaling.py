"""Why divide by √d_k: dot products of random unit-variance vectors have variance d_k,
and softmax of scores that large is almost one-hot, with almost no gradient."""

import functools
import math

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy import softmax
from transformer_anatomy.viz import figure_to_svg

D_KS = (4, 16, 64, 256, 1024)


# --8<-- [start:dot_variance]
def dot_variance(d_k, n=8000, seed=0):
    """Sample variance of q·k and of q·k/√d_k over n pairs of N(0, 1) vectors of width d_k."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, d_k), dtype=np.float32)
    k = rng.standard_normal((n, d_k), dtype=np.float32)
    dots = np.einsum("nd,nd->n", q, k, dtype=np.float64)  # (n,)
    return float(dots.var()), float((dots / math.sqrt(d_k)).var())
# --8<-- [end:dot_variance]


# The figure, the table and the summary read one computation per width.
dot_variance = functools.cache(dot_variance)


@functools.cache
def saturation(d_k, S=16, n=2000, seed=0):
    """Softmax over S keys of scores q·k (unscaled) and q·k/√d_k (scaled).

    Returns, for each: the mean largest weight in a row, and the mean Frobenius norm of the
    softmax Jacobian diag(p) - p pᵀ (how much gradient reaches the scores).
    """
    rng = np.random.default_rng(seed + 1)
    q = rng.standard_normal((n, 1, d_k))
    k = rng.standard_normal((n, S, d_k))
    scores = (q @ k.transpose(0, 2, 1))[:, 0]  # (n, 1, d_k) @ (n, d_k, S) -> (n, S)
    out = {}
    for name, z in (("unscaled", scores), ("scaled", scores / math.sqrt(d_k))):
        p = softmax(z, axis=-1)  # (n, S)
        jac = p[:, :, None] * np.eye(S) - p[:, :, None] * p[:, None, :]  # (n, S, S)
        out[name] = {"max_weight": float(p.max(axis=1).mean()),
                     "jacobian_norm": float(np.linalg.norm(jac, axis=(1, 2)).mean())}
    return out


def report_variance():
    print(f"{'d_k':>5} {'var(q·k)':>10} {'var(q·k / √d_k)':>16}")
    for d_k in D_KS:
        v, vs = dot_variance(d_k)
        print(f"{d_k:>5} {v:10.2f} {vs:16.3f}")


def report_saturation(S=16):
    print(f"softmax over S = {S} keys, mean over 2000 rows")
    print(f"{'d_k':>5} {'largest weight':>24} {'‖softmax Jacobian‖':>26}")
    print(f"{'':>5} {'unscaled':>12} {'scaled':>11} {'unscaled':>13} {'scaled':>12}")
    for d_k in D_KS:
        r = saturation(d_k, S)
        print(f"{d_k:>5} {r['unscaled']['max_weight']:12.3f} {r['scaled']['max_weight']:11.3f} "
              f"{r['unscaled']['jacobian_norm']:13.4f} {r['scaled']['jacobian_norm']:12.4f}")


def figure_scaling(S=16):
    """Spread of the scores, largest softmax weight and softmax-Jacobian norm against d_k,
    without and with the 1/√d_k."""
    var = [dot_variance(d) for d in D_KS]
    sat = [saturation(d, S) for d in D_KS]
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    styles = (("unscaled", "#d62728", "o", "q·k"), ("scaled", "#1f77b4", "s", "q·k / √d_k"))
    for i, (name, color, marker, label) in enumerate(styles):
        a.plot(D_KS, [math.sqrt(v[i]) for v in var], marker=marker, color=color, label=label)
        b.plot(D_KS, [r[name]["max_weight"] for r in sat], marker=marker, color=color, label=label)
        c.plot(D_KS, [r[name]["jacobian_norm"] for r in sat], marker=marker, color=color, label=label)
    a.set_yscale("log", base=2)
    a.set_ylabel("std of the score")
    b.set_ylim(0, 1.02)
    b.set_ylabel("largest weight in a row")
    c.set_ylabel("‖softmax Jacobian‖")
    c.set_ylim(bottom=0)
    for ax, title in zip((a, b, c), ("spread of the scores", "saturation", "gradient passed back")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d_k (head width)")
        ax.set_title(title, fontsize=10)
    a.legend(fontsize=8, frameon=False)
    return figure_to_svg(fig, alt="Three curves against d_k from 4 to 1024: the standard deviation of the "
                         "scores grows like the square root of d_k without scaling and stays at 1 with it; "
                         "without scaling the largest softmax weight rises towards 1 and the Jacobian norm "
                         "falls, with scaling both stay flat",
                         caption=f"Random N(0, 1) queries and keys, softmax over S = {S} keys. "
                                 "Red: unscaled, blue: divided by √d_k.")


def scaling_summary(S=16):
    """The numbers the page quotes: at the smallest and the largest d_k, without and with scaling."""
    lo, hi = saturation(D_KS[0], S), saturation(D_KS[-1], S)
    scaled = [saturation(d, S)["scaled"]["max_weight"] for d in D_KS]
    return {"smax_min": min(scaled), "smax_max": max(scaled),"d_lo": D_KS[0], "d_hi": D_KS[-1], "S": S,
            "max_lo": lo["unscaled"]["max_weight"], "max_hi": hi["unscaled"]["max_weight"],
            "jac_lo": lo["unscaled"]["jacobian_norm"], "jac_hi": hi["unscaled"]["jacobian_norm"],
            "std_hi": math.sqrt(dot_variance(D_KS[-1])[0])}


def report_scaling_summary(S=16):
    r = scaling_summary(S)
    print(f"<p>Unscaled, the scores' standard deviation reaches {r['std_hi']:.1f} at d<sub>k</sub> = "
          f"{r['d_hi']}, the largest of {r['S']} weights climbs from {r['max_lo']:.2f} at d<sub>k</sub> = "
          f"{r['d_lo']} to {r['max_hi']:.2f} (nearly one-hot), and the Jacobian norm falls from "
          f"{r['jac_lo']:.3f} to {r['jac_hi']:.3f}. Scaled, the largest weight stays between "
          f"{r['smax_min']:.2f} and {r['smax_max']:.2f} at every width.</p>")
