"""Sentiment: labels are a deterministic function of the sentence, but not of its bag of words."""

import numpy as np
import pytest

from transformer_anatomy.tasks import (
    bow_baselines,
    bow_bayes_ceiling,
    grammar_bow_ceiling,
    majority_class_baseline,
    make_sentiment_task,
    sentence_label,
)
from transformer_anatomy.tasks.sentiment import (
    NEG,
    POS,
    bag_of_words,
    bow_logistic_regression,
    draw_sentence,
    enumerate_grammar,
)
from transformer_anatomy.tasks.vocab import Vocab

HAND_CHECKED = {
    "the movie was not good": NEG,
    "the movie was very good": POS,
    "hardly bad": POS,
    "not fun": NEG,
    "i did not hate the cast": POS,
    "i loved the music": POS,
    "good , but the ending was awful": NEG,
    "awful , but the acting was great": POS,
    "although the plot was bad , the acting was great": POS,
    "the plot was bad , although the acting was great": NEG,
    "the plot was not good , but the acting was bad": NEG,
    "the plot was good , but the acting was not bad": POS,
}


@pytest.mark.parametrize("sentence, label", HAND_CHECKED.items())
def test_hand_checked_labels(sentence, label):
    assert sentence_label(sentence) == label


def test_same_bag_different_label_pairs_exist():
    a = "although the plot was bad , the acting was great"
    b = "the plot was bad , although the acting was great"
    assert sorted(a.split()) == sorted(b.split()) and sentence_label(a) != sentence_label(b)


def test_generated_labels_agree_with_reading_the_sentence():
    data = make_sentiment_task(n_train=2000, n_valid=200, n_test=200, rng=1)
    for split in ("train", "valid", "test"):
        a = data.split(split)
        for row, y in zip(a["src"], a["label"]):
            assert sentence_label(data.src_vocab.decode(row)) == y
    rng = np.random.default_rng(0)
    for _ in range(2000):  # and for fresh draws, including the rare sentence forms
        s, y = draw_sentence(rng)
        assert sentence_label(s) == y


def test_grammar_is_a_function_from_sentence_to_label():
    sentences, labels, probs = enumerate_grammar()
    label_of = {}
    for s, y in zip(sentences, labels):
        assert label_of.setdefault(s, y) == y
    assert abs(probs.sum() - 1) < 1e-9


def test_bag_of_words_ceiling_is_clearly_below_100_percent():
    ceiling = grammar_bow_ceiling()
    assert 0.6 < ceiling < 0.8  # observed 0.702
    # the vectorized ceiling equals the plain definition on the enumerated grammar
    sentences, labels, probs = enumerate_grammar()
    idx = np.random.default_rng(0).choice(len(sentences), 3000, replace=False)
    sub = [sentences[i] for i in idx]
    bags = bag_of_words(sub, Vocab.build(sub))
    exact = bow_bayes_ceiling(bags, labels[idx])
    groups = {}
    for s, y in zip(sub, labels[idx]):
        groups.setdefault(tuple(sorted(s)), []).append(y)
    assert exact == sum(max(g.count(0), g.count(1)) for g in groups.values()) / len(sub)


def test_fitted_bag_of_words_and_majority_are_far_from_solving_it():
    data = make_sentiment_task()
    base = bow_baselines(data)
    assert base["logreg_train_accuracy"] < 0.7 and base["logreg_eval_accuracy"] < 0.7  # observed ~0.61, ~0.60
    assert base["data_ceiling"] < 1.0
    assert base["grammar_ceiling"] == grammar_bow_ceiling()
    majority = majority_class_baseline(data.train["label"], data.test["label"])
    assert 0.4 < majority["accuracy"] < 0.6 and majority["label"] in (0, 1)


def test_logistic_regression_solves_a_bag_of_words_problem():
    # sanity check of the fitter: when the bag decides the label it gets ~100%
    rng = np.random.default_rng(0)
    bags = rng.integers(0, 3, size=(400, 6))
    labels = (bags[:, 0] > bags[:, 1]).astype(int)
    fit = bow_logistic_regression(bags, labels, bags, labels, l2=1e-6)
    assert fit["train_accuracy"] > 0.97


def test_vocab_and_shapes():
    data = make_sentiment_task(n_train=500, n_valid=50, n_test=50)
    assert data.label_names == ("neg", "pos")
    assert data.train["src"].shape[1] <= 14
    assert set(np.unique(data.train["label"]).tolist()) == {0, 1}
    assert "," in data.src_vocab and "although" in data.src_vocab


def test_unknown_sentences_are_rejected_with_the_sentence():
    with pytest.raises(ValueError, match="the plot was"):
        sentence_label("the plot was")
    with pytest.raises(ValueError, match="good bad"):
        sentence_label("good bad")
