"""Tokenization: words -> ids with a Vocab, special tokens, padding a batch to its longest sequence."""

from transformer_anatomy.numpy import make_key_padding_mask
from transformer_anatomy.tasks import Vocab, pad_batch

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
]
BATCH = ["the cat saw the dog", "a dog sat", "the bird sat on the mat"]  # "bird" was never seen


def build():
    """The vocabulary of CORPUS and the padded batch of BATCH (with <sos> and <eos>)."""
    vocab = Vocab.build(CORPUS)  # strings are split on whitespace
    seqs = [vocab.encode(s, add_sos=True, add_eos=True) for s in BATCH]
    ids, lengths = pad_batch(seqs, pad_id=vocab.pad_id)  # (N, L) with L = the longest
    return vocab, seqs, ids, lengths


def report_vocab():
    """Print word2idx."""
    vocab, *_ = build()
    print(f"{len(vocab)} tokens; specials first: {list(vocab.specials)}")
    for word, idx in vocab.word2idx.items():
        print(f"  {idx:2d}  {word}")


def report_batch():
    """Print each sentence's ids, the padded batch, the lengths and the key padding mask."""
    vocab, seqs, ids, lengths = build()
    for text, seq in zip(BATCH, seqs):
        print(f"{text!r:28} -> {seq}")
        print(f"{'':28}    {vocab.decode(seq, strip_specials=False)}")
    print(f"\npad_batch -> ids {ids.shape} (N, L):\n{ids}")
    print(f"lengths = {lengths}")
    print(f"key padding mask (True = <pad>, may not be attended to):\n{make_key_padding_mask(ids, vocab.pad_id).astype(int)}")
    print(f"decode(ids[1]) = {vocab.decode(ids[1])}  (stops at <eos>, drops <pad> and <sos>)")
