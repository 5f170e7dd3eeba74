"""Gradient checkpointing: the same gradients, recomputed instead of stored."""


import torch
import torch.nn.functional as F

from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.training import enable_gradient_checkpointing

from advanced_training._threads import one_thread


def same_gradients(seed=0):
    """Max |difference| between the gradients with and without checkpointing (dropout on: its RNG is replayed)."""
    with one_thread():
        return _same_gradients(seed)


def _same_gradients(seed):
    g = torch.Generator().manual_seed(seed)
    src, tgt = torch.randint(4, 16, (8, 10), generator=g), torch.randint(4, 16, (8, 11), generator=g)
    result = []
    for ckpt in (False, True):
        torch.manual_seed(seed)
        model = Seq2SeqTransformer(16, 16, d_model=32, nhead=2, dim_feedforward=64, dropout=0.1)
        if ckpt:
            enable_gradient_checkpointing(model)  # the trainer's switch, from the library
        torch.manual_seed(seed + 1)  # the same dropout masks in both runs
        loss = F.cross_entropy(model(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].flatten())
        loss.backward()
        result.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    return float((result[0] - result[1]).abs().max())


def report():
    print(f"max |grad with checkpointing - grad without| = {same_gradients():.1e}")
