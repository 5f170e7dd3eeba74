"""Sequence reversal: the classic toy task for an encoder-decoder Transformer.

The source is a random string of symbols (``a .. l`` by default), the target is the same
string backwards. Nothing about it needs world knowledge, so a small model learns it in
minutes, yet it exercises every part of the encoder-decoder: the decoder must attend to the
*mirror* position of the source (cross-attention maps show a clean anti-diagonal), it is
trained with teacher forcing (``tgt_in = <sos> y_1 .. y_m``, ``tgt_out = y_1 .. y_m <eos>``)
and evaluated by autoregressive decoding until ``<eos>``.

With ``min_len < max_len`` the sequences differ in length, so batches are padded and the
key-padding masks matter: a model that ignores them attends to ``<pad>`` and gets the
reversal of shorter sequences wrong.

Example (variable length)::

    src      c a f          (padded: c a f <pad> <pad>)
    tgt      <sos> f a c <eos>
    tgt_in   <sos> f a c
    tgt_out  f a c <eos>

The copy baseline (:func:`copy_baseline`: output the source unchanged) shows what "not
reversing" scores. Page: ``docs/training.md`` and ``docs/data-flow.md``
(generation).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from .metrics import sequence_exact_match, token_accuracy
from .task_data import SPLITS, TaskData, as_generator, check_count, sample_unique, split_sizes, stack_splits
from .vocab import EOS_ID, Vocab

# --8<-- [start:presets]
REVERSAL_PRESETS: dict[str, dict[str, int]] = {
    "fixed": {"min_len": 10, "max_len": 10},  # every sequence has 10 symbols: no padding
    "variable": {"min_len": 3, "max_len": 12},  # lengths vary: padding masks matter
}
# --8<-- [end:presets]


def reversal_example(src_tokens: list[str], vocab: Vocab) -> dict[str, list[int]]:
    """Build the id lists of one example from its source tokens.

    Returns ``src`` (the tokens), ``tgt`` (``<sos>`` + reversed + ``<eos>``), ``tgt_in``
    (``tgt[:-1]``) and ``tgt_out`` (``tgt[1:]``), plus ``src_len`` and ``tgt_len``.

    Shape:
        src_tokens: ``(m,)`` -> src: ``(m,)``, tgt: ``(m + 2,)``, tgt_in / tgt_out: ``(m + 1,)``
    """
    src = vocab.encode(src_tokens)
    tgt = vocab.encode(src_tokens[::-1], add_sos=True, add_eos=True)
    return {"src": src, "tgt": tgt, "tgt_in": tgt[:-1], "tgt_out": tgt[1:],
            "src_len": len(src), "tgt_len": len(tgt) - 1}


# --8<-- [start:make]
def make_reversal_task(
    n_train: int = 10_000,
    n_valid: int = 1_000,
    n_test: int = 1_000,
    min_len: int = 10,
    max_len: int = 10,
    num_symbols: int = 12,
    rng: int | np.random.Generator = 0,
) -> TaskData:
    """Generate the sequence reversal task.

    Args:
        n_train, n_valid, n_test (int): Examples per split; all examples are distinct sequences, so the
            splits are disjoint.
        min_len, max_len (int): Source lengths are drawn uniformly from ``min_len .. max_len`` (inclusive).
            The default ``10, 10`` is the fixed-length task; see ``REVERSAL_PRESETS["variable"]``.
        num_symbols (int): Ordinary symbols ``a, b, c, ...`` (1 to 26); with the 4 specials the vocabulary
            has ``num_symbols + 4`` entries (16 by default). ``src_vocab is tgt_vocab``.
        rng (int or np.random.Generator): Seed or generator; the same seed gives the same arrays.

    Returns:
        TaskData: ``kind="seq2seq"`` with fields ``src, src_len, tgt, tgt_in, tgt_out, tgt_len``.

    Shape:
        src: ``(N, S)`` with ``S = max_len``; tgt: ``(N, S + 2)``; tgt_in, tgt_out:
        ``(N, S + 1)``; src_len, tgt_len: ``(N,)``

    Examples:
        >>> data = make_reversal_task(n_train=4, n_valid=2, n_test=2, min_len=3, max_len=3, num_symbols=4)
        >>> data.src_vocab.decode(data.train["src"][0]), data.tgt_vocab.decode(data.train["tgt_out"][0])
        (['d', 'c', 'c'], ['c', 'c', 'd'])
        >>> data.train["src"].shape, data.train["tgt_in"].shape  # (N, S), (N, S + 1): <sos> then the reversal
        ((4, 3), (4, 4))
    """
    sizes = split_sizes(n_train, n_valid, n_test)
    min_len = check_count("min_len", min_len, minimum=1)
    max_len = check_count("max_len", max_len, minimum=1)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got min_len={min_len}, max_len={max_len}")
    num_symbols = check_count("num_symbols", num_symbols, minimum=1)
    if num_symbols > 26:
        raise ValueError(f"num_symbols must be <= 26, got {num_symbols}")
    gen = as_generator(rng)
    symbols = list(string.ascii_lowercase[:num_symbols])
    vocab = Vocab(symbols)

    def draw(g: np.random.Generator) -> tuple[str, ...]:
        m = int(g.integers(min_len, max_len + 1))  # length of this sequence
        return tuple(symbols[i] for i in g.integers(0, num_symbols, size=m))

    seqs = sample_unique(draw, sum(sizes.values()), gen)  # distinct sequences -> disjoint splits
    examples, lo = {}, 0
    for split in SPLITS:
        examples[split] = [reversal_example(list(s), vocab) for s in seqs[lo : lo + sizes[split]]]
        lo += sizes[split]
    arrays = stack_splits(examples, ["src", "tgt", "tgt_in", "tgt_out"], ["src_len", "tgt_len"])
    params = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test, "min_len": min_len,
              "max_len": max_len, "num_symbols": num_symbols}
    return TaskData("reversal", "seq2seq", arrays, src_vocab=vocab, tgt_vocab=vocab, params=params)
# --8<-- [end:make]


def copy_baseline(data: TaskData, split: str = "test") -> dict[str, Any]:
    """Score "output the source unchanged, then ``<eos>``" against ``tgt_out``.

    Only palindromes come out exactly right; token accuracy is about ``1 / num_symbols``
    on the symbols (plus the ``<eos>``, which is always right).

    Returns:
        dict: ``token_accuracy`` (non-pad positions of ``tgt_out``), ``exact_match`` and ``pred`` (the
            predicted ``(N, T)`` ids).

    Shape:
        reads src: ``(N, S)``, src_len: ``(N,)``, tgt_out: ``(N, T)`` with ``T = S + 1``
        of ``split`` -> pred: ``(N, T)`` int64

    Examples:
        >>> data = make_reversal_task(n_train=4, n_valid=2, n_test=2, min_len=3, max_len=3, num_symbols=4)
        >>> copy_baseline(data, "test")["exact_match"]  # these two test sources are no palindromes
        0.0
    """
    if data.name != "reversal":
        raise ValueError(f"copy_baseline is defined for the reversal task, got {data.name!r}")
    arrays = data.split(split)
    tgt_out = arrays["tgt_out"]
    N, T = tgt_out.shape  # batch, target length (symbols + <eos>)
    pred = np.zeros((N, T), dtype=np.int64)
    S = arrays["src"].shape[1]
    pred[:, :S] = arrays["src"]  # the source, unreversed
    pred[np.arange(N), arrays["src_len"]] = EOS_ID  # then <eos> right after it
    return {"token_accuracy": token_accuracy(pred, tgt_out),
            "exact_match": sequence_exact_match(pred, tgt_out), "pred": pred}


def reverse_ids(src: np.ndarray, src_len: np.ndarray) -> np.ndarray:
    """The reference answer computed directly: each row's first ``src_len`` ids reversed, then ``<eos>``.

    Shape:
        src: ``(N, S)``, src_len: ``(N,)`` -> ``(N, S + 1)``
    """
    src = np.asarray(src)
    N, S = src.shape
    out = np.zeros((N, S + 1), dtype=np.int64)
    for row in range(N):
        m = int(src_len[row])
        out[row, :m] = src[row, :m][::-1]
        out[row, m] = EOS_ID
    return out
