"""Scaled dot-product attention, one step at a time, on four real tokens."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from transformer_anatomy.numpy import scaled_dot_product_attention, softmax

TOKENS = ["the", "cat", "sat", "down"]
E, D = 8, 4  # model width, query/key/value width d_k


def setup(seed=0):
    """Token vectors X (T, E) and projections W_q, W_k, W_v (E, D), all seeded."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((len(TOKENS), E))  # (T, E): one vector per token
    W_q, W_k, W_v = (rng.standard_normal((E, D)) / math.sqrt(E) for _ in range(3))  # (E, D) each
    return X, W_q, W_k, W_v


def steps(seed=0):
    """Every intermediate of softmax(Q Kᵀ / √d_k) V."""
    X, W_q, W_k, W_v = setup(seed)
    Q, K, V = X @ W_q, X @ W_k, X @ W_v  # (T, E) @ (E, D) -> (T, D)
    scores = Q @ K.T  # (T, D) @ (D, T) -> (T, T): query t against key s
    scaled = scores / math.sqrt(D)  # divide by √d_k
    weights = softmax(scaled, axis=-1)  # each row sums to 1
    out = weights @ V  # (T, T) @ (T, D) -> (T, D): weighted average of value rows
    return dict(X=X, Q=Q, K=K, V=V, scores=scores, scaled=scaled, weights=weights, out=out)


def check(seed=0):
    """The step-by-step result vs our NumPy function and torch's F.scaled_dot_product_attention."""
    s = steps(seed)
    ours, w = scaled_dot_product_attention(s["Q"], s["K"], s["V"])
    t = F.scaled_dot_product_attention(*(torch.from_numpy(s[k]) for k in "QKV"))
    return {"numpy_out": float(np.abs(ours - s["out"]).max()),
            "numpy_weights": float(np.abs(w - s["weights"]).max()),
            "torch_out": float(np.abs(t.numpy() - s["out"]).max())}


def labeled(M, rows=TOKENS, cols=TOKENS, width=8, fmt="{:8.3f}"):
    """A matrix as text with token labels on its rows (and on its columns when ``cols`` is given)."""
    lines = []
    if cols is not None:
        lines.append(" " * 7 + "".join(f"{c:>{width}}" for c in cols))
    for name, row in zip(rows, M):
        lines.append(f"{name:>6} " + "".join(fmt.format(v) for v in row))
    return "\n".join(lines)


def report_projections():
    s = steps()
    print(f"T = {len(TOKENS)} tokens, E = {E}, d_k = {D}: Q = X W_q, K = X W_k, V = X W_v, each {s['Q'].shape}")
    print("Q =\n" + labeled(s["Q"], cols=None))
    print("K =\n" + labeled(s["K"], cols=None))


def report_scores():
    s = steps()
    print("scores = Q Kᵀ   (row: query, column: key)\n" + labeled(s["scores"]))
    print(f"\nscaled = scores / √d_k = scores / {math.sqrt(D):g}\n" + labeled(s["scaled"]))


def report_weights():
    s = steps()
    print("weights = softmax(scaled), row by row\n" + labeled(s["weights"]))
    print("row sums:", np.round(s["weights"].sum(axis=1), 12).tolist())


def report_output():
    s = steps()
    print("V =\n" + labeled(s["V"], cols=None))
    print("\noutput = weights @ V   (each row a weighted average of the rows of V)\n" + labeled(s["out"], cols=None))
    c = check()
    print(f"\nmax |step by step - our scaled_dot_product_attention|: output {c['numpy_out']:.1e}, "
          f"weights {c['numpy_weights']:.1e}")
    print(f"max |step by step - F.scaled_dot_product_attention|  : output {c['torch_out']:.1e}")
