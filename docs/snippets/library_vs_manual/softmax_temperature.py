"""How temperature changes the distribution: softmax(x / tau) for a few tau."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from transformer_anatomy.numpy import softmax
from transformer_anatomy.viz import figure_to_img

LOGITS = np.array([3.0, 1.5, 1.0, 0.2, -1.0])
TEMPERATURES = (0.25, 1.0, 4.0)


def temperature_figure(logits=LOGITS, temperatures=TEMPERATURES):
    """A bar chart of softmax(logits / tau) for each tau; returns the Matplotlib figure."""
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    width = 0.8 / len(temperatures)
    idx = np.arange(len(logits))
    for k, tau in enumerate(temperatures):
        p = softmax(logits / tau)
        ax.bar(idx + (k - (len(temperatures) - 1) / 2) * width, p, width, label=f"τ = {tau:g}")
    ax.set_xticks(idx, [f"x={v:g}" for v in logits])
    ax.set_ylabel("probability")
    ax.set_title("softmax(x / τ): low τ sharpens, high τ flattens")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def report():
    """Print the figure as an <img> tag (the page runs this at build time)."""
    print(figure_to_img(temperature_figure(), alt="Softmax of five logits at three temperatures"))
