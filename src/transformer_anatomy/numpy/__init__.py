"""The Transformer in NumPy: every op has a forward and a hand-written backward (no autograd).

This subpackage never imports torch at import time.
"""

from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward

__all__ = ["softmax", "softmax_backward", "log_softmax", "log_softmax_backward"]
