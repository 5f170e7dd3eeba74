"""tasks.language_model: the topic split, the character stream, batches and the n-gram baselines."""

import math

import numpy as np
import pytest

from transformer_anatomy.tasks.language_model import (
    IGNORE_INDEX,
    NGramLM,
    bits,
    encode_stream,
    eval_windows,
    load_topics,
    make_language_model_data,
    ngram_baselines,
    random_windows,
    split_topics,
)
from transformer_anatomy.tasks.vocab import EOS_ID, UNK_ID, CharVocab


@pytest.fixture(scope="module")
def data():
    return make_language_model_data()


# ---- the split ----------------------------------------------------------------------------
def test_splits_are_disjoint_by_topic_cover_every_topic_and_hold_their_shares(data):
    docs = load_topics()
    t = data.topics
    assert set(t) == {"train", "valid", "test"}
    sets = {s: set(v) for s, v in t.items()}
    assert not (sets["train"] & sets["valid"]) and not (sets["train"] & sets["test"])
    assert not (sets["valid"] & sets["test"])
    assert sets["train"] | sets["valid"] | sets["test"] == set(docs)
    total = sum(map(len, docs.values()))
    share = {s: sum(len(docs[n]) for n in v) / total for s, v in t.items()}
    for s in ("valid", "test"):  # at most their share, and close to it (79 topics)
        assert 0.09 < share[s] <= 0.1
    assert share["train"] == pytest.approx(1 - share["valid"] - share["test"])


def test_split_is_deterministic_and_depends_on_the_seed():
    docs = load_topics()
    assert split_topics(docs, seed=0) == split_topics(docs, seed=0)
    assert split_topics(docs, seed=0) != split_topics(docs, seed=1)
    # the order of the dict does not matter: names are sorted before the shuffle
    assert split_topics(dict(reversed(list(docs.items()))), seed=3) == split_topics(docs, seed=3)


def test_no_held_out_text_in_the_training_stream(data):
    train_text = data.decode(data.ids["train"])
    for name in data.topics["test"][:3]:
        assert data.texts[name][:200] not in train_text


# ---- vocabulary and stream ----------------------------------------------------------------
def test_vocab_is_built_on_train_and_round_trips(data):
    train_chars = set("".join(data.texts[n] for n in data.topics["train"]))
    assert set(data.vocab.tokens[4:]) == train_chars
    text = data.texts[data.topics["valid"][0]][:500]
    assert data.decode(data.encode(text)) == text  # coverage is complete for seed 0
    assert data.coverage()["test"]["unk_chars"] == 0


def test_unseen_and_rare_characters_become_unk():
    docs = {"a": "aaab" * 5, "b": "ab", "c": "zz", "d": "aab" * 3}
    d = make_language_model_data(docs=docs, fractions=(0.6, 0.2, 0.2), min_freq=1)
    v = CharVocab.build([docs[n] for n in d.topics["train"]])
    assert d.vocab.tokens == v.tokens
    assert encode_stream(d.vocab, ["a?"]).tolist() == [EOS_ID, d.vocab.word2idx["a"], UNK_ID, EOS_ID]
    rare = make_language_model_data(docs={"a": "aaaaab", "b": "ab", "c": "b", "d": "aaaab"},
                                    fractions=(0.6, 0.2, 0.2), min_freq=3)
    assert "a" in rare.vocab and "b" not in rare.vocab  # b occurs twice in train
    cov = rare.coverage()
    assert cov["train"]["unk_chars"] == 2 and 0 < cov["train"]["coverage"] < 1


def test_stream_has_a_boundary_before_and_after_every_topic(data):
    for s in ("train", "valid", "test"):
        ids = data.ids[s]
        assert ids.dtype == np.int64 and ids[0] == EOS_ID and ids[-1] == EOS_ID
        assert int((ids == EOS_ID).sum()) == len(data.topics[s]) + 1
        assert data.num_targets(s) == sum(len(data.texts[n]) for n in data.topics[s]) + len(data.topics[s])


# ---- batches ------------------------------------------------------------------------------
def test_batch_targets_are_the_inputs_shifted_by_one(data):
    x, y = data.batch("train", batch_size=5, block_size=16, rng=0)
    assert x.shape == y.shape == (5, 16)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    stream = data.ids["train"]
    for row_x, row_y in zip(x, y):  # each row is a real window of the stream
        starts = np.flatnonzero(stream[: len(stream) - 16] == row_x[0])
        assert any((stream[s : s + 16] == row_x).all() and (stream[s + 1 : s + 17] == row_y).all() for s in starts)
    x2, _ = data.batch("train", batch_size=5, block_size=16, rng=0)
    np.testing.assert_array_equal(x, x2)  # same seed, same batch


