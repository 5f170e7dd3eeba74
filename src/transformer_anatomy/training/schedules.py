"""Learning-rate schedules shared by both backends: warmup, cosine decay, Noam, plateau cuts.

One pure-Python object computes the learning rate of every optimizer step, so the NumPy and
the PyTorch loops follow exactly the same curve, and its whole state (a scale factor and the
plateau bookkeeping) fits in a checkpoint as plain numbers.

- ``"constant"``: linear warmup from ``lr / warmup`` to ``lr``, then ``lr``.
- ``"cosine"``: the same warmup, then ``lr · (r + (1 - r) · ½(1 + cos(π · progress)))`` with
  ``progress`` going from 0 after warmup to 1 at ``max_steps`` and ``r = min_lr_ratio``.
- ``"noam"``: the paper's ``factor · E^-0.5 · min(step^-0.5, step · warmup^-1.5)``
  (:class:`transformer_anatomy.numpy.NoamSchedule`).

``plateau_factor > 0`` adds ``ReduceLROnPlateau``: after ``plateau_patience`` evaluations
without a better metric the learning rate is multiplied by ``plateau_factor`` (for good).

Page: ``docs/advanced-training.md`` (warmup).
"""

from __future__ import annotations

import math
from typing import Any

from transformer_anatomy.numpy.optim import NoamSchedule

from .config import TrainConfig


class LRSchedule:
    """Learning rate of optimizer step ``step`` (counted from 1), times the plateau scale.

    Args:
        config: the :class:`TrainConfig` (``schedule``, ``lr``, ``warmup``, ``max_steps``,
            ``min_lr_ratio``, ``noam_factor``, ``plateau_factor``, ``plateau_patience``).
        d_model: ``E``, used by the Noam schedule.

    Shape:
        step: int -> lr: float.
    """

    def __init__(self, config: TrainConfig, d_model: int) -> None:
        self.config = config
        self.d_model = int(d_model)
        self.noam = NoamSchedule(d_model, config.warmup, config.noam_factor) if config.schedule == "noam" else None
        self.scale = 1.0  # product of the plateau cuts so far
        self.best: float | None = None  # best metric seen by on_eval
        self.bad_evals = 0  # evaluations since the best one

    # --8<-- [start:lr_at]
    def base_lr(self, step: int) -> float:
        """The schedule's learning rate at ``step`` (1-based), before plateau cuts."""
        c = self.config
        step = max(int(step), 1)
        if self.noam is not None:
            return self.noam(step)
        if c.warmup and step <= c.warmup:
            return c.lr * step / c.warmup  # linear warmup
        if c.schedule == "constant":
            return c.lr
        progress = (step - c.warmup) / max(1, c.max_steps - c.warmup)  # 0 -> 1 after warmup
        progress = min(progress, 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
        return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * cosine)
    # --8<-- [end:lr_at]

    def __call__(self, step: int) -> float:
        return self.base_lr(step) * self.scale

    def on_eval(self, metric: float) -> bool:
        """Record an evaluation metric (higher is better); return True if the lr was cut."""
        c = self.config
        if self.best is None or metric > self.best:
            self.best, self.bad_evals = float(metric), 0
            return False
        self.bad_evals += 1
        if c.plateau_factor > 0 and self.bad_evals > c.plateau_patience:
            self.scale *= c.plateau_factor
            self.bad_evals = 0
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers: ``scale``, ``best`` (None before the first eval), ``bad_evals``."""
        return {"scale": self.scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale = float(state["scale"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_evals = int(state["bad_evals"])
