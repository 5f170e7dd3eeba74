"""Scaled dot-product attention, one step at a time, on four real tokens."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from transformer_anatomy.numpy import scaled_dot_product_attention, softmax
from transformer_anatomy.viz import figure_to_svg

TOKENS = ["the", "cat", "sat", "down"]
E, D = 8, 4  # model width, query/key/value width d_k


def setup(seed=0):
    """Token vectors X (T, E) and projections W_q, W_k, W_v (E, D), all seeded."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((len(TOKENS), E))  # (T, E): one vector per token
    W_q, W_k, W_v = (rng.standard_normal((E, D)) / math.sqrt(E) for _ in range(3))  # (E, D) each
    return X, W_q, W_k, W_v


# --8<-- [start:steps]
def steps(seed=0):
    """Every intermediate of softmax(Q Kᵀ / √d_k) V."""
    X, W_q, W_k, W_v = setup(seed)
    Q, K, V = X @ W_q, X @ W_k, X @ W_v  # (T, E) @ (E, D) -> (T, D)
    scores = Q @ K.T  # (T, D) @ (D, T) -> (T, T): query t against key s
    scaled = scores / math.sqrt(D)  # divide by √d_k
    weights = softmax(scaled, axis=-1)  # each row sums to 1
    out = weights @ V  # (T, T) @ (T, D) -> (T, D): weighted average of value rows
    return dict(X=X, Q=Q, K=K, V=V, scores=scores, scaled=scaled, weights=weights, out=out)
# --8<-- [end:steps]


def check(seed=0):
    """The step-by-step result vs our NumPy function and torch's F.scaled_dot_product_attention."""
    s = steps(seed)
    ours, w = scaled_dot_product_attention(s["Q"], s["K"], s["V"])
    t = F.scaled_dot_product_attention(*(torch.from_numpy(s[k]) for k in "QKV"))
    return {"numpy_out": float(np.abs(ours - s["out"]).max()),
            "numpy_weights": float(np.abs(w - s["weights"]).max()),
            "torch_out": float(np.abs(t.numpy() - s["out"]).max())}


def labeled(M, rows=TOKENS, cols=TOKENS, width=8, fmt="{:8.3f}"):
    """A matrix as text with token labels on its rows (and on its columns when ``cols`` is given)."""
    lines = []
    if cols is not None:
        lines.append(" " * 7 + "".join(f"{c:>{width}}" for c in cols))
    for name, row in zip(rows, M):
        lines.append(f"{name:>6} " + "".join(fmt.format(v) for v in row))
    return "\n".join(lines)


def report_projections():
    s = steps()
    print(f"T = {len(TOKENS)} tokens, E = {E}, d_k = {D}: Q = X W_q, K = X W_k, V = X W_v, each {s['Q'].shape}")
    print("Q =\n" + labeled(s["Q"], cols=None))
    print("K =\n" + labeled(s["K"], cols=None))


def report_scores():
    s = steps()
    print("scores = Q Kᵀ   (row: query, column: key)\n" + labeled(s["scores"]))
    print(f"\nscaled = scores / √d_k = scores / {math.sqrt(D):g}\n" + labeled(s["scaled"]))


def report_weights():
    s = steps()
    print("weights = softmax(scaled), row by row\n" + labeled(s["weights"]))
    print("row sums:", np.round(s["weights"].sum(axis=1), 12).tolist())


def report_output():
    s = steps()
    print("V =\n" + labeled(s["V"], cols=None))
    print("\noutput = weights @ V   (each row a weighted average of the rows of V)\n" + labeled(s["out"], cols=None))
    c = check()
    print(f"\nmax |step by step - our scaled_dot_product_attention|: output {c['numpy_out']:.1e}, "
          f"weights {c['numpy_weights']:.1e}")
    print(f"max |step by step - F.scaled_dot_product_attention|  : output {c['torch_out']:.1e}")


def _annotate(ax, M, fmt="{:.2f}"):
    """Write each cell's value on a heatmap, dark on light cells and light on dark ones."""
    lo, hi = float(M.min()), float(M.max())
    for (i, j), v in np.ndenumerate(M):
        light = (v - lo) / (hi - lo + 1e-12) > 0.6
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="#111111" if light else "#f0f0f0")


def figure_scores_weights(seed=0):
    """The scaled scores and the softmax weights as two heatmaps, tokens on both axes."""
    s = steps(seed)
    fig = Figure(figsize=(7.6, 3.3), layout="constrained")
    for ax, key, title, cmap in zip(fig.subplots(1, 2), ("scaled", "weights"),
                                    ("scaled scores  QKᵀ / √d_k", "weights = softmax of each row"),
                                    ("cividis", "viridis")):
        im = ax.imshow(s[key], cmap=cmap)
        _annotate(ax, s[key])
        ax.set_xticks(range(len(TOKENS)), TOKENS)
        ax.set_yticks(range(len(TOKENS)), TOKENS)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        ax.set_title(title, fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.85)
    return figure_to_svg(fig, alt="Two 4 by 4 heatmaps over the tokens the cat sat down: the scaled "
                         "scores and the attention weights, query tokens down, key tokens across",
                         caption="Scores (left) become weights (right): each row is one query.")


def row_summary(t=1, seed=0):
    """Query t's scaled scores, its weights and the key it favours most."""
    s = steps(seed)
    best = int(np.argmax(s["weights"][t]))
    return {"query": TOKENS[t], "scores": s["scaled"][t], "weights": s["weights"][t],
            "best": TOKENS[best], "best_weight": float(s["weights"][t, best]),
            "best_score_gap": float(s["scaled"][t, best] - np.sort(s["scaled"][t])[-2])}


def figure_softmax_row(t=1, seed=0):
    """One query's scaled scores and the softmax weights they become, as bars."""
    r = row_summary(t, seed)
    fig = Figure(figsize=(7.0, 2.8), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.bar(TOKENS, r["scores"], color="#1f77b4")
    a.axhline(0.0, color="black", lw=0.8)
    a.set_title(f"scaled scores of query '{r['query']}'", fontsize=10)
    a.set_xlabel("key")
    a.set_ylabel("score")
    b.bar(TOKENS, r["weights"], color="#ff7f0e")
    b.set_ylim(0, 1)
    b.set_title("softmax: weights (sum to 1)", fontsize=10)
    b.set_xlabel("key")
    b.set_ylabel("weight")
    for i, w in enumerate(r["weights"]):
        b.text(i, w + 0.02, f"{w:.2f}", ha="center", fontsize=8)
    return figure_to_svg(fig, alt=f"Bar charts of the scores of query {r['query']} over the four keys "
                         "and of the weights the softmax turns them into",
                         caption="Softmax keeps the order of the scores; a gap g in score becomes a ratio e<sup>g</sup> in weight.")


def report_softmax_row(t=1):
    r = row_summary(t)
    print(f"<p>Query <em>{r['query']}</em> gives its largest weight, {r['best_weight']:.2f}, to "
          f"<em>{r['best']}</em>. That key's score leads the next one by {r['best_score_gap']:.2f}, so its "
          f"weight is e<sup>{r['best_score_gap']:.2f}</sup> = {math.exp(r['best_score_gap']):.2f} times "
          f"the next weight. Every weight is positive: no key is ignored completely.</p>")
