"""Extractive question answering: point at the answer's first and last token in the context.

Each example is a question and a short generated context of facts about a few people,
concatenated as ``question <sep> context``::

    where does bob work ? <sep> alice works at acme . bob lives in new york .
    bob works at pied piper . alice owns a red car .

The answer is always a span of the context ("pied piper": ``start`` = 20, ``end`` = 21,
positions in the whole input, ``end`` inclusive). An encoder-only ``TransformerQA`` maps
every position to two logits, ``start_logits`` and ``end_logits`` ``(N, S)``, trained
with cross-entropy against ``start`` and ``end`` (``docs/data-flow.md``, *extractive QA*).

Every person in a context has a fact of the kind the question asks about, so the context
always holds as many candidate answers of the right type as there are people: to answer,
a model must match the name (or the city, company, ...) in the question with the one in
the right fact. :func:`first_candidate_baseline` (the first candidate of the right type,
ignoring who is asked) and :func:`most_frequent_span_baseline` (the most common training
``(start, end)``) show what a model that does not do the matching scores. Metrics:
``metrics.span_exact_match`` and ``metrics.span_f1`` (SQuAD-style token overlap).

Question kinds (9): ``where does X live ?``, ``where does X work ?``, ``what does X own ?``,
``what does X play ?``, ``who lives in C ?``, ``who works at W ?``, ``who owns a K T ?``,
``who plays P ?``, ``what color is X 's T ?``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import span_exact_match, span_f1
from .task_data import SPLITS, TaskData, as_generator, check_count, sample_unique, split_sizes, stack_splits
from .vocab import Vocab

SEP = "<sep>"

# --8<-- [start:lexicon]
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
CITIES = (("paris",), ("london",), ("rome",), ("tokyo",), ("berlin",), ("lima",), ("oslo",),
          ("new", "york"), ("hong", "kong"), ("cape", "town"))
COMPANIES = (("acme",), ("globex",), ("initech",), ("hooli",), ("umbrella",), ("pied", "piper"),
             ("wayne", "enterprises"))
COLORS = ("red", "blue", "green", "black", "white")
THINGS = ("car", "bike", "boat", "kite", "guitar")
SPORTS = (("tennis",), ("chess",), ("golf",), ("football",), ("table", "tennis"), ("ice", "hockey"))
RELATIONS = ("lives", "works", "owns", "plays")
QUESTION_KINDS = ("where_live", "where_work", "what_own", "what_play", "who_lives", "who_works",
                  "who_owns", "who_plays", "what_color")
# --8<-- [end:lexicon]

_RELATION_OF = {"where_live": "lives", "where_work": "works", "what_own": "owns", "what_play": "plays",
                "who_lives": "lives", "who_works": "works", "who_owns": "owns", "who_plays": "plays",
                "what_color": "owns"}


def fact_tokens(name: str, relation: str, value: tuple[str, ...]) -> tuple[list[str], int]:
    """The sentence of one fact and the offset of its value inside it.

    ``alice lives in paris .`` / ``alice works at acme .`` / ``alice owns a red car .`` /
    ``alice plays chess .``
    """
    if relation == "lives":
        return [name, "lives", "in", *value, "."], 3
    if relation == "works":
        return [name, "works", "at", *value, "."], 3
    if relation == "owns":
        return [name, "owns", "a", *value, "."], 3
    if relation == "plays":
        return [name, "plays", *value, "."], 2
    raise ValueError(f"unknown relation {relation!r}; expected one of {RELATIONS}")


def question_tokens(kind: str, name: str, value: tuple[str, ...]) -> list[str]:
    """The question of ``kind`` about the fact ``(name, relation, value)``."""
    table = {
        "where_live": ["where", "does", name, "live", "?"],
        "where_work": ["where", "does", name, "work", "?"],
        "what_own": ["what", "does", name, "own", "?"],
        "what_play": ["what", "does", name, "play", "?"],
        "who_lives": ["who", "lives", "in", *value, "?"],
        "who_works": ["who", "works", "at", *value, "?"],
        "who_owns": ["who", "owns", "a", *value, "?"],
        "who_plays": ["who", "plays", *value, "?"],
        "what_color": ["what", "color", "is", name, "'s", *value[1:], "?"],
    }
    if kind not in table:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {QUESTION_KINDS}")
    return table[kind]


def _answer_offsets(kind: str, value: tuple[str, ...], value_at: int) -> tuple[int, int]:
    """Inclusive (start, end) of the answer inside its fact sentence."""
    if kind.startswith("who"):
        return 0, 0  # the name opens the fact
    if kind == "what_color":
        return value_at, value_at  # the color word
    return value_at, value_at + len(value) - 1


# --8<-- [start:draw]
def draw_qa_example(
    rng: np.random.Generator, min_people: int = 2, max_people: int = 3, extra_fact_prob: float = 0.5
) -> dict[str, Any]:
    """One (question, context, answer span) example.

    Every person gets a fact of the relation asked about (these are the distractors) and
    each other relation with probability ``extra_fact_prob``; values are distinct within a
    context, facts are shuffled, so the answer's position varies.
    """
    kind = QUESTION_KINDS[int(rng.integers(len(QUESTION_KINDS)))]
    asked = _RELATION_OF[kind]
    k = int(rng.integers(min_people, max_people + 1))
    people = [NAMES[i] for i in rng.permutation(len(NAMES))[:k]]
    pools = {"lives": list(CITIES), "works": list(COMPANIES), "plays": list(SPORTS),
             "owns": [(c, t) for c in COLORS for t in THINGS]}
    order = {r: rng.permutation(len(p)).tolist() for r, p in pools.items()}  # distinct values per relation
    facts = []  # (name, relation, value)
    for person in people:
        for rel in RELATIONS:
            if rel == asked or rng.random() < extra_fact_prob:
                facts.append((person, rel, tuple(pools[rel][order[rel].pop()])))
    facts = [facts[i] for i in rng.permutation(len(facts))]
    candidates = [i for i, f in enumerate(facts) if f[1] == asked]
    target = candidates[int(rng.integers(len(candidates)))]
    name, rel, value = facts[target]
    question = question_tokens(kind, name, value)
    tokens = question + [SEP]
    start = end = -1
    for i, (n, r, v) in enumerate(facts):
        sentence, value_at = fact_tokens(n, r, v)
        if i == target:
            a, b = _answer_offsets(kind, v, value_at)
            start, end = len(tokens) + a, len(tokens) + b
        tokens += sentence
    return {"tokens": tuple(tokens), "start": start, "end": end, "context_start": len(question) + 1,
            "kind": kind}
# --8<-- [end:draw]


def parse_context(tokens: Sequence[str]) -> list[dict[str, Any]]:
    """Read the facts back out of ``question <sep> context`` tokens.

    Returns one dict per fact: ``name``, ``relation``, ``name_pos`` and ``value_span``
    (inclusive positions in ``tokens``).
    """
    toks = list(tokens)
    if SEP not in toks:
        raise ValueError(f"no {SEP} in the input: {' '.join(toks)!r}")
    i = toks.index(SEP) + 1
    facts = []
    while i < len(toks):
        try:
            stop = toks.index(".", i)
        except ValueError:
            raise ValueError(f"unterminated fact at position {i}: {' '.join(toks[i:])!r}") from None
        rel = toks[i + 1] if i + 1 < stop else None
        if rel not in RELATIONS:
            raise ValueError(f"unknown fact at position {i}: {' '.join(toks[i:stop + 1])!r}")
        value_at = i + (2 if rel == "plays" else 3)
        facts.append({"name": toks[i], "relation": rel, "name_pos": i, "value_span": (value_at, stop - 1)})
        i = stop + 1
    return facts


def question_kind(tokens: Sequence[str]) -> str:
    """The kind of the question at the start of ``tokens`` (see ``QUESTION_KINDS``)."""
    t = list(tokens)
    head = tuple(t[:2])
    if head == ("where", "does"):
        return {"live": "where_live", "work": "where_work"}[t[3]]
    if head == ("what", "does"):
        return {"own": "what_own", "play": "what_play"}[t[3]]
    if head == ("what", "color"):
        return "what_color"
    if t[:1] == ["who"]:
        return {"lives": "who_lives", "works": "who_works", "owns": "who_owns", "plays": "who_plays"}[t[1]]
    raise ValueError(f"unknown question: {' '.join(t)!r}")


def _span_of(kind: str, fact: dict[str, Any]) -> tuple[int, int]:
    if kind.startswith("who"):
        return fact["name_pos"], fact["name_pos"]
    s, e = fact["value_span"]
    return (s, s) if kind == "what_color" else (s, e)


def answer_by_rule(tokens: Sequence[str]) -> tuple[int, int]:
    """The reference answer span, found by reading: the fact that matches the question.

    This is the rule a model has to learn; the generator's spans agree with it (tested).
    """
    toks = list(tokens)
    kind = question_kind(toks)
    question = toks[: toks.index(SEP)]
    rel = _RELATION_OF[kind]
    for f in parse_context(toks):
        if f["relation"] != rel:
            continue
        s, e = f["value_span"]
        value = toks[s : e + 1]
        if kind.startswith("who"):  # who lives in C ? / who plays P ?: compare the value
            match = question[(2 if rel == "plays" else 3) : -1] == value
        elif kind == "what_color":
            match = f["name"] == question[3] and value[1:] == question[5:-1]
        else:
            match = f["name"] == question[2]
        if match:
            return _span_of(kind, f)
    raise ValueError(f"no fact answers {' '.join(question)!r}")


# --8<-- [start:make]
def make_qa_task(
    n_train: int = 8_000,
    n_valid: int = 1_000,
    n_test: int = 1_000,
    min_people: int = 2,
    max_people: int = 3,
    extra_fact_prob: float = 0.5,
    rng: int | np.random.Generator = 0,
) -> TaskData:
    """Generate the extractive QA task (distinct inputs, disjoint splits).

    Args:
        min_people, max_people (int): People per context (2 .. ``len(NAMES)``); each is a distractor for the
            question.
        extra_fact_prob (float): Probability of each fact beyond the one the question asks about.

    Returns:
        TaskData: ``kind="qa"``, fields ``src`` (``question <sep> context`` ids), ``src_len``, ``start``,
            ``end`` (inclusive answer positions in ``src``), ``context_start``. ``src_vocab`` has ``<sep>``
            = 4 and every word of the lexicon.

    Shape:
        src: ``(N, S)``; src_len, start, end, context_start: ``(N,)``

    Examples:
        >>> data = make_qa_task(n_train=4, n_valid=2, n_test=2)
        >>> ex = data.train
        >>> " ".join(data.src_vocab.decode(ex["src"][0][:9]))
        'who plays chess ? <sep> carol plays table tennis'
        >>> data.src_vocab.decode(ex["src"][0][ex["start"][0] : ex["end"][0] + 1])  # the answer span
        ['erin']
    """
    sizes = split_sizes(n_train, n_valid, n_test)
    min_people = check_count("min_people", min_people, minimum=2)
    max_people = check_count("max_people", max_people, minimum=2)
    if min_people > max_people:
        raise ValueError(
            f"min_people must be <= max_people, got min_people={min_people}, max_people={max_people}"
        )
    if max_people > len(COMPANIES):
        raise ValueError(
            f"max_people must be <= {len(COMPANIES)} (distinct values per relation), got {max_people}"
        )
    if not 0.0 <= extra_fact_prob <= 1.0:
        raise ValueError(f"extra_fact_prob must be in [0, 1], got {extra_fact_prob}")
    gen = as_generator(rng)
    drawn = sample_unique(lambda g: draw_qa_example(g, min_people, max_people, extra_fact_prob),
                          sum(sizes.values()), gen, key=lambda ex: ex["tokens"])
    words = set(NAMES) | set(COLORS) | set(THINGS)
    words |= {w for group in (CITIES, COMPANIES, SPORTS) for value in group for w in value}
    words |= {w for kind in QUESTION_KINDS for w in question_tokens(kind, "", ("", ""))} - {""}
    words |= {w for rel in RELATIONS for w in fact_tokens("", rel, ())[0]} - {""}
    vocab = Vocab(sorted(words), extra_specials=(SEP,))
    examples, lo = {}, 0
    for split in SPLITS:
        examples[split] = [
            {"src": vocab.encode(list(ex["tokens"])), "src_len": len(ex["tokens"]), "start": ex["start"],
             "end": ex["end"], "context_start": ex["context_start"]}
            for ex in drawn[lo : lo + sizes[split]]
        ]
        lo += sizes[split]
    arrays = stack_splits(examples, ["src"], ["src_len", "start", "end", "context_start"])
    params = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test, "min_people": min_people,
              "max_people": max_people, "extra_fact_prob": extra_fact_prob}
    return TaskData("qa", "qa", arrays, src_vocab=vocab, params=params)
# --8<-- [end:make]


def _decoded(data: TaskData, split: str) -> list[list[str]]:
    arrays = data.split(split)
    return [data.src_vocab.decode(row[:n]) for row, n in zip(arrays["src"], arrays["src_len"])]


def _score(pred_start: np.ndarray, pred_end: np.ndarray, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"exact_match": span_exact_match(pred_start, pred_end, arrays["start"], arrays["end"]),
            "f1": span_f1(pred_start, pred_end, arrays["start"], arrays["end"], ids=arrays["src"]),
            "pred_start": pred_start, "pred_end": pred_end}


def first_candidate_baseline(data: TaskData, split: str = "test") -> dict[str, Any]:
    """Answer with the first fact of the asked-about relation, ignoring who or what is asked.

    Knows the question type and the answer type (a strong heuristic) but not the matching;
    scores about ``1 / people``. Returns ``exact_match``, ``f1``, ``pred_start``, ``pred_end``.

    Shape:
        reads src: ``(N, S)``, src_len, start, end: ``(N,)`` of ``split`` -> pred_start,
        pred_end: ``(N,)`` int64 (inclusive positions in ``src``)
    """
    if data.name != "qa":
        raise ValueError(f"first_candidate_baseline is defined for the qa task, got {data.name!r}")
    starts, ends = [], []
    for toks in _decoded(data, split):
        kind = question_kind(toks)
        first = next(f for f in parse_context(toks) if f["relation"] == _RELATION_OF[kind])
        s, e = _span_of(kind, first)
        starts.append(s)
        ends.append(e)
    return _score(np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64), data.split(split))


def most_frequent_span_baseline(data: TaskData, split: str = "test") -> dict[str, Any]:
    """Always answer with the ``(start, end)`` pair most frequent in the training split.

    Returns ``exact_match``, ``f1``, ``pred_start``, ``pred_end``.

    Shape:
        reads start, end: ``(N_train,)`` of ``"train"``; src: ``(N, S)``, start, end: ``(N,)``
        of ``split`` -> pred_start, pred_end: ``(N,)`` int64 (the same pair in every row)
    """
    train = data.split("train")
    if len(train["start"]) == 0:
        raise ValueError("most_frequent_span_baseline needs a non-empty training split")
    (s, e), _ = Counter(zip(train["start"].tolist(), train["end"].tolist())).most_common(1)[0]
    n = len(data.split(split)["start"])
    return _score(np.full(n, s, dtype=np.int64), np.full(n, e, dtype=np.int64), data.split(split))
