"""One call that seeds every global random generator a run may touch."""

from __future__ import annotations

import random
import sys

import numpy as np

from transformer_anatomy.errors import check_seed


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's legacy global generator and (if imported) torch.

    Call it before building a model: torch's initialisation and dropout draw from its global
    generator. The NumPy models take their own ``rng=`` instead, and the trainers derive each
    epoch's data order from ``(config.seed, epoch)``, so neither depends on global state.
    """
    seed = check_seed("seed", seed)  # [0, 2**63 - 1]: what torch.manual_seed and NumPy both accept
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
