"""Adam, AdamW, gradient clipping and the warmup ("Noam") learning-rate schedule.

The optimizers work on a dict of parameters (updated in place) and a dict of gradients with
the same keys, and match ``torch.optim.Adam`` / ``torch.optim.AdamW`` step for step.

Page: ``docs/backprop.md`` (Adam, warmup) and ``docs/advanced-training.md``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from .module import StateDictError


def _check_hparams(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    if not lr >= 0.0:
        raise ValueError(f"invalid learning rate: lr={lr!r} (must be >= 0)")
    if not eps >= 0.0:
        raise ValueError(f"invalid epsilon: eps={eps!r} (must be >= 0)")
    for i, b in enumerate(betas):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"invalid beta parameter at index {i}: betas[{i}]={b!r} (must be in [0, 1))")
    if not weight_decay >= 0.0:
        raise ValueError(f"invalid weight_decay: weight_decay={weight_decay!r} (must be >= 0)")


class Adam:
    """Adam (Kingma & Ba, 2015) with optional L2 weight decay and AMSGrad, as ``torch.optim.Adam``.

    With ``t`` counting steps from 1 and ``g`` the gradient (plus ``wd · θ`` if weight_decay)::

        m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;  [v̂ = max(v̂, v) with amsgrad]
        θ -= lr / (1 - β1^t) · m / (√v / √(1 - β2^t) + eps)

    Args:
        params: name -> array; updated in place by :meth:`step`.
        lr, betas, eps, weight_decay, amsgrad: as PyTorch (defaults 1e-3, (0.9, 0.999), 1e-8,
            0, False). ``lr`` may be changed between steps (schedules).

    Shape:
        params[k] and grads[k]: any shape, equal for each key.

    Examples:
        >>> p = {"w": np.array([1.0, -1.0])}
        >>> opt = Adam(p, lr=0.1)
        >>> opt.step({"w": np.array([2.0, -3.0])})
        >>> p["w"].round(6).tolist()  # the first step moves each entry by lr, against its gradient
        [0.9, -0.9]
    """

    decoupled = False

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        _check_hparams(lr, betas, eps, weight_decay)
        self.params = dict(params)
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.weight_decay, self.amsgrad = float(weight_decay), bool(amsgrad)
        self.t = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}
        for k, p in self.params.items():
            s = {"exp_avg": np.zeros_like(p), "exp_avg_sq": np.zeros_like(p)}
            if self.amsgrad:
                s["max_exp_avg_sq"] = np.zeros_like(p)
            self.state[k] = s

    # --8<-- [start:adam_step]
    def step(self, grads: Mapping[str, np.ndarray]) -> None:
        """One update of every parameter that has a gradient in ``grads`` (in place)."""
        self.t += 1
        t, lr, eps, wd = self.t, self.lr, self.eps, self.weight_decay
        beta1, beta2 = self.betas
        step_size = lr / (1.0 - beta1**t)  # lr / bias correction of m
        bc2_sqrt = math.sqrt(1.0 - beta2**t)  # √(bias correction of v)
        for k, p in self.params.items():
            g = grads.get(k)
            if g is None:
                continue
            s = self.state[k]
            if wd != 0.0:
                if self.decoupled:
                    p *= 1.0 - lr * wd  # AdamW: shrink θ directly
                else:
                    g = g + wd * p  # Adam: L2 term added to the gradient
            m, v = s["exp_avg"], s["exp_avg_sq"]
            m += (1.0 - beta1) * (g - m)  # m = β1 m + (1-β1) g (as torch's lerp)
            v *= beta2
            v += (1.0 - beta2) * g * g  # v = β2 v + (1-β2) g²
            if self.amsgrad:
                np.maximum(s["max_exp_avg_sq"], v, out=s["max_exp_avg_sq"])
                v = s["max_exp_avg_sq"]
            denom = np.sqrt(v) / bc2_sqrt + eps  # √v̂ + eps
            p -= step_size * (m / denom)  # θ -= lr · m̂ / (√v̂ + eps)
    # --8<-- [end:adam_step]

    def state_dict(self) -> dict[str, Any]:
        """Copies of the moments, the step count and the hyper-parameters (plain types)."""
        return {
            "step": self.t,
            "state": {k: {n: a.copy() for n, a in s.items()} for k, s in self.state.items()},
            "param_groups": {"lr": self.lr, "betas": self.betas, "eps": self.eps,
                             "weight_decay": self.weight_decay, "amsgrad": self.amsgrad},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            StateDictError: naming missing, unexpected or mis-sized entries.
        """
        state = state_dict["state"]
        if set(state) != set(self.state):
            missing = sorted(set(self.state) - set(state))
            unexpected = sorted(set(state) - set(self.state))
            raise StateDictError(f"optimizer state: missing keys {missing}, unexpected keys {unexpected}")
        for k, s in state.items():
            for n, a in s.items():
                if n not in self.state[k]:
                    raise StateDictError(f"optimizer state: unexpected entry {k}.{n}")
                if np.shape(a) != self.state[k][n].shape:
                    raise StateDictError(f"optimizer state: {k}.{n} expected {self.state[k][n].shape}, "
                                   f"got {np.shape(a)}")
                np.copyto(self.state[k][n], a, casting="unsafe")
        g = state_dict.get("param_groups", {})
        self.lr = float(g.get("lr", self.lr))
        self.t = int(state_dict["step"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    ``θ *= 1 - lr · wd`` before the Adam update (which then uses the plain gradient).
    Default ``weight_decay=1e-2`` as PyTorch.

    Shape:
        params[k] and grads[k]: any shape, equal for each key.

    Examples:
        >>> p = {"w": np.array([1.0])}
        >>> opt = AdamW(p, lr=0.1, weight_decay=0.5)
        >>> opt.step({"w": np.array([0.0])})  # no gradient: only the decoupled decay acts
        >>> p["w"].tolist()
        [0.95]
    """

    decoupled = True

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def clip_grad_norm_(
    grads: Mapping[str, np.ndarray] | Iterable[np.ndarray],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients in place so that their joint norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: ``total = ‖(‖g_1‖, ..., ‖g_k‖)‖``, every gradient is
    multiplied by ``min(1, max_norm / (total + 1e-6))``; returns ``total`` (before clipping).

    Shape:
        grads: arrays of any shapes -> float.

    Examples:
        >>> g = {"w": np.array([3.0, 4.0])}
        >>> clip_grad_norm_(g, max_norm=1.0), g["w"].round(5).tolist()
        (5.0, [0.6, 0.8])
    """
    arrays = list(grads.values()) if isinstance(grads, Mapping) else list(grads)
    if not max_norm >= 0:
        raise ValueError(f"max_norm must be non-negative, got max_norm={max_norm!r}")
    if not arrays:
        return 0.0
    norm_type = float(norm_type)
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in arrays)
    else:
        per = np.array([np.linalg.norm(g.ravel(), ord=norm_type) for g in arrays], dtype=np.float64)
        total = float(np.linalg.norm(per, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is {total}")
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in arrays:
        g *= g.dtype.type(coef)
    return total


# --8<-- [start:noam]
class NoamSchedule:
    """Warmup then inverse square root decay (the paper, section 5.3):

    ``lr(step) = factor · E^-0.5 · min(step^-0.5, step · warmup^-1.5)``

    rising linearly for ``warmup`` steps, peaking at ``factor / √(E · warmup)``, then decaying
    as ``1/√step``. Step 0 is treated as step 1 (the formula divides by zero there).

    Args:
        d_model: ``E``. warmup: warmup steps (> 0). factor: overall scale (> 0).

    Shape:
        step: int -> lr: float.

    Examples:
        >>> s = NoamSchedule(d_model=512, warmup=4000)
        >>> s(4000) > s(100) and s(4000) > s(40000)  # peaks at the end of the warmup
        True
    """

    def __init__(self, d_model: int, warmup: int, factor: float = 1.0) -> None:
        if not d_model > 0:
            raise ValueError(f"d_model must be positive, got d_model={d_model!r}")
        if not warmup > 0:
            raise ValueError(f"warmup must be positive, got warmup={warmup!r}")
        if not factor > 0:
            raise ValueError(f"factor must be positive, got factor={factor!r}")
        self.d_model, self.warmup, self.factor = d_model, warmup, float(factor)

    def __call__(self, step: int) -> float:
        step = max(int(step), 1)  # guard step 0
        return self.factor * self.d_model**-0.5 * min(step**-0.5, step * self.warmup**-1.5)
# --8<-- [end:noam]

    def state_dict(self) -> dict[str, Any]:
        """The schedule's configuration (it has no other state)."""
        return {"d_model": self.d_model, "warmup": self.warmup, "factor": self.factor}
