"""Cross-entropy loss with label smoothing, class weights and ignored positions.

Matches ``torch.nn.CrossEntropyLoss`` (class axis last here), forward and backward.

Page: ``docs/training.md`` and ``docs/advanced-training.md`` (label smoothing).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .module import BackwardError
from .softmax import log_softmax


class CrossEntropyCache(NamedTuple):
    """What :meth:`CrossEntropyLoss.backward` needs from the forward pass.

    Shape:
        logp ``(M, C)``; y, w_y, valid ``(M,)``; w ``(C,)``; M positions, C classes.
    """

    logp: np.ndarray  # log-probabilities, (M, C)
    y: np.ndarray  # target ids (0 at ignored positions), (M,)
    w: np.ndarray  # class weights, (C,)
    w_y: np.ndarray  # weight of each target, 0 where ignored, (M,)
    valid: np.ndarray  # not ignored, (M,)
    scale: float  # the reduction's factor (1/Σ w_y for "mean")
    shape: tuple[int, ...]  # the logits' shape


class CrossEntropyLoss:
    """``torch.nn.CrossEntropyLoss`` semantics, with the class axis **last**.

    Per position ``i`` with target ``y`` (``w`` the class weights, 1 by default, ``C`` classes,
    ``ε`` the label smoothing)::

        ℓ_i = (1 - ε) · w_y · (-log p_y)  +  (ε / C) · Σ_c w_c · (-log p_c)

    and ``ℓ_i = 0`` where ``y == ignore_index``. ``reduction="mean"`` divides the sum by
    ``Σ_i w_{y_i}`` over non-ignored positions (their count without weights); ``"sum"`` sums;
    ``"none"`` returns ``ℓ`` per position.

    A ``-inf`` logit, or logits so far apart (``±3e38``) that their difference overflows, give
    finite losses with ``label_smoothing=0`` (the smoothing term is not computed), as in torch.

    All positions ignored with ``reduction="mean"``: PyTorch returns NaN; this returns a loss
    of 0.0 and zero gradients.

    Args:
        weight: class weights ``(C,)`` or None.
        ignore_index: target value whose positions contribute nothing (default -100).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        label_smoothing: ``ε`` in ``[0, 1]``.

    Shape:
        logits: ``(..., C)``, targets: ``(...)`` integers -> loss: scalar, or ``(...)`` for
        ``"none"``. backward: dloss (scalar or ``(...)``, default 1) -> dlogits ``(..., C)``.

    Examples:
        >>> loss_fn = CrossEntropyLoss()
        >>> loss = loss_fn(np.log(np.array([[0.5, 0.5]])), np.array([0]))
        >>> round(float(loss), 6), loss_fn.backward().tolist()
        (0.693147, [[-0.5, 0.5]])
    """

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got reduction={reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got label_smoothing={label_smoothing!r}")
        self.weight = None if weight is None else np.asarray(weight)
        if self.weight is not None and self.weight.ndim != 1:
            raise ValueError(f"weight must be 1-D (C,), got shape {self.weight.shape}")
        self.ignore_index = int(ignore_index)
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)
        self._cache: CrossEntropyCache | None = None

    def __call__(self, logits: np.ndarray, targets: Any) -> np.ndarray | float:
        return self.forward(logits, targets)

    # --8<-- [start:cross_entropy_forward]
    def forward(self, logits: np.ndarray, targets: Any) -> np.ndarray | float:
        """The loss; caches the log-probabilities and per-position coefficients for backward."""
        logits = np.asarray(logits)
        targets = np.asarray(targets)
        if logits.dtype.kind not in "fiu" or logits.dtype == np.bool_:
            raise TypeError(f"logits has dtype {logits.dtype}, expected a real floating array")
        if logits.ndim == 0 or logits.shape[-1] == 0:
            raise ValueError(f"logits has shape {logits.shape}, expected (..., C) with C >= 1 classes")
        C = logits.shape[-1]
        if targets.shape != logits.shape[:-1]:
            raise ValueError(f"targets: expected shape {logits.shape[:-1]}, got {targets.shape}")
        if not np.issubdtype(targets.dtype, np.integer):
            raise TypeError(f"targets must be integer class ids, got dtype {targets.dtype}")
        w = np.ones(C, dtype=logits.dtype) if self.weight is None else self.weight.astype(logits.dtype)
        if w.shape != (C,):
            raise ValueError(f"weight: expected shape ({C},), got {w.shape}")
        logp = log_softmax(logits.reshape(-1, C))  # (M, C), M = number of positions
        y = targets.reshape(-1)  # (M,)
        valid = y != self.ignore_index  # (M,)
        bad = y[valid & ((y < 0) | (y >= C))]
        if bad.size:
            raise IndexError(f"target {int(bad[0])} is out of range for {C} classes")
        y_safe = np.where(valid, y, 0)  # any class for ignored positions; masked below
        eps = self.label_smoothing
        w_y = w[y_safe] * valid  # weight of each target class, 0 where ignored, (M,)
        with np.errstate(invalid="ignore"):  # -inf · 0 at ignored positions, replaced by 0
            nll = np.where(valid, -logp[np.arange(y.size), y_safe] * w_y, 0.0)  # w_y · (-log p_y), (M,)
        if eps > 0.0:  # skipped at ε = 0: a -inf log-probability would make 0 · inf = NaN
            smooth = -(logp @ w) * valid  # Σ_c w_c · (-log p_c), (M,)
            per_pos = (1.0 - eps) * nll + (eps / C) * smooth  # ℓ_i, (M,)
        else:
            per_pos = nll
        if self.reduction == "mean":
            denom = w_y.sum()  # Σ w_y over non-ignored positions (their count without weights)
            scale = 1.0 / denom if denom != 0 else 0.0  # all ignored: loss 0, gradients 0
            loss: np.ndarray | float = per_pos.sum() * scale
        elif self.reduction == "sum":
            scale = 1.0
            loss = per_pos.sum()
        else:
            scale = 1.0
            loss = per_pos.reshape(targets.shape)  # (M,) -> (...)
        self._cache = CrossEntropyCache(logp, y_safe, w, w_y, valid, scale, logits.shape)
        return loss
    # --8<-- [end:cross_entropy_forward]

    # --8<-- [start:cross_entropy_backward]
    def backward(self, dloss: Any = 1.0) -> np.ndarray:
        """``dℓ_i/dz = (1-ε) w_y (p - onehot(y)) + (ε/C) (Σ_c w_c · p - w)``, times the
        reduction's scale and the upstream gradient; 0 at ignored positions.

        Shape:
            dloss: scalar (``"mean"``, ``"sum"``) or ``(...)`` (``"none"``) -> dlogits ``(..., C)``.
        """
        c = self._cache
        if c is None:
            raise BackwardError("CrossEntropyLoss.backward called before forward (nothing is cached)")
        logp, y, w, w_y, valid = c.logp, c.y, c.w, c.w_y, c.valid
        M, C = logp.shape
        eps = self.label_smoothing
        p = np.exp(logp)  # softmax probabilities, (M, C)
        d = p * ((1.0 - eps) * w_y + (eps / C) * w.sum() * valid)[:, None]  # p-terms, (M, C)
        d[np.arange(M), y] -= (1.0 - eps) * w_y  # - (1-ε) w_y · onehot(y)
        d -= (eps / C) * valid[:, None] * w  # - (ε/C) w
        up = np.asarray(dloss, dtype=logp.dtype)
        if self.reduction == "none":
            d *= up.reshape(M, 1)  # one upstream gradient per position
        else:
            d *= up * c.scale
        return d.reshape(c.shape)  # (M, C) -> (..., C)
    # --8<-- [end:cross_entropy_backward]
