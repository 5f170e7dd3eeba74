"""How temperature changes the distribution: softmax(x / tau), as bars for a few tau and as curves over tau."""

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy import softmax
from transformer_anatomy.viz import figure_to_svg

LOGITS = np.array([3.0, 1.5, 1.0, 0.2, -1.0])
TEMPERATURES = (0.25, 1.0, 4.0)


def temperature_figure(logits=LOGITS, temperatures=TEMPERATURES):
    """A bar chart of softmax(logits / tau) for each tau; returns the Matplotlib figure."""
    fig = Figure(figsize=(6.4, 2.8))
    ax = fig.add_subplot()
    width = 0.8 / len(temperatures)
    idx = np.arange(len(logits))
    for k, tau in enumerate(temperatures):
        p = softmax(logits / tau)
        ax.bar(idx + (k - (len(temperatures) - 1) / 2) * width, p, width, label=f"τ = {tau:g}", color=f"C{k}")
    ax.set_xticks(idx, [f"x={v:g}" for v in logits])
    ax.set_ylabel("probability")
    ax.set_title("softmax(x / τ): low τ sharpens, high τ flattens")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def temperature_curves(logits=LOGITS, taus=None):
    """Each logit's probability as a curve over tau (log axis); returns (figure, taus, probabilities)."""
    taus = np.geomspace(0.05, 20, 200) if taus is None else np.asarray(taus)
    probs = np.stack([softmax(logits / t) for t in taus])  # (len(taus), len(logits))
    fig = Figure(figsize=(6.4, 3.2))
    ax = fig.add_subplot()
    for i, v in enumerate(logits):
        ax.semilogx(taus, probs[:, i], color=f"C{i}", label=f"x = {v:g}")
    ax.axhline(1 / len(logits), color="tab:gray", lw=0.8, ls="--")
    ax.set_xlabel("temperature τ (log scale)")
    ax.set_ylabel("probability softmax(x / τ)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig, taus, probs


def report():
    """Print both figures and one sentence read from their numbers (HTML)."""
    print(figure_to_svg(temperature_figure(), alt="Bar chart: softmax of five logits at three temperatures",
                        caption="Five logits at three temperatures."))
    fig, taus, probs = temperature_curves()
    print(figure_to_svg(fig, alt="Curves: the probability of each of five logits as the temperature goes from "
                        "low to high; the top logit tends to probability one, all tend to one fifth",
                        caption="The same logits over a continuous range of τ; dashed: the uniform 1/K."))
    print(f"<p>At τ = {taus[0]:.2g} the largest logit takes {probs[0, 0]:.4f} of the mass; at τ = {taus[-1]:.3g} "
          f"the probabilities lie between {probs[-1].min():.3f} and {probs[-1].max():.3f}, close to the uniform "
          f"{1 / len(LOGITS):.3f}.</p>")
