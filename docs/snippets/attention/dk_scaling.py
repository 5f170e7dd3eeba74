"""Why divide by √d_k: dot products of random unit-variance vectors have variance d_k,
and softmax of scores that large is almost one-hot, with almost no gradient."""

import math

import numpy as np

from transformer_anatomy.numpy import softmax

D_KS = (4, 16, 64, 256, 1024)


def dot_variance(d_k, n=8000, seed=0):
    """Sample variance of q·k and of q·k/√d_k over n pairs of N(0, 1) vectors of width d_k."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, d_k), dtype=np.float32)
    k = rng.standard_normal((n, d_k), dtype=np.float32)
    dots = np.einsum("nd,nd->n", q, k, dtype=np.float64)  # (n,)
    return float(dots.var()), float((dots / math.sqrt(d_k)).var())


def saturation(d_k, S=16, n=2000, seed=0):
    """Softmax over S keys of scores q·k (unscaled) and q·k/√d_k (scaled).

    Returns, for each: the mean largest weight in a row, and the mean Frobenius norm of the
    softmax Jacobian diag(p) - p pᵀ (how much gradient reaches the scores).
    """
    rng = np.random.default_rng(seed + 1)
    q = rng.standard_normal((n, 1, d_k))
    k = rng.standard_normal((n, S, d_k))
    scores = (q @ k.transpose(0, 2, 1))[:, 0]  # (n, 1, d_k) @ (n, d_k, S) -> (n, S)
    out = {}
    for name, z in (("unscaled", scores), ("scaled", scores / math.sqrt(d_k))):
        p = softmax(z, axis=-1)  # (n, S)
        jac = p[:, :, None] * np.eye(S) - p[:, :, None] * p[:, None, :]  # (n, S, S)
        out[name] = {"max_weight": float(p.max(axis=1).mean()),
                     "jacobian_norm": float(np.linalg.norm(jac, axis=(1, 2)).mean())}
    return out


def report_variance():
    print(f"{'d_k':>5} {'var(q·k)':>10} {'var(q·k / √d_k)':>16}")
    for d_k in D_KS:
        v, vs = dot_variance(d_k)
        print(f"{d_k:>5} {v:10.2f} {vs:16.3f}")


def report_saturation(S=16):
    print(f"softmax over S = {S} keys, mean over 2000 rows")
    print(f"{'d_k':>5} {'largest weight':>24} {'‖softmax Jacobian‖':>26}")
    print(f"{'':>5} {'unscaled':>12} {'scaled':>11} {'unscaled':>13} {'scaled':>12}")
    for d_k in D_KS:
        r = saturation(d_k, S)
        print(f"{d_k:>5} {r['unscaled']['max_weight']:12.3f} {r['scaled']['max_weight']:11.3f} "
              f"{r['unscaled']['jacobian_norm']:13.4f} {r['scaled']['jacobian_norm']:12.4f}")
