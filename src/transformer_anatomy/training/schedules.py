"""Learning-rate schedules shared by both backends: warmup, cosine decay, Noam, plateau cuts.

One pure-Python object computes the learning rate of every optimizer step, so the NumPy and
the PyTorch loops follow exactly the same curve, and its whole state (a scale factor and the
plateau bookkeeping) fits in a checkpoint as plain numbers.

- ``"constant"``: linear warmup from ``lr / warmup`` to ``lr``, then ``lr``.
- ``"cosine"``: the same warmup, then ``lr · (r + (1 - r) · ½(1 + cos(π · progress)))`` with
  ``progress`` going from 0 after warmup to 1 at ``max_steps`` and ``r = min_lr_ratio``.
- ``"noam"``: the paper's ``factor · E^-0.5 · min(step^-0.5, step · warmup^-1.5)``
  (:class:`transformer_anatomy.numpy.NoamSchedule`).

``plateau_factor > 0`` adds :class:`ReduceLROnPlateau` (``torch.optim.lr_scheduler.ReduceLROnPlateau``'s
rule, argument for argument): after more than ``plateau_patience`` evaluations without a better
``plateau_metric`` the learning rate is multiplied by ``plateau_factor`` (for good), never below
``plateau_min_lr``, then ``plateau_cooldown`` evaluations are ignored. The cut multiplies the
whole curve: ``lr(step) = base_lr(step) · plateau.lr / config.lr``; with ``schedule="constant"``
that is exactly torch's scheduler after warmup.

:class:`ReduceLROnPlateau` is plain Python, so the NumPy and the PyTorch trainers use the same
object; ``tests/training/test_plateau.py`` holds it equal to torch's on sequences of metrics.

Page: ``docs/training.md`` (ReduceLROnPlateau vs warmup + cosine), ``docs/advanced-training.md`` (warmup).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from transformer_anatomy.errors import check_int, check_number
from transformer_anatomy.numpy.optim import NoamSchedule

from .config import TrainConfig


PLATEAU_MODES = ("min", "max")
THRESHOLD_MODES = ("rel", "abs")


class ReduceLROnPlateau:
    """Cut the learning rate when a metric stops improving (``torch.optim.lr_scheduler.ReduceLROnPlateau``).

    Same arguments, defaults and rule as torch's, without an optimizer: it holds the learning
    rate itself (``self.lr``), so a NumPy loop, a PyTorch loop or :class:`LRSchedule` can read it.

    Args:
        lr: the learning rate before any cut (> 0).
        mode: ``"min"`` (a loss: lower is better) or ``"max"`` (an accuracy).
        factor: the cut, ``lr ← max(lr · factor, min_lr)``; in ``[0, 1)``.
        patience: evaluations without improvement that are tolerated; the cut comes at the
            ``patience + 1``-th.
        threshold: how much better counts as better: ``"rel"`` ``a < best · (1 - threshold)``
            (``mode="min"``) or ``a > best · (1 + threshold)`` (``"max"``); ``"abs"``
            ``a < best - threshold`` / ``a > best + threshold``.
        threshold_mode: ``"rel"`` or ``"abs"``.
        cooldown: evaluations after a cut during which bad evaluations are not counted.
        min_lr: the floor of the learning rate (>= 0).
        eps: a cut smaller than this is not applied (torch's ``eps``).

    Shape:
        step(metric: float) -> bool (True when the learning rate was cut); ``lr``: float.

    Examples:
        >>> plateau = ReduceLROnPlateau(1.0, mode="min", factor=0.5, patience=1)
        >>> [plateau.step(loss) for loss in (3.0, 2.0, 2.5, 2.4, 2.2)]
        [False, False, False, True, False]
        >>> plateau.lr, plateau.best, plateau.num_bad_epochs
        (0.5, 2.0, 1)
    """

    def __init__(self, lr: float, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        if mode not in PLATEAU_MODES:
            raise ValueError(f"mode must be one of {PLATEAU_MODES}, got mode={mode!r}")
        if threshold_mode not in THRESHOLD_MODES:
            raise ValueError(f"threshold_mode must be one of {THRESHOLD_MODES}, got threshold_mode={threshold_mode!r}")
        self.lr = check_number("lr", lr, 0.0, min_open=True)
        self.factor = check_number("factor", factor, 0.0)
        if self.factor >= 1.0:
            raise ValueError(f"factor must be a finite number >= 0 and < 1, got factor={factor!r}")
        self.patience = check_int("patience", patience, 0)
        self.threshold = check_number("threshold", threshold, 0.0)
        self.cooldown = check_int("cooldown", cooldown, 0)
        self.min_lr = check_number("min_lr", min_lr, 0.0)
        self.eps = check_number("eps", eps, 0.0)
        self.mode, self.threshold_mode = mode, threshold_mode
        self.best = math.inf if mode == "min" else -math.inf  # torch's mode_worse
        self.num_bad_epochs = 0  # evaluations since the best one (torch's name)
        self.cooldown_counter = 0
        self.last_epoch = 0  # evaluations seen

    # --8<-- [start:plateau]
    def is_better(self, a: float, best: float) -> bool:
        """torch's ``_is_better``: ``a`` beats ``best`` by more than the threshold."""
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metric: float) -> bool:
        """Record one evaluation's ``metric``; return True if the learning rate was cut."""
        if isinstance(metric, bool) or not isinstance(metric, numbers.Real):
            raise TypeError(f"metric must be a real number, got metric={metric!r} ({type(metric).__name__})")
        current = float(metric)  # NaN counts as "not better", as in torch
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # in cooldown: bad evaluations do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs <= self.patience:
            return False
        self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        new_lr = max(self.lr * self.factor, self.min_lr)
        if self.lr - new_lr > self.eps:
            self.lr = new_lr
            return True
        return False
    # --8<-- [end:plateau]

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers (``best`` is None before the first evaluation, as no inf goes into a file)."""
        best = None if math.isinf(self.best) else self.best
        return {"lr": self.lr, "best": best, "num_bad_epochs": self.num_bad_epochs,
                "cooldown_counter": self.cooldown_counter, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the arguments are the constructor's, not the file's)."""
        self.lr = float(state["lr"])
        best = state.get("best")
        self.best = (math.inf if self.mode == "min" else -math.inf) if best is None else float(best)
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state.get("cooldown_counter", 0))
        self.last_epoch = int(state.get("last_epoch", 0))