def test_eval_windows_score_every_target_exactly_once(data):
    x, y = data.windows("valid", block_size=64)
    ids = data.ids["valid"]
    real = y != IGNORE_INDEX
    assert int(real.sum()) == data.num_targets("valid") == len(ids) - 1
    np.testing.assert_array_equal(y[real], ids[1:])
    np.testing.assert_array_equal(x.reshape(-1)[: len(ids) - 1], ids[:-1])
    assert not (~real[:-1]).any()  # only the last window is padded


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="block_size"):
        random_windows(np.arange(5), batch_size=2, block_size=5, rng=0)
    with pytest.raises(ValueError, match="batch_size"):
        random_windows(np.arange(5), batch_size=0, block_size=2, rng=0)
    with pytest.raises(ValueError, match="block_size"):
        eval_windows(np.arange(5), block_size=0)
    with pytest.raises(ValueError, match="sum to 1"):
        split_topics({"a": "x", "b": "y", "c": "z"}, (0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="fractions"):
        split_topics({"a": "x", "b": "y", "c": "z"}, (0.8, 0.2))
    with pytest.raises(ValueError, match="at least 3 topics"):
        split_topics({"a": "x", "b": "y"})
    with pytest.raises(ValueError, match="min_freq"):
        make_language_model_data(min_freq=0)
    with pytest.raises(KeyError, match="validation"):
        make_language_model_data(docs={"a": "ab" * 8, "b": "ab", "c": "ba", "d": "ab" * 8},
                                 fractions=(0.6, 0.2, 0.2)).stream("validation")
    with pytest.raises(ValueError, match="alphas"):
        NGramLM(2, 5, alphas=(1.0,))
    with pytest.raises(ValueError, match=r"alphas\[1\]"):
        NGramLM(2, 5, alphas=(1.0, 0.0))
    with pytest.raises(ValueError, match="order"):
        NGramLM(0, 5)
    with pytest.raises(ValueError, match="outside"):
        NGramLM(2, 3).fit(np.array([0, 1, 3]))
    with pytest.raises(RuntimeError, match="fit"):
        NGramLM(2, 3).prob([0])


# ---- n-gram models ------------------------------------------------------------------------
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_ngram_probabilities_sum_to_one_over_the_vocabulary(order, data):
    m = NGramLM(order, data.vocab_size, alphas=[0.5 * (k + 1) for k in range(order)]).fit(data.ids["train"][:20000])
    contexts = [[], [EOS_ID], data.encode("the")[-2:], data.encode("The "), [0, 1, 2]]  # seen and unseen
    for ctx in contexts:
        p = m.prob(ctx)
        assert p.shape == (data.vocab_size,) and (p > 0).all()
        assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_ngram_probabilities_equal_counting_by_hand():
    ids = np.array([0, 1, 2, 1, 2, 1, 0, 1])
    V, (a1, a2, a3) = 3, (0.5, 2.0, 3.0)
    m = NGramLM(3, V, alphas=(a1, a2, a3)).fit(ids)
    p1 = (np.bincount(ids, minlength=V) + a1 / V) / (len(ids) + a1)
    # history (1,): followed by 2, 2, 0 -> counts [1, 0, 2]; history (2, 1): followed by 2, 0 -> [1, 0, 1]
    p2 = (np.array([1, 0, 2]) + a2 * p1) / (3 + a2)
    p3 = (np.array([1, 0, 1]) + a3 * p2) / (2 + a3)
    np.testing.assert_allclose(m.prob([2, 1]), p3, rtol=1e-14)
    np.testing.assert_allclose(NGramLM(2, V, (a1, a2)).fit(ids).prob([1]), p2, rtol=1e-14)
    # target_log_probs = the per-position prob() of the history so far
    stream = np.array([1, 2, 1, 0])
    got = m.target_log_probs(stream)
    want = [np.log(m.prob(stream[:i])[stream[i]]) for i in range(1, len(stream))]
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert m.loss(stream) == pytest.approx(-np.mean(want), rel=1e-14)


def test_baselines_are_ordered_and_alphas_chosen_on_valid(data):
    b = ngram_baselines(data)
    for split in ("valid", "test"):
        u, uni, bi, tri = (b[k][split]["nats_per_char"] for k in ("uniform", "unigram", "bigram", "trigram"))
        assert tri < bi < uni < u == pytest.approx(math.log(data.vocab_size))
        assert b["trigram"][split]["bits_per_char"] == pytest.approx(bits(tri))
    for k in ("unigram", "bigram", "trigram"):
        grid = b[k]["valid_by_alpha"]
        best = min(grid, key=lambda r: r[1])
        assert b[k]["alphas"][-1] == best[0]
        assert b[k]["valid"]["nats_per_char"] == pytest.approx(best[1])
    assert b["trigram"]["alphas"][:2] == b["bigram"]["alphas"]
    m = NGramLM(3, data.vocab_size, b["trigram"]["alphas"]).fit(data.ids["train"])
    assert m.loss(data.ids["test"]) == pytest.approx(b["trigram"]["test"]["nats_per_char"], rel=1e-12)
