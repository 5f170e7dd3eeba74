"""Number words to digits: a small translation task for the encoder-decoder.

The source is an English number between 0 and 9999 written in words, the target its
digits, one token per digit::

    three hundred and twelve          ->  3 1 2
    forty five                        ->  4 5
    seven thousand and nine           ->  7 0 0 9
    one thousand two hundred and six  ->  1 2 0 6

Unlike reversal, source and target have different vocabularies and lengths, and the
alignment is not monotone token-for-token: "seven thousand and nine" must produce two
zeros that no source word spells out, and "twelve" becomes two digits. That is what makes
it a *translation* task for the "data flow by task" page (generation: teacher forcing
during training, autoregressive decoding at test time).

Conventions (British style, applied consistently):

- ``0`` is "zero"; tens and units are separate tokens ("forty five", no hyphen).
- "and" comes after "hundred" and after "thousand" when a non-zero remainder below 100
  follows: "one hundred and one", "two thousand and twenty four", "five thousand and
  nine". There is no "and" between "thousand" and a hundreds part: "one thousand two
  hundred and thirty four".
- Always "one hundred" / "one thousand" (never "a hundred"), and 1100-1999 are said with
  "thousand" ("one thousand one hundred", not "eleven hundred").
- Digits have no leading zeros; ``0`` is the single digit "0".

Splits are disjoint *by number*. :func:`words_to_number` is an independent parser used to
check the generator. Page: ``docs/data-flow.md`` (generation).
"""

from __future__ import annotations

import numpy as np

from .task_data import SPLITS, TaskData, as_generator, check_count, split_sizes, stack_splits
from .vocab import Vocab

MAX_NUMBER = 9999

UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
NUMBER_WORDS: tuple[str, ...] = UNITS + TEENS + TENS[2:] + ("hundred", "thousand", "and")
DIGITS: tuple[str, ...] = tuple("0123456789")


