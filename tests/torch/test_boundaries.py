"""Bad inputs at the PyTorch backend's public boundary (issue 14): errors of our documented
classes (or ValueError / TypeError) naming the argument, the value and what was expected, in
the NumPy backend's wording, raised before any work (not from deep inside torch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn
from transformer_anatomy.numpy import TokenIdError
from transformer_anatomy.torch import (
    MultiheadAttention,
    PositionalEncoding,
    Seq2SeqTransformer,
    Transformer,
    TransformerClassifier,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    TransformerQA,
    TransformerTagger,
)

CONSTRUCTOR_CASES = [
    ("transformer-d_model-float", lambda: Transformer(d_model=16.0, nhead=2), TypeError, r"d_model must be a positive integer, got d_model=16\.0"),
    ("transformer-nhead-bool", lambda: Transformer(d_model=16, nhead=True), TypeError, r"nhead must be a positive integer, got nhead=True"),
    ("transformer-dropout-string", lambda: Transformer(d_model=16, nhead=2, dropout="0.1"), TypeError, r"dropout must be in \[0, 1\], got dropout='0\.1'"),
    ("transformer-dropout-1.5", lambda: Transformer(d_model=16, nhead=2, dropout=1.5), ValueError, r"dropout must be in \[0, 1\], got dropout=1\.5"),
    ("enc-layer-ff-negative", lambda: TransformerEncoderLayer(16, 2, dim_feedforward=-1), ValueError, r"dim_feedforward must be a positive integer, got dim_feedforward=-1"),
    ("dec-layer-ff-zero", lambda: TransformerDecoderLayer(16, 2, dim_feedforward=0), ValueError, r"dim_feedforward=0"),
    ("mha-kdim-zero", lambda: MultiheadAttention(16, 2, kdim=0), ValueError, r"kdim must be a positive integer, got kdim=0"),
    ("mha-kdim-negative", lambda: MultiheadAttention(16, 2, kdim=-3), ValueError, r"kdim=-3"),
    ("mha-vdim-float", lambda: MultiheadAttention(16, 2, vdim=4.0), TypeError, r"vdim=4\.0"),
    ("mha-embed-dim-zero", lambda: MultiheadAttention(0, 2), ValueError, r"embed_dim must be a positive integer, got embed_dim=0"),
    ("mha-heads-float", lambda: MultiheadAttention(16, 2.0), TypeError, r"num_heads=2\.0"),
    ("encoder-num-layers-negative", lambda: TransformerEncoder(TransformerEncoderLayer(16, 2, 32), -1), ValueError, r"num_layers must be an integer >= 0, got num_layers=-1"),
    ("encoder-num-layers-float", lambda: TransformerEncoder(TransformerEncoderLayer(16, 2, 32), 2.0), TypeError, r"num_layers=2\.0"),
    ("classifier-classes-zero", lambda: TransformerClassifier(9, 0, 16, 2, 1, 32), ValueError, r"num_classes must be a positive integer, got num_classes=0"),
    ("tagger-classes-negative", lambda: TransformerTagger(9, -2, 16, 2, 1, 32), ValueError, r"num_classes=-2"),
    ("qa-pad-id-out-of-vocab", lambda: TransformerQA(9, 16, 2, 1, 32, pad_id=9), ValueError, r"pad_id=9 is not a valid id for vocabulary size 9"),
    ("seq2seq-pad-id-20", lambda: Seq2SeqTransformer(11, 13, 16, 2, 1, 1, 32, pad_id=20), ValueError, r"pad_id=20 is not a valid id for vocabulary size 11"),
    ("seq2seq-pad-id-bool", lambda: Seq2SeqTransformer(11, 13, 16, 2, 1, 1, 32, pad_id=True), TypeError, r"pad_id=True"),
    ("seq2seq-vocab-float", lambda: Seq2SeqTransformer(11.0, 13, 16, 2, 1, 1, 32), TypeError, r"src_vocab_size must be a positive integer, got src_vocab_size=11\.0"),
    ("seq2seq-max-len-zero", lambda: Seq2SeqTransformer(11, 13, 16, 2, 1, 1, 32, max_len=0), ValueError, r"max_len must be a positive integer, got max_len=0"),
    ("positional-max-len-negative", lambda: PositionalEncoding(16, -5), ValueError, r"max_len=-5"),
]


@pytest.mark.parametrize("factory,cls,match", [c[1:] for c in CONSTRUCTOR_CASES], ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_constructor_refuses_bad_argument(factory, cls, match):
    with pytest.raises(cls, match=match):
        factory()


SAME_WORDING = [
    ("d_model-float", lambda: Transformer(d_model=16.0, nhead=2), lambda: tn.Transformer(16.0, 2)),
    ("nhead-zero", lambda: TransformerEncoderLayer(16, 0), lambda: tn.TransformerEncoderLayer(16, 0)),
    ("dropout-1.5", lambda: TransformerEncoderLayer(16, 2, dropout=1.5), lambda: tn.TransformerEncoderLayer(16, 2, dropout=1.5)),
    ("ff-negative", lambda: TransformerEncoderLayer(16, 2, dim_feedforward=-1), lambda: tn.TransformerEncoderLayer(16, 2, dim_feedforward=-1)),
    ("pad-id", lambda: Seq2SeqTransformer(11, 13, 16, 2, pad_id=20), lambda: tn.Seq2SeqTransformer(11, 13, 16, 2, pad_id=20)),
    ("num-classes", lambda: TransformerClassifier(9, 0, 16, 2), lambda: tn.TransformerClassifier(9, 0, 16, 2)),
]


@pytest.mark.parametrize("torch_call,numpy_call", [c[1:] for c in SAME_WORDING], ids=[c[0] for c in SAME_WORDING])
def test_same_mistake_same_message_in_both_backends(torch_call, numpy_call):
    with pytest.raises((ValueError, TypeError)) as t_err:
        torch_call()
    with pytest.raises((ValueError, TypeError)) as n_err:
        numpy_call()
    assert type(t_err.value) is type(n_err.value)
    assert str(t_err.value) == str(n_err.value)


# ------------------------------------------------------------------ forward inputs
def _layer():
    torch.manual_seed(0)
    return TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)


FORWARD_CASES = [
    ("mask-as-list", lambda: _layer()(torch.randn(2, 3, 16), src_mask=[[False] * 3] * 3), TypeError, r"attn_mask must be a bool or float torch.Tensor, got list"),
    ("kpm-as-numpy", lambda: _layer()(torch.randn(2, 3, 16), src_key_padding_mask=np.zeros((2, 3), bool)), TypeError, r"key_padding_mask must be a bool or float torch.Tensor, got ndarray"),
    ("src-as-numpy", lambda: _layer()(np.zeros((2, 3, 16), np.float32)), TypeError, r"src must be a torch.Tensor, got ndarray"),
    ("src-int", lambda: _layer()(torch.zeros(2, 3, 16, dtype=torch.long)), TypeError, r"src has dtype int64, the model is float32 \(expected a real floating array\)"),
    ("src-complex", lambda: _layer()(torch.zeros(2, 3, 16, dtype=torch.complex64)), TypeError, r"src has dtype complex64"),
    ("src-float64", lambda: _layer()(torch.zeros(2, 3, 16, dtype=torch.float64)), TypeError, r"src has dtype float64, the model is float32"),
    ("mha-query-list", lambda: MultiheadAttention(16, 2)([[0.0] * 16], [[0.0] * 16], [[0.0] * 16]), TypeError, r"query must be a torch.Tensor, got list"),
    ("mha-kdim-mismatch", lambda: MultiheadAttention(16, 2, kdim=4, vdim=4, batch_first=True)(torch.randn(2, 3, 16), torch.randn(2, 5, 6), torch.randn(2, 5, 4)),
     ValueError, r"key: expected feature size 4, got 6 .*kdim=4"),
    ("transformer-tgt-list", lambda: Transformer(16, 2, 1, 1, 32, batch_first=True)(torch.randn(2, 3, 16), [[1.0]]), TypeError, r"tgt must be a torch.Tensor, got list"),
    ("encoder-mask-list", lambda: TransformerEncoder(_layer(), 1)(torch.randn(2, 3, 16), mask=[[0.0]]), TypeError, r"mask must be a bool or float torch.Tensor, got list"),
]


@pytest.mark.parametrize("call,cls,match", [c[1:] for c in FORWARD_CASES], ids=[c[0] for c in FORWARD_CASES])
def test_forward_refuses_bad_input(call, cls, match):
    with pytest.raises(cls, match=match):
        call()


def test_float64_input_allowed_under_autocast_path_is_not_refused_for_matching_dtype():
    layer = _layer().double()
    out = layer(torch.randn(2, 3, 16, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_cpu_autocast_still_runs():
    layer = _layer()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = TransformerEncoder(layer, 2)(torch.randn(2, 3, 16))
    assert out.shape == (2, 3, 16)


# ------------------------------------------------------------------ token ids and decoding
def _s2s():
    torch.manual_seed(0)
    return Seq2SeqTransformer(11, 13, 16, 2, 1, 1, 32, dropout=0.0).eval()


def test_uint8_token_ids_work_like_int64():
    m = _s2s()
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(m(ids.to(torch.uint8), ids.to(torch.uint8)), m(ids, ids))
    torch.testing.assert_close(m(ids.to(torch.int16), ids.to(torch.int32)), m(ids, ids))


IDS_CASES = [
    ("ids-list", lambda m: m([[1, 2]], torch.tensor([[1]])), TypeError, r"src_ids must be a torch.Tensor, got list"),
    ("ids-float", lambda m: m(torch.ones(1, 2), torch.tensor([[1]])), TypeError, r"src_ids must be an integer tensor"),
    ("ids-bool", lambda m: m(torch.tensor([[1]]), torch.ones(1, 2, dtype=torch.bool)), TypeError, r"tgt_ids must be an integer tensor"),
    ("ids-out-of-vocab", lambda m: m(torch.tensor([[1, 11]]), torch.tensor([[1]])), TokenIdError, r"src_ids: token id 11 is out of range for vocabulary size 11"),
]


@pytest.mark.parametrize("call,cls,match", [c[1:] for c in IDS_CASES], ids=[c[0] for c in IDS_CASES])
def test_token_ids_refused(call, cls, match):
    with pytest.raises(cls, match=match):
        call(_s2s())


SRC = torch.tensor([[1, 2, 3, 4]])
DECODE_CASES = [
    ("greedy-max-len-zero", "greedy_decode", dict(max_len=0), ValueError, r"max_len must be a positive integer, got max_len=0"),
    ("greedy-max-len-negative", "greedy_decode", dict(max_len=-3), ValueError, r"max_len=-3"),
    ("greedy-max-len-float", "greedy_decode", dict(max_len=4.0), TypeError, r"max_len=4\.0"),
    ("greedy-sos-out-of-vocab", "greedy_decode", dict(sos_id=13), ValueError, r"sos_id=13 is not a valid id for vocabulary size 13"),
    ("greedy-eos-negative", "greedy_decode", dict(eos_id=-1), ValueError, r"eos_id=-1"),
    ("greedy-use-cache-string", "greedy_decode", dict(use_cache="yes"), TypeError, r"use_cache must be True or False"),
    ("beam-max-len-zero", "beam_search", dict(max_len=0), ValueError, r"max_len must be a positive integer, got max_len=0"),
    ("beam-size-zero", "beam_search", dict(beam_size=0), ValueError, r"beam_size must be a positive integer, got beam_size=0"),
    ("beam-size-float", "beam_search", dict(beam_size=2.0), TypeError, r"beam_size=2\.0"),
    ("beam-length-penalty-nan", "beam_search", dict(length_penalty=float("nan")), ValueError, r"length_penalty=nan"),
    ("beam-src-list", "beam_search", dict(src_ids=[[1, 2]]), TypeError, r"src_ids must be a torch.Tensor"),
]


@pytest.mark.parametrize("method,kw,cls,match", [c[1:] for c in DECODE_CASES], ids=[c[0] for c in DECODE_CASES])
def test_decoding_refuses(method, kw, cls, match):
    args = dict(src_ids=SRC, max_len=5, sos_id=1, eos_id=2)
    if method == "beam_search":
        args["beam_size"] = 2
    args |= kw
    with pytest.raises(cls, match=match):
        getattr(_s2s(), method)(**args)


def test_decoding_empty_batch_gives_empty_output():
    m = _s2s()
    empty = torch.zeros(0, 4, dtype=torch.long)
    assert tuple(m.greedy_decode(empty, 5, 1, 2).shape) == (0, 1)
    ids, scores = m.beam_search(empty, 3, 5, 1, 2, return_scores=True)
    assert tuple(ids.shape) == (0, 1) and tuple(scores.shape) == (0,)


def _pair():
    """A torch Seq2SeqTransformer and its NumPy twin (same weights)."""
    m = _s2s()
    return m, tn.from_torch(m)


RUNTIME_SAME_WORDING = [
    ("src-id-out-of-vocab", lambda m: m(torch.tensor([[1, 11]]), torch.tensor([[1]])), lambda n: n(np.array([[1, 11]]), np.array([[1]]))),
    ("tgt-id-negative", lambda m: m(torch.tensor([[1]]), torch.tensor([[-1]])), lambda n: n(np.array([[1]]), np.array([[-1]]))),
    ("ids-1d", lambda m: m.encode(torch.tensor([1, 2])), lambda n: n.encode(np.array([1, 2]))),
    ("ids-float", lambda m: m.encode(torch.ones(1, 2, dtype=torch.float64)), lambda n: n.encode(np.ones((1, 2)))),
    ("greedy-max-len", lambda m: m.greedy_decode(SRC, 0, 1, 2), lambda n: n.greedy_decode(SRC.numpy(), 0, 1, 2)),
    ("greedy-sos", lambda m: m.greedy_decode(SRC, 5, 13, 2), lambda n: n.greedy_decode(SRC.numpy(), 5, 13, 2)),
    ("mha-kdim", lambda m: MultiheadAttention(16, 2, kdim=4, vdim=4, batch_first=True)(torch.zeros(2, 3, 16), torch.zeros(2, 5, 6), torch.zeros(2, 5, 4)),
     lambda n: tn.MultiheadAttention(16, 2, kdim=4, vdim=4)(np.zeros((2, 3, 16)), np.zeros((2, 5, 6)), np.zeros((2, 5, 4)))),
    ("src-int-dtype", lambda m: Transformer(16, 2, 1, 1, 32, batch_first=True)(torch.zeros(2, 3, 16, dtype=torch.int32), torch.zeros(2, 3, 16)),
     lambda n: tn.Transformer(16, 2, 1, 1, 32)(np.zeros((2, 3, 16), np.int32), np.zeros((2, 3, 16)))),
]


@pytest.mark.parametrize("torch_call,numpy_call", [c[1:] for c in RUNTIME_SAME_WORDING], ids=[c[0] for c in RUNTIME_SAME_WORDING])
def test_same_runtime_mistake_same_message_in_both_backends(torch_call, numpy_call):
    m, n = _pair()
    with pytest.raises((ValueError, TypeError)) as t_err:
        torch_call(m)
    with pytest.raises((ValueError, TypeError)) as n_err:
        numpy_call(n)
    assert type(t_err.value) is type(n_err.value)
    t_msg, n_msg = str(t_err.value), str(n_err.value)
    assert t_msg.replace("tensor", "array") == n_msg


SDPA_CASES = [
    ("d-mismatch", (2, 5, 8), (2, 7, 6), (2, 7, 4), r"q \(2, 5, 8\) and k \(2, 7, 6\) must have the same feature size D"),
    ("s-mismatch", (2, 5, 8), (2, 7, 8), (2, 6, 4), r"k \(2, 7, 8\) and v \(2, 6, 4\) must have the same length S"),
    ("one-d", (8,), (7, 8), (7, 4), r"must be at least 2-D"),
]


@pytest.mark.parametrize("qs,ks,vs,match", [c[1:] for c in SDPA_CASES], ids=[c[0] for c in SDPA_CASES])
def test_sdpa_shape_errors_same_in_both_backends(qs, ks, vs, match):
    from transformer_anatomy.torch import scaled_dot_product_attention as torch_sdpa

    with pytest.raises(ValueError, match=match) as t_err:
        torch_sdpa(torch.zeros(qs), torch.zeros(ks), torch.zeros(vs))
    with pytest.raises(ValueError, match=match) as n_err:
        tn.scaled_dot_product_attention(np.zeros(qs), np.zeros(ks), np.zeros(vs))
    assert str(t_err.value) == str(n_err.value)


def test_sdpa_dropout_out_of_range_same_in_both_backends():
    from transformer_anatomy.torch import scaled_dot_product_attention as torch_sdpa

    with pytest.raises(ValueError) as t_err:
        torch_sdpa(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), dropout_p=1.5)
    with pytest.raises(ValueError) as n_err:
        tn.scaled_dot_product_attention(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), dropout_p=1.5)
    assert str(t_err.value) == str(n_err.value) == "dropout_p must be in [0, 1], got dropout_p=1.5"
