"""Common training problems, each reproduced in a second or two on a tiny reversal model.

Each experiment runs once per build: its figure and its table read the same cached run."""

import functools
import math

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.tasks import PAD_ID, make_reversal_task
from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.viz import figure_to_svg

from advanced_training._threads import one_thread

E, LAYERS, LENGTH, SYMBOLS, N_TRAIN = 32, 1, 6, 8, 2000  # the tiny model and task of every experiment


def setup_sentence():
    """The page's description of the experiments, from the constants above (Markdown)."""
    print(f"Each experiment below trains a tiny encoder–decoder ($E = {E}$, {LAYERS} layer each side) to reverse "
          f"sequences of {LENGTH} symbols drawn from {SYMBOLS}, with {N_TRAIN} training examples unless said "
          "otherwise, on one CPU thread, while the page is built.")


def make_data(n_train=N_TRAIN, seed=0):
    data = make_reversal_task(n_train=n_train, n_valid=256, n_test=8, min_len=LENGTH, max_len=LENGTH,
                              num_symbols=SYMBOLS, rng=seed)
    return data, {s: {k: torch.as_tensor(v) for k, v in data.split(s).items()} for s in ("train", "valid")}


def make_model(seed=0, big_embeddings=False, dropout=0.0):
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(12, 12, d_model=E, nhead=2, num_encoder_layers=LAYERS, num_decoder_layers=LAYERS,
                               dim_feedforward=64, dropout=dropout)
    if big_embeddings:  # nn.Embedding's default N(0, 1), then multiplied by √E: the scale the paper's text suggests
        for emb in (model.src_tok_emb, model.tgt_tok_emb):
            nn.init.normal_(emb.weight, 0.0, 1.0)
    return model


def loss_on(model, split):
    logits = model(split["src"], split["tgt_in"])  # (N, T, V)
    return F.cross_entropy(logits.flatten(0, 1), split["tgt_out"].flatten(), ignore_index=PAD_ID)


