"""Solutions to the exercises of docs/backprop.md (tests/docs/test_backprop_snippets.py checks
each against torch.autograd or against our own backward)."""

import numpy as np

from transformer_anatomy.numpy import scaled_dot_product_attention, scaled_dot_product_attention_backward


# --8<-- [start:linear_loop]
def linear_weight_grad_loop(x, dy):
    """dW of y = x Wᵀ + b as an explicit sum over positions: Σ_m outer(dy_m, x_m).

    Shape:
        x: (M, in), dy: (M, out) -> dW: (out, in).
    """
    dW = np.zeros((dy.shape[1], x.shape[1]))
    for m in range(x.shape[0]):  # every position used the same W, so each adds its share
        dW += np.outer(dy[m], x[m])  # (out,) x (in,) -> (out, in)
    return dW
# --8<-- [end:linear_loop]


# --8<-- [start:softmax_jacobian]
def softmax_backward_jacobian(p, dp):
    """Softmax backward by building the (C, C) Jacobian diag(p) - p pᵀ of every row.

    Shape:
        p, dp: (M, C) -> dz: (M, C).
    """
    J = np.einsum("mi,ij->mij", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]  # (M, C, C)
    return np.einsum("mij,mi->mj", J, dp)  # dz_j = Σ_i dp_i ∂p_i/∂z_j
# --8<-- [end:softmax_jacobian]


# --8<-- [start:fully_masked]
def fully_masked_row_gradients(seed=0, T=3, S=4, D=4):
    """Attention where query 0 may attend to no key: its output row, and the gradient that
    reaches q (row 0), k and v from that row alone."""
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((T, D)), rng.standard_normal((S, D)), rng.standard_normal((S, D))
    mask = np.zeros((T, S), dtype=bool)
    mask[0] = True  # (T, S), True = blocked: query 0 sees nothing
    out, weights, cache = scaled_dot_product_attention(q, k, v, mask, return_cache=True)
    dout = np.zeros_like(out)
    dout[0] = rng.standard_normal(D)  # a gradient on the fully masked row only
    dq, dk, dv = scaled_dot_product_attention_backward(dout, cache)
    return {"output row": out[0], "weights row": weights[0], "dq row": dq[0], "dk": dk, "dv": dv}
# --8<-- [end:fully_masked]


# --8<-- [start:smoothed_target]
def smoothed_target(y, C, eps):
    """The distribution label smoothing trains towards: (1 - ε) onehot(y) + ε / C."""
    t = np.full(C, eps / C)
    t[y] += 1.0 - eps
    return t
# --8<-- [end:smoothed_target]
