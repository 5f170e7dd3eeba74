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
# `torch.nn.MultiheadAttention`, and compares the result with the module. Download it with the
# button above and change the sizes or the mask.

# %%
import numpy as np
import torch

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

# %%
ref, ref_w = mha(x, x, x, attn_mask=torch.from_numpy(causal), average_attn_weights=False)
print("max |ours - nn.MultiheadAttention| output :", np.abs(out - ref.detach().numpy()).max())
print("max |ours - nn.MultiheadAttention| weights:", np.abs(weights - ref_w.detach().numpy()).max())
