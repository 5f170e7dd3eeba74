"""Per-head statistics (transformer_anatomy.viz.reading.head_statistics) on hand-made weights whose answers are known."""

import doctest
import math

import numpy as np
import pytest

from transformer_anatomy.viz import reading as R


def _rows(targets, S):
    """(T, S) one-hot rows: query t puts all its mass on key targets[t]."""
    w = np.zeros((len(targets), S))
    w[np.arange(len(targets)), targets] = 1.0
    return w


def test_one_hot_heads_diagonal_previous_token_mirror_first():
    n = 4
    w = np.stack([_rows([0, 1, 2, 3], n),  # head 0: itself
                  _rows([0, 0, 1, 2], n),  # head 1: the previous token (the first query, itself)
                  _rows([3, 2, 1, 0], n),  # head 2: the mirror
                  _rows([0, 0, 0, 0], n)])[None]  # head 3: the first token; (1, 4, T, S)
    st = R.head_statistics(w, [n], [n])
    assert set(st) == set(R.HEAD_STATISTICS) and all(v.shape == (1, 4) for v in st.values())
    np.testing.assert_allclose(st["diagonal"][0], [1, 1 / n, 0, 1 / n])
    np.testing.assert_allclose(st["mirror"][0], [0, 1 / n, 1, 1 / n])  # head 1: query 2 -> key 1 is a mirror
    np.testing.assert_allclose(st["first_token"][0], [1 / n, 2 / n, 1 / n, 1])
    # offsets: 0; (0 - 1 - 1 - 1) / 4; (3 + 1 - 1 - 3) / 4; (0 - 1 - 2 - 3) / 4
    np.testing.assert_allclose(st["mean_offset"][0], [0, -3 / 4, 0, -6 / 4])
    np.testing.assert_allclose(st["entropy"][0], 0.0, atol=1e-15)  # one key per row: no uncertainty
    np.testing.assert_allclose(st["entropy_normalized"][0], 0.0, atol=1e-15)


def test_uniform_head_gives_log_n_and_one_over_n():
    n, T, S = 5, 7, 7  # two padded positions
    w = R.uniform_weights([n], [n], T, S)  # (1, 1, T, S)
    assert w.shape == (1, 1, T, S)
    np.testing.assert_allclose(w[0, 0, :n].sum(-1), 1.0)
    assert not w[0, 0, n:].any() and not w[0, 0, :, n:].any()
    st = R.head_statistics(w, [n], [n])
    assert st["entropy"][0, 0] == pytest.approx(math.log(n))
    assert st["entropy_normalized"][0, 0] == pytest.approx(1.0)
    for name in ("diagonal", "mirror", "first_token"):
        assert st[name][0, 0] == pytest.approx(1 / n)
    assert st["mean_offset"][0, 0] == pytest.approx(0.0, abs=1e-12)  # sum over t of ((n - 1) / 2 - t)


def test_cross_attention_with_one_more_query_than_keys():
    """Reversal's decoder: n + 1 queries (the last writes <eos>) over n source keys."""
    n = 3
    w = np.zeros((1, 1, n + 1, n))
    w[0, 0] = _rows([2, 1, 0, 0], n)  # the mirror, then the <eos> query on key 0
    st = R.head_statistics(w, [n + 1], [n])
    assert st["mirror"][0, 0] == pytest.approx(1.0)  # the <eos> query has no mirror: left out
    assert st["diagonal"][0, 0] == pytest.approx(1 / 3)  # only queries 0..2 have a diagonal key; query 1 hits it
    assert st["first_token"][0, 0] == pytest.approx(2 / 4)  # every query has a first key
    assert st["mean_offset"][0, 0] == pytest.approx((2 + 0 - 2 - 3) / 4)
    u = R.head_statistics(R.uniform_weights([n + 1], [n], n + 1, n), [n + 1], [n])
    assert u["mean_offset"][0, 0] == pytest.approx(-0.5)  # mean of (n - 1) / 2 - t over t = 0..n
    assert u["mirror"][0, 0] == pytest.approx(1 / n)


def test_padding_and_pad_queries_are_ignored():
    n, S = 3, 5
    clean = np.zeros((1, 1, S, S))
    clean[0, 0, :n, :n] = _rows([1, 2, 0], n)
    dirty = clean.copy()
    dirty[0, 0, n:] = np.random.default_rng(0).random((S - n, S))  # garbage rows of the pad queries
    dirty[0, 0, 0] = [0, 0.5, 0, 0.5, 0]  # half the mass of query 0 on a pad key: dropped, renormalised
    a, b = R.head_statistics(clean, [n], [n]), R.head_statistics(dirty, [n], [n])
    for name in R.HEAD_STATISTICS:
        np.testing.assert_allclose(a[name], b[name], err_msg=name)


