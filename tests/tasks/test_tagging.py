"""Tagging: tags are aligned with words, ambiguous words defeat a per-word lookup table."""

import numpy as np

from transformer_anatomy.tasks import lookup_baseline, make_tagging_task, tag_prf
from transformer_anatomy.tasks.tagging import AMBIGUOUS, LEXICON, NOUNS, TAGS, draw_tagged_sentence


def tag_by_rule(words):
    """An independent reading of the grammar: the lexicon, plus left/right context for ambiguous words."""
    tags = []
    for k, w in enumerate(words):
        prev = tags[k - 1] if k else None
        nxt = words[k + 1] if k + 1 < len(words) else None
        if len(LEXICON[w]) == 1:
            (tag,) = LEXICON[w]
        elif w == "fast":
            tag = "ADJ" if prev == "DET" else "ADV"
        elif w == "light" and prev == "DET":
            tag = "ADJ" if nxt in NOUNS else "NOUN"  # "the light car" vs "the light ."
        else:  # watch, book, run, ..., light: a noun after DET / ADJ, else a verb
            tag = "NOUN" if prev in ("DET", "ADJ") else "VERB"
        tags.append(tag)
    return tuple(tags)


HAND_CHECKED = {
    "they will watch the old watch .": "PRON AUX VERB DET ADJ NOUN PUNCT",
    "i run fast .": "PRON VERB ADV PUNCT",
    "the fast train can park the car .": "DET ADJ NOUN AUX VERB DET NOUN PUNCT",
    "we light the light book and you book the light .":
        "PRON VERB DET ADJ NOUN CONJ PRON VERB DET NOUN PUNCT",
    "my teacher will need to run my book .": "DET NOUN AUX VERB PART VERB DET NOUN PUNCT",
    "you play with a dog today .": "PRON VERB PREP DET NOUN ADV PUNCT",
}


def test_hand_checked_sentences():
    for sentence, tags in HAND_CHECKED.items():
        assert tag_by_rule(sentence.split()) == tuple(tags.split()), sentence


def test_generated_tags_agree_with_reading_the_sentence():
    data = make_tagging_task(n_train=1000, n_valid=100, n_test=100, rng=2)
    for split in ("train", "valid", "test"):
        a = data.split(split)
        for i in range(data.size(split)):
            words = data.src_vocab.decode(a["src"][i])
            assert tuple(data.tgt_vocab.decode(a["tags"][i])) == tag_by_rule(words), words
    rng = np.random.default_rng(0)
    found = {}
    for _ in range(5000):  # fresh draws: the grammar always agrees with the rule
        words, tags = draw_tagged_sentence(rng)
        assert tags == tag_by_rule(words), words
        for w, t in zip(words, tags):
            found.setdefault(w, set()).add(t)
    assert all({"NOUN", "VERB"} <= found[w] for w in AMBIGUOUS)  # both uses really occur
    assert found["light"] == {"ADJ", "NOUN", "VERB"} and found["fast"] == {"ADJ", "ADV"}


def test_encoder_and_encoder_decoder_views_agree():
    data = make_tagging_task(n_train=300, n_valid=30, n_test=30)
    a = data.train
    assert a["tags"].shape == a["src"].shape
    assert data.tgt_vocab.tokens[4:] == list(TAGS)
    for i in range(len(a["src"])):
        n = int(a["src_len"][i])
        assert a["tgt_out"][i, :n].tolist() == a["tags"][i, :n].tolist()
        assert a["tgt_out"][i, n] == data.tgt_vocab.eos_id and a["tgt_len"][i] == n + 1


def test_lookup_baseline_is_below_100_percent():
    data = make_tagging_task()
    base = lookup_baseline(data)
    assert 0.85 < base["token_accuracy"] < 0.95  # observed ~0.905
    assert base["sentence_accuracy"] < 0.5  # observed ~0.32
    assert base["table"]["dog"] == "NOUN" and base["table"]["the"] == "DET"
    micro = tag_prf(base["pred"], data.test["tags"], average="micro")
    assert abs(micro["f1"] - base["token_accuracy"]) < 1e-12  # one tag per token: micro F1 = accuracy
    assert tag_prf(base["pred"], data.test["tags"], average="macro")["f1"] < 1.0
    on_train = lookup_baseline(data, "train")
    assert on_train["token_accuracy"] < 0.95  # the table cannot even fit its own training data
