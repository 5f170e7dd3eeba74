"""Gradient accumulation: k micro-batches of N/k examples give the gradient of one batch of N."""

import torch
import torch.nn.functional as F

from transformer_anatomy.tasks import PAD_ID, make_reversal_task
from transformer_anatomy.torch import Seq2SeqTransformer

torch.set_num_threads(1)  # tiny models: one thread is fastest, and the build machine is shared


def tiny_setup(variable=False, seed=0):
    torch.manual_seed(seed)
    lengths = {"min_len": 3, "max_len": 8} if variable else {"min_len": 8, "max_len": 8}
    data = make_reversal_task(n_train=64, n_valid=8, n_test=8, num_symbols=8, rng=seed, **lengths)
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


def compare():
    """Max relative difference to the one-big-batch gradient, float64, for k = 2, 4, 8."""
    out = {}
    for variable in (False, True):
        model, batch = tiny_setup(variable)
        ref = big_batch_grad(model, batch)
        for k in (2, 4, 8):
            out[(variable, k, "per_token")] = max_rel_diff(accumulated_grad(model, batch, k, True), ref)
            out[(variable, k, "mean/k")] = max_rel_diff(accumulated_grad(model, batch, k, False), ref)
    return out


def report():
    r = compare()
    print("max |g_accumulated - g_big| / max |g_big|, N = 64 examples, float64")
    print(f"{'lengths':<18} {'k':>2} {'sum / all tokens':>17} {'mean / k':>10}")
    for variable in (False, True):
        for k in (2, 4, 8):
            name = "3..8 (padded)" if variable else "8 (no padding)"
            print(f"{name:<18} {k:>2} {r[(variable, k, 'per_token')]:17.1e} {r[(variable, k, 'mean/k')]:10.1e}")
