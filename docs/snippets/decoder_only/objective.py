"""The causal language-modelling objective on real text: targets = inputs shifted by one, one
forward pass = T predictions, nats and bits (docs/decoder-only.md; checked by
tests/docs/test_decoder_only_snippets.py)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from decoder_only.trace import batch, data, models

from transformer_anatomy.numpy.loss import CrossEntropyLoss


# --8<-- [start:loss]
def causal_lm_loss(model, inputs, targets):
    """Mean next-token cross-entropy in nats: position t predicts targets[:, t],
    which is inputs[:, t + 1]."""
    logits = model(torch.as_tensor(inputs))  # (N, T) -> (N, T, V): a distribution per position
    V = logits.shape[-1]
    targets = torch.as_tensor(targets)
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))  # (N*T, V), (N*T,)
# --8<-- [end:loss]


def shifted(n=0):
    """The first characters of one input row and of its targets, as text."""
    inputs, targets = batch()
    d = data()
    return d.decode(inputs[n]), d.decode(targets[n]), bool((targets[:, :-1] == inputs[:, 1:]).all())


def report_shift():
    x, y, ok = shifted()
    print(f"inputs : {x!r}\ntargets: {y!r}\ntargets[:, :-1] == inputs[:, 1:] for every row: {ok}")


# --8<-- [start:one_pass]
def one_pass_equals_prefixes(model, inputs):
    """Max |logits of position t from one pass over all T tokens
            - logits of the last position of a pass over the first t + 1 only|."""
    x = torch.as_tensor(inputs)
    worst = 0.0
    with torch.no_grad():
        full = model(x)  # (N, T, V): every position at once
        for t in range(x.shape[1]):
            prefix = model(x[:, : t + 1])  # (N, t + 1, V)
            worst = max(worst, float((full[:, t] - prefix[:, -1]).abs().max()))
    return worst
# --8<-- [end:one_pass]


def losses():
    """The untrained model's loss in both backends, beside ln V (a uniform guess)."""
    inputs, targets = batch()
    ours, twin = models()
    with torch.no_grad():
        nats = float(causal_lm_loss(ours, inputs, targets))
    nats_numpy = float(CrossEntropyLoss()(twin(inputs), targets))
    V = data().vocab_size
    return dict(nats=nats, bits=nats / math.log(2), nats_numpy=nats_numpy, uniform_nats=math.log(V),
                uniform_bits=math.log2(V), V=V, predictions=int(np.asarray(targets).size),
                one_pass=one_pass_equals_prefixes(ours, inputs))


def report_loss():
    r = losses()
    print(f"- {r['predictions']} predictions ({batch()[0].shape[0]} rows × {batch()[0].shape[1]} positions) "
          f"from one forward pass; each position's logits equal those of a pass over its prefix alone "
          f"(max difference {r['one_pass']:.1e}).")
    print(f"- untrained loss: {r['nats']:.4f} nats per character = {r['bits']:.4f} bits "
          f"(NumPy twin: {r['nats_numpy']:.4f} nats); a uniform guess over V = {r['V']} characters: "
          f"ln V = {r['uniform_nats']:.4f} nats = log₂ V = {r['uniform_bits']:.4f} bits.")
