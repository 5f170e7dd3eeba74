"""No magic: our from-scratch encoder layer computes what nn.TransformerEncoderLayer computes.

Both layers get the same weights (our parameter names are PyTorch's, so its state_dict loads
with ``strict=True``); the outputs and the gradients are compared in float64.
"""

import torch
from torch import nn

from transformer_anatomy.torch import TransformerEncoderLayer


def compare(N=3, S=7, E=32, H=4, F=64, seed=0):
    """Max |difference| of outputs and of input gradients, in training mode without dropout."""
    torch.manual_seed(seed)
    theirs = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, dtype=torch.float64)
    ours = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[0, -2:] = True  # two padded keys in the first sequence
    diffs = {}
    grads = []
    for layer in (theirs, ours):
        x = torch.randn(N, S, E, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
        y = layer(x, src_key_padding_mask=pad)
        y.square().sum().backward()
        grads.append((y.detach(), x.grad))
    diffs["output"] = float((grads[0][0] - grads[1][0]).abs().max())
    diffs["input gradient"] = float((grads[0][1] - grads[1][1]).abs().max())
    return diffs


def report():
    for what, d in compare().items():
        print(f"max |ours - nn.TransformerEncoderLayer|, {what}: {d:.1e}")
