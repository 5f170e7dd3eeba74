"""FlashAttention against naive attention, live: forward, log-sum-exp and gradients, for several
tile sizes, causal or not, float64 and float32."""

import numpy as np

from transformer_anatomy.numpy.attention import scaled_dot_product_attention, scaled_dot_product_attention_backward
from transformer_anatomy.numpy.flash import flash_attention_backward, flash_attention_forward

SHAPE = dict(N=2, H=3, T=50, S=70, D=16)  # S != T on purpose


def inputs(dtype=np.float64, seed=0, N=2, H=3, T=50, S=70, D=16):
    """Random q (N, H, T, D), k, v (N, H, S, D) and an upstream gradient dout (N, H, T, D)."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((N, H, L, D)).astype(dtype) for L in (T, S, S))
    return q, k, v, rng.standard_normal((N, H, T, D)).astype(dtype)


def differences(block, is_causal, dtype=np.float64, seed=0):
    """Max |flash - naive| of the output and of dq, dk, dv."""
    q, k, v, dout = inputs(dtype, seed, **SHAPE)
    out, lse = flash_attention_forward(q, k, v, is_causal=is_causal, block_size=block)
    grads = flash_attention_backward(dout, q, k, v, out, lse, is_causal=is_causal, block_size=block)
    ref, _, cache = scaled_dot_product_attention(q, k, v, is_causal=is_causal, return_cache=True)
    ref_grads = scaled_dot_product_attention_backward(dout, cache)
    return dict(out=float(np.abs(out - ref).max()),
                **{f"d{n}": float(np.abs(g - r).max()) for n, g, r in zip("qkv", grads, ref_grads)})


BLOCKS = (1, 7, 50, 128)  # one key per tile, a few, exactly T, more than S


def rows(blocks=BLOCKS):
    """``(dtype, causal, block, differences)`` for every case of the table."""
    return [(dtype, causal, b, differences(b, causal, dtype))
            for dtype in (np.float64, np.float32) for causal in (False, True) for b in blocks]


def report_equality(blocks=BLOCKS):
    """Print the differences as a Markdown table and the worst case per dtype."""
    N, H, T, S, D = SHAPE.values()
    print(f"q ({N}, {H}, {T}, {D}), k and v ({N}, {H}, {S}, {D}); max |flash − naive|:\n")
    print("| dtype | causal | block size | output | gradients (worst of dq, dk, dv) |")
    print("|---|---|---:|---:|---:|")
    table = rows(blocks)
    for dtype, causal, b, d in table:
        grad = max(d["dq"], d["dk"], d["dv"])
        print(f"| {np.dtype(dtype).name} | {causal} | {b} | {d['out']:.1e} | {grad:.1e} |")
    for dtype in (np.float64, np.float32):
        worst = max(max(d.values()) for t, _, _, d in table if t is dtype)
        print(f"\nWorst difference in {np.dtype(dtype).name}: **{worst:.1e}** "
              f"(machine epsilon {np.finfo(dtype).eps:.1e}).")


def report_backward_check(block=16):
    """Print one backward check: flash's gradients from the log-sum-exp vs the naive backward."""
    d = differences(block, True)
    print(f"Causal, block size {block}, float64: max |flash − naive| of dq {d['dq']:.1e}, "
          f"dk {d['dk']:.1e}, dv {d['dv']:.1e}.")


def report_saved(T=1024, S=1024, D=64, dtype=np.float32):
    """Print what each implementation keeps for the backward, beyond q, k, v and the output."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((L, D)).astype(dtype) for L in (T, S, S))
    _, _, cache = scaled_dot_product_attention(q, k, v, return_cache=True)
    _, lse = flash_attention_forward(q, k, v)
    naive = cache.probs.nbytes  # the weights are the same array without dropout
    print(f"T = S = {T}, {np.dtype(dtype).name}: naive keeps the probabilities {cache.probs.shape}, "
          f"{naive / 2**20:.1f} MiB; flash keeps the log-sum-exp {lse.shape}, {lse.nbytes / 2**10:.1f} KiB "
          f"({naive // lse.nbytes} × less).")
