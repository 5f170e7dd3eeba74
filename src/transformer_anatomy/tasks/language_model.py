"""Character-level language modelling on real text: the Python help topics, and n-gram baselines.

Nothing can be downloaded, so the text is the one every CPython install carries:
``pydoc_data.topics`` (a dict, topic name -> the English help text of a part of the language
reference; 79 topics, about 465 kB in Python 3.11). The data pipeline, each step a named
section of this file:

- ``corpus``: :func:`load_topics` (sorted by name) and :func:`split_topics`, a split **by
  topic** into train / valid / test: the topics are shuffled with ``seed``, and each one goes
  to ``valid`` or ``test`` if it still fits under that split's share of the characters (10 %
  each by default; the less full one first), else to ``train``. No sentence of a held-out topic is
  seen in training; the held-out shares come out just under their targets (seed 0, Python
  3.11: 80.09 / 9.94 / 9.97 % of the characters in 51 / 12 / 16 topics).
- ``stream``: characters are the tokens. A :class:`~transformer_anatomy.tasks.vocab.CharVocab`
  is built on the training topics only (characters seen fewer than ``min_freq`` times there,
  and characters never seen, become ``<unk>``; :meth:`LanguageModelData.coverage` says how
  many held-out characters that is: none for seed 0 with ``min_freq=1``). Each split is one
  stream of ids, ``<eos> topic_1 <eos> topic_2 <eos> ... topic_K <eos>`` (topics by name), so
  ``<eos>`` marks the boundary between documents and is predicted like a character.
- ``batches``: training batches are random windows ``(N, T + 1)`` of the training stream, cut
  into inputs ``window[:, :-1]`` and targets ``window[:, 1:]`` (the targets are the inputs
  shifted by one); :meth:`LanguageModelData.windows` cuts a held-out stream into consecutive
  windows so that every position after the first is a target exactly once (the tail of the
  last window is padded with ``IGNORE_INDEX`` targets). A model at position ``t`` of a window
  sees the ``t + 1`` characters before it in that window.
- ``ngram``: :class:`NGramLM`, an n-gram model interpolated with its lower orders (a
  Dirichlet prior, MacKay & Peto 1995), ``P_k(w | h) = (c(h w) + α_k P_{k-1}(w | h')) /
  (c(h) + α_k)`` with ``P_0 = 1 / V``, and :func:`ngram_baselines`: unigram, bigram and
  trigram fitted on train, each ``α_k`` chosen on valid (order by order, on a log grid),
  evaluated on valid and test over the same targets as the models.

Losses are in nats per character (the mean of ``-ln p`` over the targets, ``<eos>`` counted as
one character) and bits per character (nats / ln 2). The stream depends on the Python version
(the help texts change between releases): :meth:`LanguageModelData.describe` records the
version and a SHA-256 of the corpus.

Page: ``docs/decoder-only.md`` (the causal LM objective); ``scripts/lm_study.py`` trains the
GPT-2- and Llama-style models on it.
"""

from __future__ import annotations

import hashlib
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import check_int, check_number, check_positive_int
from .task_data import SPLITS, as_generator
from .vocab import EOS_ID, UNK_ID, CharVocab

IGNORE_INDEX = -100
"""Target of a position without loss (torch's and our ``CrossEntropyLoss`` default ``ignore_index``)."""

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
"""Shares of the characters in train / valid / test (held-out shares are upper bounds)."""

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.round(10.0 ** np.arange(-2.0, 6.01, 0.25), 6))
"""The grid each order's ``α`` is chosen from on the validation stream: ``10^-2 .. 10^6``, 4 per decade."""

LN2 = math.log(2.0)


# ============================================================================================
# Corpus: the help topics, split by topic
# ============================================================================================
# --8<-- [start:corpus]
def load_topics() -> dict[str, str]:
    """The documents of ``pydoc_data.topics``: topic name -> its help text, sorted by name.

    Shape:
        nothing in -> a dict, topic name -> its text (``str``).

    Examples:
        >>> docs = load_topics()
        >>> len(docs) > 50, "assert" in docs, docs["assert"].startswith('The "assert" statement')
        (True, True, True)
    """
    from pydoc_data.topics import topics

    return {name: topics[name] for name in sorted(topics)}


