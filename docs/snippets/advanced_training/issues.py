"""Common training problems, each reproduced in a second or two on a tiny reversal model."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from transformer_anatomy.tasks import PAD_ID, make_reversal_task
from transformer_anatomy.torch import Seq2SeqTransformer

torch.set_num_threads(1)  # tiny models: one thread is fastest, and the build machine is shared


def make_data(n_train=2000, seed=0):
    data = make_reversal_task(n_train=n_train, n_valid=256, n_test=8, min_len=6, max_len=6, num_symbols=8, rng=seed)
    return data, {s: {k: torch.as_tensor(v) for k, v in data.split(s).items()} for s in ("train", "valid")}


def make_model(seed=0, big_embeddings=False, dropout=0.0):
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(12, 12, d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=64, dropout=dropout)
    if big_embeddings:  # nn.Embedding's default N(0, 1), then multiplied by √E: the scale the paper's text suggests
        for emb in (model.src_tok_emb, model.tgt_tok_emb):
            nn.init.normal_(emb.weight, 0.0, 1.0)
    return model


def loss_on(model, split):
    logits = model(split["src"], split["tgt_in"])  # (N, T, V)
    return F.cross_entropy(logits.flatten(0, 1), split["tgt_out"].flatten(), ignore_index=PAD_ID)


# --8<-- [start:train]
def train(model, splits, steps=150, lr=1e-3, batch=32, optimizer="adam", clip=None, warmup=0, seed=0):
    """Plain loop; returns the training loss and gradient norm of every step and the final valid loss."""
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(splits["train"]["src"])
    losses, norms = [], []
    for step in range(1, steps + 1):
        idx = torch.randint(0, n, (batch,), generator=g)
        loss = loss_on(model, {k: v[idx] for k, v in splits["train"].items()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # the norm before clipping; clip_grad_norm_ rescales the gradients to at most `clip`
        norm = nn.utils.clip_grad_norm_(model.parameters(), clip if clip else math.inf)
        if warmup:
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, step / warmup)
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
    p = torch.bincount(t[t != PAD_ID], minlength=12).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def experiment_lr_too_high():
    _, splits = make_data()
    return {lr: train(make_model(), splits, steps=100, lr=lr) for lr in (1e-1, 1e-2)}


def experiment_exploding():
    _, splits = make_data()
    return {clip: train(make_model(), splits, steps=40, lr=3.0, optimizer="sgd", clip=clip) for clip in (None, 1.0)}


def experiment_slow():
    _, splits = make_data()
    return {big: train(make_model(big_embeddings=big), splits) for big in (True, False)}


def experiment_overfit():
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
