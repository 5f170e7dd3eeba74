"""Peak memory of naive attention and of FlashAttention in NumPy, measured with tracemalloc as T
grows; and the time each takes (the honest part: in NumPy the tiled loop is slower)."""

import time
import tracemalloc

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy.attention import scaled_dot_product_attention
from transformer_anatomy.numpy.flash import flash_attention_forward
from transformer_anatomy.viz import figure_to_svg

D, BLOCK, DTYPE = 64, 64, np.float32  # one head of width 64, tiles of 64 × 64, float32
LENGTHS = (128, 256, 512, 1024, 2048, 4096)


# --8<-- [start:peak]
def peak_bytes(fn):
    """The largest amount of memory NumPy held at once while ``fn()`` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]  # (current, peak): the peak
    finally:
        tracemalloc.stop()


def measure(T, seed=0):
    """Peak bytes of naive attention and of flash attention on q, k, v of shape (T, D)."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((T, D)).astype(DTYPE) for _ in range(3))
    naive = peak_bytes(lambda: scaled_dot_product_attention(q, k, v))
    flash = peak_bytes(lambda: flash_attention_forward(q, k, v, block_size=BLOCK))
    return naive, flash
# --8<-- [end:peak]


def seconds(fn, repeat=5):
    """The least CPU time (``time.process_time``) of ``repeat`` calls of ``fn()``."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def timing(T, blocks=(16, 64, 256), seed=0):
    """``{"naive": s, block: s, ...}``: CPU seconds of naive attention and of flash per block size."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((T, D)).astype(DTYPE) for _ in range(3))
    out = {"naive": seconds(lambda: scaled_dot_product_attention(q, k, v))}
    for b in blocks:
        out[b] = seconds(lambda: flash_attention_forward(q, k, v, block_size=b))
    return out


_CACHE = {}


def rows(lengths=LENGTHS):
    """``[(T, naive bytes, flash bytes)]``, measured once per build (figure and table share it)."""
    if lengths not in _CACHE:
        _CACHE[lengths] = [(T, *measure(T)) for T in lengths]
    return _CACHE[lengths]


def slope(Ts, ys):
    """The slope of log y against log T between the two longest lengths (2: quadratic, 1: linear)."""
    return float(np.log(ys[-1] / ys[-2]) / np.log(Ts[-1] / Ts[-2]))


def memory_figure(table):
    """Peak bytes against T on log axes, with dashed T and T² guides through the shortest length."""
    T = np.array([r[0] for r in table], dtype=float)
    naive, flash = (np.array([r[i] for r in table], dtype=float) / 2**20 for i in (1, 2))
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ax.loglog(T, naive, "s-", color="tab:orange", label="naive attention (whole T × T matrix)")
    ax.loglog(T, flash, "o-", color="tab:blue", label=f"flash attention ({BLOCK} × {BLOCK} tiles)")
    ax.loglog(T, naive[-1] * (T / T[-1]) ** 2, ":", color="tab:orange", label="∝ T²")
    ax.loglog(T, flash[-1] * (T / T[-1]), ":", color="tab:blue", label="∝ T")
    ax.set_xlabel("sequence length T (tokens)")
    ax.set_ylabel("peak memory, MiB (tracemalloc)")
    ax.set_xticks(T, [str(int(t)) for t in T])
    ax.minorticks_off()
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def report_figure():
    """Print the figure (HTML) and one paragraph read from the same numbers."""
    table = rows()
    T = [r[0] for r in table]
    naive, flash = [r[1] for r in table], [r[2] for r in table]
    print(figure_to_svg(memory_figure(table),
                        alt="Peak memory against sequence length on log axes: naive attention grows with the "
                            "square of T, flash attention linearly, with dotted T and T-squared guides",
                        caption=f"One head, D = {D}, {np.dtype(DTYPE).name}, measured with tracemalloc while "
                                "this page was built. Dotted: slopes 1 and 2 through the longest length."))
    print(f"<p>Between T = {T[-2]} and T = {T[-1]} the naive peak grows with slope "
          f"<strong>{slope(T, naive):.2f}</strong> on these log axes and the flash peak with slope "
          f"<strong>{slope(T, flash):.2f}</strong>. At T = {T[-1]} naive attention needs "
          f"{naive[-1] / 2**20:.1f} MiB, flash {flash[-1] / 2**20:.2f} MiB: "
          f"<strong>{naive[-1] / flash[-1]:.0f} ×</strong> less. At T = {T[0]} flash needs "
          f"{flash[0] / naive[0]:.1f} × what naive needs"
          + (f": its tiles and copies cost more than a {T[0]} × {T[0]} matrix.</p>" if flash[0] > naive[0] else ".</p>"))


def report_table():
    """Print the measurements as a Markdown table."""
    print("| T | naive peak | flash peak | naive / flash | T² × 4 bytes |")
    print("|---:|---:|---:|---:|---:|")
    for T, naive, flash in rows():
        print(f"| {T} | {naive / 2**10:,.0f} KiB | {flash / 2**10:,.0f} KiB | {naive / flash:.1f} | "
              f"{T * T * 4 / 2**10:,.0f} KiB |")


def report_timing(T=1024, blocks=(16, 64, 256)):
    """Print CPU times of naive and flash attention (forward) and the slowdowns."""
    t = timing(T, blocks)
    print(f"T = {T}, D = {D}, {np.dtype(DTYPE).name}, one head, CPU time (best of five):\n")
    print("| implementation | time | vs naive |")
    print("|---|---:|---:|")
    print(f"| naive (the whole matrix at once) | {t['naive'] * 1e3:.1f} ms | 1.0 × |")
    for b in blocks:
        print(f"| flash, {b} × {b} tiles ({(-(-T // b)) ** 2:,} tiles) | {t[b] * 1e3:.1f} ms | "
              f"{t[b] / t['naive']:.1f} × |")
    default, small, large = 64, blocks[0], blocks[-1]
    print(f"\nThe tiled loop takes **{t[small] / t['naive']:.1f} ×** the naive time with {small} × {small} tiles, "
          f"**{t[default] / t['naive']:.1f} ×** with the default {default} × {default} and "
          f"**{t[large] / t['naive']:.1f} ×** with {large} × {large}.")
    return t


# Numbers quoted from the papers (citations, not measurements of ours).
CITED = [
    ("A100 GPU: HBM", "40–80 GB at 1.5–2.0 TB/s", "Dao et al. 2022, §2.1"),
    ("A100 GPU: on-chip SRAM", "192 KB per streaming multiprocessor, 108 of them, about 19 TB/s", "Dao et al. 2022, §2.1"),
    ("GPT-2 (sequence length 1K), end-to-end training", "3 × speed-up", "Dao et al. 2022, abstract"),
    ("BERT-large (sequence length 512), end-to-end training", "15 % faster than the MLPerf 1.1 record",
     "Dao et al. 2022, abstract"),
    ("attention memory against the standard implementation", "10 × less at sequence length 2K, 20 × at 4K",
     "Dao-AILab/flash-attention README"),
]


def report_cited():
    """Print the quoted numbers as a Markdown table with their sources."""
    print("| what | the number | source |")
    print("|---|---|---|")
    for what, number, source in CITED:
        print(f"| {what} | {number} | {source} |")
