"""The sinusoidal table: NumPy vs PyTorch, its heatmap, and why it encodes relative positions."""

import math

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy import sinusoidal_table
from transformer_anatomy.torch import sinusoidal_table as torch_sinusoidal_table
from transformer_anatomy.viz import figure_to_svg


def numpy_vs_torch(max_len=512, E=64):
    """Max |NumPy table - PyTorch table| (both float64)."""
    return float(np.abs(sinusoidal_table(max_len, E) - torch_sinusoidal_table(max_len, E).numpy()).max())


def heatmap_figure(L=64, E=64):
    """The table PE[:L] as a heatmap: position down, dimension across."""
    fig = Figure(figsize=(6.4, 3.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(sinusoidal_table(L, E), cmap="viridis", vmin=-1, vmax=1, aspect="auto",
                      interpolation="nearest")
    ax.set_xlabel("dimension (even: sin, odd: cos)")
    ax.set_ylabel("position p")
    fig.colorbar(image, ax=ax, label="PE[p, dimension]")
    return fig


def report_heatmap(L=64, E=64):
    print(figure_to_svg(heatmap_figure(L, E),
                        alt=f"Heatmap of the sinusoidal positional encoding, {L} positions by {E} dimensions: "
                            "stripes that change fast in the left columns and hardly at all in the right ones",
                        caption=f"PE[:{L}] for E = {E}: each row is the vector added at one position."))


def wavelengths(E=64):
    """Positions per full turn of each (sin, cos) pair: 2π / ω_i."""
    return 2 * math.pi / np.exp(np.arange(0, E, 2) * (-math.log(10000.0) / E))


CURVE_COLUMNS = (0, 2, 10, 20)


def curves_figure(L=64, E=64, columns=CURVE_COLUMNS):
    """A few columns of the table against the position: sines of decreasing frequency."""
    pe = sinusoidal_table(L, E)
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    for c in columns:
        ax.plot(range(L), pe[:, c], lw=1.5, label=f"dimension {c} (wavelength {wavelengths(E)[c // 2]:.0f})")
    ax.set_xlabel("position p (tokens)")
    ax.set_ylabel("PE[p, dimension]")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(True, alpha=0.3)
    return fig


def report_curves(L=64, E=64):
    print(figure_to_svg(curves_figure(L, E),
                        alt="Four columns of the positional encoding against the position: the first oscillates "
                            "every few positions, the later ones ever more slowly",
                        caption="Columns of PE as curves: each pair of dimensions is a clock of its own speed."))


def notice_curves(L=64, E=64):
    w = wavelengths(E)
    print(f"The wavelengths grow geometrically, from {w[0]:.1f} positions for the first pair to {w[-1]:.0f} for "
          f"the last (for $E = {E}$). Over the {L} positions drawn, the fastest pair turns {L / w[0]:.1f} times, "
          f"the slowest {L / w[-1]:.4f} of a turn: the left columns tell neighbours apart, the right columns "
          f"tell far-apart regions apart.")


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


def offsets_figure(E=64, max_k=100, positions=range(0, 100)):
    """PE[p] · PE[p + k] against k, as a band from its minimum to its maximum over many p."""
    pe = sinusoidal_table(max_k + max(positions) + 1, E)
    ks = np.arange(max_k + 1)
    dots = np.array([[pe[p] @ pe[p + k] for p in positions] for k in ks])  # (k, p)
    closed = np.cos(np.outer(ks, np.exp(np.arange(0, E, 2) * (-math.log(10000.0) / E)))).sum(axis=1)
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(ks, dots.min(axis=1), dots.max(axis=1), color="tab:blue", alpha=0.4, label="min..max over p")
    ax.plot(ks, closed, color="tab:orange", lw=1.2, ls="--", label="Σ cos(k·ω_i)")
    ax.set_xlabel("offset k (tokens)")
    ax.set_ylabel("PE[p] · PE[p + k]")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig, float((dots.max(axis=1) - dots.min(axis=1)).max()), float(np.abs(dots - closed[:, None]).max())


def report_offsets_figure(E=64):
    fig, spread, err = offsets_figure(E)
    print(figure_to_svg(fig, alt="The dot product of two positional-encoding rows against their offset: highest at "
                                 "offset zero, falling and then wobbling; the band over starting positions is a line",
                        caption="PE[p] · PE[p + k] depends on k alone: the band over p has no width."))


def notice_offsets(E=64, positions=range(0, 100)):
    _, spread, err = offsets_figure(E, positions=positions)
    print(f"Over {len(positions)} starting positions the band is at most {spread:.1e} wide and lies on the closed form "
          f"(largest difference {err:.1e}): the dot product of two positions is a function of their distance only. "
          f"It is largest, $E/2 = {E // 2}$, at offset zero and falls off with distance, so nearby positions look "
          f"alike to a dot product.")
