"""Part-of-speech tagging: one label per token, where the same word can need different tags.

Sentences come from a small English grammar and every word carries its part-of-speech tag::

    they   will  watch  the  old  watch  .
    PRON   AUX   VERB   DET  ADJ  NOUN   PUNCT

Some words are ambiguous: ``watch``, ``book``, ``run``, ``play``, ``walk``, ``train``,
``park`` are a NOUN after a determiner or adjective and a VERB after a pronoun, an
auxiliary or "to"; ``light`` is also an ADJ ("a light book"); ``fast`` is an ADJ inside a
noun phrase and an ADV after the verb ("they run fast"). A per-word lookup table (the most
frequent tag of each word, :func:`lookup_baseline`) is therefore wrong on the minority uses
of those words, while a model that looks at the neighbours (self-attention) can be right
everywhere.

The data serves two model shapes (``docs/data-flow.md``, *sequence labeling*):

- encoder only (``TransformerTagger``): ``src`` -> ``tags``, aligned position by position,
  ``num_classes = len(tgt_vocab)`` (the tag vocabulary keeps the four specials so ``<pad>``
  = 0 can be ignored by the loss);
- encoder-decoder (``Seq2SeqTransformer``): ``src`` -> ``tgt = <sos> tags <eos>`` with the
  usual ``tgt_in`` / ``tgt_out``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .metrics import token_accuracy
from .task_data import SPLITS, TaskData, as_generator, sample_unique, split_sizes, stack_splits
from .vocab import PAD_ID, Vocab

TAGS: tuple[str, ...] = ("DET", "NOUN", "VERB", "ADJ", "ADV", "PREP", "CONJ", "PRON", "AUX", "PART", "PUNCT")

# --8<-- [start:lexicon]
DETERMINERS = ("the", "a", "my", "this")
PRONOUNS = ("i", "you", "we", "they")
AUXILIARIES = ("will", "can", "should")
AMBIGUOUS = ("watch", "book", "run", "play", "walk", "train", "park")  # NOUN or VERB
NOUNS = ("dog", "teacher", "city", "car", "game", "house", "light") + AMBIGUOUS
TRANSITIVE = ("see", "find", "take", "like", "light", "watch", "book", "play", "park", "run")
INTRANSITIVE = ("sleep", "wait", "run", "walk", "play", "train")
CONTROL = ("want", "need", "try")  # "we want to book a car"
ADJECTIVES = ("old", "red", "small", "light", "fast")
ADVERBS = ("today", "often", "quickly", "fast")
PREPOSITIONS = ("in", "near", "with", "after")
CONJUNCTIONS = ("and", "but")
# --8<-- [end:lexicon]

LEXICON: dict[str, set[str]] = {}
for _tag, _words in (("DET", DETERMINERS), ("PRON", PRONOUNS), ("AUX", AUXILIARIES), ("NOUN", NOUNS),
                     ("VERB", TRANSITIVE + INTRANSITIVE + CONTROL), ("ADJ", ADJECTIVES), ("ADV", ADVERBS),
                     ("PREP", PREPOSITIONS), ("CONJ", CONJUNCTIONS), ("PART", ("to",)), ("PUNCT", (".",))):
    for _w in _words:
        LEXICON.setdefault(_w, set()).add(_tag)


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng: np.random.Generator) -> list[tuple[str, str]]:
    """DET [ADJ] NOUN."""
    out = [(_pick(rng, DETERMINERS), "DET")]
    if rng.random() < 0.4:
        out.append((_pick(rng, ADJECTIVES), "ADJ"))
    return out + [(_pick(rng, NOUNS), "NOUN")]


def _verb_phrase(rng: np.random.Generator) -> list[tuple[str, str]]:
    """VERB NP | VERB | CONTROL to VERB NP, then [PREP NP] [ADV]."""
    r = rng.random()
    if r < 0.5:
        out = [(_pick(rng, TRANSITIVE), "VERB")] + _noun_phrase(rng)
    elif r < 0.8:
        out = [(_pick(rng, INTRANSITIVE), "VERB")]
    else:
        out = [(_pick(rng, CONTROL), "VERB"), ("to", "PART"), (_pick(rng, TRANSITIVE), "VERB")]
        out += _noun_phrase(rng)
    if rng.random() < 0.3:
        out += [(_pick(rng, PREPOSITIONS), "PREP")] + _noun_phrase(rng)
    if rng.random() < 0.3:
        out.append((_pick(rng, ADVERBS), "ADV"))
    return out


def _clause(rng: np.random.Generator) -> list[tuple[str, str]]:
    """PRON [AUX] VP | NP AUX VP (a noun subject always takes an auxiliary: no agreement needed)."""
    if rng.random() < 0.6:
        subject = [(_pick(rng, PRONOUNS), "PRON")]
        if rng.random() < 0.5:
            subject.append((_pick(rng, AUXILIARIES), "AUX"))
    else:
        subject = _noun_phrase(rng) + [(_pick(rng, AUXILIARIES), "AUX")]
    return subject + _verb_phrase(rng)


# --8<-- [start:draw]
def draw_tagged_sentence(rng: np.random.Generator) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """One sentence ``CLAUSE [CONJ CLAUSE] .`` as (words, tags) of equal length."""
    pairs = _clause(rng)
    if rng.random() < 0.3:
        pairs += [(_pick(rng, CONJUNCTIONS), "CONJ")] + _clause(rng)
    pairs.append((".", "PUNCT"))
    words, tags = zip(*pairs)
    return tuple(words), tuple(tags)
# --8<-- [end:draw]


def make_tagging_task(
    n_train: int = 8_000,
    n_valid: int = 1_000,
    n_test: int = 1_000,
    rng: int | np.random.Generator = 0,
) -> TaskData:
    """Generate the part-of-speech tagging task (distinct sentences, disjoint splits).

    Returns:
        TaskData: ``kind="tagging"``, fields ``src, src_len, tags, tgt, tgt_in, tgt_out, tgt_len``.
            ``src_vocab``: the words (built from the whole lexicon, so no ``<unk>``); ``tgt_vocab``: the 4
            specials then ``TAGS`` in order.

    Shape:
        src, tags: ``(N, S)``; tgt: ``(N, S + 2)``; tgt_in, tgt_out: ``(N, S + 1)``;
        src_len, tgt_len: ``(N,)``

    Examples:
        >>> data = make_tagging_task(n_train=4, n_valid=2, n_test=2)
        >>> " ".join(data.src_vocab.decode(data.train["src"][0]))
        'my red teacher will need to run my book .'
        >>> " ".join(data.tgt_vocab.decode(data.train["tags"][0]))
        'DET ADJ NOUN AUX VERB PART VERB DET NOUN PUNCT'
    """
    sizes = split_sizes(n_train, n_valid, n_test)
    gen = as_generator(rng)
    drawn = sample_unique(draw_tagged_sentence, sum(sizes.values()), gen, key=lambda ex: ex[0])
    src_vocab = Vocab(sorted(LEXICON))
    tgt_vocab = Vocab(TAGS)
    examples, lo = {}, 0
    for split in SPLITS:
        examples[split] = []
        for words, tags in drawn[lo : lo + sizes[split]]:
            tgt = tgt_vocab.encode(list(tags), add_sos=True, add_eos=True)
            examples[split].append({
                "src": src_vocab.encode(list(words)), "tags": tgt_vocab.encode(list(tags)),
                "tgt": tgt, "tgt_in": tgt[:-1], "tgt_out": tgt[1:],
                "src_len": len(words), "tgt_len": len(tgt) - 1,
            })
        lo += sizes[split]
    arrays = stack_splits(examples, ["src", "tags", "tgt", "tgt_in", "tgt_out"], ["src_len", "tgt_len"])
    params = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test}
    return TaskData("tagging", "tagging", arrays, src_vocab=src_vocab, tgt_vocab=tgt_vocab, params=params)


# --8<-- [start:lookup_baseline]
def lookup_baseline(data: TaskData, eval_split: str = "test") -> dict[str, Any]:
    """Tag every word with its most frequent training tag (unseen words: the most frequent tag).

    Returns:
        dict: ``token_accuracy`` (non-pad tokens), ``sentence_accuracy`` (every tag of the sentence right),
            ``pred`` ``(N, S)`` tag ids, ``table`` (word -> tag name).

    Shape:
        reads src, tags: ``(N_train, S)`` of ``"train"`` (counts ``(V, C)``) and src, tags:
        ``(N, S)`` of ``eval_split`` -> pred: ``(N, S)`` int64 (``<pad>`` = 0 where src is pad)

    Examples:
        >>> data = make_tagging_task(n_train=200, n_valid=20, n_test=50)
        >>> 0.5 < lookup_baseline(data, "test")["token_accuracy"] < 1.0  # ambiguous words need their context
        True
    """
    if data.kind != "tagging" or data.tgt_vocab is None:
        raise ValueError(f"lookup_baseline needs a tagging task, got kind {data.kind!r}")
    train, ev = data.split("train"), data.split(eval_split)
    V, C = len(data.src_vocab), len(data.tgt_vocab)
    real = train["src"] != PAD_ID
    counts = np.zeros((V, C), dtype=np.int64)  # (V, C) how often word v has tag c in train
    np.add.at(counts, (train["src"][real], train["tags"][real]), 1)
    fallback = int(np.argmax(counts.sum(axis=0)))  # most frequent tag overall
    table = np.where(counts.sum(axis=1) > 0, np.argmax(counts, axis=1), fallback)  # (V,) tag per word
    pred = np.where(ev["src"] != PAD_ID, table[ev["src"]], PAD_ID)  # (N, S) look every word up
    ok = (pred == ev["tags"]) | (ev["tags"] == PAD_ID)
    words = {data.src_vocab.idx2word[v]: data.tgt_vocab.idx2word[int(table[v])]
             for v in range(V) if counts[v].sum() > 0}
    return {"token_accuracy": token_accuracy(pred, ev["tags"]),
            "sentence_accuracy": float(np.mean(ok.all(axis=1))), "pred": pred, "table": words}
# --8<-- [end:lookup_baseline]
