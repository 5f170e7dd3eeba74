"""``TaskData``: the one shape every task generator returns, and its batch iterator.

Every generator in ``transformer_anatomy.tasks`` (``make_reversal_task``,
``make_sentiment_task``, ``make_tagging_task``, ``make_numbers_task``, ``make_qa_task``)
returns a :class:`TaskData`: three splits (``"train"``, ``"valid"``, ``"test"``), each a dict
of NumPy arrays that share their first axis ``N``, already padded with ``<pad>`` = 0 to one
width per field across all splits. Examples are unique and the splits are disjoint.

Fields (which ones a task has depends on its ``kind``):

=============  ==============  =====================================================
field          shape, dtype    meaning
=============  ==============  =====================================================
``src``        (N, S) int64    encoder input ids (``src_vocab``), pad = 0
``src_len``    (N,) int64      real tokens in each ``src`` row
``tgt``        (N, T+1) int64  ``<sos> y_1 .. y_m <eos>`` (``tgt_vocab``), pad = 0
``tgt_in``     (N, T) int64    decoder input, ``tgt`` without its last real token:
                               ``<sos> y_1 .. y_m`` (teacher forcing, "shifted right")
``tgt_out``    (N, T) int64    decoder target, ``tgt`` without ``<sos>``: ``y_1 .. y_m <eos>``
``tgt_len``    (N,) int64      real tokens in each ``tgt_in`` / ``tgt_out`` row (m + 1)
``label``      (N,) int64      class index into ``label_names`` (classification)
``tags``       (N, S) int64    one tag id (``tgt_vocab``) per ``src`` token, pad = 0
``start``      (N,) int64      answer's first token position in ``src`` (QA)
``end``        (N,) int64      answer's last token position in ``src``, inclusive (QA)
``context_start``  (N,) int64  position of the first context token, after ``<sep>`` (QA)
=============  ==============  =====================================================

Page: ``docs/data-flow.md`` (one section per task kind).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .vocab import PAD_ID, Vocab, pad_batch

SPLITS: tuple[str, ...] = ("train", "valid", "test")
# The one list of task kinds (``TaskData.kind``, ``TrainConfig.kind``, ``evaluation.MAIN_METRIC``).
KINDS: tuple[str, ...] = ("seq2seq", "classification", "tagging", "qa")
# The metric each kind of task is selected and early-stopped on (higher is better).
MAIN_METRIC: dict[str, str] = {"seq2seq": "exact_match", "classification": "accuracy", "tagging": "token_accuracy",
                               "qa": "exact_match"}

FIELD_DOCS: dict[str, str] = {
    "src": "(N, S) int64: encoder input ids (src_vocab), <pad> = 0",
    "src_len": "(N,) int64: real (non-pad) tokens in each src row",
    "tgt": "(N, T+1) int64: <sos> y_1 .. y_m <eos> (tgt_vocab), <pad> = 0",
    "tgt_in": "(N, T) int64: decoder input <sos> y_1 .. y_m (teacher forcing)",
    "tgt_out": "(N, T) int64: decoder target y_1 .. y_m <eos>",
    "tgt_len": "(N,) int64: real tokens in each tgt_in / tgt_out row (m + 1)",
    "label": "(N,) int64: class index into label_names",
    "tags": "(N, S) int64: tag id (tgt_vocab) of each src token, <pad> = 0",
    "start": "(N,) int64: position in src of the answer's first token",
    "end": "(N,) int64: position in src of the answer's last token (inclusive)",
    "context_start": "(N,) int64: position in src of the first context token (after <sep>)",
}


def as_generator(rng: int | np.random.Generator | None) -> np.random.Generator:
    """Accept a seed or a ``np.random.Generator`` (returned as is)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise TypeError(f"rng must be an int seed or a np.random.Generator, got {rng!r}")
    if rng < 0:
        raise ValueError(f"seed must be non-negative, got {rng}")
    return np.random.default_rng(int(rng))


