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
# This notebook ran while the site was built; download it with the button above and run it
# yourself. It needs only `numpy`, `matplotlib` and this project's package.

# %%
import numpy as np

from transformer_anatomy.numpy import softmax

logits = np.array([3.0, 1.5, 1.0, 0.2, -1.0])
for tau in (0.25, 1.0, 4.0):
    p = softmax(logits / tau)
    print(f"tau={tau:<5} p={np.round(p, 4)}  max={p.max():.4f}")

# %% [markdown]
# As $\tau \to 0$ the distribution approaches a one-hot vector on the largest logit (greedy
# choice); as $\tau \to \infty$ it approaches the uniform distribution.

# %%
import matplotlib.pyplot as plt

taus = np.geomspace(0.05, 20, 60)
plt.figure(figsize=(6, 3))
plt.semilogx(taus, [softmax(logits / t).max() for t in taus])
plt.axhline(1 / len(logits), ls="--", c="gray", label="uniform")
plt.xlabel("temperature τ")
plt.ylabel("largest probability")
plt.legend()
plt.show()
