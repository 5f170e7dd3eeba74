"""Gradient checkpointing: the same gradients, recomputed instead of stored."""

import functools

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from transformer_anatomy.torch import Seq2SeqTransformer

torch.set_num_threads(1)  # tiny models: one thread is fastest, and the build machine is shared


# --8<-- [start:wrap]
def checkpoint_every_layer(model):
    """Wrap each encoder/decoder layer's forward in torch.utils.checkpoint (non-reentrant)."""
    for stack in (model.transformer.encoder, model.transformer.decoder):
        for layer in stack.layers:
            layer.forward = functools.partial(checkpoint, layer.forward, use_reentrant=False)
    return model
# --8<-- [end:wrap]


def same_gradients(seed=0):
    """Max |difference| between the gradients with and without checkpointing (dropout on: its RNG is replayed)."""
    g = torch.Generator().manual_seed(seed)
    src, tgt = torch.randint(4, 16, (8, 10), generator=g), torch.randint(4, 16, (8, 11), generator=g)
    result = []
    for ckpt in (False, True):
        torch.manual_seed(seed)
        model = Seq2SeqTransformer(16, 16, d_model=32, nhead=2, dim_feedforward=64, dropout=0.1)
        if ckpt:
            checkpoint_every_layer(model)
        torch.manual_seed(seed + 1)  # the same dropout masks in both runs
        loss = F.cross_entropy(model(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].flatten())
        loss.backward()
        result.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    return float((result[0] - result[1]).abs().max())


def report():
    print(f"max |grad with checkpointing - grad without| = {same_gradients():.1e}")
