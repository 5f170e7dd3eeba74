"""What the identity path of a residual connection does to gradients.

A stack of feed-forward blocks ``f(x) = W2 relu(W1 x)`` (nn.Linear's default initialisation),
run with and without the residual ``x + f(x)``; our NumPy backward carries a gradient of norm 1
from the top of the stack down to its input.
"""

import numpy as np

from transformer_anatomy.numpy import Linear, ReLU

E, F = 32, 128  # model width, feed-forward width
N, S = 4, 8  # batch, sequence length


class Block:
    """``f(x) = linear2(relu(linear1(x)))``, with or without the residual ``x + f(x)``."""

    def __init__(self, residual, rng):
        self.residual = residual
        self.linear1 = Linear(E, F, dtype=np.float64, rng=rng)
        self.act = ReLU()
        self.linear2 = Linear(F, E, dtype=np.float64, rng=rng)

    def forward(self, x):
        fx = self.linear2(self.act(self.linear1(x)))  # (N, S, E) -> (N, S, F) -> (N, S, E)
        return x + fx if self.residual else fx

    def backward(self, dy):
        dx = self.linear1.backward(self.act.backward(self.linear2.backward(dy)))  # through f
        return dy + dx if self.residual else dx  # the identity path adds dy unchanged


def input_gradient_norms(depth, seed=0):
    """``‖dL/dx‖`` at the input of a ``depth``-block stack when ``‖dL/dy‖ = 1`` at its output."""
    norms = {}
    for residual in (False, True):
        rng = np.random.default_rng(seed)  # same weights for both stacks
        blocks = [Block(residual, rng) for _ in range(depth)]
        x = rng.standard_normal((N, S, E))
        for b in blocks:
            x = b.forward(x)
        d = rng.standard_normal(x.shape)
        d /= np.linalg.norm(d)  # ‖dL/dy‖ = 1
        for b in reversed(blocks):
            d = b.backward(d)
        norms["with residual" if residual else "without residual"] = float(np.linalg.norm(d))
    return norms


def report(depths=(1, 2, 4, 8, 16)):
    """Print the input-gradient norm of both stacks for several depths."""
    print("blocks   ‖dL/dx‖ without residual   ‖dL/dx‖ with residual")
    for depth in depths:
        g = input_gradient_norms(depth)
        print(f"{depth:6d}   {g['without residual']:24.2e}   {g['with residual']:21.3f}")
