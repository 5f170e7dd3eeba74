"""Train a small WordPiece tokenizer (BERT's algorithm) with the `tokenizers` library on text generated here."""

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from transformer_anatomy.tasks import number_to_words
from transformer_anatomy.tasks.sentiment import draw_sentence

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # they get ids 0..4 in this vocabulary


def make_corpus(n_numbers=300, n_reviews=300, seed=0):
    """Number words ("six thousand three hundred and sixty nine") and movie-review sentences, from the task generators."""
    rng = np.random.default_rng(seed)
    lines = [" ".join(number_to_words(int(n))) for n in rng.integers(1, 10000, n_numbers)]
    lines += [" ".join(draw_sentence(rng)[0]) for _ in range(n_reviews)]
    return lines


# --8<-- [start:train]
def train_wordpiece(corpus, vocab_size):
    """A BERT-style tokenizer: lowercase, split on spaces and punctuation, WordPiece with '##' continuations."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                                              show_progress=False))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(  # what BERT adds around one sentence or a pair
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return tok
# --8<-- [end:train]


def tokens_per_word(tok, corpus):
    """Average number of pieces per word over the corpus (specials excluded)."""
    words = sum(len(line.split()) for line in corpus)
    pieces = sum(len(tok.encode(line, add_special_tokens=False).tokens) for line in corpus)
    return pieces / words


def retraining_agreement(corpus, vocab_size, runs=5):
    """How many of ``runs`` retrainings on the same corpus reproduce the first vocabulary (token -> id) exactly."""
    first = train_wordpiece(corpus, vocab_size).get_vocab()
    return sum(train_wordpiece(corpus, vocab_size).get_vocab() == first for _ in range(runs))


WORDS = ["seventeen", "seventy", "nineteen", "fourteenth", "sixtieth", "Ninety-Nine!", "unbelievably"]


def report():
    """Print how words split at two vocabulary sizes, then a padded pair batch as BERT receives it."""
    corpus = make_corpus()
    print(f"corpus: {len(corpus)} lines, {sum(len(line.split()) for line in corpus):,} words, e.g.")
    print("  ", corpus[0], "|", corpus[-1])
    for vocab_size in (120, 200):
        tok = train_wordpiece(corpus, vocab_size)
        print(f"\nWordPiece, vocab_size={vocab_size} (got {tok.get_vocab_size()}), "
              f"{tokens_per_word(tok, corpus):.2f} pieces per corpus word")
        for word in WORDS:
            enc = tok.encode(word, add_special_tokens=False)
            print(f"  {word:14s} -> {enc.tokens}  ids {enc.ids}")
        vocab = tok.get_vocab()
        print(f"  in the vocabulary: 'b' {'b' in vocab}, '##b' {'##b' in vocab}, '-' {'-' in vocab}, '!' {'!' in vocab}")
    print(f"\nretrained 5 times on the same corpus (vocab_size=200): "
          f"{retraining_agreement(corpus, 200)} of 5 gave the first run's token -> id map")
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    batch = tok.encode_batch([("the plot was good", "i loved the music"), ("seventy seven", "thousand")])
    print("\na batch of two sentence pairs, padded:")
    for enc in batch:
        print("  tokens        ", enc.tokens)
        print("  input_ids     ", enc.ids)
        print("  token_type_ids", enc.type_ids)
        print("  attention_mask", enc.attention_mask)
    print("decode(ids of pair 2):", repr(tok.decode(batch[1].ids)))
