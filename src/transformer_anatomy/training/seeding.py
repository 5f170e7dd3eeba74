"""One call that seeds every global random generator a run may touch.

Examples:
    >>> import random
    >>> import numpy as np
    >>> import torch
    >>> seed_everything(0); a = (random.random(), np.random.rand(), torch.rand(1).item())
    >>> seed_everything(0); b = (random.random(), np.random.rand(), torch.rand(1).item())
    >>> a == b
    True
"""

from __future__ import annotations

import importlib
import random

import numpy as np

from transformer_anatomy.errors import check_seed


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's legacy global generator and torch (CPU and every GPU).

    Call it before building a model: torch's initialisation and dropout draw from its global
    generator. torch is imported here when it is installed, so the seed holds whether or not
    the caller imported torch first; without torch the other two are seeded. The NumPy models
    take their own ``rng=`` instead, and the trainers derive each epoch's data order from
    ``(config.seed, epoch)``, so neither depends on global state.

    Raises:
        TypeError, ValueError: ``seed`` is not an integer in ``[0, 2**63 - 1]``.
    """
    seed = check_seed("seed", seed)  # [0, 2**63 - 1]: what torch.manual_seed and NumPy both accept
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        torch = importlib.import_module("torch")
    except ImportError:  # the NumPy backend alone needs no torch
        return
    torch.manual_seed(seed)  # seeds the CPU generator and every CUDA device's
