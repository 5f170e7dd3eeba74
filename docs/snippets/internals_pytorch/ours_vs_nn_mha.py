"""Our MultiheadAttention (transformer_anatomy.torch) against nn.MultiheadAttention with the same weights."""

import torch
from torch import nn

from transformer_anatomy.torch import MultiheadAttention


def compare_mha(E=16, H=4, N=3, T=5, S=7, seed=0, dtype=torch.float32):
    """Max |ours - torch| for outputs and weights, over several mask combinations (no fully masked rows)."""
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H, batch_first=True, dtype=dtype).eval()
    with torch.no_grad():  # non-zero biases so every parameter matters
        ref.in_proj_bias.normal_()
        ref.out_proj.bias.normal_()
    ours = MultiheadAttention(E, H, batch_first=True, dtype=dtype).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)  # same names, same shapes
    q = torch.randn(N, T, E, dtype=dtype)
    kv = torch.randn(N, S, E, dtype=dtype)
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[1, 5:] = True  # the second sequence has 5 real keys
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = blocked
    cases = {
        "cross-attention, no mask": (q, kv, kv, {}),
        "cross-attention, key_padding_mask": (q, kv, kv, {"key_padding_mask": pad}),
        "self-attention, causal attn_mask": (q, q, q, {"attn_mask": causal}),
        "self-attention, float -inf causal mask": (q, q, q, {"attn_mask": torch.zeros(T, T, dtype=dtype).masked_fill(causal, float("-inf"))}),
    }
    rows = {}
    for name, (a, b, c, kw) in cases.items():
        out_ref, w_ref = ref(a, b, c, **kw)
        out, w = ours(a, b, c, **kw)
        rows[name] = ((out - out_ref).abs().max().item(), (w - w_ref).abs().max().item())
    return rows


def same_seed_same_init(E=16, H=4, seed=0):
    """With the same seed, ours and torch draw the same initial weights (same creation order and init)."""
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H)
    torch.manual_seed(seed)
    ours = MultiheadAttention(E, H)
    return all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), ours.state_dict().values()))


def report():
    """Print the comparison."""
    print(f"same seed -> identical initial state_dict: {same_seed_same_init()}")
    for name, (d_out, d_w) in compare_mha().items():
        print(f"{name:40s} max |diff| output {d_out:.1e}, weights {d_w:.1e}")
