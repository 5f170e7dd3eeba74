"""The training configuration: one typed dataclass shared by the NumPy and the PyTorch loops.

Every field has a default and a comment; ``__post_init__`` rejects bad values with an error
that names the field and the value. ``to_dict()`` gives a JSON-friendly copy (it goes into
checkpoints and results files), ``TrainConfig.from_dict`` reads it back.

Page: ``docs/training.md`` (the loop) and ``docs/advanced-training.md`` (warmup, label
smoothing, gradient accumulation, mixed precision).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from transformer_anatomy.errors import SEED_MAX

from transformer_anatomy.tasks.task_data import KINDS as TASK_KINDS  # noqa: E402  (the one list of task kinds)
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "noam", "cosine")
DECODINGS = ("greedy", "beam")
SDPA_BACKENDS = ("auto", "math", "flash", "efficient", "cudnn")
PLATEAU_METRICS = ("main", "loss")


# --8<-- [start:train_config]
@dataclass
class TrainConfig:
    """How to train one model on one task (both backends read the same fields).

    Every field is checked when the config is made; a bad value raises ``ValueError`` naming it.

    Examples:
        >>> cfg = TrainConfig(kind="classification", max_steps=200, batch_size=64)
        >>> cfg.lr, cfg.schedule, cfg.warmup
        (0.001, 'cosine', 100)
        >>> TrainConfig(lr=float("inf"))
        Traceback (most recent call last):
        ...
        ValueError: invalid TrainConfig.lr: inf (expected a finite number > 0)
    """

    kind: str = "seq2seq"  # what the model does: seq2seq | classification | tagging | qa
    max_steps: int = 1000  # optimizer steps in total (one step = `accumulate` micro-batches)
    batch_size: int = 128  # examples per micro-batch
    accumulate: int = 1  # micro-batches whose gradients are summed before each optimizer step
    eval_batch_size: int = 500  # examples per batch when evaluating (no gradients)
    optimizer: str = "adam"  # adam | adamw (decoupled weight decay)
    lr: float = 1e-3  # peak learning rate (constant / cosine); ignored by noam
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's β1, β2 (torch's defaults; the paper used 0.98)
    eps: float = 1e-8  # Adam's ε (torch's default; the paper used 1e-9)
    weight_decay: float = 0.0  # L2 (adam) or decoupled (adamw) weight decay
    schedule: str = "cosine"  # constant | noam | cosine (linear warmup, then cosine decay)
    warmup: int = 100  # warmup steps (linear ramp from lr/warmup to lr; noam's warmup)
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio at max_steps
    noam_factor: float = 1.0  # noam: lr = factor * E^-0.5 * min(step^-0.5, step * warmup^-1.5)
    plateau_factor: float = 0.0  # > 0: ReduceLROnPlateau, multiply lr by this when the metric stops improving
    plateau_patience: int = 2  # evaluations without improvement tolerated before the cut
    plateau_metric: str = "main"  # what the plateau watches: main (the task's metric, max) | loss (eval loss, min)
    plateau_threshold: float = 1e-4  # better means better by more than this (torch's default)
    plateau_threshold_mode: str = "rel"  # rel: relative to the best so far | abs: absolute
    plateau_cooldown: int = 0  # evaluations after a cut during which bad ones are not counted
    plateau_min_lr: float = 0.0  # the plateau never cuts the learning rate below this
    clip_norm: float | None = 1.0  # clip the global gradient norm to this (None: no clipping)
    label_smoothing: float = 0.0  # ε of the cross-entropy (spread over all classes)
    eval_every: int = 0  # evaluate every n optimizer steps (0: at the end of each epoch)
    eval_split: str = "valid"  # split used for model selection during training
    eval_limit: int | None = None  # evaluate on the first n examples only (None: all)
    eval_decoding: bool = True  # seq2seq, evaluations inside fit(): False scores exact match from one
    # teacher-forced pass instead of decoding (the same number for greedy decoding; evaluation.py)
    target_metric: float | None = None  # stop as soon as the eval metric reaches this
    target_patience: int = 1  # ... and has held it at this many evaluations in a row
    decoding: str = "greedy"  # seq2seq evaluation: greedy | beam
    beam_size: int = 4  # beam width when decoding="beam"
    max_decode_len: int | None = None  # tokens to decode incl. <sos> (None: target width + 1)
    log_every: int = 10  # record the training loss curve every n steps
    seed: int = 0  # fixes the data order (each epoch's shuffle comes from (seed, epoch))
    device: str = "cpu"  # torch only: cpu | cuda
    amp: bool = True  # torch only: bf16 autocast on CUDA (never on CPU)
    compile: bool = False  # torch only: train through torch.compile(model) (evaluation stays eager)
    sdpa_backend: str = "auto"  # torch only: auto | math | flash | efficient | cudnn (sdpa_kernel)
    grad_checkpointing: bool = False  # torch only: recompute each layer's activations in backward

    def __post_init__(self) -> None:
        if not (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2 and all(map(_is_real, self.betas))):
            raise ValueError(f"invalid TrainConfig.betas: {self.betas!r} (expected two numbers (β1, β2) in [0, 1))")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        pos_int, nonneg_int = "an integer >= 1", "an integer >= 0"
        checks: list[tuple[str, bool, str]] = [  # (field, valid?, what was expected)
            ("kind", self.kind in TASK_KINDS, f"one of {TASK_KINDS}"),
            ("max_steps", _is_int(self.max_steps) and self.max_steps >= 1, pos_int),
            ("batch_size", _is_int(self.batch_size) and self.batch_size >= 1, pos_int),
            ("accumulate", _is_int(self.accumulate) and self.accumulate >= 1, pos_int),
            ("eval_batch_size", _is_int(self.eval_batch_size) and self.eval_batch_size >= 1, pos_int),
            ("optimizer", self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}"),
            ("lr", _finite(self.lr) and self.lr > 0, "a finite number > 0"),
            ("betas", all(0.0 <= b < 1.0 for b in self.betas), "two numbers in [0, 1)"),
            ("eps", _finite(self.eps) and self.eps >= 0, "a finite number >= 0"),
            ("weight_decay", _finite(self.weight_decay) and self.weight_decay >= 0, "a finite number >= 0"),
            ("schedule", self.schedule in SCHEDULES, f"one of {SCHEDULES}"),
            ("warmup", _is_int(self.warmup) and self.warmup >= 0 and (self.schedule != "noam" or self.warmup > 0),
             "an integer >= 0 (>= 1 for noam)"),
            ("min_lr_ratio", _finite(self.min_lr_ratio) and 0.0 <= self.min_lr_ratio <= 1.0, "a number in [0, 1]"),
            ("noam_factor", _finite(self.noam_factor) and self.noam_factor > 0, "a finite number > 0"),
            ("plateau_factor", _finite(self.plateau_factor) and 0.0 <= self.plateau_factor < 1.0, "a number in [0, 1)"),
            ("plateau_patience", _is_int(self.plateau_patience) and self.plateau_patience >= 0, nonneg_int),
            ("plateau_metric", self.plateau_metric in PLATEAU_METRICS, f"one of {PLATEAU_METRICS}"),
            ("plateau_threshold", _finite(self.plateau_threshold) and self.plateau_threshold >= 0,
             "a finite number >= 0"),
            ("plateau_threshold_mode", self.plateau_threshold_mode in ("rel", "abs"), "'rel' or 'abs'"),
            ("plateau_cooldown", _is_int(self.plateau_cooldown) and self.plateau_cooldown >= 0, nonneg_int),
            ("plateau_min_lr", _finite(self.plateau_min_lr) and self.plateau_min_lr >= 0, "a finite number >= 0"),
            ("clip_norm", self.clip_norm is None or (_finite(self.clip_norm) and self.clip_norm > 0),
             "None or a finite number > 0"),
            ("label_smoothing", _finite(self.label_smoothing) and 0.0 <= self.label_smoothing < 1.0, "a number in [0, 1)"),
            ("eval_every", _is_int(self.eval_every) and self.eval_every >= 0, nonneg_int),
            ("eval_split", self.eval_split in ("train", "valid", "test"), "'train', 'valid' or 'test'"),
            ("eval_limit", self.eval_limit is None or (_is_int(self.eval_limit) and self.eval_limit >= 1),
             "None or an integer >= 1"),
            ("eval_decoding", isinstance(self.eval_decoding, bool), "True or False"),
            ("target_metric", self.target_metric is None or _finite(self.target_metric), "None or a finite number"),
            ("target_patience", _is_int(self.target_patience) and self.target_patience >= 1, pos_int),
            ("decoding", self.decoding in DECODINGS, f"one of {DECODINGS}"),
            ("beam_size", _is_int(self.beam_size) and self.beam_size >= 1, pos_int),
            ("max_decode_len", self.max_decode_len is None or (_is_int(self.max_decode_len) and self.max_decode_len >= 2),
             "None or an integer >= 2"),
            ("log_every", _is_int(self.log_every) and self.log_every >= 1, pos_int),
            ("seed", _is_int(self.seed) and 0 <= self.seed <= SEED_MAX, "an integer in [0, 2**63 - 1]"),
            ("device", isinstance(self.device, str) and (self.device in ("cpu", "cuda") or self.device.startswith("cuda:")),
             "'cpu', 'cuda' or 'cuda:<index>'"),
            ("amp", isinstance(self.amp, bool), "True or False"),
            ("compile", isinstance(self.compile, bool), "True or False"),
            ("sdpa_backend", self.sdpa_backend in SDPA_BACKENDS, f"one of {SDPA_BACKENDS}"),
            ("grad_checkpointing", isinstance(self.grad_checkpointing, bool), "True or False"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"invalid TrainConfig.{name}: {getattr(self, name)!r} (expected {expected})")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
# --8<-- [end:train_config]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    """A real number (not a bool, not a string) that is neither infinite nor NaN."""
    return _is_real(x) and math.isfinite(x)
