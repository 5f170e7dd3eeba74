"""Property tests (hypothesis): softmax invariants, causality, padding invariance and
permutation equivariance of an encoder without positions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import transformer_anatomy.numpy as tn

SETTINGS = settings(max_examples=25, deadline=None)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)), elements=finite),
       st.floats(-100, 100, allow_nan=False))
def test_softmax_sums_to_one_and_is_shift_invariant(x, c):
    p = tn.softmax(x)
    assert np.all(p >= 0) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(tn.softmax(x + c), p, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.exp(tn.log_softmax(x)), p, rtol=1e-9, atol=1e-300)


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 6)), elements=finite),
       arrays(np.bool_, st.integers(1, 6)))
def test_masked_softmax_rows_sum_to_one_or_zero(scores, blocked):
    S = scores.shape[-1]
    blocked = np.resize(blocked, S)
    p = tn.masked_softmax(scores + np.where(blocked, -np.inf, 0.0))
    assert np.all(np.isfinite(p))
    expected = 0.0 if blocked.all() else 1.0
    np.testing.assert_allclose(p.sum(-1), expected, rtol=1e-12)
    assert np.all(p[..., blocked] == 0)


def _seq2seq():
    m = tn.Seq2SeqTransformer(9, 9, d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=2,
                              dim_feedforward=12, dropout=0.1, dtype=np.float64, rng=0)
    return m.eval()


MODEL = _seq2seq()
ids_st = st.lists(st.integers(1, 8), min_size=2, max_size=7)


@SETTINGS
@given(ids_st, ids_st, st.data())
def test_decoder_is_causal(src, tgt, data):
    """Changing target tokens after position i leaves the logits at positions <= i unchanged."""
    i = data.draw(st.integers(0, len(tgt) - 2))
    new_tail = data.draw(st.lists(st.integers(1, 8), min_size=len(tgt) - 1 - i, max_size=len(tgt) - 1 - i))
    changed = tgt[: i + 1] + new_tail
    a = MODEL.forward(np.array([src]), np.array([tgt]))
    b = MODEL.forward(np.array([src]), np.array([changed]))
    np.testing.assert_allclose(a[:, : i + 1], b[:, : i + 1], rtol=1e-12, atol=1e-12)


@SETTINGS
@given(ids_st, ids_st, st.integers(1, 4))
def test_padding_the_source_changes_nothing(src, tgt, n_pad):
    """Appending masked pad tokens to the source leaves every logit unchanged."""
    a = MODEL.forward(np.array([src]), np.array([tgt]))
    b = MODEL.forward(np.array([src + [0] * n_pad]), np.array([tgt]))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


ENCODER = tn.TransformerEncoder(tn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, dtype=np.float64, rng=1, batch_first=True), 2,
                                tn.LayerNorm(8, dtype=np.float64))


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6), st.just(8)),
              elements=st.floats(-3, 3, allow_nan=False)), st.randoms(use_true_random=False))
def test_encoder_without_positions_is_permutation_equivariant(x, r):
    perm = list(range(x.shape[1]))
    r.shuffle(perm)
    out = ENCODER.forward(x)
    np.testing.assert_allclose(ENCODER.forward(x[:, perm]), out[:, perm], rtol=1e-10, atol=1e-10)


@SETTINGS
@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 5), st.just(8)),
              elements=st.floats(-3, 3, allow_nan=False)), st.integers(1, 3))
def test_encoder_padding_invariance(x, n_pad):
    """Appending pad positions (any values, masked as keys) leaves the real positions unchanged."""
    N, S, _ = x.shape
    padded = np.concatenate([x, np.full((N, n_pad, 8), 5.0)], axis=1)
    kpm = np.zeros((N, S + n_pad), dtype=bool)
    kpm[:, S:] = True
    np.testing.assert_allclose(ENCODER.forward(padded, src_key_padding_mask=kpm)[:, :S], ENCODER.forward(x),
                               rtol=1e-10, atol=1e-10)
