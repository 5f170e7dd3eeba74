"""From logits to a token: greedy, temperature, top-k, top-p, seeded sampling.

The three warpers are written out by hand here (the library's ``warp_logits`` does the same in
HF's order: temperature, then top-k, then top-p; ``versus_hf.py`` checks all three against each
other). The distribution of the figures is an illustrative one over ten words.
"""

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy.softmax import softmax
from transformer_anatomy.viz import figure_to_svg

CONTEXT = "the cat sat on the"
WORDS = ("mat", "floor", "sofa", "bed", "rug", "roof", "table", "chair", "piano", "moon")
LOGITS = np.array([3.0, 2.4, 2.1, 1.7, 1.2, 0.8, 0.5, 0.0, -0.8, -2.0])  # illustrative scores
TEMPERATURES = (0.5, 1.0, 2.0)
TOP_K, TOP_P = 3, 0.9
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")


# --8<-- [start:warpers]
def with_temperature(logits, temperature):
    """Divide the scores by T: T < 1 sharpens the softmax, T > 1 flattens it."""
    return logits / temperature


def top_k_filter(logits, k):
    """Keep the k highest scores (and any tied with the k-th); the rest become -inf."""
    kth = np.sort(logits, axis=-1)[..., -k, None]   # (N, 1) the k-th largest score
    return np.where(logits < kth, -np.inf, logits)


def top_p_filter(logits, p):
    """Keep the smallest set of most probable tokens whose probabilities add up to >= p."""
    order = np.argsort(-logits, axis=-1, kind="stable")           # most probable first
    probs = np.take_along_axis(softmax(logits, axis=-1), order, axis=-1)
    before = np.cumsum(probs, axis=-1) - probs                    # mass of the tokens ahead of each
    drop = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(drop, order, before >= p, axis=-1)          # back to vocabulary order
    return np.where(drop, -np.inf, logits)
# --8<-- [end:warpers]


# --8<-- [start:sample]
def next_token(logits, rng, temperature=1.0, top_k=None, top_p=None):
    """One next token per row from the last position's logits (N, V): warp, softmax, draw."""
    z = with_temperature(logits, temperature)
    if top_k is not None:
        z = top_k_filter(z, top_k)
    if top_p is not None:
        z = top_p_filter(z, top_p)
    probs = softmax(z, axis=-1)                                   # filtered tokens get exactly 0
    return np.array([rng.choice(len(row), p=row) for row in probs])
# --8<-- [end:sample]


def entropy(probs):
    """Entropy in nats of each row of ``probs`` (0 · log 0 = 0)."""
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -(probs * logs).sum(axis=-1)


def temperature_table(temperatures=TEMPERATURES):
    """For each temperature: the probabilities of the ten words, the largest one and the entropy."""
    rows = {}
    for t in temperatures:
        p = softmax(with_temperature(LOGITS, t))
        rows[t] = {"probs": p, "max": float(p.max()), "entropy": float(entropy(p))}
    return rows


def report_temperature():
    rows = temperature_table()
    print(f"{'word':>7}" + "".join(f"{'T = ' + format(t, 'g'):>9}" for t in rows))
    for i, w in enumerate(WORDS):
        print(f"{w:>7}" + "".join(f"{r['probs'][i]:9.3f}" for r in rows.values()))
    print(f"{'entropy':>7}" + "".join(f"{r['entropy']:9.3f}" for r in rows.values()) + "  nats")
    print(f"uniform over {len(WORDS)} words: {np.log(len(WORDS)):.3f} nats; one-hot (greedy): 0")


def report_temperature_summary():
    rows = temperature_table()
    lo, mid, hi = (rows[t] for t in TEMPERATURES)
    print(f"<p>At T = {TEMPERATURES[0]:g} <em>{WORDS[0]}</em> takes {lo['max']:.2f} of the mass "
          f"(entropy {lo['entropy']:.2f} nats), at T = 1 {mid['max']:.2f} ({mid['entropy']:.2f} nats), "
          f"at T = {TEMPERATURES[2]:g} only {hi['max']:.2f} ({hi['entropy']:.2f} nats, against "
          f"{np.log(len(WORDS)):.2f} for the uniform distribution). The order of the words never "
          "changes: temperature moves mass between them, it cannot make a less likely word "
          "overtake a more likely one.</p>")


