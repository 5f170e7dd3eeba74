"""Gradient check of a whole model: the loss of a small Seq2SeqTransformer with respect to every
parameter tensor, NumPy backward vs torch.autograd (every entry) and vs finite differences (a few
entries of each tensor, to keep the build fast)."""

import functools

import numpy as np
import torch
from matplotlib.figure import Figure

import transformer_anatomy.torch as tt
from transformer_anatomy.numpy import CrossEntropyLoss, from_torch, max_relative_error, numerical_gradient
from transformer_anatomy.viz import figure_to_svg

V, PAD = 7, 0  # vocabulary size (source = target), pad id
SRC = np.array([[3, 4, 5, 6], [4, 5, PAD, PAD]])  # (N, S): the second sequence is padded
TGT_IN = np.array([[1, 6, 5, 4], [1, 5, 4, PAD]])  # (N, T): <sos> = 1
TGT_OUT = np.array([[6, 5, 4, 2], [5, 4, 2, PAD]])  # (N, T): <eos> = 2, <pad> ignored


def models(seed=0):
    """Our torch Seq2SeqTransformer (float64, no dropout) and its NumPy twin via from_torch.

    GELU rather than ReLU: finite differences need a smooth function, and a ReLU input within
    1e-6 of its kink would make the numerical gradient wrong, not the analytic one.
    """
    torch.manual_seed(seed)
    ref = tt.Seq2SeqTransformer(V, V, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                dim_feedforward=16, dropout=0.0, activation="gelu", pad_id=PAD)
    ref = ref.double()
    return ref, from_torch(ref)


@functools.cache  # the page reads it three times (figure, sentence, table); the rows are not mutated
def gradient_check(entries_per_tensor=4, seed=0):
    """Rows (key, shape, error vs finite differences, error vs autograd), plus both losses."""
    ref, ours = models(seed)
    crit = CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    loss = lambda: float(crit(ours(SRC, TGT_IN), TGT_OUT))
    np_loss = loss()
    ours.backward(crit.backward())  # fills ours.grads for every parameter
    analytic = {k: g.copy() for k, g in ours.grads.items()}

    logits = ref(torch.from_numpy(SRC), torch.from_numpy(TGT_IN))  # (N, T, V)
    t_loss = torch.nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)(
        logits.reshape(-1, V), torch.from_numpy(TGT_OUT).reshape(-1))
    t_loss.backward()
    autograd = {k: p.grad.numpy() for k, p in ref.named_parameters()}

    rng = np.random.default_rng(seed)
    rows = []
    for key, p in ours.params.items():
        flat = rng.choice(p.size, size=min(entries_per_tensor, p.size), replace=False)
        idx = [np.unravel_index(i, p.shape) for i in flat]
        fd = numerical_gradient(loss, p, h=1e-6, indices=idx)
        sel = tuple(np.array(idx).T)
        rows.append((key, p.shape, max_relative_error(analytic[key][sel], fd[sel]),
                     max_relative_error(analytic[key], autograd[key])))
    return rows, np_loss, float(t_loss.detach())


FD_TOL, AUTOGRAD_TOL = 1e-6, 1e-10  # the pass thresholds of TESTING.md (float64)


def _part(key):
    """The part of the model a parameter belongs to: 'encoder', 'decoder', 'embeddings', ..."""
    key = key.replace("transformer.", "")
    for part in ("encoder", "decoder"):
        if key.startswith(part):
            return part
    return "embeddings and generator"


def report_figure():
    """Print both errors for every parameter tensor, grouped by part, against the thresholds."""
    rows, _, _ = gradient_check()
    fig = Figure(figsize=(6.8, 3.4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(rows))
    ax.semilogy(x, [r[2] for r in rows], "o", color="#1f77b4", label="vs finite differences (a few entries)")
    ax.semilogy(x, [r[3] for r in rows], "s", color="#2ca02c", label="vs torch.autograd (every entry)")
    ax.axhline(FD_TOL, color="#1f77b4", linestyle="--", lw=1)
    ax.axhline(AUTOGRAD_TOL, color="#2ca02c", linestyle="--", lw=1)
    parts = [_part(r[0]) for r in rows]
    starts = [i for i in range(len(parts)) if i == 0 or parts[i] != parts[i - 1]]
    for i in starts[1:]:
        ax.axvline(i - 0.5, color="#7f7f7f", lw=0.8)
    ax.set_xticks([(a + b - 1) / 2 for a, b in zip(starts, starts[1:] + [len(parts)])],
                  [parts[i] for i in starts], fontsize=8)
    ax.set_xlabel("parameter tensor, in named_parameters() order")
    ax.set_ylabel("max relative error")
    ax.set_ylim(1e-18, 1e-4)
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    print(figure_to_svg(fig, alt=f"Relative errors of the gradient of each of {len(rows)} parameter tensors of a "
                        f"Seq2SeqTransformer, log scale: against finite differences at most "
                        f"{max(r[2] for r in rows):.1e}, against torch.autograd at most {max(r[3] for r in rows):.1e}, "
                        "each below its dashed threshold",
                        caption="One point per parameter tensor; dashed lines: the pass thresholds."))


def report_summary():
    """Print, as Markdown, what the figure shows in numbers."""
    rows, np_loss, t_loss = gradient_check()
    n = sum(int(np.prod(s)) for _, s, _, _ in rows)
    ok = all(r[2] < FD_TOL and r[3] < AUTOGRAD_TOL for r in rows)
    print(f"{'All' if ok else 'NOT all'} {len(rows)} parameter tensors ({n} entries) pass. The two losses differ by "
          f"{abs(np_loss - t_loss):.1e}; the worst gradient error is {max(r[2] for r in rows):.1e} against finite "
          f"differences and {max(r[3] for r in rows):.1e} against `torch.autograd`.")


def report():
    """Print one row per parameter tensor and the worst errors."""
    rows, np_loss, t_loss = gradient_check()
    print(f"loss: NumPy {np_loss:.12f}   torch {t_loss:.12f}")
    print(f"{'parameter':52s} {'shape':9s} {'vs finite diff.':>15s} {'vs autograd':>12s}")
    for key, shape, fd, ag in rows:
        print(f"{key.replace('transformer.', ''):52s} {str(shape):9s} {fd:15.1e} {ag:12.1e}")
    n = sum(int(np.prod(s)) for _, s, _, _ in rows)
    print(f"\n{len(rows)} parameter tensors, {n} entries")
    print(f"worst vs finite differences: {max(r[2] for r in rows):.1e}")
    print(f"worst vs torch.autograd:     {max(r[3] for r in rows):.1e}")
