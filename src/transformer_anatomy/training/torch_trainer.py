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

Options for how a step is computed (``TrainConfig``; the maths is unchanged):
``compile=True`` trains through ``torch.compile(model)``; ``sdpa_backend`` pins
``F.scaled_dot_product_attention`` to one kernel (``torch.nn.attention.sdpa_kernel``);
``grad_checkpointing=True`` recomputes every encoder/decoder layer in backward
(:func:`enable_gradient_checkpointing`).

**Data parallel.** When a ``torch.distributed`` process group is up (``torchrun``, see
``training.distributed``), the trainer wraps the model in ``DistributedDataParallel`` and
``config.batch_size`` is the *global* batch: every rank draws the same shuffled micro-batch and
keeps rows ``rank, rank + P, ...`` of it (the ``DistributedSampler`` rule), its loss is its
rows' summed loss times ``P`` divided by the global target count, and DDP's gradient mean
(``/ P``) turns that into exactly the gradient of the global batch's mean loss. Every rank
evaluates on the whole split with identical weights, so they stop together; only rank 0
writes checkpoints and logs. With ``dropout=0`` the run equals the single-process run up to the order
of floating-point sums (``tests/training/test_ddp.py``).

Page: ``docs/training.md`` and ``docs/advanced-training.md``.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from transformer_anatomy.tasks import TaskData
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID, SOS_ID

