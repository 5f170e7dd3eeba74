"""Warmup: the learning-rate schedules the trainer offers, and a small model trained with and without it.

This file is the one home of the warmup experiment; ``docs/snippets/misconceptions/warmup.py``
(Adam's first step) imports it.

Adam divides the gradient by a running root-mean-square of itself, so its first steps move every
parameter by about the full learning rate; with a large learning rate and no warmup, those
first steps can push a post-norm model somewhere it does not recover from within the run.
"""

import math

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.training import LRSchedule, TrainConfig
from transformer_anatomy.viz import figure_to_svg

from advanced_training._threads import one_thread

STEPS = (1, 10, 50, 100, 200, 500, 1000)
SCHEDULE = dict(lr=1e-3, warmup=100, max_steps=1000, d_model=64)  # the figure's settings


def schedules(lr=1e-3, warmup=100, max_steps=1000, d_model=64, steps=STEPS):
    """name -> [lr at each of ``steps``] for constant (after warmup), cosine and the paper's Noam schedule."""
    out = {}
    for name in ("constant", "cosine", "noam"):
        cfg = TrainConfig(schedule=name, lr=lr, warmup=warmup, max_steps=max_steps)
        sched = LRSchedule(cfg, d_model)
        out[name] = [sched(s) for s in steps]
    return out


def report_schedules():
    rows = schedules(**SCHEDULE)
    print("learning rate at optimizer step ({})".format(", ".join(f"{k}={v:g}" for k, v in SCHEDULE.items())))
    print(f"{'step':>6} " + " ".join(f"{n:>10}" for n in rows))
    for i, s in enumerate(STEPS):
        print(f"{s:>6} " + " ".join(f"{rows[n][i]:10.2e}" for n in rows))


def show_schedules():
    """The three schedules as curves (HTML), and the Noam peak in a sentence."""
    steps = list(range(1, SCHEDULE["max_steps"] + 1))
    rows = schedules(**SCHEDULE, steps=steps)
    fig = Figure(figsize=(7.6, 3.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    for ax, names in ((left, ("constant", "cosine")), (right, ("noam",))):
        for name in names:
            ax.plot(steps, rows[name], label=name, color={"constant": "C0", "cosine": "C1", "noam": "C2"}[name])
        ax.axvline(SCHEDULE["warmup"], color="gray", ls=":", lw=1)
        ax.set_xlabel("optimizer step")
        ax.legend(frameon=False)
    left.set_ylabel("learning rate")
    peak = max(rows["noam"])
    print(figure_to_svg(fig, alt="Learning rate against step for the constant, cosine and Noam schedules, "
                                 "all rising linearly during warmup",
                        caption=f"Warmup of {SCHEDULE['warmup']} steps (dotted), then constant, cosine decay "
                                f"to zero, or Noam's 1/√step; lr = {SCHEDULE['lr']:g}, E = {SCHEDULE['d_model']}."))
    print(f"<p>All three rise linearly to their peak at step {rows['noam'].index(peak) + 1}; the Noam peak is "
          f"{peak:.2e} = {SCHEDULE['d_model']}<sup>−1/2</sup> · {SCHEDULE['warmup']}<sup>−1/2</sup>, set by E and "
          f"the warmup length, not by <code>lr</code>.</p>")


# ------------------------------------------------------------------------------------------
# The experiment: a small post-norm encoder-decoder, with and without warmup
SOS, EOS, FIRST_SYMBOL = 1, 2, 3  # id 0 is <pad>
VOCAB, LENGTH, BATCH = 16, 8, 32


def reversal_batch(g, N=BATCH, L=LENGTH, V=VOCAB):
    """Random symbols and their reversal, teacher-forcing layout: ``src, tgt_in, tgt_out``."""
    src = torch.randint(FIRST_SYMBOL, V, (N, L), generator=g)  # (N, S)
    tgt = torch.cat([torch.full((N, 1), SOS), src.flip(1), torch.full((N, 1), EOS)], dim=1)  # (N, L + 2)
    return src, tgt[:, :-1], tgt[:, 1:]  # tgt_in (N, T), tgt_out (N, T)


def unigram_floor(L=LENGTH, V=VOCAB):
    """Cross-entropy of a model that ignores its input and predicts token frequencies.

    Of the ``L + 1`` target positions, ``L`` hold a uniform symbol (``V - 3`` of them) and one
    holds ``<eos>``: H = Σ p log(1/p) over that mixture.
    """
    K, P = V - FIRST_SYMBOL, L + 1
    p_sym, p_eos = L / (P * K), 1 / P
    return -(K * p_sym * math.log(p_sym) + p_eos * math.log(p_eos))


def warmup_lr(lr, step, warmup_steps):
    """Linear warmup from lr / warmup_steps to lr, then constant (0 warmup steps = none)."""
    return lr * min(1.0, step / warmup_steps) if warmup_steps else lr


def train(lr, warmup_steps, steps=30, seed=0):
    """Losses of a post-norm model on sequence reversal, Adam, linear warmup (0 = none)."""
    with one_thread():
        torch.manual_seed(seed)
        model = Seq2SeqTransformer(VOCAB, VOCAB, dropout=0.0)
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)
        g = torch.Generator().manual_seed(seed + 1)  # the same batches for every run
        losses = []
        for step in range(1, steps + 1):
            for group in opt.param_groups:
                group["lr"] = warmup_lr(lr, step, warmup_steps)
            src, tgt_in, tgt_out = reversal_batch(g)
            loss = F.cross_entropy(model(src, tgt_in).flatten(0, 1), tgt_out.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses


RUNS = (("lr 1e-2, no warmup", 1e-2, 0), ("lr 1e-2, warmup 15 steps", 1e-2, 15), ("lr 1e-3, no warmup", 1e-3, 0))


def experiment(steps=30):
    return {name: train(lr, w, steps) for name, lr, w in RUNS}


def report_training():
    """Final losses and the floor (a table), then the curves (HTML)."""
    curves = experiment()
    floor = unigram_floor()
    print("<table><tr><th>run</th><th>loss at step 1</th><th>mean loss, last 5 steps</th></tr>")
    for name, losses in curves.items():
        print(f"<tr><td>{name}</td><td>{losses[0]:.3f}</td><td>{sum(losses[-5:]) / 5:.3f}</td></tr>")
    print(f"</table><p>Loss of a model that ignores its input and predicts token frequencies: "
          f"<strong>{floor:.3f}</strong>.</p>")
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    for name, losses in curves.items():
        ax.plot(range(1, len(losses) + 1), losses, label=name)
    ax.axhline(floor, color="gray", ls="--", lw=0.8, label="ignores the input")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (nats)")
    ax.legend(frameon=False, fontsize=8)
    print(figure_to_svg(fig, alt="Training loss of a small post-norm model with and without warmup",
                        caption="Same model, same batches; only the learning rate and its warmup differ."))
