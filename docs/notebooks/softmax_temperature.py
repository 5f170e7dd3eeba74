# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Softmax and temperature (notebook)
#
# This notebook ran while the site was built. Download it
# [as a notebook with its outputs (`softmax_temperature.ipynb`)](softmax_temperature.ipynb)
# to open in Jupyter or Colab, or as the jupytext source with the button above. It needs only
# `numpy`, `matplotlib` and this project's package.
#
# Dividing the logits by a temperature $\tau$ before the softmax is how a sampler makes a
# language model bolder ($\tau < 1$) or more adventurous ($\tau > 1$):
# $p_i = e^{z_i/\tau} / \sum_j e^{z_j/\tau}$.

# %%
import numpy as np
from IPython.display import HTML, display
from matplotlib.figure import Figure

from transformer_anatomy.numpy import softmax
from transformer_anatomy.viz import figure_to_svg  # a Figure as inline SVG, with alt text

logits = np.array([3.0, 1.5, 1.0, 0.2, -1.0])
for tau in (0.25, 1.0, 4.0):
    p = softmax(logits / tau)
    print(f"tau={tau:<5} p={np.round(p, 4)}  max={p.max():.4f}")

# %% [markdown]
# The same three distributions as bars: a low temperature puts almost everything on the
# largest logit, a high one flattens the distribution.

# %%
fig = Figure(figsize=(6, 3), layout="constrained")
ax = fig.subplots()
width = 0.27
for i, tau in enumerate((0.25, 1.0, 4.0)):
    ax.bar(np.arange(len(logits)) + (i - 1) * width, softmax(logits / tau), width, label=f"τ = {tau:g}")
ax.set_xticks(range(len(logits)), [f"z={z:g}" for z in logits])
ax.set_xlabel("logit")
ax.set_ylabel("probability")
ax.legend(frameon=False)
display(HTML(figure_to_svg(fig, alt="Softmax probabilities of five logits at temperatures 0.25, 1 and 4")))

# %% [markdown]
# As $\tau \to 0$ the distribution approaches a one-hot vector on the largest logit (greedy
# choice); as $\tau \to \infty$ it approaches the uniform distribution.

# %%
taus = np.geomspace(0.05, 20, 60)
fig = Figure(figsize=(6, 3), layout="constrained")
ax = fig.subplots()
ax.semilogx(taus, [softmax(logits / t).max() for t in taus], label="largest probability")
ax.axhline(1 / len(logits), ls="--", c="gray", label="uniform")
ax.set_xlabel("temperature τ")
ax.set_ylabel("probability")
ax.legend(frameon=False)
display(HTML(figure_to_svg(fig, alt="Largest softmax probability against temperature, falling from 1 to the uniform 1/5")))

# %% [markdown]
# ## Exercises
#
# **1. Predict, then check.** What does the entropy $-\sum_i p_i \log p_i$ of `softmax(logits / tau)`
# tend to as $\tau \to 0$ and as $\tau \to \infty$? Plot it over `taus` to check.
#
# <details><summary>Solution</summary>
#
# Towards $0$ (a one-hot distribution has no uncertainty) and towards $\log V$, the entropy
# of the uniform distribution over the $V$ logits (here $\log 5 \approx 1.609$):
#
# ```python
# entropy = [-(p * np.log(p)).sum() for p in (softmax(logits / t) for t in taus)]
# fig = Figure(figsize=(6, 3)); ax = fig.subplots()
# ax.semilogx(taus, entropy); ax.axhline(np.log(len(logits)), ls="--")
# display(HTML(figure_to_svg(fig, alt="entropy against temperature")))
# ```
# </details>
#
# **2. Predict, then check.** Adding the same constant to every logit, say `logits + 100`:
# does any of the curves above change?
#
# <details><summary>Solution</summary>
#
# No. $e^{(z_i + c)/\tau} = e^{c/\tau} e^{z_i/\tau}$, and the common factor cancels in the
# normalisation: `np.allclose(softmax((logits + 100) / 0.5), softmax(logits / 0.5))` is `True`.
# Multiplying the logits by a constant, on the other hand, is the same as changing $\tau$.
# </details>
#
# **3. Code.** Write `sample(logits, tau, n, rng)` that draws `n` token ids from
# `softmax(logits / tau)` with `rng.choice`, and check that the frequencies at `tau=1` approach
# the probabilities printed above.
#
# <details><summary>Solution</summary>
#
# ```python
# def sample(logits, tau, n, rng):
#     return rng.choice(len(logits), size=n, p=softmax(logits / tau))
#
# ids = sample(logits, 1.0, 100_000, np.random.default_rng(0))
# print(np.bincount(ids, minlength=len(logits)) / len(ids), softmax(logits))
# ```
# </details>