def split_topics(docs: Mapping[str, str], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                 seed: int = 0) -> dict[str, list[str]]:
    """Split topic names into ``"train"``, ``"valid"``, ``"test"``: disjoint, by topic, deterministic.

    The names are sorted, shuffled with ``np.random.default_rng(seed)``, and each one in turn
    goes to a held-out split whose characters plus its own stay within its share of the total
    (``fractions[1]`` for valid, ``fractions[2]`` for test; of two that fit, the one less full
    relative to its share, valid on a tie), else to ``train``. The
    held-out splits therefore hold at most their share (one long topic never overshoots it) and
    train the rest; every split is returned sorted by name.

    Args:
        docs: topic name -> text (at least three topics).
        fractions: ``(train, valid, test)`` shares of the characters, positive, summing to 1.
        seed: seed of the shuffle.

    Shape:
        docs: ``K`` topics -> three disjoint lists whose union is the ``K`` names.

    Examples:
        >>> docs = {"a": "x" * 80, "b": "y" * 10, "c": "z" * 10, "d": "w" * 5}
        >>> split_topics(docs, (0.7, 0.15, 0.15), seed=0)
        {'train': ['a'], 'valid': ['c', 'd'], 'test': ['b']}
    """
    seed = check_int("seed", seed, minimum=0)
    fr = tuple(fractions)
    if len(fr) != 3:
        raise ValueError(f"fractions must be three shares (train, valid, test), got fractions={fractions!r}")
    for name, f in zip(SPLITS, fr):
        check_number(f"fractions[{name!r}]", f, 0.0, 1.0, min_open=True)
    if abs(sum(fr) - 1.0) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got fractions={fractions!r} (sum {sum(fr):g})")
    if len(docs) < 3:
        raise ValueError(f"docs must hold at least 3 topics to split three ways, got {len(docs)}")
    names = sorted(docs)
    sizes = {n: len(docs[n]) for n in names}
    total = sum(sizes.values())
    cap = {"valid": fr[1] * total, "test": fr[2] * total}
    chars = {s: 0 for s in SPLITS}
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i in np.random.default_rng(seed).permutation(len(names)):
        name = names[int(i)]
        fits = [s for s in ("valid", "test") if chars[s] + sizes[name] <= cap[s]]
        split = min(fits, key=lambda s: chars[s] / cap[s]) if fits else "train"  # the emptier one; ties: valid
        out[split].append(name)
        chars[split] += sizes[name]
    for s in SPLITS:
        if not out[s]:
            raise ValueError(f"split {s!r} got no topic: fractions={fr!r} cannot be met with these {len(names)} "
                             "topics (a held-out share smaller than the shortest topic?)")
    return {s: sorted(out[s]) for s in SPLITS}
# --8<-- [end:corpus]


# ============================================================================================
# The data: one id stream per split, batches, evaluation windows
# ============================================================================================
# --8<-- [start:stream]
def encode_stream(vocab: CharVocab, texts: Sequence[str]) -> np.ndarray:
    """``<eos> text_1 <eos> text_2 <eos> ... text_K <eos>`` as int64 ids (unknown characters -> ``<unk>``).

    Shape:
        texts: ``K`` strings of lengths ``L_k`` -> ``(sum_k L_k + K + 1,)``

    Examples:
        >>> v = CharVocab.build(["abc"])
        >>> encode_stream(v, ["ab", "cz"]).tolist()  # <eos>=2 a b <eos> c <unk>=3 <eos>
        [2, 4, 5, 2, 6, 3, 2]
    """
    lookup = vocab.word2idx
    ids = [EOS_ID]
    for text in texts:
        ids.extend(lookup.get(ch, UNK_ID) for ch in text)
        ids.append(EOS_ID)
    return np.asarray(ids, dtype=np.int64)


