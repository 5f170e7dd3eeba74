"""The computation graph of one attention head, forward and backward, drawn at build time.

The shapes on the boxes are read from a real forward pass of our NumPy attention (the cache its
backward uses), not typed.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from transformer_anatomy.numpy import scaled_dot_product_attention
from transformer_anatomy.viz import figure_to_svg

T, S, D = 3, 4, 4  # queries, keys, head width of the traced run
BACK = "#ff7f0e"  # tab10 orange: the gradient flowing back


def traced_shapes(seed=0):
    """Shapes of Q, K, V, the weights P and the output O of one head, from a real run."""
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((T, D)), rng.standard_normal((S, D)), rng.standard_normal((S, D))
    out, _, cache = scaled_dot_product_attention(q, k, v, return_cache=True)
    return {"Q": cache.q.shape, "K": cache.k.shape, "V": cache.v.shape, "Z": cache.probs.shape,
            "P": cache.probs.shape, "O": out.shape}


def figure():
    """Boxes for Q, K, V, the scores Z, the weights P and the output O; forward arrows solid,
    backward arrows dashed and orange, each labelled with its gradient formula."""
    shapes = traced_shapes()
    pos = {"Q": (0.0, 4.0), "K": (2.0, 4.0), "Z": (1.0, 3.0), "P": (1.0, 2.0), "O": (1.0, 1.0), "V": (2.7, 1.5)}
    half = {n: (0.5 if n in "QKV" else 0.8, 0.25) for n in pos}  # half width, half height
    label = {"Q": "$Q$", "K": "$K$", "V": "$V$", "Z": r"$Z = QK^\top/\sqrt{D} + M$",
             "P": r"$P = \mathrm{softmax}(Z)$", "O": "$O = PV$"}
    fig = Figure(figsize=(5.0, 4.6))  # tall rather than wide: it reads on a phone
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-1.1, 3.6)
    ax.set_ylim(0.35, 4.4)
    ax.axis("off")
    for name, (x, y) in pos.items():
        w, h = half[name]
        ax.add_patch(FancyBboxPatch((x - w, y - h), 2 * w, 2 * h, boxstyle="round,pad=0.02",
                                    facecolor="none", edgecolor="black", linewidth=1.2))
        ax.text(x, y + 0.07, label[name], ha="center", va="center", fontsize=10)
        ax.text(x, y - 0.13, str(shapes[name]), ha="center", va="center", fontsize=8)
    top = lambda n, dx=0.0: (pos[n][0] + dx, pos[n][1] + half[n][1])
    bottom = lambda n: (pos[n][0], pos[n][1] - half[n][1])
    edges = [(bottom("Q"), top("Z", -0.4), r"$\bar Q = \bar Z K/\sqrt{D}$", (-0.05, 3.5, "right")),
             (bottom("K"), top("Z", 0.4), r"$\bar K = \bar Z^\top Q/\sqrt{D}$", (2.08, 3.5, "left")),
             (bottom("Z"), top("P"), r"$\bar Z = P \odot (\bar P - \mathrm{rowsum}(\bar P \odot P))$",
              (1.2, 2.5, "left")),
             (bottom("P"), top("O"), r"$\bar P = \bar O V^\top$", (0.8, 1.5, "right")),
             ((pos["V"][0] - half["V"][0], pos["V"][1]), (pos["O"][0] + half["O"][0], pos["O"][1] + 0.1),
              r"$\bar V = P^\top \bar O$", (2.7, 1.0, "center"))]
    for start, end, grad, (tx, ty, ha) in edges:
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="black", lw=1.2))
        off = np.array([0.09, 0.0]) if abs(end[0] - start[0]) < 0.9 else np.array([0.0, -0.08])
        ax.annotate("", xy=np.add(start, off), xytext=np.add(end, off),
                    arrowprops=dict(arrowstyle="->", color=BACK, lw=1.2, linestyle="--"))
        ax.text(tx, ty, grad, color=BACK, ha=ha, va="center", fontsize=10)
    ax.text(pos["O"][0], pos["O"][1] - 0.47, r"$\bar O$ comes in from the layer above", color=BACK,
            ha="center", va="center", fontsize=10)
    return fig


def report_figure():
    """Print the graph."""
    s = traced_shapes()
    print(figure_to_svg(
        figure(),
        alt=f"Computation graph of one attention head: Q {s['Q']} and K {s['K']} give the scores Z {s['Z']}, "
            f"softmax gives the weights P, and P times V {s['V']} gives the output O {s['O']}. Dashed orange "
            "arrows run backwards along every edge, each labelled with the gradient it carries.",
        caption="Forward: solid arrows. Backward: dashed orange arrows, each with the gradient it computes. "
                "Shapes from a traced run of one head."))
