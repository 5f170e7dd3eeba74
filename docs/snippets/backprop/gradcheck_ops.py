"""Gradient checks of every hand-written backward, run while the page is built.

For each op, a scalar loss ``L = Σ out ⊙ G`` (``G`` a fixed random upstream gradient, so every
entry of the output matters) is differentiated three ways, all in float64:

- our backward pass (the code on the page);
- central finite differences, ``(L(x + h) - L(x - h)) / 2h`` with ``h = 1e-6``, entry by entry;
- ``torch.autograd`` on the same computation written with torch's own ops.

The reported number is ``max |ours - reference| / max(|ours|, |reference|)`` per gradient.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from transformer_anatomy.numpy import (
    CrossEntropyLoss,
    Embedding,
    GELU,
    LayerNorm,
    Linear,
    ReLU,
    max_relative_error,
    numerical_gradient,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    softmax,
    softmax_backward,
)
from transformer_anatomy.viz import figure_to_svg

H_STEP = 1e-6  # finite-difference step
FD_TOL, AUTOGRAD_TOL = 1e-6, 1e-10  # the pass thresholds of TESTING.md (float64)
FLOOR = 1e-18  # where an error of exactly 0 is drawn on a log axis


def _t(a):
    """A float64 leaf tensor that records its gradient."""
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _rows(op, f, arrays, ours, torch_grads):
    """One row per gradient: (op, name, error vs finite differences, error vs autograd)."""
    out = []
    for name, a in arrays.items():
        fd = numerical_gradient(f, a, h=H_STEP)
        out.append((op, name, max_relative_error(ours[name], fd),
                    max_relative_error(ours[name], torch_grads[name].detach().numpy())))
    return out


def check_linear(rng):
    """``y = x Wᵀ + b``: gradients for x, W and b."""
    lin = Linear(4, 5, dtype=np.float64, rng=rng)
    x, G = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 5))
    f = lambda: float(np.sum(lin(x) * G))
    lin(x)
    ours = {"x": lin.backward(G), "weight": lin.grads["weight"].copy(), "bias": lin.grads["bias"].copy()}
    tx, tw, tb = _t(x), _t(lin.weight), _t(lin.bias)
    (F.linear(tx, tw, tb) * torch.from_numpy(G)).sum().backward()
    return _rows("linear", f, {"x": x, "weight": lin.weight, "bias": lin.bias}, ours,
                 {"x": tx.grad, "weight": tw.grad, "bias": tb.grad})


def check_softmax(rng):
    """``softmax`` over the last axis: gradient for its input."""
    x, G = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    f = lambda: float(np.sum(softmax(x) * G))
    ours = {"x": softmax_backward(G, softmax(x))}
    tx = _t(x)
    (torch.softmax(tx, -1) * torch.from_numpy(G)).sum().backward()
    return _rows("softmax", f, {"x": x}, ours, {"x": tx.grad})


def check_layer_norm(rng):
    """LayerNorm: gradients for x, weight and bias (random weight and bias)."""
    ln = LayerNorm(6, dtype=np.float64)
    ln.load_state_dict({"weight": rng.standard_normal(6), "bias": rng.standard_normal(6)})
    x, G = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3, 6))
    f = lambda: float(np.sum(ln(x) * G))
    ln(x)
    ours = {"x": ln.backward(G), "weight": ln.grads["weight"].copy(), "bias": ln.grads["bias"].copy()}
    tx, tw, tb = _t(x), _t(ln.weight), _t(ln.bias)
    (F.layer_norm(tx, (6,), tw, tb, 1e-5) * torch.from_numpy(G)).sum().backward()
    return _rows("layer norm", f, {"x": x, "weight": ln.weight, "bias": ln.bias}, ours,
                 {"x": tx.grad, "weight": tw.grad, "bias": tb.grad})


def check_attention(rng):
    """Scaled dot-product attention with a causal-style mask and key padding: dq, dk, dv."""
    N, Hh, T, S, D = 2, 2, 3, 4, 4  # batch, heads, queries, keys, head width
    q, k, v = rng.standard_normal((N, Hh, T, D)), rng.standard_normal((N, Hh, S, D)), rng.standard_normal((N, Hh, S, D))
    G = rng.standard_normal((N, Hh, T, D))
    mask = np.triu(np.ones((T, S), dtype=bool), k=2)  # (T, S), True = blocked
    pad = np.array([[False] * S, [False, False, False, True]])  # (N, S), last key of sequence 1 is padding
    run = lambda: scaled_dot_product_attention(q, k, v, mask, key_padding_mask=pad, return_cache=True)
    f = lambda: float(np.sum(run()[0] * G))
    dq, dk, dv = scaled_dot_product_attention_backward(G, run()[2])
    tq, tk, tv = _t(q), _t(k), _t(v)
    add = torch.zeros(N, 1, T, S, dtype=torch.float64)
    add = add.masked_fill(torch.from_numpy(mask) | torch.from_numpy(pad)[:, None, None, :], float("-inf"))
    scores = tq @ tk.transpose(-2, -1) / math.sqrt(D) + add  # (N, H, T, S)
    (torch.softmax(scores, -1) @ tv * torch.from_numpy(G)).sum().backward()
    return _rows("attention", f, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv},
                 {"q": tq.grad, "k": tk.grad, "v": tv.grad})


def check_embedding(rng):
    """Embedding (× √E) with repeated ids: gradient for the table."""
    emb = Embedding(6, 4, scale=True, dtype=np.float64, rng=rng)
    ids = np.array([[1, 3, 1], [3, 3, 0]])  # token 1 twice, token 3 three times
    G = rng.standard_normal((2, 3, 4))
    f = lambda: float(np.sum(emb(ids) * G))
    emb(ids)
    emb.backward(G)
    ours = {"weight": emb.grads["weight"].copy()}
    tw = _t(emb.weight)
    (F.embedding(torch.from_numpy(ids), tw) * 2.0 * torch.from_numpy(G)).sum().backward()  # √E = 2
    return _rows("embedding", f, {"weight": emb.weight}, ours, {"weight": tw.grad})


def naive_embedding_error(seed=0):
    """Relative error of ``dW[ids] += dy`` (no accumulation over repeated ids) vs autograd."""
    rng = np.random.default_rng(seed)
    W, ids, G = rng.standard_normal((6, 4)), np.array([[1, 3, 1], [3, 3, 0]]), rng.standard_normal((2, 3, 4))
    naive = np.zeros_like(W)
    naive[ids.reshape(-1)] += G.reshape(-1, 4)  # fancy-index +=: a repeated row keeps one write
    tw = _t(W)
    (F.embedding(torch.from_numpy(ids), tw) * torch.from_numpy(G)).sum().backward()
    return max_relative_error(naive, tw.grad.numpy())


def check_cross_entropy(rng):
    """Cross-entropy, label smoothing 0.1, ignore_index 0: gradient for the logits."""
    logits = rng.standard_normal((2, 4, 6))
    targets = np.array([[3, 1, 5, 0], [2, 2, 0, 0]])  # 0 = <pad>, ignored
    crit = CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)
    f = lambda: float(crit(logits, targets))
    f()
    ours = {"logits": crit.backward()}
    tl = _t(logits)
    ref = torch.nn.CrossEntropyLoss(ignore_index=0, label_smoothing=0.1)
    ref(tl.reshape(-1, 6), torch.from_numpy(targets).reshape(-1)).backward()
    rows = _rows("cross-entropy", f, {"logits": logits}, ours, {"logits": tl.grad})
    ignored_grad = float(np.abs(ours["logits"][targets == 0]).max())
    return rows, ignored_grad


def check_activations(rng):
    """ReLU (inputs kept away from its kink at 0) and GELU: gradient for the input."""
    rows = []
    x = rng.standard_normal((3, 5))
    x = np.sign(x) * (0.1 + np.abs(x))  # |x| >= 0.1: a step of 1e-6 never crosses 0
    G = rng.standard_normal((3, 5))
    for name, mod, ref in (("relu", ReLU(), F.relu), ("gelu", GELU(), F.gelu)):
        f = lambda: float(np.sum(mod(x) * G))
        mod(x)
        ours = {"x": mod.backward(G)}
        tx = _t(x)
        (ref(tx) * torch.from_numpy(G)).sum().backward()
        rows += _rows(name, f, {"x": x}, ours, {"x": tx.grad})
    return rows


def float32_linear_error(seed=0):
    """The linear check's dW vs finite differences when everything is float32 (h = 1e-6)."""
    rng = np.random.default_rng(seed)
    lin = Linear(4, 5, dtype=np.float32, rng=rng)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    G = rng.standard_normal((2, 3, 5)).astype(np.float32)
    f = lambda: float(np.sum(lin(x) * G, dtype=np.float32))
    lin(x)
    lin.backward(G)
    return max_relative_error(lin.grads["weight"], numerical_gradient(f, lin.weight, h=H_STEP))


