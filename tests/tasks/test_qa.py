"""Extractive QA: spans point at the answer tokens, distractors defeat trivial baselines."""

import numpy as np
import pytest

from transformer_anatomy.tasks import (
    first_candidate_baseline,
    make_qa_task,
    most_frequent_span_baseline,
    span_exact_match,
    span_f1,
)
from transformer_anatomy.tasks.qa import SEP, answer_by_rule, parse_context, question_kind


def test_hand_checked_example():
    toks = ("where does bob work ? <sep> alice works at acme . bob lives in new york . "
            "bob works at pied piper . alice owns a red car .").split()
    assert answer_by_rule(toks) == (20, 21) and toks[20:22] == ["pied", "piper"]
    who = "who lives in new york ? <sep> alice lives in rome . bob lives in new york .".split()
    assert answer_by_rule(who) == (12, 12) and who[12] == "bob"
    color = "what color is bob 's car ? <sep> bob owns a red car . alice owns a blue car .".split()
    assert answer_by_rule(color) == (11, 11) and color[11] == "red"
    plays = "who plays tennis ? <sep> bob plays table tennis . alice plays tennis .".split()
    assert answer_by_rule(plays) == (10, 10) and plays[10] == "alice"


@pytest.fixture(scope="module")
def data():
    return make_qa_task(n_train=2000, n_valid=200, n_test=500, rng=0)


def test_spans_point_at_the_answer_in_the_context(data):
    sep = data.src_vocab.word2idx[SEP]
    assert sep == 4
    kinds = set()
    for split in ("train", "valid", "test"):
        a = data.split(split)
        for i in range(data.size(split)):
            toks = data.src_vocab.decode(a["src"][i])
            assert len(toks) == a["src_len"][i]
            assert a["src"][i, a["context_start"][i] - 1] == sep
            assert a["context_start"][i] <= a["start"][i] <= a["end"][i] < a["src_len"][i]
            assert answer_by_rule(toks) == (a["start"][i], a["end"][i])
            kinds.add(question_kind(toks))
    assert len(kinds) == 9


def test_every_context_has_a_distractor_of_the_answer_type(data):
    a = data.test
    for i in range(data.size("test")):
        toks = data.src_vocab.decode(a["src"][i])
        facts = parse_context(toks)
        people = {f["name"] for f in facts}
        assert 2 <= len(people) <= 3
        rel = {"where_live": "lives", "where_work": "works", "what_own": "owns", "what_play": "plays",
               "who_lives": "lives", "who_works": "works", "who_owns": "owns", "who_plays": "plays",
               "what_color": "owns"}[question_kind(toks)]
        assert sum(f["relation"] == rel for f in facts) == len(people)


def test_trivial_baselines_are_low(data):
    first = first_candidate_baseline(data)
    assert 0.3 < first["exact_match"] < 0.55  # observed ~0.42 (about 1 / people)
    freq = most_frequent_span_baseline(data)
    assert freq["exact_match"] < 0.1 and freq["f1"] < 0.2  # observed ~0.04, ~0.09
    perfect = span_exact_match(data.test["start"], data.test["end"], data.test["start"], data.test["end"])
    s, e = data.test["start"], data.test["end"]
    assert perfect == 1.0 == span_f1(s, e, s, e)


@pytest.mark.parametrize("kwargs, message", [
    ({"min_people": 1}, "min_people must be >= 2, got 1"),
    ({"min_people": 4, "max_people": 3}, "min_people=4, max_people=3"),
    ({"max_people": 8}, "max_people must be <= 7 .*got 8"),
    ({"extra_fact_prob": 1.5}, "extra_fact_prob must be in \\[0, 1\\], got 1.5"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_qa_task(n_train=5, n_valid=1, n_test=1, **kwargs)


def test_more_people_more_distractors():
    crowded = make_qa_task(n_train=10, n_valid=10, n_test=400, min_people=5, max_people=5, rng=1)
    assert first_candidate_baseline(crowded)["exact_match"] < 0.3
    assert np.all(crowded.test["end"] < crowded.test["src_len"])