def random_windows(ids: np.ndarray, batch_size: int, block_size: int,
                   rng: int | np.random.Generator) -> np.ndarray:
    """``batch_size`` windows of ``block_size + 1`` consecutive ids, at uniformly random starts.

    Shape:
        ids: ``(L,)`` with ``L > block_size`` -> ``(N, T + 1)`` with ``N = batch_size``, ``T = block_size``

    Examples:
        >>> w = random_windows(np.arange(10), batch_size=2, block_size=3, rng=0)
        >>> w.shape, bool(((w[:, 1:] - w[:, :-1]) == 1).all())
        ((2, 4), True)
    """
    batch_size = check_positive_int("batch_size", batch_size)
    block_size = check_positive_int("block_size", block_size)
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be one stream (L,), got shape {ids.shape}")
    if len(ids) < block_size + 1:
        raise ValueError(f"block_size={block_size} needs a stream of at least {block_size + 1} ids, "
                         f"got {len(ids)}")
    starts = as_generator(rng).integers(0, len(ids) - block_size, size=batch_size)  # (N,)
    return ids[starts[:, None] + np.arange(block_size + 1)]  # (N, 1) + (T + 1,) -> (N, T + 1)


def eval_windows(ids: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive windows covering a stream: every id after the first is a target exactly once.

    Window ``m`` has inputs ``ids[m T : (m + 1) T]`` and targets ``ids[m T + 1 : (m + 1) T + 1]``;
    the last window's missing tail has input 0 (``<pad>``, never seen by a real target: the
    attention is causal) and target :data:`IGNORE_INDEX`.

    Shape:
        ids: ``(L,)`` -> inputs, targets: ``(M, T)`` with ``M = ceil((L - 1) / T)``

    Examples:
        >>> x, y = eval_windows(np.arange(7), block_size=4)
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2, 3], [4, 5, 0, 0]], [[1, 2, 3, 4], [5, 6, -100, -100]])
    """
    block_size = check_positive_int("block_size", block_size)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"ids must be one stream (L,) with L >= 2, got shape {ids.shape}")
    n_targets = len(ids) - 1
    M = -(-n_targets // block_size)  # ceil
    inputs = np.zeros(M * block_size, dtype=np.int64)
    targets = np.full(M * block_size, IGNORE_INDEX, dtype=np.int64)
    inputs[:n_targets] = ids[:-1]
    targets[:n_targets] = ids[1:]
    return inputs.reshape(M, block_size), targets.reshape(M, block_size)  # (M T,) -> (M, T)
# --8<-- [end:stream]


@dataclass
class LanguageModelData:
    """The character-level LM data: vocabulary, topics per split, one id stream per split.

    Built by :func:`make_language_model_data`.

    Attributes:
        vocab (CharVocab): built on the training topics; ``V = len(vocab)``.
        topics (dict[str, list[str]]): split -> its topic names (sorted).
        ids (dict[str, np.ndarray]): split -> its int64 stream ``<eos> topic <eos> ... <eos>``.
        texts (dict[str, str]): topic name -> text (of every split).
        params (dict): the arguments it was made with.

    Shape:
        ids[split]: ``(L_split,)``; :meth:`batch` -> inputs, targets ``(N, T)``;
        :meth:`windows` -> inputs, targets ``(M, T)``.

    Examples:
        >>> docs = {"a": "abab", "b": "ba", "c": "abba", "d": "aaaabbbb"}
        >>> data = make_language_model_data(docs=docs, fractions=(0.5, 0.25, 0.25))
        >>> data.topics
        {'train': ['b', 'd'], 'valid': ['c'], 'test': ['a']}
        >>> data.decode(data.ids["train"])
        '<eos>ba<eos>aaaabbbb<eos>'
        >>> x, y = data.batch("train", batch_size=2, block_size=3, rng=0)
        >>> x.shape, y.shape
        ((2, 3), (2, 3))
    """

    vocab: CharVocab
    topics: dict[str, list[str]]
    ids: dict[str, np.ndarray]
    texts: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        """``V``: the number of ids (specials included)."""
        return len(self.vocab)

    def stream(self, split: str) -> np.ndarray:
        """The id stream of ``split``; an unknown name raises ``KeyError`` naming it."""
        if split not in self.ids:
            raise KeyError(f"unknown split {split!r}; expected one of {tuple(self.ids)}")
        return self.ids[split]

    def num_targets(self, split: str) -> int:
        """The number of predicted positions of ``split``: ``L - 1`` (characters plus boundaries)."""
        return len(self.stream(split)) - 1

    def batch(self, split: str, batch_size: int, block_size: int,
              rng: int | np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Random windows of ``split`` cut into inputs and targets (the inputs shifted by one).

        Shape:
            inputs, targets: ``(N, T)`` int64 with ``targets[:, :-1] == inputs[:, 1:]``
        """
        w = random_windows(self.stream(split), batch_size, block_size, rng)  # (N, T + 1)
        return w[:, :-1], w[:, 1:]  # (N, T), (N, T)

    def windows(self, split: str, block_size: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`eval_windows` of ``split``: every target of the stream once."""
        return eval_windows(self.stream(split), block_size)

    def encode(self, text: str) -> np.ndarray:
        """A text as int64 ids (no ``<eos>`` added; unknown characters -> ``<unk>``)."""
        return np.asarray(self.vocab.encode(text), dtype=np.int64)

    def decode(self, ids: Any) -> str:
        """Ids as text, specials written out (``<eos>`` between topics, ``<unk>``)."""
        return "".join(self.vocab.decode(np.asarray(ids).reshape(-1), strip_specials=False))

    def coverage(self) -> dict[str, dict[str, Any]]:
        """Per split: characters, how many map to ``<unk>``, and the fraction the vocabulary covers."""
        out = {}
        for split in SPLITS:
            text = "".join(self.texts[t] for t in self.topics[split])
            unk = sum(1 for ch in text if ch not in self.vocab.word2idx)
            out[split] = {"chars": len(text), "unk_chars": unk,
                          "coverage": 1.0 - unk / len(text) if text else 1.0}
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary: source, Python version, corpus hash, splits, vocabulary, coverage."""
        corpus = "".join(f"{n}\0{self.texts[n]}\0" for n in sorted(self.texts))
        total = sum(len(t) for t in self.texts.values())
        splits = {}
        for split in SPLITS:
            chars = sum(len(self.texts[t]) for t in self.topics[split])
            splits[split] = {"topics": list(self.topics[split]), "num_topics": len(self.topics[split]),
                             "chars": chars, "char_fraction": chars / total if total else 0.0,
                             "stream_length": len(self.ids[split]), "targets": self.num_targets(split)}
        return {"source": self.params.get("source", "pydoc_data.topics"), "python": platform.python_version(),
                "sha256": hashlib.sha256(corpus.encode("utf-8")).hexdigest(), "num_topics": len(self.texts),
                "chars": total, "tokens": "characters", "vocab_size": self.vocab_size,
                "vocab": self.vocab.tokens, "specials": list(self.vocab.specials),
                "boundary": "<eos> before the first topic and after each topic of a split",
                "splits": splits, "coverage": self.coverage(), "params": dict(self.params)}


def make_language_model_data(fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0, min_freq: int = 1,
                             docs: Mapping[str, str] | None = None) -> LanguageModelData:
    """The LM data: :func:`split_topics`, a ``CharVocab`` on train, one :func:`encode_stream` per split.

    Args:
        fractions: ``(train, valid, test)`` shares of the characters (see :func:`split_topics`).
        seed: seed of the topic shuffle.
        min_freq: a character must occur this often in the training topics to get its own id
            (rarer ones, and unseen ones, become ``<unk>``).
        docs: topic name -> text; default :func:`load_topics` (``pydoc_data.topics``).

    Shape:
        ids[split]: ``(L_split,)`` int64, ``L = characters + topics + 1``

    Examples:
        >>> data = make_language_model_data()
        >>> sorted(data.ids), data.vocab_size > 90, data.decode(data.ids["train"][:1])
        (['test', 'train', 'valid'], True, '<eos>')
    """
    min_freq = check_positive_int("min_freq", min_freq)
    source = "pydoc_data.topics" if docs is None else "docs"
    docs = load_topics() if docs is None else {str(k): str(v) for k, v in docs.items()}
    topics = split_topics(docs, fractions, seed)
    vocab = CharVocab.build([docs[t] for t in topics["train"]], min_freq=min_freq)
    ids = {s: encode_stream(vocab, [docs[t] for t in topics[s]]) for s in SPLITS}
    params = {"fractions": [float(f) for f in fractions], "seed": int(seed), "min_freq": min_freq,
              "source": source}
    return LanguageModelData(vocab=vocab, topics=topics, ids=ids, texts=dict(docs), params=params)


# ============================================================================================
# N-gram baselines
# ============================================================================================
def _counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and how often each occurs."""
    return np.unique(keys, return_counts=True)


def _lookup(table: tuple[np.ndarray, np.ndarray], keys: np.ndarray) -> np.ndarray:
    """The count of each key in ``table`` (0 where absent)."""
    u, c = table
    if u.size == 0:
        return np.zeros(keys.shape, dtype=np.int64)
    idx = np.minimum(np.searchsorted(u, keys), u.size - 1)
    return np.where(u[idx] == keys, c[idx], 0)


# --8<-- [start:ngram]
class NGramLM:
    """An n-gram language model interpolated with its lower orders (a Dirichlet prior).

    ``P_0(w) = 1 / V`` and, for ``k = 1 .. order`` with ``h`` the ``k - 1`` ids before ``w``
    and ``h'`` the ``k - 2`` last of them::

        P_k(w | h) = (c(h w) + α_k · P_{k-1}(w | h')) / (c(h) + α_k)

    where ``c(h w)`` counts the k-gram in the training stream and ``c(h) = Σ_w c(h w)``. Each
    level is a proper distribution over the ``V`` ids (``Σ_w P_k(w | h) = 1``); an unseen
    history gives ``P_k = P_{k-1}``; ``α_k → ∞`` turns level ``k`` off (the order below), so a
    well-chosen ``α`` never makes a higher order worse on the data it was chosen on. Near the
    start of a stream, where fewer than ``k - 1`` ids precede a target, the highest level that
    fits is used.

    Args:
        order: ``n`` (1 = unigram, 2 = bigram, 3 = trigram, ...).
        vocab_size: ``V``.
        alphas: ``α_1 .. α_n``, each > 0 (default 1.0 each).

    Shape:
        fit: ids ``(L,)``; prob: context ``(c,)`` -> ``(V,)``; target_log_probs: ids ``(L,)``
        -> ``(L - 1,)``, the log-probability of ``ids[i]`` given the ids before it, ``i >= 1``.

    Examples:
        >>> m = NGramLM(2, vocab_size=3, alphas=(1.0, 1.0)).fit(np.array([0, 1, 0, 1, 0]))
        >>> m.prob([0]).round(4).tolist(), float(m.prob([0]).sum())
        ([0.1852, 0.7963, 0.0185], 1.0)
        >>> round(m.loss(np.array([0, 1, 0])), 4)  # mean -ln P over the 2 targets, nats
        0.1941
    """

    def __init__(self, order: int, vocab_size: int, alphas: Sequence[float] | None = None) -> None:
        self.order = check_positive_int("order", order)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        if self.vocab_size ** self.order >= 2**62:
            raise ValueError(f"order={order} with vocab_size={vocab_size}: the {order}-gram keys do not fit "
                             "an int64 (vocab_size ** order >= 2 ** 62)")
        self.alphas = [1.0] * self.order if alphas is None else list(alphas)
        self.set_alphas(self.alphas)
        self._ngrams: list[tuple[np.ndarray, np.ndarray]] = []
        self._histories: list[tuple[np.ndarray, np.ndarray]] = []
        self._total = 0

    def set_alphas(self, alphas: Sequence[float]) -> None:
        """Replace ``α_1 .. α_n`` (the counts stay)."""
        alphas = list(alphas)
        if len(alphas) != self.order:
            raise ValueError(f"alphas must hold order={self.order} values, got {len(alphas)}: {alphas!r}")
        self.alphas = [check_number(f"alphas[{k}]", a, 0.0, min_open=True) for k, a in enumerate(alphas)]

    def _keys(self, ids: np.ndarray) -> list[np.ndarray]:
        """``keys[k-1][i]``: the k-gram ending at ``ids[k - 1 + i]`` as one integer (base ``V``)."""
        keys = [ids.astype(np.int64)]
        for _ in range(1, self.order):
            prev = keys[-1]
            keys.append(prev[:-1] * self.vocab_size + ids[len(ids) - len(prev) + 1:])  # (L - k + 1,)
        return keys

    def _check_ids(self, name: str, ids: Any, min_len: int) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must be a 1-D integer array, got shape {ids.shape}, dtype {ids.dtype}")
        if len(ids) < min_len:
            raise ValueError(f"{name} must hold at least {min_len} ids, got {len(ids)}")
        bad = ids[(ids < 0) | (ids >= self.vocab_size)]
        if bad.size:
            raise ValueError(f"{name} holds id {int(bad[0])}, outside [0, vocab_size={self.vocab_size})")
        return ids.astype(np.int64)

    def fit(self, ids: Any) -> NGramLM:
        """Count the 1- to n-grams of a training stream (and their histories); returns ``self``."""
        ids = self._check_ids("ids", ids, 1)
        keys = self._keys(ids)
        self._total = len(ids)
        self._ngrams = [_counts(k) for k in keys]
        # c(h) for level k >= 2: the (k-1)-grams that are followed by an id (all but the last)
        self._histories = [_counts(keys[k - 2][:-1]) for k in range(2, self.order + 1)]
        return self

    def _probs(self, hist_keys: list[np.ndarray | None], ngram_keys: list[np.ndarray | None],
               w: np.ndarray) -> np.ndarray:
        """``P_n`` of targets ``w`` given per-level history / n-gram keys (``None``: level unused)."""
        if not self._ngrams:
            raise RuntimeError("NGramLM: call fit(ids) before asking for probabilities")
        V, a1 = self.vocab_size, self.alphas[0]
        p = (_lookup(self._ngrams[0], w) + a1 / V) / (self._total + a1)  # P_1
        for k in range(2, self.order + 1):
            h, g = hist_keys[k - 2], ngram_keys[k - 2]
            if h is None:
                continue
            a = self.alphas[k - 1]
            c_h = _lookup(self._histories[k - 2], h)
            c_hw = _lookup(self._ngrams[k - 1], g)
            p_k = (c_hw + a * p[-len(h):]) / (c_h + a)  # the last len(h) targets have this level
            p = np.concatenate([p[: len(p) - len(h)], p_k])
        return p

    def target_log_probs(self, ids: Any) -> np.ndarray:
        """``ln P(ids[i] | ids[:i])`` for ``i = 1 .. L - 1`` (natural log)."""
        ids = self._check_ids("ids", ids, 2)
        keys = self._keys(ids)
        w = ids[1:]  # targets, (L - 1,)
        hist, grams = [], []
        for k in range(2, self.order + 1):
            # the k-grams ending at a target: keys[k-1] ends at positions k-1 .. L-1; history = its first k-1
            g = keys[k - 1]
            h = keys[k - 2][:-1][-len(g):] if len(g) else g
            hist.append(h if len(g) else None)
            grams.append(g if len(g) else None)
        return np.log(self._probs(hist, grams, w))

    def loss(self, ids: Any) -> float:
        """Mean negative log-likelihood of the targets of a stream, in nats per token."""
        return float(-self.target_log_probs(ids).mean())

    def prob(self, context: Any) -> np.ndarray:
        """``P(w | context)`` for every ``w``: the next-id distribution after ``context``.

        Shape:
            context: ``(c,)`` ids (only the last ``order - 1`` matter) -> ``(V,)``, summing to 1
        """
        context = np.asarray(context, dtype=np.int64).reshape(-1)
        if context.size:
            self._check_ids("context", context, 0)
        V = self.vocab_size
        w = np.arange(V, dtype=np.int64)
        hist, grams = [], []
        for k in range(2, self.order + 1):
            if len(context) < k - 1:
                hist.append(None)
                grams.append(None)
                continue
            h = 0
            for t in context[len(context) - (k - 1):]:
                h = h * V + int(t)
            hist.append(np.full(V, h, dtype=np.int64))
            grams.append(h * V + w)
        return self._probs(hist, grams, w)
# --8<-- [end:ngram]


def bits(nats: float) -> float:
    """Nats per character -> bits per character (``/ ln 2``).

    Examples:
        >>> bits(math.log(2.0))
        1.0
    """
    return nats / LN2


def ngram_baselines(data: LanguageModelData, orders: Sequence[int] = (1, 2, 3),
                    alphas: Sequence[float] = DEFAULT_ALPHAS) -> dict[str, Any]:
    """Unigram, bigram, trigram (``orders``) on ``data``: fitted on train, ``α`` chosen on valid.

    For each order ``n`` (largest first it reuses the smaller ones' choices): ``α_1 .. α_{n-1}``
    as chosen for the lower orders, ``α_n`` the value of ``alphas`` with the lowest validation
    loss. Also the uniform baseline ``ln V``. Every loss is over the same targets the models
    are scored on (every position of a stream after the first).

    Returns:
        ``{"uniform": {...}, "unigram": {...}, "bigram": {...}, "trigram": {...}, "grid": [...]}``;
        each model ``{"order", "alphas", "valid": {"nats_per_char", "bits_per_char"}, "test": {...},
        "valid_by_alpha": [[α, nats], ...]}``.

    Shape:
        data: its train / valid / test streams, ``(L,)`` token ids each -> a dict of floats per order (nats and bits per character).

    Examples:
        >>> docs = {"a": "abab" * 20, "b": "abab" * 5, "c": "abab" * 5, "d": "ab" * 30}
        >>> b = ngram_baselines(make_language_model_data(docs=docs, fractions=(0.6, 0.2, 0.2)))
        >>> b["bigram"]["test"]["bits_per_char"] < b["unigram"]["test"]["bits_per_char"]
        True
    """
    names = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram", 5: "5-gram"}
    grid = [check_number("alphas[i]", a, 0.0, min_open=True) for a in alphas]
    if not grid:
        raise ValueError("alphas must hold at least one value")
    orders = sorted({check_positive_int("orders[i]", o) for o in orders})
    V = data.vocab_size
    train, valid, test = data.stream("train"), data.stream("valid"), data.stream("test")
    out: dict[str, Any] = {}
    uniform = math.log(V)
    out["uniform"] = {"order": 0, "valid": {"nats_per_char": uniform, "bits_per_char": bits(uniform)},
                      "test": {"nats_per_char": uniform, "bits_per_char": bits(uniform)}}
    chosen: list[float] = []
    model = NGramLM(max(orders), V, [1.0] * max(orders)).fit(train)
    for n in range(1, max(orders) + 1):
        m = NGramLM(n, V)
        m._ngrams, m._histories, m._total = model._ngrams[:n], model._histories[: n - 1], model._total
        scores = []
        for a in grid:
            m.set_alphas([*chosen, a])
            scores.append(m.loss(valid))
        best = int(np.argmin(scores))
        chosen.append(grid[best])
        if n in orders:
            m.set_alphas(chosen)
            v, t = m.loss(valid), m.loss(test)
            out[names.get(n, f"{n}-gram")] = {
                "order": n, "alphas": list(chosen),
                "valid": {"nats_per_char": v, "bits_per_char": bits(v)},
                "test": {"nats_per_char": t, "bits_per_char": bits(t)},
                "valid_by_alpha": [[a, s] for a, s in zip(grid, scores)]}
    out["grid"] = grid
    out["smoothing"] = ("interpolated with the lower order (Dirichlet prior): P_k(w|h) = (c(hw) + a_k P_{k-1}(w|h')) "
                        "/ (c(h) + a_k), P_0 = 1/V; a_k chosen on valid from the grid, order by order")
    return out
