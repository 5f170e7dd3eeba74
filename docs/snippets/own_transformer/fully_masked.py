"""A query row with nothing to attend to: nn.Transformer returns NaN, ours returns finite numbers.

A realistic way to get one: a left-padded target. Its first position is <pad>, the causal mask
lets position 0 see only position 0, and the key padding mask hides position 0, so row 0 of
the decoder's self-attention has every key blocked.
"""

import warnings

import numpy as np
import torch
from torch import nn

import transformer_anatomy.torch as tt

CONFIG = dict(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=32,
              dropout=0.0, batch_first=True)
N, S, T = 2, 5, 4  # batch, source length, target length


def setup(seed=0):
    """nn.Transformer, ours with its weights, inputs, and masks with one fully masked row."""
    torch.manual_seed(seed)
    theirs = nn.Transformer(**CONFIG).double()
    ours = tt.Transformer(**CONFIG).double()
    ours.load_state_dict(theirs.state_dict())
    src = torch.randn(N, S, 16, dtype=torch.float64)
    tgt = torch.randn(N, T, 16, dtype=torch.float64)
    masks = dict(tgt_mask=torch.ones(T, T, dtype=torch.bool).triu(1),  # causal, True = blocked
                 tgt_key_padding_mask=torch.tensor([[False] * T, [True] + [False] * (T - 1)]))  # left pad
    return theirs, ours, src, tgt, masks


def nan_rows(training, grad):
    """Which output positions contain NaN, for nn.Transformer and for ours."""
    theirs, ours, src, tgt, masks = setup()
    theirs.train(training), ours.train(training)
    with torch.set_grad_enabled(grad), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        a, b = theirs(src, tgt, **masks), ours(src, tgt, **masks)
    return torch.isnan(a).any(-1).tolist(), torch.isnan(b).any(-1).tolist()


def attention_row(seed=0):
    """Row 0 of sequence 1 in the first decoder layer's self-attention: weights and output."""
    theirs, ours, src, tgt, masks = setup(seed)
    layer_t, layer_o = theirs.decoder.layers[0].self_attn, ours.decoder.layers[0].self_attn
    kw = dict(attn_mask=masks["tgt_mask"], key_padding_mask=masks["tgt_key_padding_mask"])
    with torch.no_grad():
        out_t, w_t = layer_t(tgt, tgt, tgt, **kw)  # need_weights=True by default
        out_o, w_o = layer_o(tgt, tgt, tgt, **kw)
    return {"nn weights": w_t[1, 0].numpy(), "our weights": w_o[1, 0].numpy(),
            "nn output is NaN": bool(torch.isnan(out_t[1, 0]).all()),
            "our output": out_o[1, 0].numpy(), "out_proj.bias": layer_o.out_proj.bias.detach().numpy()}


def report_modes():
    """Print the NaN positions of both models in three modes."""
    print("mode                       nn.Transformer NaN at (sequence, position)   ours")
    for training, grad, name in ((True, True, "train, autograd on"), (False, True, "eval, autograd on"),
                                 (False, False, "eval, torch.no_grad()")):
        theirs, ours = nan_rows(training, grad)
        where = lambda rows: [(n, t) for n in range(N) for t in range(T) if rows[n][t]] or "none"
        print(f"{name:26s} {str(where(theirs)):44s} {where(ours)}")


def report_row():
    """Print the attention weights of the fully masked row, and our output there."""
    r = attention_row()
    np.set_printoptions(precision=4, suppress=True)
    print("nn.MultiheadAttention weights of the row: ", r["nn weights"], "  output NaN:", r["nn output is NaN"])
    print("our MultiheadAttention weights of the row:", r["our weights"])
    print("our output at that row == out_proj.bias:  ", bool(np.array_equal(r["our output"], r["out_proj.bias"])))
