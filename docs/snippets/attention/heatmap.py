"""Attention weights on a real sentence, drawn at build time.

No trained model is needed to see what attention computes: with queries = keys = values = the
token vectors themselves (no projections), each query scores every key by similarity, and in
E = 64 dimensions a random vector is far more similar to itself than to any other. So a token
attends to itself and to the other occurrences of the same word; the causal mask hides every
key to the right of the query; adding the positional encoding makes equal words at different
positions different vectors, so each occurrence prefers itself.
"""

import numpy as np

from transformer_anatomy.numpy import Embedding, scaled_dot_product_attention, sinusoidal_table
from transformer_anatomy.tasks import Vocab
from transformer_anatomy.viz import figure_to_svg, plot_attention

SENTENCE = "the cat sat on the mat because the cat was tired"
PANELS = ("no mask", "causal mask", "no mask, + positions")


# --8<-- [start:similarity]
def similarity_attention(sentence=SENTENCE, E=64, seed=0):
    """Weights (3, T, T) for the three PANELS, with q = k = v = the token vectors."""
    vocab = Vocab.build([sentence])
    tokens = sentence.split()
    x = Embedding(len(vocab), E, dtype=np.float64, rng=seed).forward(np.array(vocab.encode(tokens)))  # (T, E)
    xp = x + sinusoidal_table(len(tokens), E)  # (T, E) + (T, E)
    _, both = scaled_dot_product_attention(x, x, x)  # (T, T)
    _, causal = scaled_dot_product_attention(x, x, x, is_causal=True)  # (T, T), zero above the diagonal
    _, positioned = scaled_dot_product_attention(xp, xp, xp)  # (T, T)
    return tokens, np.stack([both, causal, positioned])
# --8<-- [end:similarity]


def report():
    tokens, w = similarity_attention()
    fig = plot_attention(w, tokens, tokens, head_labels=list(PANELS))
    print(figure_to_svg(fig, alt="Attention weights of a sentence on itself: no mask, causal mask, and with positions added",
                        caption="Queries = keys = values = the token vectors themselves, no projections."))


def report_rows(t=4):
    """Where query t (the second "the") puts its weight in each panel."""
    tokens, w = similarity_attention()
    print(f"query {t} ({tokens[t]!r}), its three largest weights:")
    for name, panel in zip(PANELS, w):
        top = np.argsort(-panel[t], kind="stable")[:3]
        print(f"  {name:22}" + ", ".join(f"key {s} ({tokens[s]!r}) {panel[t, s]:.3f}" for s in top))
