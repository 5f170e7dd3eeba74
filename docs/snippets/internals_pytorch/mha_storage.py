"""What nn.MultiheadAttention stores, and proof that in_proj_weight packs W_q, W_k, W_v in that order."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.viz import figure_to_svg


def mha_parameters(embed_dim, num_heads, kdim=None, vdim=None):
    """Name -> shape (or None) of every parameter slot an nn.MultiheadAttention registers."""
    mha = nn.MultiheadAttention(embed_dim, num_heads, kdim=kdim, vdim=vdim)
    slots = {name: (None if p is None else tuple(p.shape)) for name, p in mha._parameters.items()}
    slots.update({f"out_proj.{n}": tuple(p.shape) for n, p in mha.out_proj.named_parameters()})
    return slots


# --8<-- [start:attention_from_slices]
def attention_from_slices(mha, x, order=("q", "k", "v")):
    """Multi-head self-attention written out from the rows of ``in_proj_weight``.

    ``order`` says which block of rows is taken as W_q, W_k, W_v: the true order is q, k, v.
    """
    N, L, E = x.shape  # batch, length, model width (batch_first input)
    H = mha.num_heads
    blocks = dict(zip(order, F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)))  # (N, L, 3E) -> 3 x (N, L, E)
    q, k, v = (blocks[n].reshape(N, L, H, E // H).transpose(1, 2) for n in "qkv")  # (N, L, E) -> (N, H, L, E/H)
    scores = q @ k.transpose(-2, -1) / math.sqrt(E // H)  # (N, H, L, E/H) x (N, H, E/H, L) -> (N, H, L, L)
    out = torch.softmax(scores, dim=-1) @ v  # (N, H, L, L) x (N, H, L, E/H) -> (N, H, L, E/H)
    return mha.out_proj(out.transpose(1, 2).reshape(N, L, E))  # (N, H, L, E/H) -> (N, L, E) -> out_proj
# --8<-- [end:attention_from_slices]


def packing_check(E=8, H=2, seed=0):
    """Max |difference| between nn.MultiheadAttention and the hand-written version, for two row orders."""
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases, so the bias slices are checked too
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    x = torch.randn(2, 5, E)
    with torch.no_grad():
        ref = mha(x, x, x, need_weights=False)[0]
        return {
            "q, k, v": (attention_from_slices(mha, x, ("q", "k", "v")) - ref).abs().max().item(),
            "k, q, v": (attention_from_slices(mha, x, ("k", "q", "v")) - ref).abs().max().item(),
        }


def report():
    """Print the parameter slots for E=8, H=2, with and without kdim/vdim, and the packing check."""
    for kw in ({}, {"kdim": 5, "vdim": 3}):
        print(f"nn.MultiheadAttention(embed_dim=8, num_heads=2{''.join(f', {k}={v}' for k, v in kw.items())})")
        for name, shape in mha_parameters(8, 2, **kw).items():
            print(f"  {name:16s} {shape}")
    print()
    for order, diff in packing_check().items():
        print(f"rows read as {order}: max |manual - nn.MultiheadAttention| = {diff:.2e}")


def packing_figure(E=8, H=2, seed=0):
    """in_proj_weight (3E, E) as a heatmap, its three row blocks W_q, W_k, W_v and the heads inside each."""
    torch.manual_seed(seed)
    w = nn.MultiheadAttention(E, H).in_proj_weight.detach().numpy()  # (3E, E)
    fig = Figure(figsize=(7.2, 3.6), layout="constrained")
    ax_all, *ax_blocks = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1]})
    lim = np.abs(w).max()
    im = ax_all.imshow(w, cmap="cividis", vmin=-lim, vmax=lim)
    for r in (E, 2 * E):
        ax_all.axhline(r - 0.5, color="tab:red", lw=1.5)
    ax_all.set_yticks([E / 2 - 0.5, 1.5 * E - 0.5, 2.5 * E - 0.5], ["W_q", "W_k", "W_v"], fontsize=8)
    ax_all.set_xlabel("input feature (E)", fontsize=8)
    ax_all.set_title(f"in_proj_weight {w.shape}", fontsize=9)
    for i, (ax, name) in enumerate(zip(ax_blocks, ("W_q", "W_k", "W_v"))):
        ax.imshow(w[i * E:(i + 1) * E], cmap="cividis", vmin=-lim, vmax=lim)
        for h in range(1, H):
            ax.axhline(h * E // H - 0.5, color="tab:orange", lw=1.5, ls="--")
        ax.set_title(f"{name}: rows {i * E}–{(i + 1) * E - 1}", fontsize=8)
        ax.set_yticks([(h + 0.5) * E / H - 0.5 for h in range(H)], [f"head {h}" for h in range(H)] if i == 0 else [],
                      fontsize=7)
        ax.set_xticks([])
    fig.colorbar(im, ax=list(ax_blocks), shrink=0.6, label="weight")
    return fig


def report_figure(E=8, H=2):
    print(figure_to_svg(packing_figure(E, H), alt="Heatmap of nn.MultiheadAttention's packed in_proj_weight, "
                        "split into its three row blocks W_q, W_k and W_v, each split into the rows of its heads",
                        caption=f"<code>nn.MultiheadAttention({E}, {H})</code>: one (3E, E) matrix, three "
                        "E × E blocks, E/H rows per head inside each."))
