"""Gradient accumulation: k micro-batches of N/k examples give the gradient of one batch of N."""


import functools
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from transformer_anatomy.tasks import PAD_ID, make_reversal_task
from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.viz import figure_to_svg

from advanced_training._threads import one_thread

N_BIG, KS, MIN_LEN, MAX_LEN = 64, (2, 4, 8), 3, 8  # one batch of N_BIG examples, k micro-batches


def tiny_setup(variable=False, seed=0):
    torch.manual_seed(seed)
    lengths = {"min_len": MIN_LEN, "max_len": MAX_LEN} if variable else {"min_len": MAX_LEN, "max_len": MAX_LEN}
    data = make_reversal_task(n_train=N_BIG, n_valid=8, n_test=8, num_symbols=8, rng=seed, **lengths)
    model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=32, nhead=2, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=64, dropout=0.0).double()
    batch = {k: torch.as_tensor(v) for k, v in data.train.items()}
    return model, batch


def grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


# --8<-- [start:accumulate]
def accumulated_grad(model, batch, k, per_token=True):
    """Sum the gradients of k micro-batches, each loss scaled so the sum is the big batch's loss."""
    model.zero_grad(set_to_none=True)
    n_tokens = int((batch["tgt_out"] != PAD_ID).sum())  # non-pad target tokens in the whole batch
    for src, tgt_in, tgt_out in zip(*(batch[f].chunk(k) for f in ("src", "tgt_in", "tgt_out"))):
        logits = model(src, tgt_in)  # (N/k, T, V)
        if per_token:  # sum over this micro-batch's tokens / tokens of the whole batch
            loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID,
                                   reduction="sum") / n_tokens
        else:  # the common shortcut: mean of this micro-batch, divided by k
            loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID) / k
        loss.backward()  # .grad accumulates (adds) until zero_grad
    return grads(model)
# --8<-- [end:accumulate]


def big_batch_grad(model, batch):
    model.zero_grad(set_to_none=True)
    logits = model(batch["src"], batch["tgt_in"])  # (N, T, V)
    F.cross_entropy(logits.flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=PAD_ID).backward()
    return grads(model)


def max_rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max())


@functools.cache  # the table and the figure read one run
def compare():
    """Max relative difference to the one-big-batch gradient, float64, for k in KS."""
    out = {}
    with one_thread():
        for variable in (False, True):
            model, batch = tiny_setup(variable)
            ref = big_batch_grad(model, batch)
            for k in KS:
                out[(variable, k, "per_token")] = max_rel_diff(accumulated_grad(model, batch, k, True), ref)
                out[(variable, k, "mean/k")] = max_rel_diff(accumulated_grad(model, batch, k, False), ref)
    return out


def report():
    r = compare()
    print(f"max |g_accumulated - g_big| / max |g_big|, N = {N_BIG} examples, float64")
    print(f"{'lengths':<18} {'k':>2} {'sum / all tokens':>17} {'mean / k':>10}")
    for variable in (False, True):
        for k in KS:
            name = f"{MIN_LEN}..{MAX_LEN} (padded)" if variable else f"{MAX_LEN} (no padding)"
            print(f"{name:<18} {k:>2} {r[(variable, k, 'per_token')]:17.1e} {r[(variable, k, 'mean/k')]:10.1e}")


def show():
    """Bars (log scale): relative gradient error of both recipes, without and with padding (HTML)."""
    r = compare()
    fig = Figure(figsize=(7.2, 3.0), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, variable in zip(axes, (False, True)):
        x = torch.arange(len(KS)).numpy()
        for i, (recipe, label) in enumerate((("per_token", "sum / all tokens"), ("mean/k", "mean / k"))):
            vals = [max(r[(variable, k, recipe)], 1e-18) for k in KS]  # an exact 0 drawn at the floor
            ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, label=label, color=f"C{i}")
        ax.set_yscale("log")
        ax.set_ylim(1e-18, 1)
        ax.set_xticks(x, [f"k = {k}" for k in KS])
        ax.set_title(f"lengths {MIN_LEN}–{MAX_LEN} (padded)" if variable else f"all of length {MAX_LEN}", fontsize=10)
    axes[0].set_ylabel("relative gradient error")
    axes[0].legend(frameon=False, fontsize=8)
    print(figure_to_svg(fig, alt="Relative error of accumulated gradients against one big batch, two recipes, "
                                 "without and with padding",
                        caption=f"Against one batch of {N_BIG} examples, float64; lower is better."))
    worst_ok = max(v for (var, k, rec), v in r.items() if rec == "per_token")
    worst_short = min(v for (var, k, rec), v in r.items() if rec == "mean/k" and var)
    print(f"<p>Dividing by the whole batch's tokens is exact to {worst_ok:.0e} in every case; with padding the "
          f"mean-per-micro-batch shortcut is off by at least {worst_short:.0e}, far above float64 rounding.</p>")