class LRSchedule:
    """Learning rate of optimizer step ``step`` (counted from 1), times the plateau scale.

    Args:
        config: the :class:`TrainConfig` (``schedule``, ``lr``, ``warmup``, ``max_steps``,
            ``min_lr_ratio``, ``noam_factor`` and the ``plateau_*`` fields).
        d_model: ``E``, used by the Noam schedule.

    Shape:
        step: int -> lr: float.

    Examples:
        >>> cfg = TrainConfig(schedule="constant", warmup=0, lr=1e-3, plateau_factor=0.5,
        ...                   plateau_patience=0, plateau_metric="loss")
        >>> s = LRSchedule(cfg, d_model=64)
        >>> [s.on_eval(loss) for loss in (2.0, 1.0, 1.5)], s(10)
        ([False, False, True], 0.0005)
    """

    def __init__(self, config: TrainConfig, d_model: int) -> None:
        self.config = config
        self.noam = NoamSchedule(d_model, config.warmup, config.noam_factor) if config.schedule == "noam" else None
        self.scale = 1.0  # plateau.lr / config.lr: the product of the plateau cuts so far
        self.plateau = make_plateau(config)  # None when plateau_factor == 0

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
        """Record the evaluation's ``plateau_metric`` (the trainer passes it); True if the lr was cut."""
        if self.plateau is None:
            return False
        cut = self.plateau.step(metric)
        self.scale = self.plateau.lr / self.config.lr
        return cut

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers: ``scale`` and the plateau's state (``plateau``; None when it is off)."""
        return {"scale": self.scale, "plateau": None if self.plateau is None else self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale = float(state["scale"])
        if self.plateau is not None:
            if state.get("plateau") is not None:
                self.plateau.load_state_dict(state["plateau"])
            else:  # a checkpoint from before the plateau had its own state: best/bad_evals only
                self.plateau.lr = self.config.lr * self.scale
                if state.get("best") is not None:
                    self.plateau.best = float(state["best"])
                self.plateau.num_bad_epochs = int(state.get("bad_evals", 0))


def make_plateau(config: TrainConfig) -> ReduceLROnPlateau | None:
    """The :class:`ReduceLROnPlateau` a config asks for (None when ``plateau_factor == 0``).

    It watches ``plateau_metric``: ``"loss"`` (the evaluation loss, ``mode="min"``) or
    ``"main"`` (the task's main metric, ``mode="max"``); its ``lr`` starts at ``config.lr``.

    Examples:
        >>> make_plateau(TrainConfig()) is None
        True
        >>> make_plateau(TrainConfig(plateau_factor=0.5, plateau_metric="loss")).mode
        'min'
    """
    c = config
    if c.plateau_factor == 0:
        return None
    return ReduceLROnPlateau(c.lr, mode="min" if c.plateau_metric == "loss" else "max", factor=c.plateau_factor,
                             patience=c.plateau_patience, threshold=c.plateau_threshold,
                             threshold_mode=c.plateau_threshold_mode, cooldown=c.plateau_cooldown,
                             min_lr=c.plateau_min_lr)
