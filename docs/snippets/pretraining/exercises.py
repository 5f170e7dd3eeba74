"""Solutions of the exercises of docs/pretraining.md (checked by tests/docs/test_pretraining_snippets.py)."""

import math

import torch

from transformer_anatomy.training import pretraining as P


# --8<-- [start:mask_share]
def mask_share(n_blocks=200, S=64, V=1000, seed=0):
    """Share of all ordinary tokens that the model sees as [MASK] (predicted: 0.15 x 0.8)."""
    ids = torch.randint(len(P.SPECIALS), V, (n_blocks, S), generator=torch.Generator().manual_seed(seed))
    inputs, _ = P.mask_tokens(ids, V, torch.Generator().manual_seed(seed + 1))
    return float((inputs == P.MASK_ID).float().mean())
# --8<-- [end:mask_share]


# --8<-- [start:initial_loss]
def initial_loss(V):
    """Cross-entropy of a uniform guess over V words: -log(1/V) = ln V."""
    return math.log(V)
# --8<-- [end:initial_loss]


# --8<-- [start:layer_lrs]
def layer_lrs(lr, decay, L):
    """Learning rates of [embeddings, layer 0, ..., layer L-1, head] under layer-wise decay."""
    return [lr * decay**L] + [lr * decay ** (L - 1 - l) for l in range(L)] + [lr]
# --8<-- [end:layer_lrs]


# --8<-- [start:bert_layer_params]
def bert_layer_params(E, F):
    """Parameters of one BERT encoder layer: Q, K, V, output (4 E x E + 4 E), FFN, two LayerNorms."""
    attention = 4 * (E * E + E)
    ffn = (E * F + F) + (F * E + E)
    norms = 2 * (2 * E)
    return attention + ffn + norms
# --8<-- [end:bert_layer_params]
