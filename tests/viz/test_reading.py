"""The statistics that read attention maps (transformer_anatomy.viz.reading), on hand-made weights."""

import numpy as np
import pytest

from transformer_anatomy.viz import reading as R


def _one_hot_weights(targets_idx, S):
    """(N=1, H=1, T, S) weights putting all mass on key targets_idx[t] for query t."""
    T = len(targets_idx)
    w = np.zeros((1, 1, T, S))
    w[0, 0, np.arange(T), targets_idx] = 1.0
    return w


def test_mirror_mask_and_perfect_reversal_head():
    src_len = np.array([4, 3])
    m = R.mirror_mask(src_len, T=5, S=4)
    assert m.shape == (2, 5, 4)
    assert [int(np.flatnonzero(m[0, t])[0]) for t in range(4)] == [3, 2, 1, 0]
    assert not m[0, 4].any() and not m[1, 3].any()  # the <eos> query has no mirror
    w = np.zeros((2, 2, 5, 4))
    w[0, 0, np.arange(4), [3, 2, 1, 0]] = 1.0  # head 0: the mirror
    w[1, 0, np.arange(3), [2, 1, 0]] = 1.0
    w[:, 1] = 0.25  # head 1: uniform over the 4 keys
    q = R.length_mask(src_len, 5)
    mass = R.mass_on(w, m, q)
    np.testing.assert_allclose(mass[:, 0], [1.0, 1.0])
    np.testing.assert_allclose(mass[:, 1], [0.25, 0.25])


def test_uniform_mass_is_one_over_the_real_keys():
    src_len = np.array([4, 2])
    keys = R.length_mask(src_len, 4)
    m = R.mirror_mask(src_len, T=4, S=4)
    np.testing.assert_allclose(R.uniform_mass_on(m, keys, R.length_mask(src_len, 4)), [1 / 4, 1 / 2])


def test_diagonal_span_and_token_masks():
    d = R.diagonal_mask(2, 3, 3)
    assert d.shape == (2, 3, 3) and d[1].trace() == 3
    s = R.span_mask(np.array([1]), np.array([2]), T=2, S=4)
    assert s[0, 0].tolist() == [False, True, True, False] and (s[0, 0] == s[0, 1]).all()
    ids = np.array([[5, 7, 5, 0]])
    t = R.token_mask(ids, {5}, T=2)
    assert t[0, 1].tolist() == [True, False, True, False]


def test_mass_on_ignores_unchosen_queries_and_is_nan_without_any():
    w = _one_hot_weights([0, 1, 2], S=3)
    diag = R.diagonal_mask(1, 3, 3)
    assert R.mass_on(w, diag, np.array([[True, True, False]]))[0, 0] == pytest.approx(1.0)
    assert np.isnan(R.mass_on(w, diag, np.zeros((1, 3), dtype=bool))[0, 0])


def test_peak_monotonic():
    forward = _one_hot_weights([0, 1, 1, 3], S=4)
    backward = _one_hot_weights([2, 1, 3, 3], S=4)
    w = np.concatenate([forward, backward])  # (2, 1, 4, 4)
    q = np.ones((2, 4), dtype=bool)
    assert R.peak_monotonic(w, q)[:, 0].tolist() == [True, False]
    q[1, 0] = False  # without the first query the backward example is monotone
    assert R.peak_monotonic(w, q)[:, 0].tolist() == [True, True]


def test_summarize_groups_and_nan():
    x = np.array([[1.0, 0.0], [0.0, np.nan], [0.5, 1.0]])
    s = R.summarize(x, {"correct": np.array([True, False, True])})
    assert s["per_head"] == pytest.approx([0.5, 0.5]) and s["examples"] == 3
    assert s["correct"]["per_head"] == pytest.approx([0.75, 0.5]) and s["correct"]["examples"] == 2
