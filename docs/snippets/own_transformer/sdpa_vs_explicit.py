"""Our MultiheadAttention through F.scaled_dot_product_attention (need_weights=False) and
through the explicit matmul-softmax-matmul (need_weights=True): the same numbers."""

import torch
from torch import nn

import transformer_anatomy.torch as tt

E, H, N, T, S = 16, 4, 2, 5, 7  # width, heads, batch, queries, keys


def outputs(dtype=torch.float64, seed=0):
    """Outputs of ours (both paths) and of nn.MultiheadAttention, with both kinds of mask."""
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H, batch_first=True, dtype=dtype)
    ours = tt.MultiheadAttention(E, H, batch_first=True, dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    q, kv = torch.randn(N, T, E, dtype=dtype), torch.randn(N, S, E, dtype=dtype)
    attn_mask = torch.zeros(T, S, dtype=torch.bool)
    attn_mask[:, 0] = True  # no query may attend to key 0
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[1, -2:] = True  # the second sequence's last 2 keys are padding
    kw = dict(attn_mask=attn_mask, key_padding_mask=pad)
    with torch.no_grad():
        return {"SDPA": ours(q, kv, kv, need_weights=False, **kw)[0],
                "explicit": ours(q, kv, kv, need_weights=True, **kw)[0],
                "nn.MultiheadAttention": ref(q, kv, kv, **kw)[0]}


def report():
    """Print the pairwise differences in float64 and float32."""
    for dtype in (torch.float64, torch.float32):
        o = outputs(dtype)
        name = str(dtype).replace("torch.", "")
        print(f"{name}: max |SDPA path - explicit path|           = {(o['SDPA'] - o['explicit']).abs().max():.1e}")
        print(f"{name}: max |SDPA path - nn.MultiheadAttention|   = {(o['SDPA'] - o['nn.MultiheadAttention']).abs().max():.1e}")
