"""Bad inputs at the NumPy backend's public boundary (issue 14): every one gets an error of our
documented classes (or ValueError / TypeError) that names the argument, the value and what
was expected, raised before any work; edge cases torch handles (zero-length sequences,
-inf logits) give torch's finite answers."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn
from transformer_anatomy.numpy import from_torch
from transformer_anatomy.numpy.module import BackwardError, BackwardShapeError

RNG = np.random.default_rng(0)


def _x(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ constructors (one bad argument each)
CONSTRUCTOR_CASES = [
    # (id, factory, error class, message regex)
    ("mha-d_model-float", lambda: tn.MultiheadAttention(16.0, 2, batch_first=True), TypeError, r"d_model must be a positive integer, got d_model=16\.0"),
    ("mha-nhead-bool", lambda: tn.MultiheadAttention(8, True, batch_first=True), TypeError, r"nhead=True"),
    ("mha-nhead-zero", lambda: tn.MultiheadAttention(8, 0, batch_first=True), ValueError, r"nhead must be a positive integer, got nhead=0"),
    ("mha-kdim-zero", lambda: tn.MultiheadAttention(8, 2, kdim=0, batch_first=True), ValueError, r"kdim must be a positive integer, got kdim=0"),
    ("mha-kdim-negative", lambda: tn.MultiheadAttention(8, 2, kdim=-3, batch_first=True), ValueError, r"kdim=-3"),
    ("mha-vdim-string", lambda: tn.MultiheadAttention(8, 2, vdim="4", batch_first=True), TypeError, r"vdim='4'"),
    ("mha-dropout-string", lambda: tn.MultiheadAttention(8, 2, dropout="0.1", batch_first=True), TypeError, r"dropout must be in \[0, 1\], got dropout='0.1'"),
    ("mha-dropout-1.5", lambda: tn.MultiheadAttention(8, 2, dropout=1.5, batch_first=True), ValueError, r"dropout must be in \[0, 1\], got dropout=1\.5"),
    ("mha-dropout-nan", lambda: tn.MultiheadAttention(8, 2, dropout=float("nan"), batch_first=True), ValueError, r"dropout=nan"),
    ("enc-layer-ff-negative", lambda: tn.TransformerEncoderLayer(8, 2, dim_feedforward=-1, batch_first=True), ValueError, r"dim_feedforward=-1"),
    ("enc-layer-ff-float", lambda: tn.TransformerEncoderLayer(8, 2, dim_feedforward=32.0, batch_first=True), TypeError, r"dim_feedforward=32\.0"),
    ("dec-layer-dtype-int", lambda: tn.TransformerDecoderLayer(8, 2, dtype=np.int32, batch_first=True), ValueError, r"float32 or float64, got int32"),
    ("linear-in-float", lambda: tn.Linear(3.5, 2), TypeError, r"in_features=3\.5"),
    ("embedding-dim-bool", lambda: tn.Embedding(5, True), TypeError, r"embedding_dim=True"),
    ("layernorm-eps-negative", lambda: tn.LayerNorm(4, eps=-1.0), ValueError, r"eps"),
    ("dropout-p-negative", lambda: tn.Dropout(-0.1), ValueError, r"dropout must be in \[0, 1\], got dropout=-0\.1"),
    ("seq2seq-pad-id-too-big", lambda: tn.Seq2SeqTransformer(11, 13, 8, 2, 1, 1, 16, pad_id=20), ValueError,
     r"pad_id=20 is not a valid id for vocabulary size 11"),
    ("seq2seq-pad-id-negative", lambda: tn.Seq2SeqTransformer(11, 11, 8, 2, 1, 1, 16, pad_id=-1), ValueError, r"pad_id=-1"),
    ("seq2seq-pad-id-float", lambda: tn.Seq2SeqTransformer(11, 11, 8, 2, 1, 1, 16, pad_id=0.0), TypeError, r"pad_id=0\.0"),
    ("seq2seq-vocab-zero", lambda: tn.Seq2SeqTransformer(0, 11, 8, 2, 1, 1, 16), ValueError, r"src_vocab_size must be a positive integer"),
    ("classifier-classes-zero", lambda: tn.TransformerClassifier(9, 0, 8, 2, 1, 16), ValueError, r"num_classes must be a positive integer, got num_classes=0"),
    ("tagger-classes-float", lambda: tn.TransformerTagger(9, 3.0, 8, 2, 1, 16), TypeError, r"num_classes=3\.0"),
    ("qa-pad-id-out-of-vocab", lambda: tn.TransformerQA(9, 8, 2, 1, 16, pad_id=9), ValueError, r"pad_id=9 is not a valid id for vocabulary size 9"),
    ("encoder-num-layers-zero", lambda: tn.TransformerEncoder(tn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 0), ValueError, r"num_layers"),
]


@pytest.mark.parametrize("factory,cls,match", [c[1:] for c in CONSTRUCTOR_CASES], ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_constructor_refuses_bad_argument(factory, cls, match):
    with pytest.raises(cls, match=match):
        factory()


# ------------------------------------------------------------------ defect 4: input dtypes
def test_float64_input_to_float32_module_is_cast_and_backward_works():
    enc = tn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    x = _x(2, 5, 8, dtype=np.float64)
    y = enc(x)
    assert y.dtype == np.float32  # was float64 (and backward then crashed in einsum)
    dx = enc.backward(np.ones_like(y))
    assert dx.dtype == np.float32 and dx.shape == x.shape
    ref = enc(x.astype(np.float32))
    np.testing.assert_array_equal(y, ref)


def test_float32_input_to_float64_model_is_cast():
    m = tn.MultiheadAttention(8, 2, dtype=np.float64, batch_first=True)
    q = _x(2, 3, 8)
    out, _ = m(q, q, q)
    assert out.dtype == np.float64
    assert m.backward(np.ones_like(out))[0].dtype == np.float64


DTYPE_CASES = [
    ("complex-src", lambda: tn.TransformerEncoderLayer(8, 2, 16, batch_first=True)(_x(2, 3, 8) + 1j), r"src has dtype complex(64|128), the model is float32"),
    ("int-src", lambda: tn.TransformerEncoderLayer(8, 2, 16, batch_first=True)(np.ones((2, 3, 8), dtype=np.int64)), r"src has dtype int64, the model is float32"),
    ("bool-query", lambda: tn.MultiheadAttention(8, 2, batch_first=True)(*(np.ones((2, 3, 8), dtype=bool),) * 3), r"query has dtype bool"),
    ("complex-key", lambda: tn.MultiheadAttention(8, 2, batch_first=True)(_x(2, 3, 8), _x(2, 4, 8) + 0j, _x(2, 4, 8)), r"key has dtype complex(64|128)"),
    ("object-tgt", lambda: tn.Transformer(8, 2, 1, 1, 16, batch_first=True)(_x(2, 3, 8), np.full((2, 3, 8), None)), r"tgt has dtype object"),
    ("string-x-linear", lambda: tn.Linear(3, 2)(np.array([["a", "b", "c"]])), r"x has dtype <U1"),
    ("int-memory", lambda: tn.TransformerDecoderLayer(8, 2, 16, batch_first=True)(_x(2, 3, 8), np.zeros((2, 4, 8), dtype=np.int32)), r"memory has dtype int32"),
    ("complex-layernorm", lambda: tn.LayerNorm(4)(np.ones((2, 4), dtype=np.complex64)), r"x has dtype complex64, the model is float32"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in DTYPE_CASES], ids=[c[0] for c in DTYPE_CASES])
def test_non_float_input_is_refused_naming_both_dtypes(call, match):
    with pytest.raises(TypeError, match=match):
        call()


# ------------------------------------------------------------------ defect 5: zero-length sequences
@pytest.mark.parametrize("S,T", [(0, 3), (3, 0), (0, 0)])
def test_zero_length_sequences_match_torch(S, T):
    torch.manual_seed(0)
    ref_model = torch.nn.Transformer(8, 2, 1, 1, 16, 0.0, batch_first=True).double().eval()
    model = from_torch(ref_model)
    src, tgt = torch.randn(2, S, 8, dtype=torch.float64), torch.randn(2, T, 8, dtype=torch.float64)
    out = model(src.numpy(), tgt.numpy())
    ref = ref_model(src, tgt).detach().numpy()
    assert out.shape == ref.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, atol=1e-12)
    dsrc, dtgt = model.backward(np.ones_like(out))
    assert dsrc.shape == (2, S, 8) and dtgt.shape == (2, T, 8) and np.isfinite(dsrc).all()


def test_zero_length_self_attention_gives_empty_output():
    m = tn.MultiheadAttention(8, 2, batch_first=True)
    x = np.zeros((3, 0, 8), np.float32)
    out, w = m(x, x, x)
    assert out.shape == (3, 0, 8) and w.shape == (3, 0, 0)


# ------------------------------------------------------------------ defect 3: CrossEntropyLoss
@pytest.mark.parametrize("case", ["neg-inf-logit", "huge-logits"])
def test_cross_entropy_finite_for_extreme_logits_like_torch(case):
    if case == "neg-inf-logit":
        logits = np.array([[0.5, -np.inf, 1.0], [2.0, 0.0, -np.inf]], np.float32)
    else:
        logits = np.array([[3e38, -3e38, 0.0], [-3e38, 3e38, 1.0]], np.float32)
    targets = np.array([0, 1])
    loss = tn.CrossEntropyLoss(label_smoothing=0.0)
    ours = loss(logits, targets)
    ref = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(targets))
    assert np.isfinite(ours) and np.isfinite(ref.item())
    np.testing.assert_allclose(ours, ref.item(), rtol=1e-6)
    assert np.isfinite(loss.backward()).all()


def test_cross_entropy_ignored_position_with_neg_inf_logit_is_zero():
    logits = np.array([[-np.inf, 0.0], [0.0, 1.0]], np.float32)
    loss = tn.CrossEntropyLoss(reduction="none")(logits, np.array([-100, 1]))
    assert loss[0] == 0.0 and np.isfinite(loss).all()


LOSS_CASES = [
    ("complex-logits", lambda: tn.CrossEntropyLoss()(np.ones((2, 3), np.complex64), np.array([0, 1])), TypeError, r"logits has dtype complex64"),
    ("zero-classes", lambda: tn.CrossEntropyLoss()(np.ones((2, 0), np.float32), np.array([0, 1])), ValueError, r"C >= 1"),
    ("float-targets", lambda: tn.CrossEntropyLoss()(np.ones((2, 3), np.float32), np.array([0.0, 1.0])), TypeError, r"targets must be integer"),
    ("target-out-of-range", lambda: tn.CrossEntropyLoss()(np.ones((2, 3), np.float32), np.array([0, 3])), IndexError, r"target 3 is out of range for 3 classes"),
    ("label-smoothing-2", lambda: tn.CrossEntropyLoss(label_smoothing=2.0), ValueError, r"label_smoothing=2\.0"),
    ("backward-before-forward", lambda: tn.CrossEntropyLoss().backward(), BackwardError, r"before forward"),
]


@pytest.mark.parametrize("call,cls,match", [c[1:] for c in LOSS_CASES], ids=[c[0] for c in LOSS_CASES])
def test_cross_entropy_refuses(call, cls, match):
    with pytest.raises(cls, match=match):
        call()


# ------------------------------------------------------------------ defect 9: shapes, backward misuse
def test_mha_kdim_mismatch_is_named():
    m = tn.MultiheadAttention(8, 2, kdim=4, vdim=4, batch_first=True)
    with pytest.raises(ValueError, match=r"key: expected feature size 4, got 6 .*kdim=4"):
        m(_x(2, 3, 8), _x(2, 5, 6), _x(2, 5, 4))


BACKWARD_BEFORE_FORWARD = [
    ("linear", lambda: tn.Linear(3, 2), np.ones((1, 2), np.float32)),
    ("layernorm", lambda: tn.LayerNorm(4), np.ones((1, 4), np.float32)),
    ("relu", lambda: tn.ReLU(), np.ones(3, np.float32)),
    ("gelu", lambda: tn.GELU(), np.ones(3, np.float32)),
    ("mha", lambda: tn.MultiheadAttention(8, 2, batch_first=True), np.ones((2, 3, 8), np.float32)),
    ("encoder-layer", lambda: tn.TransformerEncoderLayer(8, 2, 16, batch_first=True), np.ones((2, 3, 8), np.float32)),
    ("decoder-layer", lambda: tn.TransformerDecoderLayer(8, 2, 16, batch_first=True), np.ones((2, 3, 8), np.float32)),
    ("transformer", lambda: tn.Transformer(8, 2, 1, 1, 16, batch_first=True), np.ones((2, 3, 8), np.float32)),
]


@pytest.mark.parametrize("make,dout", [c[1:] for c in BACKWARD_BEFORE_FORWARD], ids=[c[0] for c in BACKWARD_BEFORE_FORWARD])
def test_backward_before_forward_is_named(make, dout):
    m = make()
    with pytest.raises(BackwardError, match=rf"{type(m).__name__}\.backward called before forward"):
        m.backward(dout)


WRONG_DOUT = [
    ("linear", lambda: tn.Linear(3, 2), (4, 3), (4, 3)),
    ("layernorm", lambda: tn.LayerNorm(4), (2, 4), (2, 5)),
    ("mha", lambda: tn.MultiheadAttention(8, 2, batch_first=True), (2, 3, 8), (2, 3, 9)),
    ("encoder-layer", lambda: tn.TransformerEncoderLayer(8, 2, 16, batch_first=True), (2, 3, 8), (3, 2, 8)),
    ("encoder", lambda: tn.TransformerEncoder(tn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2), (2, 3, 8), (2, 4, 8)),
]


@pytest.mark.parametrize("make,in_shape,dout_shape", [c[1:] for c in WRONG_DOUT], ids=[c[0] for c in WRONG_DOUT])
def test_backward_with_wrong_shaped_gradient_is_named(make, in_shape, dout_shape):
    m = make()
    x = _x(*in_shape)
    out = m(x, x, x)[0] if isinstance(m, tn.MultiheadAttention) else m(x)
    with pytest.raises(BackwardShapeError, match=re.escape(f"has shape {tuple(dout_shape)}, expected {out.shape}")):
        m.backward(np.ones(dout_shape, np.float32))


def test_wrong_shaped_gradient_is_also_a_value_error():
    assert issubclass(BackwardShapeError, ValueError) and issubclass(BackwardError, RuntimeError)


FORWARD_SHAPE_CASES = [
    ("linear-width", lambda: tn.Linear(3, 2)(_x(4, 5)), r"x has shape \(4, 5\), expected \(\.\.\., in_features=3\)"),
    ("layernorm-width", lambda: tn.LayerNorm(4)(_x(2, 3)), r"normalized_shape=4"),
    ("mha-4d-query", lambda: tn.MultiheadAttention(8, 2, batch_first=True)(*(_x(1, 2, 3, 8),) * 3), r"query must be 2-D \(unbatched\) or 3-D"),
    ("mha-mixed-dims", lambda: tn.MultiheadAttention(8, 2, batch_first=True)(_x(2, 3, 8), _x(3, 8), _x(3, 8)), r"same number of dims"),
    ("transformer-d_model", lambda: tn.Transformer(8, 2, 1, 1, 16, batch_first=True)(_x(2, 3, 6), _x(2, 3, 8)), r"d_model=8"),
]


@pytest.mark.parametrize("call,match", [c[1:] for c in FORWARD_SHAPE_CASES], ids=[c[0] for c in FORWARD_SHAPE_CASES])
def test_forward_shape_errors_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ decoding
def _s2s():
    return tn.Seq2SeqTransformer(11, 13, 8, 2, 1, 1, 16, rng=0)


DECODE_CASES = [
    ("max_len-zero", dict(max_len=0), ValueError, r"max_len must be a positive integer, got max_len=0"),
    ("max_len-float", dict(max_len=5.0), TypeError, r"max_len=5\.0"),
    ("sos-out-of-vocab", dict(sos_id=13), ValueError, r"sos_id=13 is not a valid id for vocabulary size 13"),
    ("eos-negative", dict(eos_id=-2), ValueError, r"eos_id=-2"),
    ("src-float", dict(src_ids=np.ones((2, 3))), TypeError, r"src_ids must be an integer array of token ids, got dtype float64"),
    ("src-out-of-vocab", dict(src_ids=np.array([[1, 11]])), tn.TokenIdError, r"src_ids: token id 11 is out of range for vocabulary size 11"),
    ("src-1d", dict(src_ids=np.array([1, 2])), ValueError, r"src_ids must have shape \(N, L\)"),
]


@pytest.mark.parametrize("kw,cls,match", [c[1:] for c in DECODE_CASES], ids=[c[0] for c in DECODE_CASES])
def test_greedy_decode_refuses(kw, cls, match):
    args = dict(src_ids=np.array([[1, 2, 3]]), max_len=5, sos_id=1, eos_id=2) | kw
    with pytest.raises(cls, match=match):
        _s2s().greedy_decode(**args)


def test_greedy_decode_empty_batch_is_empty():
    out = _s2s().greedy_decode(np.zeros((0, 4), np.int64), 5, 1, 2)
    assert out.shape == (0, 1) and out.dtype == np.int64


def test_uint8_token_ids_work_like_int64():
    m = _s2s().eval()
    ids = np.array([[1, 2, 3]], np.uint8)
    np.testing.assert_array_equal(m(ids, ids), m(ids.astype(np.int64), ids.astype(np.int64)))


# ------------------------------------------------------------------ defect 2 and 9: from_torch
def test_from_torch_converts_each_layer_from_itself():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, 3, enable_nested_tensor=False).double().eval()
    enc.layers[1].norm_first = True
    enc.layers[2].self_attn = torch.nn.MultiheadAttention(8, 4, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    ours = from_torch(enc)
    np.testing.assert_allclose(ours(x.numpy()), enc(x).detach().numpy(), atol=1e-12)
    assert [lay.norm_first for lay in ours.layers] == [False, True, False]
    assert [lay.self_attn.num_heads for lay in ours.layers] == [2, 2, 4]


def test_from_torch_seq2seq_with_differing_layers():
    from transformer_anatomy.torch import Seq2SeqTransformer

    torch.manual_seed(0)
    m = Seq2SeqTransformer(9, 9, 8, 2, 2, 2, 16, dropout=0.0).double().eval()
    m.transformer.decoder.layers[1].norm_first = True
    src = torch.tensor([[1, 2, 3, 4]])
    tgt = torch.tensor([[1, 5, 6]])
    np.testing.assert_allclose(from_torch(m)(src.numpy(), tgt.numpy()), m(src, tgt).detach().numpy(), atol=1e-12)


FROM_TORCH_CASES = [
    ("bfloat16-module", lambda: torch.nn.MultiheadAttention(8, 2).to(torch.bfloat16), TypeError,
     r"the module has dtype bfloat16; the NumPy backend is float32 or float64"),
    ("float16-module", lambda: torch.nn.TransformerEncoderLayer(8, 2, 16).half(), TypeError, r"dtype float16"),
    ("zero-layer-stack", lambda: torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16), 0, enable_nested_tensor=False),
     ValueError, r"TransformerEncoder has 0 layers"),
    ("not-a-module", lambda: np.zeros(3), TypeError, r"from_torch expects a torch.nn.Module, got ndarray"),
    ("unknown-module", lambda: torch.nn.Conv1d(2, 2, 1), TypeError, r"Conv1d"),
]


@pytest.mark.parametrize("make,cls,match", [c[1:] for c in FROM_TORCH_CASES], ids=[c[0] for c in FROM_TORCH_CASES])
def test_from_torch_refuses(make, cls, match):
    with pytest.raises(cls, match=match):
        from_torch(make())


def test_from_torch_bfloat16_with_explicit_dtype():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).to(torch.bfloat16)
    ours = from_torch(mha, dtype=np.float32)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.in_proj_weight, mha.in_proj_weight.detach().float().numpy())
