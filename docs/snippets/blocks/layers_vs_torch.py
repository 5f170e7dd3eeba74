"""Our NumPy encoder and decoder layers against nn.TransformerEncoderLayer / DecoderLayer.

Each torch layer is built with random weights (float64, dropout 0, eval), converted with
``transformer_anatomy.numpy.from_torch`` (configuration read from the module, weights copied
with ``load_state_dict(strict=True)``), and both run on the same input with the same masks.
"""

import itertools

import numpy as np
import torch
from torch import nn

from transformer_anatomy.numpy import from_torch

E, H, F = 16, 4, 64  # model width, heads, feed-forward width
N, S, T = 2, 7, 5  # batch, source length, target length


def _data(seed):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(N, S, E, dtype=torch.float64, generator=g)  # encoder input / memory
    tgt = torch.randn(N, T, E, dtype=torch.float64, generator=g)  # decoder input
    src_pad = torch.zeros(N, S, dtype=torch.bool)
    src_pad[1, -3:] = True  # the second source sequence has 3 pad positions
    causal = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)  # (T, T), -inf above
    return src, tgt, src_pad, causal


def encoder_case(norm_first, activation, seed=0):
    """Max |NumPy - torch| for one encoder layer with a key padding mask."""
    src, _, src_pad, _ = _data(seed)
    torch.manual_seed(seed)
    ref = nn.TransformerEncoderLayer(E, H, F, 0.0, activation, batch_first=True, norm_first=norm_first)
    ref = ref.double().eval()
    ours = from_torch(ref)
    want = ref(src, src_key_padding_mask=src_pad).detach().numpy()  # grad on: no fast path
    got = ours(src.numpy(), src_key_padding_mask=src_pad.numpy())
    return float(np.abs(got - want).max())


def decoder_case(norm_first, activation, seed=0):
    """Max |NumPy - torch| for one decoder layer: causal self-attention, padded memory."""
    src, tgt, src_pad, causal = _data(seed)
    torch.manual_seed(seed)
    ref = nn.TransformerDecoderLayer(E, H, F, 0.0, activation, batch_first=True, norm_first=norm_first)
    ref = ref.double().eval()
    ours = from_torch(ref)
    want = ref(tgt, src, tgt_mask=causal, memory_key_padding_mask=src_pad).detach().numpy()
    got = ours(tgt.numpy(), src.numpy(), tgt_mask=causal.numpy(), memory_key_padding_mask=src_pad.numpy())
    return float(np.abs(got - want).max()), got.shape


def table(kind):
    """Rows (norm_first, activation, max diff) for every combination, ``kind`` "encoder" or "decoder"."""
    case = encoder_case if kind == "encoder" else lambda nf, act: decoder_case(nf, act)[0]
    return [(nf, act, case(nf, act)) for nf, act in itertools.product((False, True), ("relu", "gelu"))]


def report(kind):
    """Print the table for one kind of layer."""
    ref = "nn.TransformerEncoderLayer" if kind == "encoder" else "nn.TransformerDecoderLayer"
    print(f"norm_first  activation  max |NumPy - {ref}| (float64)")
    for nf, act, d in table(kind):
        print(f"{str(nf):10s}  {act:10s}  {d:.1e}")
    if kind == "decoder":
        print(f"\nshapes: tgt {(N, T, E)}, memory {(N, S, E)} -> output {decoder_case(False, 'relu')[1]}")
