"""Post-norm vs pre-norm: our NumPy encoder layer against nn.TransformerEncoderLayer, and what
each arrangement does to the size of the residual stream as layers are stacked."""

import numpy as np
import torch
from torch import nn

from transformer_anatomy.numpy import from_torch

E, H, F = 16, 4, 64  # model width, heads, feed-forward width
N, S = 2, 6  # batch, source length


def layer_pair(norm_first, seed=0):
    """A float64 nn.TransformerEncoderLayer (eval, no dropout) and its NumPy twin."""
    torch.manual_seed(seed)
    ref = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref = ref.double().eval()
    return ref, from_torch(ref)


def compare_post_pre(seed=0):
    """Max |NumPy - torch| of one encoder layer, post-norm and pre-norm (float64)."""
    x = torch.randn(N, S, E, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    diffs = {}
    for norm_first in (False, True):
        ref, ours = layer_pair(norm_first, seed)
        with torch.no_grad():
            want = ref(x).numpy()
        diffs["pre-norm" if norm_first else "post-norm"] = float(np.abs(ours(x.numpy()) - want).max())
    return diffs


def residual_stream_std(norm_first, depth=12, seed=0):
    """Std of each token vector after each of ``depth`` stacked layers (random weights, float64).

    Post-norm ends every layer with a LayerNorm, so every output row has std 1. Pre-norm never
    normalises the residual stream itself: each layer adds to it, and its size drifts with depth.
    That is why a pre-norm stack needs a final LayerNorm (``nn.TransformerEncoder(norm=...)``).
    """
    torch.manual_seed(seed)
    x = torch.randn(N, S, E, dtype=torch.float64)
    stds = []
    with torch.no_grad():
        for _ in range(depth):
            layer = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, norm_first=norm_first)
            x = layer.double().eval()(x)
            stds.append(float(x.std(dim=-1, unbiased=False).mean()))
    return stds


def report_equal():
    """Print the two max differences."""
    for name, d in compare_post_pre().items():
        print(f"{name:9s}: max |NumPy - nn.TransformerEncoderLayer| = {d:.1e}")


def report_growth(depth=12):
    """Print the residual-stream std after layers 1, 2, 4, 8, 12 for both arrangements."""
    post, pre = residual_stream_std(False, depth), residual_stream_std(True, depth)
    print("after layer   post-norm std   pre-norm std")
    for i in (1, 2, 4, 8, depth):
        print(f"{i:11d}   {post[i - 1]:13.3f}   {pre[i - 1]:12.3f}")
