"""Sentiment classification that a bag of words cannot solve: order and negation decide.

Sentences come from a small grammar of movie-review clauses, and the label (``neg`` = 0,
``pos`` = 1) is a deterministic function of the sentence:

- a clause has the polarity of its adjective or verb ("the plot was dull" -> neg,
  "i loved the music" -> pos), flipped by a negator ("the movie was not good" -> neg,
  "hardly bad" -> pos, "i did not hate the cast" -> pos); "very"/"really" change nothing;
- ``X , but Y`` takes the label of ``Y`` ("good , but the ending was awful" -> neg,
  "awful , but the acting was great" -> pos);
- ``although X , Y`` takes the label of ``Y`` and ``X , although Y`` the label of ``X``.

"although the plot was bad , the acting was great" (pos) and "the plot was bad , although
the acting was great" (neg) contain exactly the same words, as do "the plot was not good ,
but the acting was bad" (neg) and "the plot was good , but the acting was not bad" (pos).
A model that only counts words (bag of words, or a Transformer without positional
encoding) must give both members of such a pair the same label, so it cannot reach 100%:
:func:`grammar_bow_ceiling` computes exactly how far it can get on this grammar (the
Bayes-optimal bag-of-words accuracy), :func:`bow_logistic_regression` what a fitted one
gets, and :func:`bow_bayes_ceiling` the same grouping argument on any finite set. A
Transformer with positions can learn the rule.

On the site this is the *classification* example of ``docs/data-flow.md``: encoder, mean
pooling over the non-pad positions, one linear layer to 2 logits.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from .task_data import SPLITS, TaskData, as_generator, check_count, sample_unique, split_sizes, stack_splits
from .vocab import Vocab

LABEL_NAMES: tuple[str, ...] = ("neg", "pos")
NEG, POS = 0, 1

# --8<-- [start:grammar]
ASPECTS = ("movie", "plot", "acting", "ending", "music", "cast")
ADJECTIVES = {"good": +1, "great": +1, "fun": +1, "brilliant": +1,
              "bad": -1, "awful": -1, "boring": -1, "dull": -1}
MODIFIERS = ("", "very", "really", "not", "hardly")  # "" = no modifier
NEGATORS = ("not", "hardly")  # flip the clause's polarity
VERBS = {"loved": ("love", +1), "liked": ("like", +1), "hated": ("hate", -1), "disliked": ("dislike", -1)}
# sentence forms and how often the generator picks each
FORM_WEIGHTS = {"single": 0.1, "but": 0.3, "although_first": 0.3, "although_second": 0.3}
# --8<-- [end:grammar]


def _clauses() -> dict[str, list[tuple[tuple[str, ...], int]]]:
    """Every clause of each kind with its polarity (+1 / -1)."""
    full, fragment, verb = [], [], []
    for aspect in ASPECTS:
        for mod in MODIFIERS:
            for adj, pol in ADJECTIVES.items():
                flip = -1 if mod in NEGATORS else 1
                full.append((("the", aspect, "was") + ((mod,) if mod else ()) + (adj,), pol * flip))
    for mod in MODIFIERS:
        for adj, pol in ADJECTIVES.items():
            fragment.append((((mod,) if mod else ()) + (adj,), pol * (-1 if mod in NEGATORS else 1)))
    for aspect in ASPECTS:
        for past, (base, pol) in VERBS.items():
            verb.append((("i", past, "the", aspect), pol))
            verb.append((("i", "did", "not", base, "the", aspect), -pol))
    return {"full": full, "fragment": fragment, "verb": verb}


_CLAUSES = _clauses()
# which clauses may fill each slot: fragments ("hardly bad") only open a sentence
OPENING = _CLAUSES["full"] + _CLAUSES["fragment"] + _CLAUSES["verb"]
INNER = _CLAUSES["full"] + _CLAUSES["verb"]


def _join(form: str, x: Sequence[str], y: Sequence[str] = ()) -> tuple[str, ...]:
    if form == "single":
        return tuple(x)
    if form == "but":
        return tuple(x) + (",", "but") + tuple(y)
    if form == "although_first":
        return ("although",) + tuple(x) + (",",) + tuple(y)
    return tuple(x) + (",", "although") + tuple(y)  # although_second


def _label(form: str, px: int, py: int = 0) -> int:
    pol = py if form in ("but", "although_first") else px  # the main clause decides
    return POS if pol > 0 else NEG


def _slots(form: str) -> tuple[list, list]:
    """Clause lists for the first and second slot of ``form``."""
    if form == "single":
        return OPENING, []
    if form == "although_first":
        return INNER, INNER
    return OPENING, INNER


def draw_sentence(rng: np.random.Generator) -> tuple[tuple[str, ...], int]:
    """One sentence from the grammar and its label: form by ``FORM_WEIGHTS``, clauses uniform."""
    forms = list(FORM_WEIGHTS)
    p = np.array([FORM_WEIGHTS[f] for f in forms])
    form = forms[int(rng.choice(len(forms), p=p / p.sum()))]
    first, second = _slots(form)
    x, px = first[int(rng.integers(len(first)))]
    if form == "single":
        return _join(form, x), _label(form, px)
    y, py = second[int(rng.integers(len(second)))]
    return _join(form, x, y), _label(form, px, py)


# --8<-- [start:sentence_label]
def sentence_label(tokens: Sequence[str] | str) -> int:
    """The label of a sentence, computed by reading it (independently of the generator).

    Raises ``ValueError`` naming the sentence if it is not in the grammar.
    """
    words = tokens.split() if isinstance(tokens, str) else list(tokens)
    if words and words[0] == "although":  # although X , Y -> Y
        head = words[words.index(",") + 1 :] if "," in words else None
    elif "," in words:
        cut = words.index(",")
        rest = words[cut + 1 :]
        if rest[:1] == ["but"]:  # X , but Y -> Y
            head = rest[1:]
        elif rest[:1] == ["although"]:  # X , although Y -> X
            head = words[:cut]
        else:
            head = None
    else:
        head = words
    pol = _clause_polarity(head) if head else None
    if pol is None:
        raise ValueError(f"not a sentence of the sentiment grammar: {' '.join(words)!r}")
    return POS if pol > 0 else NEG


def _clause_polarity(words: list[str]) -> int | None:
    hits = [ADJECTIVES[w] for w in words if w in ADJECTIVES]
    hits += [VERBS[w][1] for w in words if w in VERBS]
    hits += [pol for base, pol in VERBS.values() if base in words]
    if len(hits) != 1:
        return None
    return -hits[0] if any(w in NEGATORS for w in words) else hits[0]
# --8<-- [end:sentence_label]


# --8<-- [start:make]
def make_sentiment_task(
    n_train: int = 8_000,
    n_valid: int = 1_000,
    n_test: int = 1_000,
    rng: int | np.random.Generator = 0,
) -> TaskData:
    """Generate the order-and-negation sentiment task.

    Sentences are distinct, so the splits are disjoint. ``src_vocab`` is built from the
    training split (``min_freq=1``); any grammar word missing from it would map to
    ``<unk>`` in valid/test.

    Returns:
        TaskData: ``kind="classification"``, fields ``src, src_len, label``; ``label_names = ("neg",
            "pos")``.

    Shape:
        src: ``(N, S)`` with ``S <= 14``; src_len, label: ``(N,)``

    Examples:
        >>> data = make_sentiment_task(n_train=4, n_valid=2, n_test=2)
        >>> " ".join(data.src_vocab.decode(data.train["src"][0])), data.label_names[data.train["label"][0]]
        ('although the ending was not brilliant , the plot was hardly awful', 'pos')
    """
    sizes = split_sizes(n_train, n_valid, n_test)
    gen = as_generator(rng)
    drawn = sample_unique(draw_sentence, sum(sizes.values()), gen, key=lambda ex: ex[0])
    parts, lo = {}, 0
    for split in SPLITS:
        parts[split] = drawn[lo : lo + sizes[split]]
        lo += sizes[split]
    vocab = Vocab.build([s for s, _ in parts["train"]])
    examples = {
        split: [{"src": vocab.encode(list(s)), "src_len": len(s), "label": y} for s, y in exs]
        for split, exs in parts.items()
    }
    arrays = stack_splits(examples, ["src"], ["src_len", "label"])
    params = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test, "form_weights": dict(FORM_WEIGHTS)}
    return TaskData("sentiment", "classification", arrays, src_vocab=vocab, label_names=LABEL_NAMES,
                    params=params)
# --8<-- [end:make]


def enumerate_grammar() -> tuple[list[tuple[str, ...]], np.ndarray, np.ndarray]:
    """Every sentence of the grammar with its label and its probability under ``draw_sentence``.

    Returns:
        tuple: ``(sentences, labels, probs)``: the ``M`` sentences as token tuples, their labels (int64,
            ``(M,)``) and their probabilities under the grammar (float64, ``(M,)``, summing to 1).
    """
    total_w = sum(FORM_WEIGHTS.values())
    sentences, labels, probs = [], [], []
    for form, w in FORM_WEIGHTS.items():
        first, second = _slots(form)
        if form == "single":
            for x, px in first:
                sentences.append(_join(form, x))
                labels.append(_label(form, px))
                probs.append(w / total_w / len(first))
            continue
        p = w / total_w / (len(first) * len(second))
        for x, px in first:
            for y, py in second:
                sentences.append(_join(form, x, y))
                labels.append(_label(form, px, py))
                probs.append(p)
    return sentences, np.array(labels, dtype=np.int64), np.array(probs)


def bag_of_words(sentences: Sequence[Sequence[str]], vocab: Vocab) -> np.ndarray:
    """Word-count matrix: row ``i`` counts how often each vocabulary id occurs in sentence ``i``.

    Shape:
        sentences: ``N`` token lists -> ``(N, V)`` int64
    """
    counts = np.zeros((len(sentences), len(vocab)), dtype=np.int64)
    for i, s in enumerate(sentences):
        np.add.at(counts[i], vocab.encode(list(s)), 1)
    return counts


# --8<-- [start:bow_ceiling]
def bow_bayes_ceiling(bags: np.ndarray, labels: object, weights: object | None = None) -> float:
    """Best accuracy any bag-of-words classifier can reach on a set of examples.

    Examples with identical bags (rows of ``bags``) must get the same prediction, so the
    best a bag-of-words model can do is predict the majority label of each group of
    identical bags: ``sum over bags of max over labels of weight`` / total weight.

    Shape:
        bags: ``(N, V)`` word counts (see :func:`bag_of_words`); labels: ``(N,)``;
        weights: ``(N,)`` (default all 1)
    """
    bags, labels = np.asarray(bags), np.asarray(labels).astype(np.int64)
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not len(bags) == len(labels) == len(w):
        raise ValueError(f"bags, labels and weights differ in length: {len(bags)}, {len(labels)}, {len(w)}")
    if bags.ndim != 2:
        raise ValueError(f"bags must be 2-D (N, V), got shape {bags.shape}")
    rows = np.ascontiguousarray(bags).view(np.dtype((np.void, bags.dtype.itemsize * bags.shape[1])))
    _, group = np.unique(rows.reshape(-1), return_inverse=True)  # (N,) id of each distinct bag
    group = group.reshape(-1)
    mass = np.zeros((group.max() + 1, labels.max() + 1))  # (groups, classes) weight per label
    np.add.at(mass, (group, labels), w)
    return float(mass.max(axis=1).sum() / w.sum())
# --8<-- [end:bow_ceiling]


@functools.lru_cache(maxsize=1)
def grammar_bow_ceiling() -> float:
    """Bayes-optimal bag-of-words accuracy over the whole grammar, weighted like the generator.

    Equivalent to ``bow_bayes_ceiling(bag_of_words(sentences), labels, probs)`` over
    :func:`enumerate_grammar`, computed with broadcasting: the bag of ``X , but Y`` is
    ``bag(X) + bag(Y) + bag(", but")``.
    """
    words = sorted({w for c in OPENING + INNER for w in c[0]} | {",", "but", "although"})
    col = {w: i for i, w in enumerate(words)}

    def bags(clauses: list) -> np.ndarray:  # (C, V) word counts of each clause
        out = np.zeros((len(clauses), len(words)), dtype=np.int8)
        for i, (toks, _) in enumerate(clauses):
            for w in toks:
                out[i, col[w]] += 1
        return out

    def pols(clauses: list) -> np.ndarray:  # (C,) polarity of each clause
        return np.array([p for _, p in clauses])

    total_w = sum(FORM_WEIGHTS.values())
    all_bags, all_labels, all_probs = [], [], []
    for form, w in FORM_WEIGHTS.items():
        first, second = _slots(form)
        if form == "single":
            all_bags.append(bags(first))
            all_labels.append((pols(first) > 0).astype(np.int64))
            all_probs.append(np.full(len(first), w / total_w / len(first)))
            continue
        glue = np.zeros(len(words), dtype=np.int8)  # the connective's words
        for tok in _join(form, (), ()):
            glue[col[tok]] += 1
        A, B = bags(first), bags(second)
        pair = A[:, None, :] + B[None, :, :] + glue  # (C1, C2, V) bag of each pair
        all_bags.append(pair.reshape(-1, len(words)))  # (C1 * C2, V)
        main = pols(second)[None, :] if form in ("but", "although_first") else pols(first)[:, None]
        all_labels.append(np.broadcast_to(main > 0, (len(first), len(second))).reshape(-1).astype(np.int64))
        all_probs.append(np.full(len(first) * len(second), w / total_w / (len(first) * len(second))))
    return bow_bayes_ceiling(np.vstack(all_bags), np.concatenate(all_labels), np.concatenate(all_probs))


def bow_logistic_regression(
    train_bags: np.ndarray,
    train_labels: object,
    eval_bags: np.ndarray,
    eval_labels: object,
    l2: float = 1e-3,
    iterations: int = 50,
) -> dict[str, Any]:
    """Fit a logistic regression on word counts with Newton's method (NumPy) and score it.

    The model is ``p(pos | x) = sigmoid(x . w + b)`` with an L2 penalty ``l2 * |w|^2 / 2``;
    Newton steps ``theta -= H^-1 g`` converge in a few iterations for these few features.

    Returns:
        dict: ``train_accuracy``, ``eval_accuracy``, ``weights`` ``(V,)``, ``bias``.

    Shape:
        train_bags: ``(N, V)``, train_labels: ``(N,)``, eval_bags: ``(M, V)``, eval_labels: ``(M,)``
    """
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    check_count("iterations", iterations, minimum=1)
    X = np.hstack([np.asarray(train_bags, dtype=np.float64), np.ones((len(train_bags), 1))])  # (N, V+1)
    y = np.asarray(train_labels, dtype=np.float64)
    N, D = X.shape
    theta = np.zeros(D)
    penalty = np.full(D, l2)
    penalty[-1] = 0.0  # no penalty on the bias
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(X @ theta)))  # (N,)
        grad = X.T @ (p - y) / N + penalty * theta  # (D,)
        hess = (X.T * (p * (1 - p))) @ X / N + np.diag(penalty) + 1e-9 * np.eye(D)  # (D, D)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    Xe = np.hstack([np.asarray(eval_bags, dtype=np.float64), np.ones((len(eval_bags), 1))])
    return {
        "train_accuracy": float(np.mean((X @ theta > 0) == (y > 0.5))),
        "eval_accuracy": float(np.mean((Xe @ theta > 0) == (np.asarray(eval_labels) == POS))),
        "weights": theta[:-1],
        "bias": float(theta[-1]),
    }


def bow_baselines(data: TaskData, eval_split: str = "test") -> dict[str, float]:
    """The bag-of-words numbers for a generated sentiment task, in one dict.

    ``logreg_train_accuracy`` / ``logreg_eval_accuracy`` (logistic regression on word counts,
    fit on train), ``data_ceiling`` (identical-bag grouping on train + ``eval_split``) and
    ``grammar_ceiling`` (exact, whole grammar).

    Shape:
        reads src: ``(N_train, S)``, label: ``(N_train,)`` of ``"train"`` and src: ``(N, S)``,
        label: ``(N,)`` of ``eval_split``; builds bags ``(N_train, V)`` and ``(N, V)``;
        returns four floats
    """
    if data.name != "sentiment":
        raise ValueError(f"bow_baselines is defined for the sentiment task, got {data.name!r}")
    train, ev = data.split("train"), data.split(eval_split)
    V = len(data.src_vocab)

    def bags(src: np.ndarray) -> np.ndarray:
        out = np.zeros((len(src), V), dtype=np.int64)
        rows = np.repeat(np.arange(len(src)), src.shape[1])  # (N*S,) row of each token
        np.add.at(out, (rows, src.reshape(-1)), 1)
        out[:, 0] = 0  # <pad> is not a word
        return out

    fit = bow_logistic_regression(bags(train["src"]), train["label"], bags(ev["src"]), ev["label"])
    both = np.vstack([bags(train["src"]), bags(ev["src"])])
    return {
        "logreg_train_accuracy": fit["train_accuracy"],
        "logreg_eval_accuracy": fit["eval_accuracy"],
        "data_ceiling": bow_bayes_ceiling(both, np.concatenate([train["label"], ev["label"]])),
        "grammar_ceiling": grammar_bow_ceiling(),
    }
