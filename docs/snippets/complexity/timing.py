"""How forward time grows with sequence length, measured, next to the analytic FLOP split.

Attention's scores and weighted sum cost ``4·N·n²·E`` FLOPs; the projections and the FFN cost
``8·N·n·E² + 4·N·n·E·F``. They are equal at ``n = 2E + F``: below that length the layer is
dominated by its *linear* work, above it by the quadratic part.

The timings use one thread (``torch.set_num_threads(1)``, restored afterwards), and measure
the CPU time of that thread (``time.thread_time``) rather than the wall clock: the build machine
may be shared, and CPU time does not count the moments the thread waited for a core. Each time
is the minimum over a few interleaved rounds after a warm-up round.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F_
from matplotlib.figure import Figure

from transformer_anatomy.torch import TransformerEncoderLayer
from transformer_anatomy.viz import figure_to_svg

LENGTHS = (64, 128, 256, 512, 1024, 2048)
SMALL = dict(E=64, H=4, F=256)
ROUNDS = 5  # timed rounds (after one warm-up round); each time is the minimum over them


def crossover_analytic(E, F):
    """Length where attention's n² FLOPs equal the layer's linear FLOPs: 4n²E = 8nE² + 4nEF."""
    return 2 * E + F


def _seconds(fn):
    """CPU seconds the calling thread spent in ``fn()`` (with one torch thread, all of the work)."""
    t0 = time.thread_time()
    fn()
    return time.thread_time() - t0


@torch.no_grad()
def measure(lengths=LENGTHS, E=64, H=4, F=256, rounds=5, seed=0):
    """Forward seconds of one encoder layer (N = 1) and of its attention core alone, per length.

    The lengths are measured in interleaved rounds (every length once per round) and each time
    is the minimum over the rounds, so a burst of load from another process spoils one sample
    of every length rather than all samples of one.
    """
    torch.manual_seed(seed)
    layer = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        jobs = []
        for n in lengths:
            x = torch.randn(1, n, E)
            q, k, v = (t.contiguous() for t in layer.self_attn.project_qkv(x, x, x))  # 3 x (1, H, n, E/H)
            jobs.append((n, lambda x=x: layer(x),
                         lambda q=q, k=k, v=v: F_.scaled_dot_product_attention(q, k, v)))  # softmax(QKᵀ/√d)V
        best = {n: [float("inf"), float("inf")] for n in lengths}
        for r in range(rounds + 1):  # round 0 is a warm-up
            for n, run_layer, run_core in jobs:
                t_layer, t_core = _seconds(run_layer), _seconds(run_core)
                if r > 0:
                    best[n] = [min(best[n][0], t_layer), min(best[n][1], t_core)]
    finally:
        torch.set_num_threads(threads)
    return [(n, *best[n]) for n in lengths]


def crossover_measured(rows):
    """Length where the attention core takes half the layer's time (log-interpolated).

    Returns None if it never does in the measured range.
    """
    prev = None
    for n, t_layer, t_core in rows:
        ratio = t_core / max(t_layer - t_core, 1e-12)  # core / (projections + FFN + the rest)
        if ratio >= 1.0:
            if prev is None:
                return float(n)
            (n0, r0), (n1, r1) = prev, (n, ratio)
            f = (0.0 - np.log(r0)) / (np.log(r1) - np.log(r0))
            return float(np.exp(np.log(n0) + f * (np.log(n1) - np.log(n0))))
        prev = (n, ratio)
    return None


def figure(rows, E=64, F=256):
    """Left: measured times. Right: the analytic share of the layer's FLOPs in n² work."""
    n = np.array([r[0] for r in rows], dtype=float)
    t_layer = np.array([r[1] for r in rows]) * 1e3
    t_core = np.array([r[2] for r in rows]) * 1e3
    fig = Figure(figsize=(8, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.loglog(n, t_layer, "o-", label="whole encoder layer")
    ax1.loglog(n, t_core, "s-", label="attention core softmax(QKᵀ/√d)V")
    ax1.loglog(n, np.maximum(t_layer - t_core, 1e-6), "^-", label="the rest (projections, FFN, norms)")
    ax1.set_xlabel("sequence length n")
    ax1.set_ylabel("forward CPU time, ms (1 thread)")
    ax1.set_title(f"measured, E={E}, F={F}, N=1")
    ax1.legend(frameon=False, fontsize=8)
    grid = np.geomspace(n[0], 4 * crossover_analytic(512, 2048), 200)
    for E_, F_, style in ((E, F, "-"), (512, 2048, "--")):
        quad = 4 * grid**2 * E_
        share = quad / (quad + 8 * grid * E_**2 + 4 * grid * E_ * F_)
        ax2.semilogx(grid, share, style, label=f"E={E_}, F={F_}: crossover n={crossover_analytic(E_, F_)}")
        ax2.axvline(crossover_analytic(E_, F_), color="gray", lw=0.8, ls=style)
    ax2.axhline(0.5, color="gray", lw=0.5)
    ax2.set_xlabel("sequence length n")
    ax2.set_ylabel("share of layer FLOPs in n² terms")
    ax2.set_title("analytic")
    ax2.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def report():
    """Print the measured table, the two crossovers and the figure (HTML)."""
    E, F = SMALL["E"], SMALL["F"]
    rows = measure(**SMALL, rounds=ROUNDS)
    print("<table><tr><th>n</th><th>layer, ms</th><th>attention core, ms</th><th>core's share of the time</th>"
          "<th>n² terms' share of the FLOPs (analytic)</th></tr>")
    for n, t_layer, t_core in rows:
        share = 4 * n * n * E / (4 * n * n * E + 8 * n * E * E + 4 * n * E * F)
        print(f"<tr><td>{n}</td><td>{t_layer * 1e3:.2f}</td><td>{t_core * 1e3:.2f}</td>"
              f"<td>{t_core / t_layer:.2f}</td><td>{share:.2f}</td></tr>")
    print("</table>")
    measured = crossover_measured(rows)
    analytic = crossover_analytic(E, F)
    shown = "not reached in the measured range"
    if measured is not None:
        below = max((r[0] for r in rows if r[0] <= measured), default=rows[0][0])
        above = min((r[0] for r in rows if r[0] >= measured), default=rows[-1][0])
        shown = (f"n ≈ {measured:.0f}, between the measured lengths {below} and {above} "
                 f"({measured / analytic:.2f} × the analytic one)")
    print(f"<p>One thread, CPU time, minimum over {ROUNDS} rounds. Crossover, analytic (FLOPs): <strong>n = 2E + F = {analytic}</strong>; "
          f"measured (the attention core takes half the layer's time): <strong>{shown}</strong>. "
          f"For the base model (E = 512, F = 2048) the analytic crossover is "
          f"n = {crossover_analytic(512, 2048)}.</p>")
    print(figure_to_svg(figure(rows, E, F), alt="Forward time of an encoder layer against sequence length, "
                        "and the analytic share of its FLOPs in the quadratic attention terms",
                        caption="Left: measured CPU time (one thread). Right: the share of the FLOPs in the "
                        "n² terms, from the formula."))
