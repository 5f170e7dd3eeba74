"""The self-assessment page's figures and worked examples: score spread against head width,
the FLOPs of a layer against length, and the teacher-forcing layout of one real batch."""


import torch
from matplotlib.figure import Figure

from transformer_anatomy.viz import figure_to_svg

from advanced_training.warmup import EOS, FIRST_SYMBOL, SOS, reversal_batch  # noqa: E402

WIDTHS = (4, 16, 64, 256, 1024)  # head widths d = E/H to draw
BASE = dict(E=512, F=2048)  # the paper's base model


def score_spread(d, n=4096, seed=0):
    """Standard deviation of q·k and of q·k/√d over n pairs of vectors with d unit-variance entries,
    and the mean largest softmax weight of a row of eight such scores (unscaled, scaled)."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(n, 8, d, generator=g, dtype=torch.float64), torch.randn(n, 8, d, generator=g, dtype=torch.float64)
    s = (q[:, :1] * k).sum(-1)  # (n, 8): one query against eight keys
    top = [float(torch.softmax(x, -1).max(-1).values.mean()) for x in (s, s / d**0.5)]
    return float(s.std()), float((s / d**0.5).std()), top[0], top[1]


def show_score_spread():
    """Two panels: score spread and softmax saturation against head width (HTML)."""
    rows = {d: score_spread(d) for d in WIDTHS}
    fig = Figure(figsize=(7.6, 3.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.loglog(WIDTHS, [rows[d][0] for d in WIDTHS], "o-", label="q·k")
    left.loglog(WIDTHS, [rows[d][1] for d in WIDTHS], "o-", label="q·k / √d")
    left.set_xlabel("head width d")
    left.set_ylabel("std of the scores")
    left.legend(frameon=False)
    right.semilogx(WIDTHS, [rows[d][2] for d in WIDTHS], "o-", label="unscaled")
    right.semilogx(WIDTHS, [rows[d][3] for d in WIDTHS], "o-", label="scaled")
    right.set_xlabel("head width d")
    right.set_ylabel("mean largest weight of a row")
    right.legend(frameon=False)
    print(figure_to_svg(fig, alt="Standard deviation of attention scores and the largest softmax weight against "
                                 "head width, with and without the square-root scaling",
                        caption="Random queries and keys with unit-variance entries; a row has eight keys."))
    lo, hi = WIDTHS[0], WIDTHS[-1]
    print(f"<p>Unscaled, the spread grows from {rows[lo][0]:.2f} at d = {lo} to {rows[hi][0]:.1f} at d = {hi} and "
          f"the largest weight of a row from {rows[lo][2]:.2f} to {rows[hi][2]:.2f} (nearly one-hot); scaled, the "
          f"spread stays between {min(rows[d][1] for d in WIDTHS):.2f} and {max(rows[d][1] for d in WIDTHS):.2f}.</p>")


def layer_flops(n, E, F):
    """(linear part, quadratic part) of one encoder layer's forward FLOPs per sequence of length n."""
    return 8 * n * E**2 + 4 * n * E * F, 4 * n**2 * E


def show_flops(E=BASE["E"], F=BASE["F"]):
    """Linear against quadratic FLOPs of one encoder layer against length, with the crossover (HTML)."""
    ns = [2**k for k in range(4, 15)]
    lin, quad = zip(*(layer_flops(n, E, F) for n in ns))
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.loglog(ns, [x / 1e9 for x in lin], "o-", ms=3, label="projections + feed-forward (∝ n)")
    ax.loglog(ns, [x / 1e9 for x in quad], "o-", ms=3, label="scores + weighted sum (∝ n²)")
    ax.axvline(2 * E + F, color="gray", ls=":", lw=1)
    ax.set_xlabel("sequence length n (tokens)")
    ax.set_ylabel("forward GFLOPs, one layer")
    ax.legend(frameon=False, fontsize=8)
    print(figure_to_svg(fig, alt="Linear and quadratic parts of an encoder layer's forward FLOPs against sequence "
                                 "length, crossing at 2E + F",
                        caption=f"E = {E}, F = {F} (the paper's base model); dotted: n = 2E + F = {2 * E + F}."))
    a, b = layer_flops(2 * E + F, E, F)
    print(f"<p>At n = {2 * E + F} the two parts are equal ({a / 1e9:.1f} GFLOPs each).</p>")


NAMES = {0: "<pad>", SOS: "<sos>", EOS: "<eos>"}


def report_teacher_forcing(L=4):
    """One example of a real batch: decoder input and target, position by position (Markdown)."""
    src, tgt_in, tgt_out = reversal_batch(torch.Generator().manual_seed(0), N=1, L=L)
    name = lambda i: NAMES.get(int(i), chr(ord("a") + int(i) - FIRST_SYMBOL))  # noqa: E731
    print(f"Source `{' '.join(name(i) for i in src[0])}`; the target is the source backwards. "
          f"`tgt_in` {tuple(tgt_in.shape)}, `tgt_out` {tuple(tgt_out.shape)}:\n")
    print("| position | " + " | ".join(str(t) for t in range(tgt_in.shape[1])) + " |")
    print("|---|" + "---|" * tgt_in.shape[1])
    print("| decoder input | " + " | ".join(f"`{name(i)}`" for i in tgt_in[0]) + " |")
    print("| target | " + " | ".join(f"`{name(i)}`" for i in tgt_out[0]) + " |")
