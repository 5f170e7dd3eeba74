"""Token embeddings, positional encodings and the written-out softmax."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import transformer_anatomy.torch as ta
from transformer_anatomy.torch import LearnedPositionalEmbedding, PositionalEncoding, log_softmax, softmax


@pytest.mark.parametrize("d_model", [6, 7])
def test_sinusoidal_table_is_the_papers_formula(d_model):
    pe = ta.sinusoidal_table(20, d_model)
    for pos in (0, 1, 5, 19):
        for i in range(d_model):
            angle = pos / 10000 ** ((i - i % 2) / d_model)
            expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
            assert pe[pos, i].item() == pytest.approx(expected, abs=1e-12)


def test_positional_encoding_module():
    m = PositionalEncoding(8, max_len=10)
    assert list(m.state_dict()) == []  # a fixed table is not a parameter
    x = torch.zeros(2, 4, 8)
    torch.testing.assert_close(m(x), ta.sinusoidal_table(10, 8)[:4].float().expand(2, 4, 8))
    torch.testing.assert_close(m(x, offset=3)[0, 0], ta.sinusoidal_table(10, 8)[3].float())
    assert m.double().pe.dtype == torch.float64
    torch.testing.assert_close(m.pe, ta.sinusoidal_table(10, 8), rtol=0, atol=0)  # exact after .double()
    with pytest.raises(ValueError, match=r"sequence length 11 exceeds max_len=10"):
        m(torch.zeros(1, 11, 8, dtype=torch.float64))


def test_learned_positional_embedding():
    torch.manual_seed(0)
    m = LearnedPositionalEmbedding(300, 64)
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (300, 64)
    assert m.weight.std().item() == pytest.approx(1.0, rel=0.02)
    x = torch.randn(2, 5, 64)
    torch.testing.assert_close(m(x, offset=2), x + m.weight[2:7])
    m(x).sum().backward()
    assert (m.weight.grad[:5] == 2).all() and (m.weight.grad[5:] == 0).all()


def test_layers_are_torchs_own():
    assert ta.Linear is torch.nn.Linear and ta.LayerNorm is torch.nn.LayerNorm and ta.GELU is torch.nn.GELU
    assert set(ta.__all__) >= {
        "Linear", "Embedding", "PositionalEncoding", "LearnedPositionalEmbedding", "Dropout", "ReLU", "GELU",
        "LayerNorm", "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
        "TransformerEncoder", "TransformerDecoder", "Transformer", "Seq2SeqTransformer", "TransformerClassifier",
        "TransformerTagger", "TransformerQA", "softmax", "log_softmax", "scaled_dot_product_attention",
        "generate_square_subsequent_mask", "make_key_padding_mask",
    }


def test_softmax_extremes_stay_finite():
    x = torch.tensor([1000.0, 0.0, -1000.0], dtype=torch.float64)
    torch.testing.assert_close(softmax(x), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.isfinite(log_softmax(x)).all()


@settings(max_examples=30, deadline=None)
@given(
    arrays("float64", st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-50, 50)),
    st.floats(-100, 100),
)
def test_softmax_matches_torch_sums_to_one_and_is_shift_invariant(a, shift):
    x = torch.from_numpy(a)
    torch.testing.assert_close(softmax(x), torch.softmax(x, -1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_softmax(x), torch.log_softmax(x, -1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(softmax(x).sum(-1), torch.ones(x.shape[0], dtype=torch.float64))
    torch.testing.assert_close(softmax(x + shift), softmax(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(softmax(x, axis=0), torch.softmax(x, 0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
@pytest.mark.parametrize("scale", [True, False])
def test_embed_tokens_is_token_times_sqrt_e_plus_position_and_offset_continues_it(positional, scale):
    from transformer_anatomy.torch.embeddings import embed_tokens, init_token_embedding, make_positional

    torch.manual_seed(0)
    tok, pos, drop = torch.nn.Embedding(9, 8), make_positional(positional, 12, 8), torch.nn.Dropout(0.0)
    init_token_embedding(tok, scale)
    ids = torch.randint(0, 9, (2, 6))
    full = embed_tokens(ids, tok, pos, drop, scale)
    weight = pos.pe if positional == "sinusoidal" else pos.weight
    torch.testing.assert_close(full, tok(ids) * (math.sqrt(8) if scale else 1.0) + weight[:6], rtol=0, atol=0)
    torch.testing.assert_close(embed_tokens(ids[:, 4:], tok, pos, drop, scale, offset=4), full[:, 4:], rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"sequence length 13 exceeds max_len=12"):
        embed_tokens(ids[:, :1], tok, pos, drop, scale, offset=12)
    with pytest.raises(ValueError, match=r"positional must be 'sinusoidal' or 'learned', got 'rope'"):
        make_positional("rope", 12, 8)
