"""Sequence reversal: targets are the reversed sources, variable lengths need padding."""

import numpy as np
import pytest

from transformer_anatomy.tasks import REVERSAL_PRESETS, Vocab, copy_baseline, make_reversal_task
from transformer_anatomy.tasks.reversal import reversal_example, reverse_ids


def test_hand_checked_example():
    v = Vocab(list("abc"))
    ex = reversal_example(["c", "a", "b"], v)
    assert [v.idx2word[i] for i in ex["tgt"]] == ["<sos>", "b", "a", "c", "<eos>"]
    assert [v.idx2word[i] for i in ex["tgt_in"]] == ["<sos>", "b", "a", "c"]
    assert [v.idx2word[i] for i in ex["tgt_out"]] == ["b", "a", "c", "<eos>"]
    assert ex["src_len"] == 3 and ex["tgt_len"] == 4


def test_fixed_default_vocab_of_16_and_no_padding():
    data = make_reversal_task(n_train=200, n_valid=20, n_test=20)
    assert len(data.src_vocab) == 16 and data.src_vocab is data.tgt_vocab
    assert data.train["src"].shape == (200, 10) and np.all(data.train["src_len"] == 10)
    assert data.train["tgt_in"].shape == (200, 11) and data.train["tgt"].shape == (200, 12)


def test_targets_are_reversed_sources_variable_lengths():
    data = make_reversal_task(n_train=500, n_valid=50, n_test=50, **REVERSAL_PRESETS["variable"], rng=4)
    for split in ("train", "valid", "test"):
        a = data.split(split)
        assert np.array_equal(a["tgt_out"], reverse_ids(a["src"], a["src_len"]))
    lens = data.train["src_len"]
    assert lens.min() == 3 and lens.max() == 12 and data.train["src"].shape[1] == 12
    assert (data.train["src"] == 0).any()  # some rows are padded


def test_copy_baseline_is_low_but_gets_eos():
    data = make_reversal_task(n_train=100, n_valid=10, n_test=500)
    base = copy_baseline(data)
    # symbols right by chance (~1/12 per position), <eos> always right: about (10/12 + 1)/11
    assert 0.1 < base["token_accuracy"] < 0.25
    assert base["exact_match"] < 0.01


@pytest.mark.parametrize("kwargs, message", [
    ({"min_len": 5, "max_len": 4}, "min_len=5, max_len=4"),
    ({"min_len": 0}, "min_len must be >= 1, got 0"),
    ({"num_symbols": 27}, "num_symbols must be <= 26, got 27"),
    ({"num_symbols": 2, "min_len": 2, "max_len": 2}, "only draw 4 distinct"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_reversal_task(n_train=10, n_valid=1, n_test=1, **kwargs)
