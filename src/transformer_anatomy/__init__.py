"""Transformer Anatomy: a Transformer in NumPy (hand-written backward passes) and in PyTorch
(state_dict-compatible with ``torch.nn.Transformer``), with the data and training code that the
documentation site executes at build time.

The library prints nothing and writes no files; ``scripts/`` owns I/O, seeds and logs.
"""

__version__ = "0.1.0"
