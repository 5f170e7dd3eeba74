"""Why the maximum is subtracted: the textbook formula overflows on large logits."""

import numpy as np

from transformer_anatomy.numpy import softmax


def naive_softmax(x):
    """softmax straight from the formula — overflows when any logit is large."""
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def report():
    """Print the naive and the stable result side by side."""
    x = np.array([1000.0, 0.0, -1000.0])
    with np.errstate(over="ignore", invalid="ignore"):
        print("naive :", naive_softmax(x))
    print("stable:", softmax(x))