from .checkpoint import load_torch_checkpoint, python_random_state, save_torch_checkpoint, set_python_random_state
from .config import TrainConfig
from .distributed import rank_share, wrap_ddp
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
    ``AdamW``; its learning rate is set before every step from the shared schedule. Under
    ``torchrun`` (a process group is up) it trains with ``DistributedDataParallel`` and
    ``config.batch_size`` is the global batch (module docstring).

    Args: see :class:`~transformer_anatomy.training.loop.Trainer`.

    Shape:
        As :class:`~transformer_anatomy.training.loop.Trainer`; under DDP each rank's share of
        a micro-batch is ``(ceil(N / P), S)`` or one row fewer.

    Examples:
        >>> import torch
        >>> from transformer_anatomy.tasks import make_reversal_task
        >>> from transformer_anatomy.torch import Seq2SeqTransformer
        >>> data = make_reversal_task(n_train=40, n_valid=16, n_test=16, min_len=3, max_len=6, num_symbols=6, rng=1)
        >>> V = len(data.src_vocab)
        >>> _ = torch.manual_seed(0)
        >>> model = Seq2SeqTransformer(V, V, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
        ...                            dim_feedforward=32)
        >>> trainer = TorchTrainer(model, data, TrainConfig(max_steps=3, batch_size=8, eval_every=3, log_every=1))
        >>> _ = trainer.fit()
        >>> trainer.step, len(trainer.history["train"]), sorted(trainer.evaluate("test"))
        (3, 3, ['decoded_token_accuracy', 'exact_match', 'loss', 'token_accuracy'])
    """

    backend = "torch"
    supports_torch_options = True
    checkpoint_ext = ".pt"

    def __init__(
        self,
        model: torch.nn.Module,
        data: TaskData,
        config: TrainConfig,
        callback: Callback | None = None,
        checkpoint_dir: str | Path | None = None,
        log_file: str | Path | None = None,
        tensorboard_dir: str | Path | None = None,
    ) -> None:
        super().__init__(model, data, config, callback, checkpoint_dir, log_file, tensorboard_dir)
        self.device = torch.device(resolve_device(config.device))
        self.model = model.to(self.device)
        opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        # foreach=True: one multi-tensor update instead of a Python loop over the parameters (torch's
        # default on CUDA, not on CPU). The same arithmetic, bit for bit (tests/training/
        # test_torch_options.py); on one CPU thread the optimizer step at the reversal model's size
        # is 2.3 -> 1.0 ms, a 1.5-3 % shorter training step (fused=True is faster still, not bit-identical).
        self.optimizer = opt_cls(model.parameters(), lr=self.schedule(1), betas=config.betas, eps=config.eps,
                                 weight_decay=config.weight_decay, foreach=True)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        if config.grad_checkpointing:
            enable_gradient_checkpointing(self.model)
        # data parallel: one process per device, started by torchrun (module docstring)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.rank = dist.get_rank() if self.distributed else 0
        self.train_model: torch.nn.Module = self.model  # what the training forward calls
        if self.distributed:
            self.train_model = wrap_ddp(self.model, self.device)
            if self.rank != 0:
                self.checkpoint_dir = None  # rank 0 writes; every rank can load
                self.log_file = self.tensorboard_dir = None  # and logs
        if config.compile:
            self.train_model = torch.compile(self.train_model)

    # ------------------------------------------------------------------------------ helpers
    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, non_blocking=True)

    def _autocast(self) -> contextlib.AbstractContextManager:
        stack = contextlib.ExitStack()
        if self.use_amp:
            stack.enter_context(torch.autocast(device_type="cuda", dtype=torch.bfloat16))
        if self.config.sdpa_backend != "auto":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            name = {"math": "MATH", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
                    "cudnn": "CUDNN_ATTENTION"}[self.config.sdpa_backend]
            stack.enter_context(sdpa_kernel(getattr(SDPBackend, name)))
        return stack

    # --8<-- [start:loss]
    def loss_sum(self, batch: dict[str, np.ndarray], label_smoothing: float,
                 model: torch.nn.Module | None = None) -> torch.Tensor:
        """The batch's summed loss (divide by the number of targets for the mean); ``model``
        defaults to the plain model (the training step passes the DDP/compiled wrapper).

        Shape: seq2seq logits ``(N, T, V)`` vs tgt_out ``(N, T)``; classification ``(N, C)`` vs
        label ``(N,)``; tagging ``(N, S, C)`` vs tags ``(N, S)``; QA 2 x ``(N, S)`` vs start, end ``(N,)``.
        """
        kind, m = self.config.kind, self.model if model is None else model
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
        self.train_model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss_value = 0.0
        for i, batch in enumerate(micro_batches):  # gradient accumulation: .grad sums over micro-batches
            rows, weight = self._my_rows(batch)  # one process: the whole batch, weight 1
            last = i == len(micro_batches) - 1
            with contextlib.nullcontext() if last else self._no_sync():  # DDP: one all-reduce per step
                loss = self.loss_sum(rows, self.config.label_smoothing, self.train_model) / max(total, 1) * weight
                loss.backward()
            loss_value += float(loss.detach())
        if self.world_size > 1:
            loss_value = self._mean_over_ranks(loss_value)
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss_value
    # --8<-- [end:train_step]

    # --8<-- [start:distributed_step]
    def _my_rows(self, batch: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
        """This rank's rows of a micro-batch and the factor on their loss.

        Rows ``r, r + P, ...`` (DistributedSampler's rule), weight ``P``: DDP divides the summed
        gradients by ``P``. A micro-batch with fewer than ``P`` rows leaves some rank none: it
        runs one row with weight 0, so it still joins the all-reduce.
        """
        P, r = self.world_size, self.rank
        if P == 1:
            return batch, 1.0
        mine = {k: rank_share(v, P, r) for k, v in batch.items()}  # rows r, r + P, ...: ShardSampler's rule
        if len(mine["src"]) == 0:
            return {k: v[:1] for k, v in batch.items()}, 0.0
        return mine, float(P)

    def _mean_over_ranks(self, local: float) -> float:
        """Each rank's loss was scaled by ``P``: the all-reduced sum / ``P`` is the global batch's mean."""
        value = torch.tensor([local / self.world_size], dtype=torch.float64, device=self.device)  # nccl: GPU
        dist.all_reduce(value)
        return float(value.item())

    def _no_sync(self) -> contextlib.AbstractContextManager:
        ddp = getattr(self.train_model, "_orig_mod", self.train_model)  # under torch.compile
        return ddp.no_sync() if hasattr(ddp, "no_sync") else contextlib.nullcontext()
    # --8<-- [end:distributed_step]

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


# --8<-- [start:checkpointing]
def enable_gradient_checkpointing(model: torch.nn.Module) -> torch.nn.Module:
    """Run every encoder and decoder layer of ``model`` under ``torch.utils.checkpoint``.

    Backward then recomputes each layer's activations from its input instead of keeping
    them: less memory, about one more forward pass of time (``docs/advanced-training.md``
    measures both). Works on ``Seq2SeqTransformer`` (``model.transformer.encoder/decoder``),
    the encoder-only models (``model.encoder``) and ``ReferenceSeq2Seq``. Outside training
    (``torch.no_grad()``) the layers run as usual. Returns ``model``.

    Shape: unchanged; every layer still maps ``(N, L, E) -> (N, L, E)``.
    """
    stacks = []
    for name in ("transformer.encoder", "transformer.decoder", "encoder", "decoder"):
        try:
            stacks.append(model.get_submodule(name))
        except AttributeError:
            continue
    layers = [layer for stack in stacks for layer in getattr(stack, "layers", [])]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no encoder/decoder layers to checkpoint")
    for layer in layers:
        if not getattr(layer, "_ta_checkpointed", False):
            layer.forward = functools.partial(_checkpointed, layer.forward)
            layer._ta_checkpointed = True
    return model


def _checkpointed(forward, *args, **kwargs):
    if not torch.is_grad_enabled():
        return forward(*args, **kwargs)
    return checkpoint(forward, *args, use_reentrant=False, **kwargs)
# --8<-- [end:checkpointing]