# --8<-- [start:train]
def train(model, splits, steps=150, lr=1e-3, batch=32, optimizer="adam", clip=None, seed=0):
    """Plain loop; returns the training loss and gradient norm of every step and the final valid loss."""
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(splits["train"]["src"])
    losses, norms = [], []
    for _ in range(steps):
        idx = torch.randint(0, n, (batch,), generator=g)
        loss = loss_on(model, {k: v[idx] for k, v in splits["train"].items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # the norm before clipping; clip_grad_norm_ rescales the gradients to at most `clip`
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip if clip else math.inf)
        opt.step()
        losses.append(loss.item())
        norms.append(float(norm))
    with torch.no_grad():
        valid = float(loss_on(model, splits["valid"]))
    return {"loss": losses, "grad_norm": norms, "valid_loss": valid}
# --8<-- [end:train]


def tail(xs, k=20):
    """Mean of the last k values (nan/inf pass through)."""
    xs = xs[-k:]
    return sum(xs) / len(xs)


def unigram_loss():
    """Cross-entropy of always predicting the training targets' token frequencies (no model)."""
    _, splits = make_data()
    t = splits["train"]["tgt_out"].flatten()
    p = torch.bincount(t[t != PAD_ID], minlength=12).double()  # token counts
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


@functools.cache
def experiment_lr_too_high():
    with one_thread():
        return _experiment_lr_too_high()


def _experiment_lr_too_high():
    _, splits = make_data()
    return {lr: train(make_model(), splits, steps=100, lr=lr) for lr in (1e-1, 1e-2)}


@functools.cache
def experiment_exploding():
    with one_thread():
        return _experiment_exploding()


def _experiment_exploding():
    _, splits = make_data()
    return {clip: train(make_model(), splits, steps=40, lr=3.0, optimizer="sgd", clip=clip) for clip in (None, 1.0)}


@functools.cache
def experiment_slow():
    with one_thread():
        return _experiment_slow()


def _experiment_slow():
    _, splits = make_data()
    return {big: train(make_model(big_embeddings=big), splits) for big in (True, False)}


@functools.cache
def experiment_overfit():
    with one_thread():
        return _experiment_overfit()


def _experiment_overfit():
    out = {}
    for n_train in (32, 2000):
        _, splits = make_data(n_train)
        out[n_train] = train(make_model(), splits, steps=200)
    return out


def report_lr_too_high():
    r = experiment_lr_too_high()
    print(f"{'Adam lr':>8} {'loss, step 1':>13} {'mean of last 20':>16} {'valid':>7}")
    for lr, h in r.items():
        print(f"{lr:8.0e} {h['loss'][0]:13.3f} {tail(h['loss']):16.3f} {h['valid_loss']:7.3f}")
    print(f"predicting token frequencies, no model: {unigram_loss():.3f}")


def report_exploding():
    r = experiment_exploding()
    print(f"{'clip':>5} {'largest grad norm':>18} {'loss, last step':>16}")
    for clip, h in r.items():
        print(f"{str(clip):>5} {max(h['grad_norm']):18.3g} {h['loss'][-1]:16.3g}")


def report_slow():
    r = experiment_slow()
    print(f"{'token embeddings':<28} {'loss at step 50':>15} {'100':>6} {'150':>6} {'valid':>6}")
    for big, h in r.items():
        name = "N(0, 1) then x sqrt(E)" if big else "N(0, 1/E) then x sqrt(E)"
        print(f"{name:<28} {h['loss'][49]:15.3f} {h['loss'][99]:6.3f} {h['loss'][149]:6.3f} {h['valid_loss']:6.3f}")


def report_overfit():
    r = experiment_overfit()
    print(f"{'training examples':>17} {'train loss':>11} {'valid loss':>11}")
    for n, h in r.items():
        print(f"{n:>17} {tail(h['loss']):11.3f} {h['valid_loss']:11.3f}")


# ------------------------------------------------------------------------------------------
# The same experiments as figures (the report_* tables above stay for the Source tab's reader)
def _curves(ax, runs, key="loss", log=False):
    for i, (label, h) in enumerate(runs.items()):
        ax.plot(range(1, len(h[key]) + 1), h[key], label=label, color=f"C{i}", lw=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.legend(frameon=False, fontsize=8)


def show_lr_too_high():
    r = experiment_lr_too_high()
    floor = unigram_loss()
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    _curves(ax, {f"Adam, lr {lr:.0e}": h for lr, h in r.items()})
    ax.axhline(floor, color="gray", ls="--", lw=0.8, label="token frequencies, no model")
    ax.legend(frameon=False, fontsize=8)
    ax.set_ylabel("training loss (nats)")
    print(figure_to_svg(fig, alt="Training loss with Adam at a too-high and a suitable learning rate",
                        caption="Dashed: the loss of predicting token frequencies without looking at the input."))
    (hi, h_hi), (lo, h_lo) = r.items()
    print(f"<p>At lr {hi:.0e} the last steps average {tail(h_hi['loss']):.3f}, next to the no-model loss "
          f"{floor:.3f}; at lr {lo:.0e} they reach {tail(h_lo['loss']):.3f} (validation {h_lo['valid_loss']:.3f}).</p>")


def show_exploding():
    r = experiment_exploding()
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    runs = {("no clipping" if c is None else f"clip at norm {c:g}"): h for c, h in r.items()}
    _curves(ax, runs, key="grad_norm", log=True)
    ax.set_ylabel("gradient norm before clipping")
    print(figure_to_svg(fig, alt="Gradient norm per step of SGD with a far too large learning rate, "
                                 "with and without clipping",
                        caption="A line that stops has reached inf or nan."))
    (_, plain), (clip, clipped) = r.items()
    print(f"<p>Without clipping the last loss is {plain['loss'][-1]:.3g}; clipped at norm {clip:g}, every loss stays "
          f"finite and the last is {clipped['loss'][-1]:.3g}.</p>")


def show_slow():
    r = experiment_slow()
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    _curves(ax, {("N(0, 1) then × √E" if big else "N(0, 1/E) then × √E"): h for big, h in r.items()})
    ax.set_ylabel("training loss (nats)")
    print(figure_to_svg(fig, alt="Training loss with large and with small token-embedding initialisation",
                        caption="The same model and data; only the initial scale of the token embeddings differs."))
    big, small = r[True], r[False]
    print(f"<p>After {len(big['loss'])} steps: loss {big['loss'][-1]:.3f} with N(0, 1) embeddings, "
          f"{small['loss'][-1]:.3f} with N(0, 1/E).</p>")


def show_overfit():
    r = experiment_overfit()
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    _curves(ax, {f"{n} training examples": h for n, h in r.items()})
    for i, h in enumerate(r.values()):
        ax.axhline(h["valid_loss"], color=f"C{i}", ls="--", lw=0.8)
    ax.set_ylabel("loss (nats)")
    print(figure_to_svg(fig, alt="Training loss curves and final validation losses with few and with many examples",
                        caption="Solid: training loss; dashed: validation loss at the end."))
    print("<p>" + "; ".join(f"{n} examples: train {tail(h['loss']):.3f}, validation {h['valid_loss']:.3f}"
                            for n, h in r.items()) + ".</p>")
