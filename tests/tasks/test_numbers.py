"""Number words -> digits: the converter on hand-checked cases, the parser, the task data."""

import pytest

from transformer_anatomy.tasks import (
    make_numbers_task,
    number_to_digits,
    number_to_words,
    position_majority_baseline,
    words_to_number,
)
from transformer_anatomy.tasks.numbers import NUMBER_WORDS, digits_to_number

# hand-checked (British "and" after hundred, and after thousand before a remainder < 100)
CASES = {
    0: "zero",
    7: "seven",
    10: "ten",
    13: "thirteen",
    20: "twenty",
    21: "twenty one",
    45: "forty five",
    99: "ninety nine",
    100: "one hundred",
    101: "one hundred and one",
    110: "one hundred and ten",
    312: "three hundred and twelve",
    999: "nine hundred and ninety nine",
    1000: "one thousand",
    1001: "one thousand and one",
    1010: "one thousand and ten",
    1100: "one thousand one hundred",
    1234: "one thousand two hundred and thirty four",
    2000: "two thousand",
    2024: "two thousand and twenty four",
    3050: "three thousand and fifty",
    4300: "four thousand three hundred",
    7009: "seven thousand and nine",
    8018: "eight thousand and eighteen",
    9999: "nine thousand nine hundred and ninety nine",
}


@pytest.mark.parametrize("n, words", CASES.items())
def test_number_to_words_hand_checked(n, words):
    assert " ".join(number_to_words(n)) == words
    assert words_to_number(words) == n
    assert number_to_digits(n) == list(str(n))


def test_digits_have_no_leading_zeros():
    assert number_to_digits(7009) == ["7", "0", "0", "9"]
    assert number_to_digits(0) == ["0"]
    assert number_to_digits(45) == ["4", "5"]
    assert digits_to_number("7 0 0 9") == 7009


def test_every_number_round_trips_and_spellings_are_distinct():
    spellings = {tuple(number_to_words(n)) for n in range(10_000)}
    assert len(spellings) == 10_000
    assert all(words_to_number(number_to_words(n)) == n for n in range(10_000))
    assert {w for s in spellings for w in s} == set(NUMBER_WORDS)
    assert max(len(s) for s in spellings) == 7


@pytest.mark.parametrize("bad", ["four hundred twelve", "and one", "one hundred and", "ten one",
                                 "twenty ten", "one thousand and one hundred", "a hundred", ""])
def test_parser_rejects_non_canonical_spellings(bad):
    with pytest.raises(ValueError):
        words_to_number(bad)


@pytest.mark.parametrize("bad", [-1, 10_000, 123456])
def test_out_of_range_numbers_are_named(bad):
    with pytest.raises(ValueError, match=str(bad)):
        number_to_words(bad)


def test_task_fields_and_splits_disjoint_by_number():
    data = make_numbers_task(n_train=3000, n_valid=500, n_test=500, rng=3)
    seen = {}
    for split in ("train", "valid", "test"):
        arr = data.split(split)
        nums = set()
        for i in range(data.size(split)):
            words = data.src_vocab.decode(arr["src"][i])
            digits = data.tgt_vocab.decode(arr["tgt_out"][i])
            n = words_to_number(words)
            assert digits_to_number(digits) == n  # target is the digits of the source
            assert arr["tgt_in"][i, 0] == data.tgt_vocab.sos_id
            nums.add(n)
        assert len(nums) == data.size(split)
        seen[split] = nums
    assert not seen["train"] & seen["valid"]
    assert not seen["train"] & seen["test"]
    assert not seen["valid"] & seen["test"]
    assert data.train["src"].shape[1] <= 7 and data.train["tgt"].shape[1] == 6


def test_all_numbers_fit_and_too_many_is_an_error():
    data = make_numbers_task(n_train=8000, n_valid=1000, n_test=1000)
    assert sum(data.size(s) for s in ("train", "valid", "test")) == 10_000
    with pytest.raises(ValueError, match="10001"):
        make_numbers_task(n_train=9001, n_valid=500, n_test=500)
    with pytest.raises(ValueError, match="max_number.*10000"):
        make_numbers_task(max_number=10_000)


def test_trivial_baseline_is_low():
    data = make_numbers_task()
    base = position_majority_baseline(data.train["tgt_out"], data.test["tgt_out"])
    assert base["exact_match"] < 0.01
    assert base["token_accuracy"] < 0.4
