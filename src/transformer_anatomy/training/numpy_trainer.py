"""The training loop for the NumPy models: hand-written backward, NumPy Adam, no autograd.

The loop (data order, schedule, evaluation, history, checkpoints) is the shared
:class:`~transformer_anatomy.training.loop.Trainer`; only the step differs from the PyTorch
version, and it is written out in full::

    logits = model.forward(src, tgt_in)                 # (N, T, V)
    loss = ce.forward(logits, tgt_out) / total          # ce: reduction="sum", ignore pad
    model.backward(ce.backward(1 / total))              # dlogits (N, T, V) -> every grad
    grads += model.grads                                # backward overwrites: we accumulate
    clip_grad_norm_(grads, max_norm); optimizer.step(grads)

Dropout masks come from the model's own ``np.random.Generator`` (shared by its layers); a
checkpoint stores its bit-generator state, so resuming reproduces the masks too.

Page: ``docs/backprop.md`` (the backward pass) and ``docs/training.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from transformer_anatomy.numpy import Adam, AdamW, CrossEntropyLoss, clip_grad_norm_
from transformer_anatomy.tasks import TaskData
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID, SOS_ID

from .checkpoint import (
    load_numpy_checkpoint,
    numpy_generator_state,
    python_random_state,
    save_numpy_checkpoint,
    set_numpy_generator_state,
    set_python_random_state,
)
from .config import TrainConfig
from .loop import Callback, Trainer


def model_generators(model: Any) -> dict[str, np.random.Generator]:
    """Every distinct ``np.random.Generator`` in the module tree, under the first module
    name that holds it (``""`` for the root)."""
    found: dict[str, np.random.Generator] = {}
    seen: set[int] = set()
    for name, module in model.named_modules():
        rng = module.__dict__.get("rng")
        if isinstance(rng, np.random.Generator) and id(rng) not in seen:
            seen.add(id(rng))
            found[name.rstrip(".") or "<root>"] = rng
    return found


class NumpyTrainer(Trainer):
    """Train a ``transformer_anatomy.numpy`` model (float32 or float64, its parameters' dtype).

    Beam search is not offered by the NumPy models: ``decoding="beam"`` raises ``ValueError``;
    ``device``/``amp`` are ignored.

    Args: see :class:`~transformer_anatomy.training.loop.Trainer`.

    Shape:
        batches as :class:`~transformer_anatomy.training.loop.Trainer` (int64 arrays, ``src``
        ``(N, S)``). :meth:`loss_and_backward` compares seq2seq logits ``(N, T, V)`` with
        ``tgt_out`` ``(N, T)``; classification ``(N, C)`` with ``label`` ``(N,)``; tagging
        ``(N, S, C)`` with ``tags`` ``(N, S)``; QA 2 x ``(N, S)`` with ``start``, ``end``
        ``(N,)``. Greedy decoding returns ids ``(N, L)`` (``<sos>`` first).

    Examples:
        >>> from transformer_anatomy.numpy import Seq2SeqTransformer
        >>> from transformer_anatomy.tasks import make_reversal_task
        >>> data = make_reversal_task(n_train=40, n_valid=16, n_test=16, min_len=3, max_len=6, num_symbols=6, rng=1)
        >>> V = len(data.src_vocab)
        >>> model = Seq2SeqTransformer(V, V, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
        ...                            dim_feedforward=32, rng=np.random.default_rng(0))
        >>> trainer = NumpyTrainer(model, data, TrainConfig(max_steps=3, batch_size=8, eval_every=3))
        >>> _ = trainer.fit()
        >>> trainer.step, trainer.history["eval"][-1]["step"]
        (3, 3)
    """

    backend = "numpy"
    checkpoint_ext = ".npz"

    def __init__(
        self,
        model: Any,
        data: TaskData,
        config: TrainConfig,
        callback: Callback | None = None,
        checkpoint_dir: str | Path | None = None,
        log_file: str | Path | None = None,
        tensorboard_dir: str | Path | None = None,
    ) -> None:
        if config.kind == "seq2seq" and config.decoding == "beam":
            raise ValueError("the NumPy models decode greedily only; use decoding='greedy'")
        super().__init__(model, data, config, callback, checkpoint_dir, log_file, tensorboard_dir)
        opt_cls = AdamW if config.optimizer == "adamw" else Adam
        self.optimizer = opt_cls(model.params, lr=self.schedule(1), betas=config.betas, eps=config.eps,
                                 weight_decay=config.weight_decay)
        ls = config.label_smoothing
        ignore = PAD_ID if config.kind in ("seq2seq", "tagging") else -100  # class 0 is a real label
        self.ce = CrossEntropyLoss(ignore_index=ignore, reduction="sum", label_smoothing=ls)
        self.ce_end = CrossEntropyLoss(reduction="sum", label_smoothing=ls)  # QA's second head

    # --8<-- [start:loss_and_backward]
    def loss_and_backward(self, batch: dict[str, np.ndarray], total: int) -> float:
        """Forward, ``loss_sum / total``, and backward into ``model.grads`` (overwritten).

        Shape: as :meth:`TorchTrainer.loss_sum`.
        """
        kind, m, ce = self.config.kind, self.model, self.ce
        scale = 1.0 / max(total, 1)
        if kind == "qa":  # ½ (CE over start positions + CE over end positions)
            start_logits, end_logits = m.forward(batch["src"])  # 2 x (N, S)
            loss = 0.5 * (ce.forward(start_logits, batch["start"]) + self.ce_end.forward(end_logits, batch["end"]))
            m.backward(ce.backward(0.5 * scale), self.ce_end.backward(0.5 * scale))
            return float(loss) * scale
        if kind == "seq2seq":
            logits, target = m.forward(batch["src"], batch["tgt_in"]), batch["tgt_out"]  # (N, T, V), (N, T)
        elif kind == "classification":
            logits, target = m.forward(batch["src"]), batch["label"]  # (N, C), (N,)
        else:
            logits, target = m.forward(batch["src"]), batch["tags"]  # (N, S, C), (N, S)
        loss = ce.forward(logits, target)
        m.backward(ce.backward(scale))  # dlogits, same shape as logits
        return float(loss) * scale
    # --8<-- [end:loss_and_backward]

    # ------------------------------------------------------------------------------ backend
    # --8<-- [start:train_step]
    def _train_step(self, micro_batches: list[dict[str, np.ndarray]], total: int, lr: float) -> float:
        self.model.train()
        loss_value = 0.0
        grads: dict[str, np.ndarray] | None = None
        for batch in micro_batches:
            loss_value += self.loss_and_backward(batch, total)
            if grads is None:  # one micro-batch: use the model's own gradient arrays
                grads = self.model.grads
                if len(micro_batches) > 1:
                    grads = {k: g.copy() for k, g in grads.items()}
            else:  # backward overwrote model.grads: add them up ourselves
                for k, g in self.model.grads.items():
                    grads[k] += g
        assert grads is not None
        if self.config.clip_norm is not None:
            clip_grad_norm_(grads, self.config.clip_norm)
        self.optimizer.lr = lr
        self.optimizer.step(grads)
        return loss_value
    # --8<-- [end:train_step]

    def _logits(self, batch: dict[str, np.ndarray]) -> Any:
        self.model.eval()
        if self.config.kind == "seq2seq":
            return self.model.forward(batch["src"], batch["tgt_in"])
        return self.model.forward(batch["src"])

    def _decode(self, src: np.ndarray, max_len: int) -> np.ndarray:
        self.model.eval()
        return np.asarray(self.model.greedy_decode(src, max_len, SOS_ID, EOS_ID), dtype=np.int64)

    def _backend_state(self) -> dict[str, Any]:
        gens = {name: numpy_generator_state(g) for name, g in model_generators(self.model).items()}
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": {"numpy": gens, "python": python_random_state()}}

    def _copy_weights(self) -> dict[str, Any]:
        return self.model.state_dict()  # copies

    def _set_weights(self, weights: dict[str, Any]) -> None:
        self.model.load_state_dict(weights)

    def _load_backend_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        gens = model_generators(self.model)
        saved = state["rng"]["numpy"]
        if set(saved) != set(gens):
            raise ValueError(f"checkpoint has random generators {sorted(saved)}, the model has {sorted(gens)}")
        for name, g in gens.items():
            set_numpy_generator_state(g, saved[name])
        set_python_random_state(state["rng"]["python"])

    def _save_file(self, path: Path, state: dict[str, Any]) -> Path:
        return save_numpy_checkpoint(path, state)

    def _load_file(self, path: Path) -> dict[str, Any]:
        return load_numpy_checkpoint(path)