def all_checks(seed=0):
    """Every row of the table, plus the largest gradient at an ignored cross-entropy position."""
    rng = np.random.default_rng(seed)
    rows = check_linear(rng) + check_softmax(rng) + check_layer_norm(rng) + check_attention(rng)
    rows += check_embedding(rng)
    ce_rows, ignored = check_cross_entropy(rng)
    rows += ce_rows + check_activations(rng)
    return rows, ignored


def report():
    """Print the table."""
    rows, ignored = all_checks()
    print("op             gradient   vs finite differences   vs torch.autograd")
    for op, name, fd, ag in rows:
        print(f"{op:13s}  d{name:8s}  {fd:21.1e}   {ag:17.1e}")
    print(f"\nworst vs finite differences: {max(r[2] for r in rows):.1e}")
    print(f"worst vs torch.autograd:     {max(r[3] for r in rows):.1e}")
    print(f"largest |dlogits| at ignored (pad) positions: {ignored:.1e}")
    print(f"the linear dW check again, all in float32, vs finite differences: {float32_linear_error():.1e}")


def error_bars(ax, labels, fd, ag):
    """Horizontal log-scale bars: error vs finite differences and vs autograd, with both thresholds."""
    y = np.arange(len(labels))
    ax.barh(y - 0.2, [max(e, FLOOR) for e in fd], height=0.4, color="#1f77b4", label="vs finite differences")
    ax.barh(y + 0.2, [max(e, FLOOR) for e in ag], height=0.4, color="#2ca02c", label="vs torch.autograd")
    ax.axvline(FD_TOL, color="#1f77b4", linestyle="--", lw=1)
    ax.axvline(AUTOGRAD_TOL, color="#2ca02c", linestyle="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(FLOOR / 3, 1e-4)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("max relative error (log scale; dashed: pass thresholds)")


def report_figure():
    """Print the errors of every op's gradients as bars against the thresholds."""
    rows, _ = all_checks()
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.subplots()
    error_bars(ax, [f"{op}: d{name}" for op, name, _, _ in rows], [r[2] for r in rows], [r[3] for r in rows])
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    worst_fd, worst_ag = max(r[2] for r in rows), max(r[3] for r in rows)
    zeros = sum(r[3] == 0.0 for r in rows)
    print(figure_to_svg(fig, alt=f"Bars of the relative error of {len(rows)} gradients on a log scale: against finite "
                        f"differences all at most {worst_fd:.1e}, left of the {FD_TOL:g} threshold; against "
                        f"torch.autograd all at most {worst_ag:.1e}, left of the {AUTOGRAD_TOL:g} threshold",
                        caption=f"Each op's gradients, float64. Errors of exactly 0 ({zeros} of them, all vs "
                                f"autograd) are drawn at {FLOOR:g}."))


def report_summary():
    """Print, as Markdown, the worst errors and the two checks that must fail."""
    rows, ignored = all_checks()
    ok = all(r[2] < FD_TOL and r[3] < AUTOGRAD_TOL for r in rows)
    print(f"{'Every gradient passes' if ok else 'NOT every gradient passes'}: the worst error against finite differences is {max(r[2] for r in rows):.1e} "
          f"(threshold {FD_TOL:g}), the worst against `torch.autograd` {max(r[3] for r in rows):.1e} "
          f"(threshold {AUTOGRAD_TOL:g}), and the cross-entropy gradient at ignored positions is exactly "
          f"{ignored:g}. The checks can fail: the naive `dW[ids] += dy` from the embedding section is off by "
          f"{naive_embedding_error():.1e} against `torch.autograd`, and the linear `dW` check redone in float32 "
          f"is off by {float32_linear_error():.1e} against finite differences.")
