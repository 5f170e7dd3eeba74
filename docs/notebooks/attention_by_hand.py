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
# # Multi-head attention by hand (notebook)
#
# This notebook ran while the site was built. It computes multi-head self-attention with
# nothing but NumPy matrix products, step by step, from the weights of a real
# `torch.nn.MultiheadAttention`, and compares the result with the module. Download it
# [as a notebook with its outputs (`attention_by_hand.ipynb`)](attention_by_hand.ipynb) for
# Jupyter or Colab, or as the jupytext source with the button above, and change the sizes or
# the mask.

# %%
import numpy as np
import torch
from IPython.display import HTML, display
from matplotlib.figure import Figure

from transformer_anatomy.viz import figure_to_svg  # a Figure as inline SVG, with alt text

torch.manual_seed(0)
N, S, E, H = 1, 5, 8, 2  # batch, sequence length, model width, heads
D = E // H  # head width
mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64).eval()
x = torch.randn(N, S, E, dtype=torch.float64)

# %% [markdown]
# `in_proj_weight` packs $W_Q$, $W_K$, $W_V$ (each $E \times E$) in that order.

# %%
W = mha.in_proj_weight.detach().numpy()  # (3E, E)
b = mha.in_proj_bias.detach().numpy()  # (3E,)
Wq, Wk, Wv = W[:E], W[E : 2 * E], W[2 * E :]
bq, bk, bv = b[:E], b[E : 2 * E], b[2 * E :]
X = x.numpy()
q, k, v = X @ Wq.T + bq, X @ Wk.T + bk, X @ Wv.T + bv  # each (N, S, E)
print("q, k, v:", q.shape, k.shape, v.shape)

# %% [markdown]
# Split into heads, attend, concatenate, project.

# %%
def split(t):
    return t.reshape(N, S, H, D).transpose(0, 2, 1, 3)  # (N, S, E) -> (N, H, S, D)


qh, kh, vh = split(q), split(k), split(v)
scores = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(D)  # (N, H, S, S)
causal = np.triu(np.ones((S, S), dtype=bool), k=1)  # True = may not attend
scores = np.where(causal, -np.inf, scores)
weights = np.exp(scores - scores.max(-1, keepdims=True))
weights /= weights.sum(-1, keepdims=True)
heads = weights @ vh  # (N, H, S, D)
concat = heads.transpose(0, 2, 1, 3).reshape(N, S, E)  # (N, H, S, D) -> (N, S, E)
out = concat @ mha.out_proj.weight.detach().numpy().T + mha.out_proj.bias.detach().numpy()
print("weights of head 0:\n", np.round(weights[0, 0], 3))

# %% [markdown]
# The causal mask and the weights of both heads, drawn: row $i$ is query position $i$, column
# $j$ key position $j$. Everything above the diagonal is blocked, and each row sums to one.

# %%
pos = [f"x{i}" for i in range(S)]
fig = Figure(figsize=(9, 3), layout="constrained")
axes = fig.subplots(1, H + 1)
panels = [("causal mask (1 = blocked)", causal.astype(float))] + [(f"head {h} weights", weights[0, h]) for h in range(H)]
for ax, (title, m) in zip(axes, panels):
    im = ax.imshow(m, cmap="viridis", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(S), pos)
    ax.set_yticks(range(S), pos)
    ax.set_xlabel("key")
axes[0].set_ylabel("query")
fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
display(HTML(figure_to_svg(fig, alt="Causal mask and the attention weights of both heads, query positions against key positions")))

# %%
ref, ref_w = mha(x, x, x, attn_mask=torch.from_numpy(causal), average_attn_weights=False)
print("max |ours - nn.MultiheadAttention| output :", np.abs(out - ref.detach().numpy()).max())
print("max |ours - nn.MultiheadAttention| weights:", np.abs(weights - ref_w.detach().numpy()).max())

# %% [markdown]
# ## Exercises
#
# **1. Predict, then check.** Remove the causal mask (use `scores` before `np.where`). Which
# rows of the weights change, and which one stays the same?
#
# <details><summary>Solution</summary>
#
# Every row but the last changes: row $0$ could attend only to itself, so it goes from
# $[1, 0, \dots]$ to a full softmax row over all keys; the last row already saw every key and
# stays the same.
# Check with `mha(x, x, x, average_attn_weights=False)` (no `attn_mask`) against your weights.
# </details>
#
# **2. Predict, then check.** With `H = 4` instead of two, what is the shape of one head's
# slice of $W_Q$, and of `scores`?
#
# <details><summary>Solution</summary>
#
# A head's $W_Q$ is $E \times E/H$ (rows `h*D:(h+1)*D` of `Wq`, transposed), here $8 \times 2$;
# `scores` is $(N, H, S, S)$ = `(1, 4, 5, 5)`. The number of parameters does not change:
# `in_proj_weight` is still $3E \times E$.
# </details>
#
# **3. Code.** Add a key padding mask that hides the last position from every query
# (`pad = np.array([False] * (S - 1) + [True])`), combine it with the causal mask, and check
# your output against `mha(x, x, x, attn_mask=..., key_padding_mask=torch.from_numpy(pad[None]))`.
#
# <details><summary>Solution</summary>
#
# ```python
# blocked = causal | pad[None, :]  # (S, S): True = may not attend
# s = np.where(blocked, -np.inf, qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(D))
# w = np.exp(s - s.max(-1, keepdims=True)); w /= w.sum(-1, keepdims=True)
# o = (w @ vh).transpose(0, 2, 1, 3).reshape(N, S, E) @ mha.out_proj.weight.detach().numpy().T + mha.out_proj.bias.detach().numpy()
# r, _ = mha(x, x, x, attn_mask=torch.from_numpy(causal), key_padding_mask=torch.from_numpy(pad[None]))
# print(np.abs(o - r.detach().numpy()).max())  # ~1e-16
# ```
# Only the last query row changes (it loses its own key); no row is fully masked, because
# every query still sees position $0$.
# </details>
