"""Metrics on hand-computed cases, plus properties of the span metrics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_anatomy.tasks import (
    accuracy,
    majority_class_baseline,
    position_majority_baseline,
    sequence_exact_match,
    span_exact_match,
    span_f1,
    tag_prf,
    token_accuracy,
)


def test_accuracy_and_token_accuracy_ignore_pad():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    pred = np.array([[5, 6, 7, 9], [5, 5, 9, 9]])
    target = np.array([[5, 6, 8, 0], [5, 6, 0, 0]])
    assert token_accuracy(pred, target) == 3 / 5  # pad positions (the 9s) are not scored


def test_sequence_exact_match_ignores_everything_after_eos():
    target = [[5, 6, 2, 0], [5, 6, 2, 0], [5, 6, 2, 0], [5, 6, 2, 0]]
    pred = [[5, 6, 2, 7, 7], [5, 6, 7, 2, 0], [5, 6, 6, 6, 6], [5, 2, 6, 2, 0]]
    assert sequence_exact_match(pred, target) == 0.25  # only the first: garbage after <eos> is fine
    assert sequence_exact_match([[5, 6]], [[5, 6, 2]]) == 1.0  # ran out without <eos>, same tokens


def test_tag_prf_hand_computed():
    target = np.array([[4, 4, 5, 0], [6, 5, 5, 0]])
    pred = np.array([[4, 5, 5, 9], [6, 5, 4, 9]])
    # tag 4: tp 1, fp 1, fn 1 -> p r f 0.5; tag 5: tp 2, fp 1, fn 1 -> 2/3; tag 6: 1, 1, 1
    micro = tag_prf(pred, target, average="micro")
    assert micro["precision"] == micro["recall"] == micro["f1"] == pytest.approx(4 / 6)
    macro = tag_prf(pred, target, average="macro")
    assert macro["f1"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert macro["support"] == {4: 2, 5: 3, 6: 1}
    ignored = tag_prf(pred, target, average="macro", ignore=[6])
    assert set(ignored["per_tag"]) == {4, 5}
    with pytest.raises(ValueError, match="'weighted'"):
        tag_prf(pred, target, average="weighted")


def test_span_metrics_hand_computed():
    # true [2, 4] (3 tokens); pred [3, 5]: overlap 2 -> p 2/3 r 2/3 f1 2/3
    assert span_f1([3], [5], [2], [4]) == pytest.approx(2 / 3)
    assert span_exact_match([3, 2], [5, 4], [2, 2], [4, 4]) == 0.5
    assert span_f1([0], [1], [2], [4]) == 0.0  # no overlap
    assert span_f1([4], [3], [2], [4]) == 0.0  # invalid prediction end < start
    ids = np.array([[7, 8, 9, 9, 7, 5]])
    # positions [0, 0] vs [4, 4]: no positional overlap, but the same token (7): SQuAD counts it
    assert span_f1([0], [0], [4], [4]) == 0.0 and span_f1([0], [0], [4], [4], ids=ids) == 1.0
    with pytest.raises(ValueError, match="end 1 < start 3"):
        span_f1([0], [0], [3], [1])


spans = st.tuples(st.integers(0, 20), st.integers(0, 20)).map(sorted)


@settings(max_examples=200, deadline=None)
@given(spans, spans)
def test_span_f1_properties(p, t):
    f = span_f1([p[0]], [p[1]], [t[0]], [t[1]])
    assert 0.0 <= f <= 1.0
    assert f == pytest.approx(span_f1([t[0]], [t[1]], [p[0]], [p[1]]))  # symmetric for one span each
    assert (f == 1.0) == (p == t) == (span_exact_match([p[0]], [p[1]], [t[0]], [t[1]]) == 1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(3, 9), min_size=1, max_size=6), min_size=1, max_size=5),
       st.integers(0, 3))
def test_exact_match_is_invariant_to_padding_and_tails(seqs, extra):
    target = [s + [2] for s in seqs]
    pred = [s + [2] + [7] * extra for s in seqs]
    padded = [t + [0] * extra for t in target]
    assert sequence_exact_match(pred, padded) == 1.0


def test_baselines():
    assert majority_class_baseline([0, 1, 1, 2], [1, 0, 1, 1]) == {"label": 1, "accuracy": 0.75}
    train = np.array([[5, 6, 2], [5, 7, 2], [8, 6, 2]])
    base = position_majority_baseline(train, np.array([[5, 6, 2], [9, 9, 2]]))
    assert base["pred"][0].tolist() == [5, 6, 2]
    assert base["token_accuracy"] == 4 / 6 and base["exact_match"] == 0.5


def test_shape_mismatches_are_named():
    with pytest.raises(ValueError, match=r"\(2,\) vs \(3,\)"):
        accuracy([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="2 rows but target has 1"):
        sequence_exact_match([[1], [2]], [[1]])
    with pytest.raises(ValueError, match="no non-pad"):
        token_accuracy([[1]], [[0]])
