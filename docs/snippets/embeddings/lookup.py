"""An embedding lookup is a one-hot vector times the embedding matrix, computed without the matmul."""

import numpy as np
import torch
import torch.nn.functional as F

from transformer_anatomy.numpy import Embedding
from transformer_anatomy.tasks import Vocab

SENTENCE = "the cat sat on the mat"


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


def report():
    r = one_hot_vs_lookup()
    np.set_printoptions(precision=3, suppress=True)
    print(f"tokens: {SENTENCE.split()}  ids: {r['ids'].tolist()}  V = {len(r['vocab'])}")
    print(f"one_hot (L, V) =\n{r['one_hot'].astype(int)}")
    print(f"one_hot @ W    =\n{r['by_matmul']}")
    print(f"W[ids]         =\n{r['by_lookup']}")
    print(f"max |one_hot @ W - W[ids]|: NumPy {r['numpy_diff']:.1e}, torch {r['torch_diff']:.1e}")
    print(f"max |nn.Embedding - our Embedding| = {r['torch_vs_numpy']:.1e}")