def _check_number(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number must be an integer, got {n!r}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number must be in 0..{MAX_NUMBER}, got {n}")
    return int(n)


# --8<-- [start:number_to_words]
def number_to_words(n: int) -> list[str]:
    """``0 .. 9999`` -> English words (British "and"), one list element per word.

    >>> " ".join(number_to_words(2024))
    'two thousand and twenty four'

    Examples:
        >>> number_to_words(342)
        ['three', 'hundred', 'and', 'forty', 'two']
        >>> words_to_number(number_to_words(342)), number_to_digits(342)
        (342, ['3', '4', '2'])
    """
    n = _check_number(n)
    if n == 0:
        return ["zero"]
    return _words_1_to_9999(n)


def _words_below_100(n: int) -> list[str]:  # 1 .. 99
    if n < 10:
        return [UNITS[n]]
    if n < 20:
        return [TEENS[n - 10]]
    tens, units = divmod(n, 10)
    return [TENS[tens]] + ([UNITS[units]] if units else [])


def _words_below_1000(n: int) -> list[str]:  # 1 .. 999
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return _words_below_100(rest)
    words = [UNITS[hundreds], "hundred"]
    return words + (["and"] + _words_below_100(rest) if rest else [])


def _words_1_to_9999(n: int) -> list[str]:
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return _words_below_1000(rest)
    words = [UNITS[thousands], "thousand"]
    if rest == 0:
        return words
    if rest < 100:
        return words + ["and"] + _words_below_100(rest)  # "seven thousand and nine"
    return words + _words_below_1000(rest)  # "one thousand two hundred and ..."
# --8<-- [end:number_to_words]


def number_to_digits(n: int) -> list[str]:
    """``0 .. 9999`` -> its decimal digits as tokens, no leading zeros (``1010`` -> ``1 0 1 0``)."""
    return list(str(_check_number(n)))


def words_to_number(words: list[str] | str) -> int:
    """Parse number words back to an int; raises ``ValueError`` naming a word or form it rejects.

    The parser accumulates values (units/teens/tens add, "hundred" multiplies, "thousand"
    closes a group) and then insists the words are exactly the canonical spelling of the
    result, so "four hundred twelve" (missing "and") or "and one" are rejected.
    """
    tokens = words.split() if isinstance(words, str) else list(words)
    if not tokens:
        raise ValueError("no number words given")
    values = {w: i for i, w in enumerate(UNITS)} | {w: 10 + i for i, w in enumerate(TEENS)}
    values |= {w: 10 * i for i, w in enumerate(TENS) if w}
    total, current = 0, 0
    for w in tokens:
        if w in values:
            current += values[w]
        elif w == "hundred":
            current *= 100
        elif w == "thousand":
            total += current * 1000
            current = 0
        elif w == "and":
            continue
        else:
            raise ValueError(f"not a number word: {w!r}")
    n = total + current
    if n > MAX_NUMBER or number_to_words(n) != tokens:
        raise ValueError(f"{' '.join(tokens)!r} is not the canonical spelling of a number in 0..{MAX_NUMBER}")
    return n


def digits_to_number(digits: list[str] | str) -> int:
    """Digit tokens (``["7", "0", "0", "9"]`` or ``"7 0 0 9"``) -> int."""
    tokens = digits.split() if isinstance(digits, str) else list(digits)
    if not tokens or any(t not in DIGITS for t in tokens):
        raise ValueError(f"not a digit sequence: {tokens!r}")
    return int("".join(tokens))


# --8<-- [start:make]
def make_numbers_task(
    n_train: int = 8_000,
    n_valid: int = 1_000,
    n_test: int = 1_000,
    max_number: int = MAX_NUMBER,
    rng: int | np.random.Generator = 0,
) -> TaskData:
    """Generate the number-words -> digits translation task.

    The numbers ``0 .. max_number`` are shuffled and dealt to train, valid and test, so no
    number appears in two splits (``n_train + n_valid + n_test <= max_number + 1``).

    Returns:
        TaskData: ``kind="seq2seq"``, fields ``src, src_len, tgt, tgt_in, tgt_out, tgt_len``; ``src_vocab``
            holds the 31 number words (plus specials), ``tgt_vocab`` the ten digits.

    Shape:
        src: ``(N, S)`` (S = 7 words at most: "seven thousand seven hundred and seventy
        seven"); tgt: ``(N, 6)``; tgt_in, tgt_out: ``(N, 5)``; src_len, tgt_len: ``(N,)``

    Examples:
        >>> data = make_numbers_task(n_train=4, n_valid=2, n_test=2)
        >>> " ".join(data.src_vocab.decode(data.train["src"][0])), "".join(data.tgt_vocab.decode(data.train["tgt_out"][0]))
        ('three thousand five hundred and seventy seven', '3577')
    """
    sizes = split_sizes(n_train, n_valid, n_test)
    max_number = check_count("max_number", max_number)
    if max_number > MAX_NUMBER:
        raise ValueError(f"max_number must be <= {MAX_NUMBER}, got {max_number}")
    total = sum(sizes.values())
    if total > max_number + 1:
        raise ValueError(
            f"n_train + n_valid + n_test = {total} exceeds the {max_number + 1} numbers 0..{max_number}"
        )
    gen = as_generator(rng)
    src_vocab, tgt_vocab = Vocab(NUMBER_WORDS), Vocab(DIGITS)
    numbers = gen.permutation(max_number + 1)[:total].tolist()  # distinct numbers
    examples, lo = {}, 0
    for split in SPLITS:
        examples[split] = []
        for n in numbers[lo : lo + sizes[split]]:
            src = src_vocab.encode(number_to_words(n))
            tgt = tgt_vocab.encode(number_to_digits(n), add_sos=True, add_eos=True)
            examples[split].append({"src": src, "tgt": tgt, "tgt_in": tgt[:-1], "tgt_out": tgt[1:],
                                    "src_len": len(src), "tgt_len": len(tgt) - 1})
        lo += sizes[split]
    arrays = stack_splits(examples, ["src", "tgt", "tgt_in", "tgt_out"], ["src_len", "tgt_len"])
    params = {"n_train": n_train, "n_valid": n_valid, "n_test": n_test, "max_number": max_number}
    return TaskData("numbers", "seq2seq", arrays, src_vocab=src_vocab, tgt_vocab=tgt_vocab, params=params)
# --8<-- [end:make]