def test_causal_rows_count_only_the_visible_keys():
    T = 4
    w = R.uniform_weights([T], [T], T, T, causal=True)
    np.testing.assert_allclose(np.triu(w[0, 0], 1), 0.0)
    st = R.head_statistics(w, [T], [T], causal=True)
    assert st["entropy"][0, 0] == pytest.approx(np.mean([math.log(t + 1) for t in range(T)]))
    assert st["entropy_normalized"][0, 0] == pytest.approx(1.0)  # the one-key first row is left out
    assert st["diagonal"][0, 0] == pytest.approx(np.mean([1 / (t + 1) for t in range(T)]))
    # mirror of query t is key T-1-t, visible only when T-1-t <= t: queries 2, 3
    assert st["mirror"][0, 0] == pytest.approx(np.mean([1 / 3, 1 / 4]))


def test_agrees_with_mass_on_for_random_softmax_weights():
    rng = np.random.default_rng(1)
    N, H, T, S = 6, 3, 7, 6
    src_len = rng.integers(1, S + 1, size=N)
    q_len = np.minimum(src_len + 1, T)
    keys = R.length_mask(src_len, S)
    z = np.where(keys[:, None, None, :], rng.standard_normal((N, H, T, S)), -np.inf)
    w = np.exp(z - z.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    st = R.head_statistics(w, q_len, src_len)
    q = R.length_mask(np.minimum(q_len, src_len), T)  # queries that have a mirror / diagonal key
    np.testing.assert_allclose(st["mirror"], R.mass_on(w, R.mirror_mask(src_len, T, S), q))
    np.testing.assert_allclose(st["diagonal"], R.mass_on(w, R.diagonal_mask(N, T, S), q))
    ent = -(w * np.log(np.where(w > 0, w, 1))).sum(-1)  # (N, H, T)
    ql = R.length_mask(q_len, T)[:, None]
    np.testing.assert_allclose(st["entropy"], (ent * ql).sum(-1) / ql.sum(-1))
    assert (st["entropy"] <= np.log(src_len)[:, None] + 1e-12).all()
    off = (w * (np.arange(S)[None, :] - np.arange(T)[:, None])).sum(-1)
    np.testing.assert_allclose(st["mean_offset"], (off * ql).sum(-1) / ql.sum(-1))


def test_rows_without_the_key_give_nan_and_bad_input_is_refused():
    w = np.zeros((2, 1, 3, 3))
    w[0, 0] = np.eye(3)
    st = R.head_statistics(w, [3, 0], [3, 3])  # example 1 has no real query
    assert np.isnan(st["entropy"][1, 0]) and st["entropy"][0, 0] == 0.0
    with pytest.raises(ValueError, match=r"weights must have shape \(N, H, T, S\)"):
        R.head_statistics(w[0], [3], [3])
    with pytest.raises(ValueError, match=r"query_lengths must have shape \(2,\)"):
        R.head_statistics(w, [3], [3, 3])
    with pytest.raises(ValueError, match=r"key_lengths must hold integers in \[0, 3\], got key_lengths=\[3, 4\]"):
        R.head_statistics(w, [3, 3], [3, 4])
    with pytest.raises(ValueError, match="query_lengths"):
        R.uniform_weights([1.5], [1], 2, 2)


def test_summary_of_chunks_equals_the_whole_and_keeps_the_shown_example():
    rng = np.random.default_rng(2)
    N, H, T, S = 9, 2, 5, 5
    lens = rng.integers(2, S + 1, size=N)
    w = rng.random((N, H, T, S))
    whole = R.summarize_head_statistics({"layer": [R.head_statistics(w, lens, lens)]},
                                        [R.head_statistics(R.uniform_weights(lens, lens, T, S), lens, lens)], shown=4)
    chunks = [slice(0, 4), slice(4, 9)]
    parts = R.summarize_head_statistics(
        {"layer": [R.head_statistics(w[c], lens[c], lens[c]) for c in chunks]},
        [R.head_statistics(R.uniform_weights(lens[c], lens[c], T, S), lens[c], lens[c]) for c in chunks], shown=4)
    assert whole == parts and whole["examples"] == N and set(whole["definitions"]) == set(R.HEAD_STATISTICS)
    one = R.head_statistics(w[4:5], lens[4:5], lens[4:5])
    assert whole["figure_example"]["layer"]["entropy"] == pytest.approx(one["entropy"][0].tolist())
    assert whole["uniform"]["entropy_normalized"] == pytest.approx(1.0)
    assert whole["figure_example_uniform"]["mirror"] == pytest.approx(1 / lens[4])
    means = whole["layers"]["layer"]
    assert len(means["mirror"]) == H and means["mirror"] == pytest.approx(
        R.head_statistics(w, lens, lens)["mirror"].mean(0).tolist())
    import json

    json.dumps(whole, allow_nan=False)  # JSON-ready: plain floats, no NaN


def test_docstring_examples_run():
    assert doctest.testmod(R).failed == 0
