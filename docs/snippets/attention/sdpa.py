"""F.scaled_dot_product_attention (a fused kernel) vs the explicit matmul–softmax–matmul."""

import math

import torch
import torch.nn.functional as F

from transformer_anatomy.torch import MultiheadAttention, scaled_dot_product_attention


def compare(N=2, H=4, T=6, S=6, D=16, seed=0, dtype=torch.float32):
    """Max |fused - explicit| without a mask, with the causal mask, and through our MHA's two paths."""
    torch.manual_seed(seed)
    q, k, v = (torch.randn(N, H, L, D, dtype=dtype) for L in (T, S, S))
    causal = torch.ones(T, S, dtype=torch.bool).triu(1)  # True = blocked (our convention)
    out = {}
    manual = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D), dim=-1) @ v  # (N, H, T, D)
    out["no mask: F.sdpa vs matmul-softmax-matmul written inline"] = (F.scaled_dot_product_attention(q, k, v) - manual).abs().max()
    ours, _ = scaled_dot_product_attention(q, k, v, attn_mask=causal)
    out["causal: F.sdpa(is_causal=True) vs our explicit function"] = (F.scaled_dot_product_attention(q, k, v, is_causal=True) - ours).abs().max()
    out["causal: F.sdpa(attn_mask=~causal) vs our explicit function"] = (F.scaled_dot_product_attention(q, k, v, attn_mask=~causal) - ours).abs().max()
    mha = MultiheadAttention(H * D, H, batch_first=True, dtype=dtype).eval()
    x = torch.randn(N, T, H * D, dtype=dtype)
    with torch.no_grad():
        fused, _ = mha(x, x, x, attn_mask=causal, need_weights=False)  # attend() -> F.scaled_dot_product_attention
        explicit, _ = mha(x, x, x, attn_mask=causal, need_weights=True)  # attend() -> scaled_dot_product_attention
    out["our MultiheadAttention: need_weights=False vs True"] = (fused - explicit).abs().max()
    return {name: float(d) for name, d in out.items()}


def report():
    for name, d in compare().items():
        print(f"{name:60} max |diff| = {d:.1e}  (float32)")
