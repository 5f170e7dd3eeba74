"""An embedding lookup is a one-hot vector times the embedding matrix, computed without the matmul."""

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from transformer_anatomy.numpy import Embedding
from transformer_anatomy.tasks import Vocab
from transformer_anatomy.viz import figure_to_svg

SENTENCE = "the cat sat on the mat"


# --8<-- [start:one_hot_vs_lookup]
def one_hot_vs_lookup(E=4, seed=0):
    """Return the ids, the one-hot matrix, both products and the max differences (NumPy and torch)."""
    vocab = Vocab.build([SENTENCE])
    ids = np.array(vocab.encode(SENTENCE))  # (L,)
    emb = Embedding(len(vocab), E, dtype=np.float64, rng=seed)
    W = emb.weight  # (V, E)
    one_hot = np.eye(len(vocab))[ids]  # (L, V): row l has a single 1, in column ids[l]
    by_matmul = one_hot @ W  # (L, V) @ (V, E) -> (L, E)
    by_lookup = emb.forward(ids)  # W[ids], (L,) -> (L, E)
    t_emb = torch.nn.Embedding(len(vocab), E, dtype=torch.float64)
    with torch.no_grad():
        t_emb.weight.copy_(torch.from_numpy(W))
        t_ids = torch.from_numpy(ids)
        t_matmul = F.one_hot(t_ids, len(vocab)).to(torch.float64) @ t_emb.weight  # (L, V) @ (V, E)
        t_lookup = t_emb(t_ids)  # (L,) -> (L, E)
    return {
        "vocab": vocab, "ids": ids, "one_hot": one_hot, "W": W,
        "by_matmul": by_matmul, "by_lookup": by_lookup,
        "numpy_diff": float(np.abs(by_matmul - by_lookup).max()),
        "torch_diff": float((t_matmul - t_lookup).abs().max()),
        "torch_vs_numpy": float(np.abs(t_lookup.numpy() - by_lookup).max()),
    }
# --8<-- [end:one_hot_vs_lookup]


def report():
    r = one_hot_vs_lookup()
    with np.printoptions(precision=3, suppress=True):
        _print_products(r)


def _print_products(r):
    print(f"tokens: {SENTENCE.split()}  ids: {r['ids'].tolist()}  V = {len(r['vocab'])}")
    print(f"one_hot (L, V) =\n{r['one_hot'].astype(int)}")
    print(f"one_hot @ W    =\n{r['by_matmul']}")
    print(f"W[ids]         =\n{r['by_lookup']}")
    print(f"max |one_hot @ W - W[ids]|: NumPy {r['numpy_diff']:.1e}, torch {r['torch_diff']:.1e}")
    print(f"max |nn.Embedding - our Embedding| = {r['torch_vs_numpy']:.1e}")


def lookup_figure(E=4, seed=0):
    """Left: the one-hot matrix (tokens x vocabulary); right: the rows W[ids] it selects (tokens x E)."""
    r = one_hot_vs_lookup(E, seed)
    vocab, ids = r["vocab"], r["ids"]
    tokens = [vocab.idx2word[int(i)] for i in ids]
    fig = Figure(figsize=(7.0, 2.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[len(vocab), E + 2])
    left.imshow(r["one_hot"], cmap="cividis", vmin=0, vmax=1, aspect="equal")
    left.set_xticks(range(len(vocab)), [vocab.idx2word[i] for i in range(len(vocab))], rotation=60, fontsize=8)
    left.set_yticks(range(len(ids)), [f"{t} ({i})" for t, i in zip(tokens, ids)], fontsize=8)
    left.set_xlabel("vocabulary (column = id)")
    left.set_title("onehot(ids): one 1 per row", fontsize=9)
    lim = float(np.abs(r["by_lookup"]).max())
    image = right.imshow(r["by_lookup"], cmap="viridis", vmin=-lim, vmax=lim, aspect="equal")
    right.set_xticks(range(E), [f"e{j}" for j in range(E)], fontsize=8)
    right.set_yticks(range(len(ids)), tokens, fontsize=8)
    right.set_xlabel("embedding dimension")
    right.set_title("onehot(ids) @ W = W[ids]", fontsize=9)
    fig.colorbar(image, ax=right, label="value", shrink=0.8)
    return fig, r


def report_lookup_figure():
    fig, r = lookup_figure()
    print(figure_to_svg(fig, alt="Left: the one-hot matrix of the sentence, one bright cell per row in the column of "
                                 "the token's id; right: the embedding rows those cells select, with the two rows of "
                                 "'the' identical",
                        caption="The one-hot product selects rows of W: both occurrences of <em>the</em> get the same row."))


def notice_lookup():
    r = one_hot_vs_lookup()
    L, V = r["one_hot"].shape
    print(f"Of the {L * V} entries of the one-hot matrix, {int(r['one_hot'].sum())} are ones, one per token. "
          f"The product and the lookup agree exactly, in NumPy (max difference {r['numpy_diff']:.1f}) and in "
          f"PyTorch ({r['torch_diff']:.1f}); the repeated word *the* receives the same row both times.")
