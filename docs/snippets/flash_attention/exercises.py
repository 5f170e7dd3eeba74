"""Solutions to the exercises of docs/flash-attention.md (checked by tests/docs/test_flash_attention_snippets.py)."""

import numpy as np

from transformer_anatomy.numpy.attention import scaled_dot_product_attention
from transformer_anatomy.numpy.flash import flash_attention_forward

from flash_attention.memory import peak_bytes


# --8<-- [start:merge]
def merge(a, b):
    """Combine two partial softmax states (m, l, acc) over disjoint sets of keys into one."""
    (m1, l1, acc1), (m2, l2, acc2) = a, b
    m = np.maximum(m1, m2)                          # the maximum over both sets
    w1, w2 = np.exp(m1 - m), np.exp(m2 - m)          # rescale each to the common maximum
    return m, w1 * l1 + w2 * l2, w1[..., None] * acc1 + w2[..., None] * acc2
# --8<-- [end:merge]


def partial_state(q, k, v, scale):
    """(m, l, acc) of q against one set of keys: the running state after those keys, (T,), (T,), (T, Dv)."""
    s = (q * scale) @ k.T  # (T, S_part)
    m = s.max(axis=-1)
    p = np.exp(s - m[:, None])
    return m, p.sum(axis=-1), p @ v


def split_in_two(T=6, S=10, D=4, cut=3, seed=0):
    """Attention computed from two halves of the keys and merged, and the max difference to naive."""
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((T, D)), rng.standard_normal((S, D)), rng.standard_normal((S, D))
    scale = 1 / np.sqrt(D)
    m, l, acc = merge(partial_state(q, k[:cut], v[:cut], scale), partial_state(q, k[cut:], v[cut:], scale))
    out = acc / l[:, None]
    return float(np.abs(out - scaled_dot_product_attention(q, k, v)[0]).max())


def peak_by_block(T=1024, D=64, blocks=(32, 128, 512, 1024), seed=0):
    """Peak bytes of flash attention per block size, and of naive attention, on (T, D) float32 inputs."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((T, D)).astype(np.float32) for _ in range(3))
    flash = {b: peak_bytes(lambda: flash_attention_forward(q, k, v, block_size=b)) for b in blocks}
    return flash, peak_bytes(lambda: scaled_dot_product_attention(q, k, v))


def delta_two_ways(T=5, S=7, D=3, seed=0):
    """D_i computed as rowsum(dO ⊙ O) and as rowsum(dP ⊙ P): the max difference between them."""
    rng = np.random.default_rng(seed)
    q, k, v, dout = (rng.standard_normal(s) for s in ((T, D), (S, D), (S, D), (T, D)))
    out, P = scaled_dot_product_attention(q, k, v)
    dP = dout @ v.T  # (T, D) @ (D, S) -> (T, S)
    return float(np.abs((dout * out).sum(-1) - (dP * P).sum(-1)).max())
