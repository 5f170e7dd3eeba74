"""One call that seeds every global random generator a run may touch."""

from __future__ import annotations

import random
import sys

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's legacy global generator and (if imported) torch.

    Call it before building a model: torch's initialisation and dropout draw from its global
    generator. The NumPy models take their own ``rng=`` instead, and the trainers derive each
    epoch's data order from ``(config.seed, epoch)``, so neither depends on global state.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