def check_count(name: str, value: Any, minimum: int = 0) -> int:
    """Validate an integer argument, raising ``ValueError`` that names it and its value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def sample_unique(
    draw: Callable[[np.random.Generator], Any],
    n: int,
    rng: np.random.Generator,
    key: Callable[[Any], Hashable] = lambda ex: ex,
    max_tries: int | None = None,
) -> list[Any]:
    """Draw ``n`` examples with distinct ``key`` (in draw order), or raise if the task is too small."""
    seen: set[Hashable] = set()
    out: list[Any] = []
    tries = 0
    limit = max_tries if max_tries is not None else 50 * n + 1000
    while len(out) < n:
        if tries >= limit:
            raise ValueError(
                f"could only draw {len(out)} distinct examples of the {n} requested after {tries} "
                "tries: the task has too few distinct examples for these split sizes"
            )
        tries += 1
        ex = draw(rng)
        k = key(ex)
        if k not in seen:
            seen.add(k)
            out.append(ex)
    return out


def split_sizes(n_train: int, n_valid: int, n_test: int) -> dict[str, int]:
    """Validate split sizes (non-negative integers) and return them by split name."""
    return {
        "train": check_count("n_train", n_train),
        "valid": check_count("n_valid", n_valid),
        "test": check_count("n_test", n_test),
    }


def stack_splits(
    examples: Mapping[str, Sequence[Mapping[str, Any]]],
    sequence_fields: Sequence[str],
    scalar_fields: Sequence[str] = (),
) -> dict[str, dict[str, np.ndarray]]:
    """Turn per-split lists of example dicts into padded arrays, one width per field for all splits.

    ``sequence_fields`` hold id lists (padded with ``<pad>`` = 0); ``scalar_fields`` hold ints.
    """
    widths = {
        f: max((len(ex[f]) for exs in examples.values() for ex in exs), default=0) for f in sequence_fields
    }
    out: dict[str, dict[str, np.ndarray]] = {}
    for split, exs in examples.items():
        arrays: dict[str, np.ndarray] = {}
        for f in sequence_fields:
            arrays[f], _ = pad_batch([ex[f] for ex in exs], pad_id=PAD_ID, width=widths[f])
        for f in scalar_fields:
            arrays[f] = np.array([ex[f] for ex in exs], dtype=np.int64).reshape(len(exs))
        out[split] = arrays
    return out


# --8<-- [start:task_data]
@dataclass
class TaskData:
    """A generated task: padded arrays for three disjoint splits plus the vocabularies.

    Attributes:
        name (str): Task name: ``"reversal"``, ``"sentiment"``, ``"tagging"``, ``"numbers"``, ``"qa"``.
        kind (str): ``"seq2seq"`` (encoder-decoder generation), ``"classification"`` (one label per
            sequence), ``"tagging"`` (one label per token; also has seq2seq fields) or ``"qa"`` (start/end
            positions).
        splits (dict[str, dict[str, np.ndarray]]): ``"train"`` / ``"valid"`` / ``"test"`` -> field name ->
            array; every array of a split has the same first axis ``N``. Fields are listed in ``FIELD_DOCS``
            and the module docstring.
        src_vocab (Vocab): Vocabulary of ``src``.
        tgt_vocab (Vocab or None): Vocabulary of ``tgt``/``tgt_in``/``tgt_out``/``tags`` (``None`` when the
            task has no output sequence).
        label_names (tuple of str or None): Class names for ``label`` (classification), in index order.
        params (dict): The generator's arguments, so a results manifest can say how the data was made.

    Shape:
        per split, every array has first axis ``N`` (that split's size) and int64 dtype;
        id fields have one width for all splits: src, tags: ``(N, S)``; tgt: ``(N, T + 1)``;
        tgt_in, tgt_out: ``(N, T)``; src_len, tgt_len, label, start, end, context_start:
        ``(N,)``. Which fields exist depends on ``kind`` (see ``FIELD_DOCS``).

    Examples:
        >>> from transformer_anatomy.tasks import make_reversal_task
        >>> data = make_reversal_task(n_train=8, n_valid=2, n_test=2, min_len=3, max_len=3)
        >>> data.kind, sorted(data.splits), data.train["src"].shape
        ('seq2seq', ['test', 'train', 'valid'], (8, 3))
        >>> [b["src"].shape for b in data.batches("train", batch_size=5, rng=0)]
        [(5, 3), (3, 3)]
    """

    name: str
    kind: str
    splits: dict[str, dict[str, np.ndarray]]
    src_vocab: Vocab
    tgt_vocab: Vocab | None = None
    label_names: tuple[str, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for split in SPLITS:
            if split not in self.splits:
                raise ValueError(f"splits is missing {split!r}; it has {sorted(self.splits)}")
        for split, arrays in self.splits.items():
            sizes = {f: a.shape[0] for f, a in arrays.items()}
            if len(set(sizes.values())) > 1:
                raise ValueError(f"fields of split {split!r} disagree on N: {sizes}")

    @property
    def train(self) -> dict[str, np.ndarray]:
        return self.splits["train"]

    @property
    def valid(self) -> dict[str, np.ndarray]:
        return self.splits["valid"]

    @property
    def test(self) -> dict[str, np.ndarray]:
        return self.splits["test"]

    def split(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of split ``name``; an unknown name raises ``KeyError`` naming it."""
        if name not in self.splits:
            raise KeyError(f"unknown split {name!r}; expected one of {tuple(self.splits)}")
        return self.splits[name]

    def size(self, name: str) -> int:
        """Number of examples ``N`` in split ``name``."""
        arrays = self.split(name)
        return int(next(iter(arrays.values())).shape[0]) if arrays else 0

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary: sizes, vocabulary sizes, field shapes and meanings, params."""
        fields = {f: list(a.shape[1:]) for f, a in self.train.items()}
        return {
            "name": self.name,
            "kind": self.kind,
            "sizes": {s: self.size(s) for s in self.splits},
            "src_vocab_size": len(self.src_vocab),
            "tgt_vocab_size": len(self.tgt_vocab) if self.tgt_vocab is not None else None,
            "num_classes": len(self.label_names) if self.label_names is not None else None,
            "label_names": list(self.label_names) if self.label_names is not None else None,
            "fields": {f: {"shape_after_N": shape, "dtype": str(self.train[f].dtype),
                           "meaning": FIELD_DOCS.get(f, "")} for f, shape in fields.items()},
            "params": dict(self.params),
            "example": self.example("train", 0) if self.size("train") else None,
        }

    def example(self, split: str, i: int) -> dict[str, Any]:
        """Example ``i`` of ``split`` decoded to tokens (ids fields) or ints (scalar fields)."""
        arrays = self.split(split)
        n = self.size(split)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise IndexError(f"example index {i!r} is out of range for split {split!r} of size {n}")
        out: dict[str, Any] = {}
        for f, a in arrays.items():
            row = a[i]
            if a.ndim == 1:
                out[f] = int(row)
            elif f == "src":
                out[f] = self.src_vocab.decode(row)
            elif self.tgt_vocab is not None and f in ("tgt", "tgt_in", "tgt_out", "tags"):
                # keep <sos>/<eos> visible so the shift between tgt_in and tgt_out shows
                out[f] = [self.tgt_vocab.idx2word[int(t)] for t in row if t != PAD_ID]
            else:
                out[f] = row.tolist()
        if "label" in out and self.label_names is not None:
            out["label_name"] = self.label_names[out["label"]]
        return out

    def batches(
        self,
        split: str,
        batch_size: int,
        rng: int | np.random.Generator | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        trim: bool = True,
    ) -> Iterator[dict[str, np.ndarray]]:
        """Iterate over a split in mini-batches.

        Args:
            split (str): ``"train"``, ``"valid"`` or ``"test"``.
            batch_size (int): Examples per batch (the last batch may be smaller unless ``drop_last``).
            rng (int or np.random.Generator, optional): Source of the shuffling order; required when
                ``shuffle=True``.
            shuffle (bool): Visit the examples in a random order (a new one each call with the same ``rng``
                object; the same one for the same seed).
            drop_last (bool): Skip a final batch smaller than ``batch_size``.
            trim (bool): Cut trailing all-pad columns, so each batch is padded only to its own longest
                sequence (positions such as ``start``/``end`` are unaffected).

        Yields:
            dict[str, np.ndarray]: The split's fields restricted to the batch's rows (copies).

        Shape:
            each field: ``(B, ...)`` with ``B <= batch_size``; id fields ``(B, L_b)`` with
            ``L_b`` the batch's longest row when ``trim`` else the split's width.
        """
        arrays = self.split(split)
        batch_size = check_count("batch_size", batch_size, minimum=1)
        n = self.size(split)
        if shuffle:
            if rng is None:
                raise ValueError(
                    "shuffle=True needs rng (a seed or np.random.Generator); "
                    "pass shuffle=False for a fixed order"
                )
            order = as_generator(rng).permutation(n)
        else:
            order = np.arange(n)
        for lo in range(0, n, batch_size):
            idx = order[lo : lo + batch_size]
            if drop_last and len(idx) < batch_size:
                break
            batch = {f: a[idx] for f, a in arrays.items()}
            if trim:
                batch = {f: _trim_pad_columns(a) for f, a in batch.items()}
            yield batch
# --8<-- [end:task_data]


def _trim_pad_columns(a: np.ndarray) -> np.ndarray:
    """Drop trailing columns that are ``<pad>`` in every row of a 2-D id array."""
    if a.ndim != 2 or a.shape[1] == 0:
        return a
    used = np.flatnonzero((a != PAD_ID).any(axis=0))  # columns with at least one real token
    width = int(used[-1]) + 1 if used.size else 0
    return a[:, :width]
