"""The KV cache's speed-up, measured: the milliseconds one decoding step costs with the cache
(one new position, reading the cached keys and values) and without it (the whole sequence again),
as the sequence grows, on our NumPy Llama; and the same tokens both ways.

Times are CPU seconds of the calling thread (``time.thread_time``: the build machine is shared,
and CPU time does not count the moments the thread waited for a core), the median of a few
repeats after a warm-up step.
"""

import functools
import statistics
import time

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy.kv_cache import KVCache
from transformer_anatomy.viz import figure_to_svg

from generation.models import ours, prompt

LENGTHS = (16, 64, 192, 384)        # tokens already in the sequence when the step runs
SIZE = dict(width=128, layers=2)
REPEATS = 3
K_CHECK = 48                        # new tokens of the generate(use_cache=True / False) comparison


# --8<-- [start:positions]
def positions_processed(T, K, use_cache):
    """Token positions the model runs through to generate K tokens after a prompt of T."""
    if use_cache:
        return T + (K - 1)                      # the prompt once, then one new position per step
    return sum(T + k for k in range(K))         # the whole sequence again at every step
# --8<-- [end:positions]


def _cpu_ms(fn):
    t0 = time.thread_time()
    out = fn()
    return 1000 * (time.thread_time() - t0), out


# --8<-- [start:one_step]
def one_step(model, ids, use_cache):
    """The step that predicts token L + 1 of ids (1, L + 1): (CPU ms, its logits (1, V))."""
    if not use_cache:
        return _cpu_ms(lambda: np.asarray(model(ids))[:, -1])           # L + 1 positions
    cache = KVCache()
    model(ids[:, :-1], cache=cache)                                     # earlier steps (not timed)
    return _cpu_ms(lambda: np.asarray(model(ids[:, -1:], cache=cache))[:, -1])  # 1 position
# --8<-- [end:one_step]


@functools.cache
def measure(lengths=LENGTHS, repeats=REPEATS):
    """For each length L: ms of one step both ways (median of ``repeats``), the speed-up, and
    whether the two steps predict the same token."""
    model = ours("llama", **SIZE)
    one_step(model, prompt(T=8), True)                                  # warm-up
    rows = []
    for L in lengths:
        ids = prompt(T=L + 1, seed=L)
        ms, last = {}, {}
        for use_cache in (True, False):
            runs = [one_step(model, ids, use_cache) for _ in range(repeats)]
            ms[use_cache] = statistics.median(t for t, _ in runs)
            last[use_cache] = runs[0][1]
        rows.append({"L": L, "cached_ms": ms[True], "recompute_ms": ms[False], "speedup": ms[False] / ms[True],
                     "same_token": bool((last[True].argmax(-1) == last[False].argmax(-1)).all()),
                     "max_logit_diff": float(np.abs(last[True] - last[False]).max())})
    return rows


@functools.cache
def same_tokens(K=K_CHECK):
    """generate(use_cache=True) and generate(use_cache=False): the same K tokens?"""
    model = ours("llama", **SIZE)
    ids = prompt(T=8, N=2)
    a = np.asarray(model.generate(ids, max_new_tokens=K, use_cache=True))
    b = np.asarray(model.generate(ids, max_new_tokens=K, use_cache=False))
    return bool(np.array_equal(a, b)), a.shape


def report_speed():
    print(f"our NumPy Llama (E = {SIZE['width']}, {SIZE['layers']} layers, float32): CPU ms of the step that "
          f"predicts token L + 1, median of {REPEATS}")
    print(f"{'L':>4} {'use_cache=True':>15} {'use_cache=False':>16} {'speed-up':>9} {'max |Δ logit|':>14}  same token")
    for r in measure():
        print(f"{r['L']:>4} {r['cached_ms']:15.2f} {r['recompute_ms']:16.2f} {r['speedup']:8.1f}× "
              f"{r['max_logit_diff']:14.1e}  {r['same_token']}")
    equal, shape = same_tokens()
    print(f"generate(use_cache=True) == generate(use_cache=False) on {shape[0]} prompts, {K_CHECK} new tokens: {equal}")


def report_speed_summary():
    rows = measure()
    a, b = rows[0], rows[-1]
    equal, _ = same_tokens()
    print(f"<p>At L = {a['L']} a step costs {a['cached_ms']:.2f} ms with the cache and {a['recompute_ms']:.2f} ms "
          f"without ({a['speedup']:.1f}×); at L = {b['L']}, {b['cached_ms']:.2f} ms and {b['recompute_ms']:.2f} ms "
          f"({b['speedup']:.1f}×). The cached step grows only with the keys it reads; the recomputed one "
          f"runs every position again. The two paths predict the same token at every length, and "
          f"<code>generate</code> gives the same {K_CHECK} tokens both ways: "
          f"{'yes' if equal and all(r['same_token'] for r in rows) else 'NO'}.</p>")


def figure_speed(rows=None):
    rows = measure() if rows is None else rows
    L = [r["L"] for r in rows]
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.plot(L, [r["recompute_ms"] for r in rows], "o-", color="#d62728", label="use_cache=False")
    a.plot(L, [r["cached_ms"] for r in rows], "s-", color="#1f77b4", label="use_cache=True")
    a.set_xlabel("tokens so far L")
    a.set_ylabel("CPU ms for the next token")
    a.set_ylim(bottom=0)
    a.legend(fontsize=8, frameon=False)
    a.set_title("one decoding step, measured", fontsize=10)
    b.plot(L, [r["speedup"] for r in rows], "o-", color="#2ca02c")
    b.axhline(1, ls=":", color="#7f7f7f", lw=1)
    b.set_xlabel("tokens so far L")
    b.set_ylabel("speed-up of the cache (×)")
    b.set_ylim(bottom=0)
    b.set_title("recompute ÷ cached", fontsize=10)
    return figure_to_svg(
        fig, alt="Left: milliseconds of one decoding step against the length of the sequence; without the "
        "cache the cost grows with the length, with the cache it stays nearly flat. Right: their ratio, "
        "the speed-up of the cache, growing with the length",
        caption="One greedy step on our NumPy Llama. Red: the whole sequence recomputed; blue: one new "
                "position through the KV cache.")
