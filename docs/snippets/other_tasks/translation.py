"""The numbers task seen as translation, and a second, real language pair (docs/other-tasks.md).

``make_numbers_task`` already is a translation task: a source language (English number
words), a target language (digits), two vocabularies, lengths that differ. This file prints
what the code holds for each, and builds a tiny English -> French pair set (numbers
0..999 written in both languages) to show what a real pair adds: a target vocabulary of
words, alignments that cross, and agreement ("quatre vingts" but "quatre vingt un").
"""

import numpy as np

from transformer_anatomy.tasks import make_numbers_task, number_to_words
from transformer_anatomy.tasks.vocab import SPECIALS

# --8<-- [start:french]
FR_UNITS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf",
            "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize")
FR_TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def french_below_100(n):
    """0..99 in French words (traditional spelling, hyphens read as spaces)."""
    if n <= 16:
        return [FR_UNITS[n]]
    if n < 20:
        return ["dix", FR_UNITS[n - 10]]  # dix sept, dix huit, dix neuf
    if n < 70:
        tens, unit = divmod(n, 10)
        return [FR_TENS[tens]] + (["et", "un"] if unit == 1 else [FR_UNITS[unit]] if unit else [])
    if n < 80:  # 70..79 = 60 + 10..19: soixante dix, soixante et onze, soixante douze
        return ["soixante"] + (["et"] if n == 71 else []) + french_below_100(n - 60)
    if n == 80:
        return ["quatre", "vingts"]  # 4 x 20, with the plural s
    return ["quatre", "vingt"] + french_below_100(n - 80)  # 81..99 = 4 x 20 + 1..19, no "et"


def french(n):
    """0..999 in French words: cent, deux cents, deux cent un."""
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return french_below_100(rest)
    head = ["cent"] if hundreds == 1 else [FR_UNITS[hundreds], "cent" if rest else "cents"]
    return head + (french_below_100(rest) if rest else [])
# --8<-- [end:french]


# --8<-- [start:build]
def build_numbers_translator():
    """The numbers task and an encoder-decoder sized for its two vocabularies."""
    from transformer_anatomy.torch import Seq2SeqTransformer

    data = make_numbers_task()  # English number words -> digits
    model = Seq2SeqTransformer(src_vocab_size=len(data.src_vocab),  # rows of src_tok_emb
                               tgt_vocab_size=len(data.tgt_vocab))  # rows of tgt_tok_emb and generator
    return data, model
# --8<-- [end:build]


def french_pairs(max_number=999):
    """(English words, French words) for 0..max_number."""
    return [(number_to_words(n), french(n)) for n in range(max_number + 1)]


def vocab_of(sentences):
    return sorted({w for s in sentences for w in s})


def length_stats(src_lens, tgt_lens):
    src, tgt = np.asarray(src_lens, float), np.asarray(tgt_lens, float)
    return {"src_mean": src.mean(), "tgt_mean": tgt.mean(), "src_max": int(src.max()), "tgt_max": int(tgt.max()),
            "ratio_mean": float(np.mean(tgt / src)), "ratio_min": float(np.min(tgt / src)),
            "ratio_max": float(np.max(tgt / src)), "same_length": float(np.mean(src == tgt)),
            "shorter": float(np.mean(tgt < src)), "longer": float(np.mean(tgt > src)),
            "n": len(src), "n_longer": int(np.sum(tgt > src))}


def numbers_view():
    """The numbers task's two vocabularies and lengths (training split)."""
    data = make_numbers_task()
    tr = data.splits["train"]
    src_len = tr["src_len"]
    tgt_len = tr["tgt_len"] - 1  # tgt_len counts <eos>; the digits alone
    return data, length_stats(src_len, tgt_len)


def report_numbers():
    data, st = numbers_view()
    n_special = len(SPECIALS)
    src_words = [data.src_vocab.idx2word[i] for i in range(n_special, len(data.src_vocab))]
    tgt_words = [data.tgt_vocab.idx2word[i] for i in range(n_special, len(data.tgt_vocab))]
    print(f"- source vocabulary (`src_vocab`): V_src = {len(data.src_vocab)} = {n_special} specials + "
          f"{len(src_words)} English words: {' '.join(src_words)}")
    print(f"- target vocabulary (`tgt_vocab`): V_tgt = {len(data.tgt_vocab)} = {n_special} specials + "
          f"{len(tgt_words)} digits: {' '.join(tgt_words)}")
    print(f"- lengths (training split): source {st['src_mean']:.2f} words on average (at most {st['src_max']}), "
          f"target {st['tgt_mean']:.2f} digits (at most {st['tgt_max']}); target/source ratio "
          f"{st['ratio_mean']:.2f} on average, from {st['ratio_min']:.2f} to {st['ratio_max']:.2f}; "
          f"the target is shorter in {st['shorter']:.0%} of the pairs, as long in {st['same_length']:.0%}, and longer "
          f"in {st['n_longer']} of the {st['n']:,}")


def report_model_shapes():
    """Where the two vocabularies and the lengths enter Seq2SeqTransformer."""
    data, model = build_numbers_translator()
    _, st = numbers_view()
    for name in ("src_tok_emb.weight", "tgt_tok_emb.weight", "generator.weight"):
        print(f"- `{name}`: {tuple(model.state_dict()[name].shape)}")
    print(f"- decoding stops at `<eos>` or after `max_decode_len` tokens; the trainer's default is the "
          f"target width + 1 = {data.splits['train']['tgt'].shape[1]} (`<sos>` + {st['tgt_max']} digits + `<eos>`)")


def report_french(show=(0, 17, 71, 80, 81, 97, 200, 201)):
    pairs = french_pairs()
    en, fr = [p[0] for p in pairs], [p[1] for p in pairs]
    st = length_stats([len(s) for s in en], [len(t) for t in fr])
    shared = sorted(set(vocab_of(en)) & set(vocab_of(fr)))
    print(f"- {len(pairs)} pairs (0..{len(pairs) - 1}); English vocabulary {len(vocab_of(en))} words, "
          f"French {len(vocab_of(fr))} words, shared: {len(shared)}")
    print(f"- lengths: English {st['src_mean']:.2f} words on average, French {st['tgt_mean']:.2f}; French/English "
          f"ratio from {st['ratio_min']:.2f} to {st['ratio_max']:.2f}; French is shorter in {st['shorter']:.0%} of the "
          f"pairs, longer in {st['longer']:.0%}")
    print()
    print("| n | English (source) | French (target) |")
    print("|---|---|---|")
    for n in show:
        print(f"| {n} | {' '.join(en[n])} | {' '.join(fr[n])} |")