def figure_temperature():
    """Bars of one distribution at three temperatures, and its entropy against T."""
    rows = temperature_table()
    ts = np.geomspace(0.05, 20, 200)
    ent = entropy(softmax(LOGITS[None] / ts[:, None], axis=-1))
    fig = Figure(figsize=(9.0, 3.2), layout="constrained")
    a, b = fig.subplots(1, 2, width_ratios=(1.6, 1))
    x = np.arange(len(WORDS))
    for j, (t, r) in enumerate(rows.items()):
        a.bar(x + (j - 1) * 0.27, r["probs"], width=0.27, color=COLORS[j], label=f"T = {t:g}")
        b.plot([t], [r["entropy"]], "o", color=COLORS[j], ms=7, zorder=3)
    a.set_xticks(x, WORDS, rotation=40, fontsize=8)
    a.set_ylabel("probability")
    a.set_title(f"next word after “{CONTEXT}”", fontsize=10)
    a.legend(fontsize=8, frameon=False)
    b.plot(ts, ent, color="#7f7f7f", lw=1.5)
    b.axhline(np.log(len(WORDS)), ls="--", color="#d62728", lw=1)
    b.text(0.06, np.log(len(WORDS)) - 0.2, "uniform: log 10", fontsize=8, color="#d62728")
    b.set_xscale("log")
    b.set_xlabel("temperature T")
    b.set_ylabel("entropy (nats)")
    b.set_title("entropy of softmax(z / T)", fontsize=10)
    return figure_to_svg(
        fig, alt="Left: bars of the probabilities of ten words at temperatures 0.5, 1 and 2; at 0.5 the "
        "first word dominates, at 2 the bars are flatter. Right: the entropy rises from 0 at small T "
        "towards log 10 at large T, with the three temperatures marked",
        caption="One distribution at three temperatures (left) and its entropy against T (right): "
                "T → 0 is greedy (entropy 0), T → ∞ is uniform.")


def top_p_set(p=TOP_P, temperature=1.0):
    """The words top-p keeps (most probable first), their mass, and the same for top-k."""
    z = with_temperature(LOGITS, temperature)
    probs = softmax(z)
    kept_p = np.isfinite(top_p_filter(z, p))
    kept_k = np.isfinite(top_k_filter(z, TOP_K))
    order = np.argsort(-probs, kind="stable")
    return {"p": p, "words": [WORDS[i] for i in order if kept_p[i]], "mass": float(probs[kept_p].sum()),
            "k": TOP_K, "words_k": [WORDS[i] for i in order if kept_k[i]], "mass_k": float(probs[kept_k].sum()),
            "renormalised": softmax(np.where(kept_p, z, -np.inf)),
            "mass_before": float(np.sort(probs)[::-1][: int(kept_p.sum()) - 1].sum())}


def report_top_p():
    r = top_p_set()
    print(f"<p>With p = {r['p']:g} the nucleus is the {len(r['words'])} words <em>{', '.join(r['words'])}</em>, "
          f"holding {r['mass']:.3f} of the mass (the first {len(r['words']) - 1} hold only {r['mass_before']:.3f}); "
          f"top-k with k = {r['k']} keeps <em>{', '.join(r['words_k'])}</em>, {r['mass_k']:.3f} of the mass. "
          f"Renormalised over the nucleus, <em>{r['words'][0]}</em> rises from "
          f"{softmax(LOGITS).max():.3f} to {r['renormalised'].max():.3f}.</p>")


def figure_top_p(p=TOP_P):
    """Sorted probabilities, the cumulative mass, and the nucleus for p (and top-k's cut)."""
    probs = softmax(LOGITS)
    order = np.argsort(-probs, kind="stable")
    sp = probs[order]
    kept = np.isfinite(top_p_filter(LOGITS, p))[order]
    x = np.arange(len(WORDS))
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.bar(x, sp, color=np.where(kept, "#1f77b4", "#bbbbbb"), label="probability (blue: kept by top-p)")
    ax.step(x, np.cumsum(sp), where="mid", color="#ff7f0e", lw=1.5, label="cumulative mass")
    ax.axhline(p, ls="--", color="#ff7f0e", lw=1)
    ax.text(len(WORDS) - 0.5, p + 0.02, f"p = {p:g}", ha="right", fontsize=8, color="#ff7f0e")
    ax.axvline(TOP_K - 0.5, ls=":", color="#2ca02c", lw=1.5)
    ax.text(TOP_K - 0.4, 0.55, f"top-k = {TOP_K}", fontsize=8, color="#2ca02c")
    ax.set_xticks(x, [WORDS[i] for i in order], rotation=40, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability")
    ax.legend(fontsize=8, frameon=False, loc="center right")
    n = int(kept.sum())
    return figure_to_svg(
        fig, alt=f"Bars of the ten probabilities sorted from largest to smallest with a cumulative curve; "
        f"the first {n} bars are blue: the cumulative mass reaches {p:g} at the {n}-th word. A dotted line "
        f"after the first {TOP_K} words marks top-k",
        caption=f"Top-p keeps the most probable words until their mass reaches p = {p:g} ({n} words here); "
                f"top-k keeps a fixed number ({TOP_K}), however the mass is spread.")
