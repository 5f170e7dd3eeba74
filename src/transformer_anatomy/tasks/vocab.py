"""Vocabularies: tokens to integer ids and back, and padding a batch of id lists.

A model sees integers, not words. ``Vocab`` is the word-level table (``word2idx`` and
``idx2word``) that every task here uses; ``CharVocab`` is the same table with characters as
tokens. Four special tokens come first, always with the same ids, so that ``pad_id=0``
(the default of every model in this project) means the same thing everywhere:

======  ===  ==========================================================
token   id   meaning
======  ===  ==========================================================
<pad>   0    filler after the end of a shorter sequence; masked out
<sos>   1    start of sequence: the first decoder input ("shifted right")
<eos>   2    end of sequence: the decoder's last target, generation stops
<unk>   3    any token the vocabulary has never seen
======  ===  ==========================================================

Tasks may add their own specials after these (question answering adds ``<sep>`` = 4).

Page: ``docs/embeddings.md`` (tokenization, padding) and ``docs/data-flow.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


# --8<-- [start:vocab]
class Vocab:
    """Word-level vocabulary: ``word2idx`` / ``idx2word`` with ``<pad> <sos> <eos> <unk>`` first.

    Args:
        tokens (iterable of str): The ordinary tokens, in id order (ids start after the specials).
            Duplicates and tokens equal to a special are skipped.
        extra_specials (sequence of str): Task-specific special tokens placed right after the four standard
            ones (for example ``("<sep>",)`` gets id 4).

    Attributes:
        word2idx (dict[str, int]): Token -> id.
        idx2word (dict[int, str]): Id -> token; ids are ``0 .. len(vocab) - 1``.
        specials (tuple[str, ...]): The four standard specials followed by ``extra_specials``.

    Shape:
        encode: ``L`` tokens -> ``L + add_sos + add_eos`` ids (a list); decode: ids ``(L,)``
        -> ``L' <= L`` tokens; ids range over ``0 .. V - 1`` with ``V = len(vocab)``.

    Examples:
        >>> v = Vocab.build([["the", "movie", "was", "good"], ["the", "plot"]])
        >>> v.encode(["the", "plot", "was", "bad"], add_sos=True, add_eos=True)
        [1, 4, 7, 8, 3, 2]
        >>> v.decode([1, 4, 7, 8, 3, 2])
        ['the', 'plot', 'was', '<unk>']
    """

    def __init__(self, tokens: Iterable[str] = (), extra_specials: Sequence[str] = ()):
        extra = tuple(extra_specials)
        for s in extra:
            if not isinstance(s, str) or not s:
                raise ValueError(f"extra special tokens must be non-empty strings, got {s!r}")
        self.specials: tuple[str, ...] = SPECIALS + tuple(s for s in extra if s not in SPECIALS)
        self.word2idx: dict[str, int] = {}
        self.idx2word: dict[int, str] = {}
        for tok in self.specials:
            self._add(tok)
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(f"tokens must be strings, got {tok!r} of type {type(tok).__name__}")
            self._add(tok)

    def _add(self, tok: str) -> None:
        if tok not in self.word2idx:
            idx = len(self.word2idx)
            self.word2idx[tok] = idx
            self.idx2word[idx] = tok

    @classmethod
    def build(
        cls,
        sequences: Iterable[Sequence[str] | str],
        min_freq: int = 1,
        extra_specials: Sequence[str] = (),
    ) -> Vocab:
        """Build a vocabulary from tokenized sequences, keeping tokens seen ``min_freq`` times.

        Ordinary tokens are ordered by decreasing frequency, ties alphabetically, so the same
        corpus always gives the same ids. A ``str`` element is tokenized with
        :meth:`tokenize` (whitespace for words, characters for ``CharVocab``).
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, (int, np.integer)) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        counts: Counter[str] = Counter()
        for seq in sequences:
            counts.update(cls.tokenize(seq) if isinstance(seq, str) else seq)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(kept, extra_specials=extra_specials)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """Split text into tokens: on whitespace (words)."""
        return text.split()

    @staticmethod
    def detokenize(tokens: Sequence[str]) -> str:
        """Join tokens back into text with single spaces."""
        return " ".join(tokens)

    def __len__(self) -> int:
        return len(self.word2idx)

    def __contains__(self, tok: object) -> bool:
        return tok in self.word2idx

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self)}, specials={list(self.specials)})"

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def sos_id(self) -> int:
        return SOS_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order (specials first)."""
        return [self.idx2word[i] for i in range(len(self))]

    def encode(self, tokens: Sequence[str] | str, add_sos: bool = False, add_eos: bool = False) -> list[int]:
        """Tokens -> ids; unknown tokens become ``<unk>`` (3).

        A ``str`` is tokenized first with :meth:`tokenize`.

        Shape:
            tokens: ``(L,)`` -> ids: ``(L + add_sos + add_eos,)``
        """
        if isinstance(tokens, str):
            tokens = self.tokenize(tokens)
        ids = [self.word2idx.get(t, UNK_ID) for t in tokens]
        if add_sos:
            ids.insert(0, SOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> list[str]:
        """Ids -> tokens.

        With ``strip_specials=True`` decoding stops at the first ``<eos>`` (what a model
        writes after it is not part of its answer) and drops ``<pad>`` and ``<sos>``;
        ``<unk>`` and task specials such as ``<sep>`` are kept because they carry meaning.
        An id outside ``0 .. len(vocab) - 1`` raises ``ValueError``.

        Shape:
            ids: ``(L,)`` -> tokens: ``(L',)`` with ``L' <= L``
        """
        arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
        if arr.ndim > 1:
            raise ValueError(f"decode takes one sequence of ids, got an array of shape {arr.shape}")
        out: list[str] = []
        for i in arr.tolist():
            if isinstance(i, float) and not float(i).is_integer():
                raise ValueError(f"token ids must be integers, got {i!r}")
            i = int(i)
            if i not in self.idx2word:
                raise ValueError(f"token id {i} is out of range for a vocabulary of size {len(self)}")
            if strip_specials:
                if i == EOS_ID:
                    break
                if i in (PAD_ID, SOS_ID):
                    continue
            out.append(self.idx2word[i])
        return out
# --8<-- [end:vocab]


class CharVocab(Vocab):
    """Character-level vocabulary: the same interface as :class:`Vocab`, one token per character.

    Shape:
        as :class:`Vocab`, with one token per character: encode of a string of ``L``
        characters -> ``L + add_sos + add_eos`` ids; decode: ids ``(L,)`` -> ``L' <= L``
        characters.

    Examples:
        >>> v = CharVocab.build(["hello", "world"])
        >>> v.detokenize(v.decode(v.encode("hold", add_eos=True)))
        'hold'
    """

    def __init__(self, tokens: Iterable[str] = (), extra_specials: Sequence[str] = ()):
        tokens = list(tokens)
        for t in tokens:
            if not isinstance(t, str) or len(t) != 1:
                raise ValueError(f"CharVocab tokens must be single characters, got {t!r}")
        super().__init__(tokens, extra_specials=extra_specials)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """Split text into characters (spaces included)."""
        return list(text)

    @staticmethod
    def detokenize(tokens: Sequence[str]) -> str:
        """Join characters back into text."""
        return "".join(tokens)


# --8<-- [start:pad_batch]
def pad_batch(
    seqs: Sequence[Sequence[int]], pad_id: int = PAD_ID, width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack id lists of different lengths into one array, padding on the right.

    Args:
        seqs (sequence of sequences of int): ``N`` id lists.
        pad_id (int): Filler id (``<pad>`` = 0).
        width (int, optional): Pad to this many columns instead of the longest sequence (must be >= the
            longest).

    Returns:
        ids (np.ndarray of int64): The padded batch.
        lengths (np.ndarray of int64): The number of real (non-pad) tokens in each row.

    Shape:
        seqs: ``N`` lists of lengths ``L_i`` -> ids: ``(N, L)`` with ``L = max_i L_i``
        (or ``width``), lengths: ``(N,)``

    Examples:
        >>> ids, lengths = pad_batch([[4, 5, 6], [7]])
        >>> ids.tolist(), lengths.tolist()
        ([[4, 5, 6], [7, 0, 0]], [3, 1])
    """
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    longest = int(lengths.max()) if len(lengths) else 0
    if width is None:
        width = longest
    elif width < longest:
        raise ValueError(f"width={width} is shorter than the longest sequence ({longest})")
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)  # (N, L) all pad
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = s  # real tokens first, pad after
    return ids, lengths
# --8<-- [end:pad_batch]
