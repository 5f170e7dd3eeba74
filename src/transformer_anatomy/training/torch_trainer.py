"""The training loop for the PyTorch models (autograd, ``torch.optim``).

What a step does (``kind="seq2seq"``, teacher forcing)::

    logits = model(src, tgt_in)                    # (N, S), (N, T) -> (N, T, V)
    loss = CE(logits, tgt_out, ignore_index=pad,   # summed over the non-pad targets,
              label_smoothing=ε, reduction="sum")  # divided by the group's count
    loss.backward()                                # once per micro-batch: .grad accumulates
    clip_grad_norm_(params, max_norm)              # after the last micro-batch
    optimizer.step(); optimizer.zero_grad()

Encoder-only models use the same step with their own loss: classification CE over ``label``,
tagging CE over ``tags`` (pad ignored), QA ``½ (CE(start) + CE(end))`` over positions.

On CUDA the forward pass runs under ``torch.autocast(dtype=torch.bfloat16)`` (``amp=True``);
on CPU never, so CPU runs are bit-reproducible: same seed, same thread count -> the same
losses, and a run resumed from a checkpoint equals the uninterrupted one.

Page: ``docs/training.md`` and ``docs/advanced-training.md``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from transformer_anatomy.tasks import TaskData
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID, SOS_ID

from .checkpoint import load_torch_checkpoint, python_random_state, save_torch_checkpoint, set_python_random_state
from .config import TrainConfig
from .loop import Callback, Trainer


def _full(x: torch.Tensor) -> torch.Tensor:
    """Low-precision (autocast) logits -> float32; float32/float64 unchanged."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; ``"cuda"`` without a GPU raises."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} was requested but torch.cuda.is_available() is False")
    return device


class TorchTrainer(Trainer):
    """Train a ``transformer_anatomy.torch`` model (or any ``nn.Module`` with the same call
    signature, such as :class:`~transformer_anatomy.training.ReferenceSeq2Seq`).

    The model is moved to ``config.device``. The optimizer is ``torch.optim.Adam`` or
    ``AdamW``; its learning rate is set before every step from the shared schedule.

    Args: see :class:`~transformer_anatomy.training.loop.Trainer`.
    """

    backend = "torch"
    checkpoint_ext = ".pt"

    def __init__(
        self,
        model: torch.nn.Module,
        data: TaskData,
        config: TrainConfig,
        callback: Callback | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> None:
        super().__init__(model, data, config, callback, checkpoint_dir)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"config.device={config.device!r} but torch.cuda.is_available() is False")
        self.model = model.to(self.device)
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(model.parameters(), lr=self.schedule(1), betas=config.betas, eps=config.eps,
                                 weight_decay=config.weight_decay)
        self.use_amp = bool(config.amp and self.device.type == "cuda")

    # ------------------------------------------------------------------------------ helpers
    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --8<-- [start:loss]
    def loss_sum(self, batch: dict[str, np.ndarray], label_smoothing: float) -> torch.Tensor:
        """The batch's summed loss (divide by the number of targets for the mean).

        Shape: seq2seq logits ``(N, T, V)`` vs tgt_out ``(N, T)``; classification ``(N, C)`` vs
        label ``(N,)``; tagging ``(N, S, C)`` vs tags ``(N, S)``; QA 2 x ``(N, S)`` vs start, end ``(N,)``.
        """
        kind, m = self.config.kind, self.model
        src = self._tensor(batch["src"])
        with self._autocast():
            if kind == "seq2seq":
                logits, target = m(src, self._tensor(batch["tgt_in"])), self._tensor(batch["tgt_out"])
            elif kind == "classification":
                logits, target = m(src), self._tensor(batch["label"])
            elif kind == "tagging":
                logits, target = m(src), self._tensor(batch["tags"])
            else:
                start_logits, end_logits = m(src)
        if kind == "qa":  # ½ (CE over start positions + CE over end positions)
            ce_s = F.cross_entropy(_full(start_logits), self._tensor(batch["start"]), reduction="sum",
                                   label_smoothing=label_smoothing)
            ce_e = F.cross_entropy(_full(end_logits), self._tensor(batch["end"]), reduction="sum",
                                   label_smoothing=label_smoothing)
            return 0.5 * (ce_s + ce_e)
        C = logits.shape[-1]
        ignore = PAD_ID if kind in ("seq2seq", "tagging") else -100  # class 0 is a real label
        return F.cross_entropy(_full(logits).reshape(-1, C), target.reshape(-1), ignore_index=ignore,
                               label_smoothing=label_smoothing, reduction="sum")  # (N·T, V) vs (N·T,)
    # --8<-- [end:loss]

    # ------------------------------------------------------------------------------ backend
    # --8<-- [start:train_step]
    def _train_step(self, micro_batches: list[dict[str, np.ndarray]], total: int, lr: float) -> float:
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss_value = 0.0
        for batch in micro_batches:  # gradient accumulation: .grad sums over micro-batches
            loss = self.loss_sum(batch, self.config.label_smoothing) / max(total, 1)
            loss.backward()
            loss_value += float(loss.detach())
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_value
    # --8<-- [end:train_step]

    @torch.no_grad()
    def _logits(self, batch: dict[str, np.ndarray]) -> Any:
        self.model.eval()
        kind = self.config.kind
        src = self._tensor(batch["src"])
        with self._autocast():
            if kind == "seq2seq":
                out = self.model(src, self._tensor(batch["tgt_in"]))
            else:
                out = self.model(src)
        if kind == "qa":
            return tuple(_full(o).cpu().numpy() for o in out)
        return _full(out).cpu().numpy()

    @torch.no_grad()
    def _decode(self, src: np.ndarray, max_len: int) -> np.ndarray:
        self.model.eval()
        s = self._tensor(src)
        with self._autocast():
            if self.config.decoding == "beam":
                ids = self.model.beam_search(s, self.config.beam_size, max_len, SOS_ID, EOS_ID)
            else:
                ids = self.model.greedy_decode(s, max_len, SOS_ID, EOS_ID)
        return ids.cpu().numpy().astype(np.int64)

    def _backend_state(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "python": python_random_state()}
        if self.device.type == "cuda":
            rng["torch_cuda"] = torch.cuda.get_rng_state(self.device)
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "rng": rng}

    def _copy_weights(self) -> dict[str, Any]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _set_weights(self, weights: dict[str, Any]) -> None:
        self.model.load_state_dict(weights)

    def _load_backend_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        if "torch_cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["torch_cuda"].cpu(), self.device)
        set_python_random_state(rng["python"])

    def _save_file(self, path: Path, state: dict[str, Any]) -> Path:
        return save_torch_checkpoint(path, state)

    def _load_file(self, path: Path) -> dict[str, Any]:
        return load_torch_checkpoint(path, map_location="cpu")
