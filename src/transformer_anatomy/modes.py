"""Train/eval mode helpers shared by both backends (they need only ``named_modules()`` and ``training``).

Examples:
    >>> from transformer_anatomy.numpy import Dropout, Linear, ModuleList
    >>> m = ModuleList([Linear(2, 2), Dropout(0.5)])
    >>> _ = m[1].eval()
    >>> with eval_mode(m):
    ...     print(m.training, m[0].training)
    False False
    >>> m.training, m[0].training, m[1].training
    (True, True, False)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(module: Any) -> Iterator[Any]:
    """Run a block with ``module`` in eval mode (no dropout); every submodule's own train/eval
    mode is put back afterwards, also after an error. Decoding uses it, in both backends.

    ``module`` is a :class:`transformer_anatomy.numpy.Module` or a ``torch.nn.Module``: anything
    with ``named_modules()``, ``eval()`` and a ``training`` flag on each submodule.

    Examples:
        >>> from torch import nn
        >>> m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
        >>> with eval_mode(m):
        ...     print(m.training, m[1].training)
        False False
        >>> m.training, m[1].training
        (True, True)
    """
    modes = [(m, m.training) for _, m in module.named_modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training
