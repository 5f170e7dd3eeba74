"""Encoder-only models: contract keys, the encoder against nn.TransformerEncoder, pooling and
padding behaviour of each head."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from transformer_anatomy.torch import QA_PAD_LOGIT, TransformerClassifier, TransformerQA, TransformerTagger
from transformer_anatomy.torch.embeddings import sinusoidal_table

V, C, E, PAD = 17, 3, 16, 0
KW = dict(d_model=E, nhead=4, num_layers=2, dim_feedforward=32, dropout=0.0)


def ids(n=3, s=6, pad_tail=(0, 2, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, V, (n, s), generator=g)
    for row, k in enumerate(pad_tail):
        if k:
            x[row, s - k :] = PAD
    return x


def nn_encoder_keys():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, 4, 32, batch_first=True), 2, nn.LayerNorm(E))
    return enc, [f"encoder.{k}" for k in enc.state_dict()]


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_state_dict_keys_follow_the_contract(positional):
    _, enc_keys = nn_encoder_keys()
    pos = ["pos_emb.weight"] if positional == "learned" else []
    heads = {
        TransformerClassifier(V, C, positional=positional, **KW): ["classifier.weight", "classifier.bias"],
        TransformerTagger(V, C, positional=positional, **KW): ["tagger.weight", "tagger.bias"],
        TransformerQA(V, positional=positional, **KW): ["qa_outputs.weight", "qa_outputs.bias"],
    }
    for m, head in heads.items():
        assert list(m.state_dict()) == ["tok_emb.weight"] + pos + enc_keys + head, type(m).__name__
    assert TransformerQA(V, **KW).qa_outputs.weight.shape == (2, E)


def test_encoder_equals_nn_transformer_encoder_and_embedding_pipeline():
    torch.manual_seed(0)
    m = TransformerTagger(V, C, **KW).double().eval()
    ref, _ = nn_encoder_keys()
    ref = ref.double().eval()
    ref.load_state_dict(m.encoder.state_dict(), strict=True)
    x = ids()
    h = ref(m.tok_emb.weight[x] * math.sqrt(E) + sinusoidal_table(6, E), src_key_padding_mask=x == PAD)
    # nn's encoder is in grad mode here (python path), so padded positions are computed too
    torch.testing.assert_close(m(x), m.tagger(h), rtol=1e-10, atol=1e-10)


def test_classifier_mean_pools_real_positions_only():
    torch.manual_seed(1)
    m = TransformerClassifier(V, C, **KW).double().eval()
    x = ids()
    logits = m(x)
    assert logits.shape == (3, C)
    padded = torch.cat([x, torch.full((3, 4), PAD)], dim=1)  # more padding changes nothing
    torch.testing.assert_close(m(padded), logits, rtol=1e-10, atol=1e-10)
    h, pad = m.encode(x)
    manual = torch.stack([h[i][~pad[i]].mean(0) for i in range(3)])
    torch.testing.assert_close(logits, m.classifier(manual), rtol=1e-12, atol=1e-12)
    all_pad = m(torch.full((1, 5), PAD))
    assert torch.isfinite(all_pad).all()
    torch.testing.assert_close(all_pad[0], m.classifier.bias, rtol=0, atol=0)  # pooled zeros


def test_tagger_and_qa_shapes_and_pad_logits():
    torch.manual_seed(2)
    x = ids()
    tags = TransformerTagger(V, C, **KW).eval()(x)
    assert tags.shape == (3, 6, C)
    qa = TransformerQA(V, **KW).eval()
    start, end = qa(x)
    assert start.shape == end.shape == (3, 6)
    pad = x == PAD
    assert (start[pad] == QA_PAD_LOGIT).all() and (end[pad] == QA_PAD_LOGIT).all()
    assert torch.isfinite(start).all() and (start[~pad] > QA_PAD_LOGIT).all()
    loss = nn.functional.cross_entropy(start, torch.tensor([0, 1, 1]))
    assert torch.isfinite(loss)
    assert (torch.softmax(start, -1)[pad] == 0).all()  # pads can never be the answer


def test_errors():
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by nhead=4"):
        TransformerClassifier(V, C, d_model=10, nhead=4)
    with pytest.raises(ValueError, match=r"activation must be"):
        TransformerTagger(V, C, activation="elu")
    with pytest.raises(ValueError, match=r"ids: token id 17 is out of range for vocabulary size 17"):
        TransformerQA(V, **KW)(torch.tensor([[1, 17]]))
