"""Vocab, CharVocab and pad_batch: special ids, round trips, unknown words, padding."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transformer_anatomy.tasks import EOS_ID, PAD_ID, SOS_ID, UNK_ID, CharVocab, Vocab, pad_batch

words = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


def test_specials_come_first_in_order():
    v = Vocab(["x", "y"])
    assert v.tokens[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (v.pad_id, v.sos_id, v.eos_id, v.unk_id) == (PAD_ID, SOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert v.word2idx["x"] == 4 and v.idx2word[5] == "y" and len(v) == 6


def test_extra_specials_follow_the_standard_four():
    v = Vocab(["a"], extra_specials=("<sep>",))
    assert v.word2idx["<sep>"] == 4 and v.word2idx["a"] == 5
    assert v.decode([v.word2idx["<sep>"], 5]) == ["<sep>", "a"]  # task specials are kept


def test_build_orders_by_frequency_then_alphabet_and_applies_min_freq():
    v = Vocab.build([["b", "a", "c"], ["a", "c"], ["a"]], min_freq=2)
    assert v.tokens[4:] == ["a", "c"]  # a: 3, c: 2, b: 1 dropped
    assert v.encode(["b"]) == [UNK_ID]


def test_build_accepts_strings_and_tokenizes_them():
    assert Vocab.build(["the cat", "the dog"]).tokens[4:] == ["the", "cat", "dog"]
    assert CharVocab.build(["abca"]).tokens[4:] == ["a", "b", "c"]


def test_encode_adds_sos_eos_and_maps_unknown_words_to_unk():
    v = Vocab(["the", "movie"])
    assert v.encode("the movie rocks", add_sos=True, add_eos=True) == [1, 4, 5, 3, 2]
    assert v.encode([]) == []


def test_decode_stops_at_eos_and_drops_pad_and_sos():
    v = Vocab(["a", "b"])
    assert v.decode([1, 4, 5, 2, 4, 0, 0]) == ["a", "b"]
    assert v.decode([1, 4, 3, 0], strip_specials=True) == ["a", "<unk>"]
    assert v.decode([1, 4, 2, 0], strip_specials=False) == ["<sos>", "a", "<eos>", "<pad>"]
    assert v.decode(np.array([4, 5])) == ["a", "b"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(words, max_size=8), min_size=1, max_size=5))
def test_word_round_trip(corpus):
    v = Vocab.build(corpus)
    for sent in corpus:
        assert v.decode(v.encode(sent, add_sos=True, add_eos=True)) == sent
        assert v.decode(v.encode(sent)) == sent


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc xyz.,", max_size=12), min_size=1, max_size=4))
def test_char_round_trip(texts):
    v = CharVocab.build(texts)
    for t in texts:
        assert v.detokenize(v.decode(v.encode(t, add_eos=True))) == t


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(1, 50), max_size=9), min_size=1, max_size=6))
def test_pad_batch_shapes_lengths_and_content(seqs):
    ids, lengths = pad_batch(seqs)
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    assert ids.shape == (len(seqs), max(len(s) for s in seqs))
    assert lengths.tolist() == [len(s) for s in seqs]
    for row, s in zip(ids, seqs):
        assert row[: len(s)].tolist() == list(s)
        assert np.all(row[len(s):] == PAD_ID)


def test_pad_batch_width_and_pad_id():
    ids, lengths = pad_batch([[5, 6], [7]], pad_id=-1, width=4)
    assert ids.tolist() == [[5, 6, -1, -1], [7, -1, -1, -1]] and lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="width=1"):
        pad_batch([[5, 6]], width=1)
    empty, lens = pad_batch([])
    assert empty.shape == (0, 0) and lens.shape == (0,)


def test_bad_inputs_name_the_value():
    v = Vocab(["a"])
    with pytest.raises(ValueError, match="token id 99"):
        v.decode([99])
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        v.decode(np.array([[4], [4]]))
    with pytest.raises(ValueError, match="token id -1"):
        v.decode([-1])
    with pytest.raises(ValueError, match="min_freq.*0"):
        Vocab.build([["a"]], min_freq=0)
    with pytest.raises(TypeError, match="7"):
        Vocab(["a", 7])
    with pytest.raises(ValueError, match="'ab'"):
        CharVocab(["ab"])
