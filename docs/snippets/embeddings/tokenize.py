"""Tokenization: words -> ids with a Vocab, special tokens, padding a batch to its longest sequence."""

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from transformer_anatomy.numpy import make_key_padding_mask
from transformer_anatomy.tasks import Vocab, pad_batch
from transformer_anatomy.viz import figure_to_svg

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
]
BATCH = ["the cat saw the dog", "a dog sat", "the bird sat on the mat"]  # "bird" was never seen


# --8<-- [start:build]
def build():
    """The vocabulary of CORPUS and the padded batch of BATCH (with <sos> and <eos>)."""
    vocab = Vocab.build(CORPUS)  # strings are split on whitespace
    seqs = [vocab.encode(s, add_sos=True, add_eos=True) for s in BATCH]
    ids, lengths = pad_batch(seqs, pad_id=vocab.pad_id)  # (N, L) with L = the longest
    return vocab, seqs, ids, lengths
# --8<-- [end:build]


def report_vocab():
    """Print word2idx as a Markdown table (specials first, then by frequency)."""
    vocab, *_ = build()
    print(f"{len(vocab)} tokens, the specials first:\n")
    print("| id | " + " | ".join(str(i) for i in vocab.word2idx.values()) + " |")
    print("|---|" + "---|" * len(vocab))
    print("| token | " + " | ".join(f"`{w}`" for w in vocab.word2idx) + " |")


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


def padding_figure():
    """The padded batch as a grid: one row per sequence, one cell per position, <pad> cells hatched."""
    vocab, seqs, ids, lengths = build()
    mask = make_key_padding_mask(ids, vocab.pad_id)  # (N, L) True at <pad>
    N, L = ids.shape
    fig = Figure(figsize=(7.5, 2.6), layout="constrained")
    ax = fig.subplots()
    for n in range(N):
        for p in range(L):
            tok = vocab.idx2word[int(ids[n, p])]
            pad = bool(mask[n, p])
            color = "tab:gray" if pad else ("tab:orange" if tok in vocab.specials else "tab:blue")
            ax.add_patch(Rectangle((p, n), 1, 1, facecolor=color, alpha=0.35, edgecolor="black",
                                   hatch="//" if pad else None, lw=0.8))
            ax.text(p + 0.5, n + 0.38, tok, ha="center", va="center", fontsize=8)
            ax.text(p + 0.5, n + 0.75, str(int(ids[n, p])), ha="center", va="center", fontsize=7)
    ax.set_xlim(0, L)
    ax.set_ylim(N, 0)
    ax.set_xticks([p + 0.5 for p in range(L)], [str(p) for p in range(L)])
    ax.set_yticks([n + 0.5 for n in range(N)], [f"sequence {n}" for n in range(N)])
    ax.set_xlabel("position (token, id below)")
    ax.set_aspect("equal")
    return fig, {"N": N, "L": L, "pads": int(mask.sum()), "lengths": lengths.tolist()}


def report_padding_figure():
    fig, _ = padding_figure()
    print(figure_to_svg(fig, alt="The padded batch as a grid of sequences by positions: each cell holds a token "
                                 "and its id; the pad cells at the right end of the shorter sequences are hatched grey",
                        caption="The padded batch: blue = ordinary tokens, orange = &lt;sos&gt;/&lt;eos&gt;/&lt;unk&gt;, "
                                "hatched grey = &lt;pad&gt; (True in the key padding mask)."))


def notice_padding():
    """One Markdown sentence, its numbers from the batch itself."""
    vocab, seqs, ids, lengths = build()
    _, info = padding_figure()
    short = min(range(len(seqs)), key=lambda i: lengths[i])
    print(f"The batch is one $(N, L) = ({info['N']}, {info['L']})$ array: $L$ is the length of the "
          f"longest sequence, {max(lengths)} ids with `<sos>` and `<eos>`. Sequence {short}, the shortest, "
          f"carries {info['L'] - lengths[short]} pad cells; the whole batch {info['pads']} of its "
          f"{info['N'] * info['L']} cells. The unseen word *bird* became `<unk>` "
          f"(id `{vocab.unk_id}`).")
