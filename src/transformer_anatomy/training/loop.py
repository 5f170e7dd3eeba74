"""The training loop both backends share: data order, steps, evaluation, history, checkpoints.

:class:`Trainer` owns everything that does not depend on the array library: which examples
go into which step, when to evaluate, the learning rate of each step, the metrics history,
early stopping and the checkpoint bookkeeping. A backend subclass
(:class:`~transformer_anatomy.training.TorchTrainer`,
:class:`~transformer_anatomy.training.NumpyTrainer`) supplies five operations: one optimizer
step on a list of micro-batches, the logits of a batch, autoregressive decoding, and getting
and setting its state (model, optimizer, random generators).

Guarantees:

- **Resumable data order.** The shuffle of epoch ``e`` is a permutation drawn from
  ``np.random.default_rng([seed, e])``; a checkpoint stores the epoch and how many
  micro-batches of it were consumed, so a resumed run sees exactly the batches the
  uninterrupted run would have seen.
- **Gradient accumulation is exact.** Each micro-batch's loss is a *sum* divided by the
  number of scored targets in the whole group of ``accumulate`` micro-batches, so the summed
  gradients equal those of one big batch (up to rounding).
- **No side effects.** Nothing is printed; files are written only where the caller says (the
  ``checkpoint_dir``, the ``log_file``, the ``tensorboard_dir``). Progress goes to an optional
  ``callback(event: dict)``.

**Monitoring.** ``log_file=PATH`` writes the history as JSON lines, one record per logged
training step (``{"kind": "train", "step", "loss", "lr", "time_s"}``) and per evaluation
(``{"kind": "eval", "step", "epoch", "lr", "train_loss", "metrics", "time_s"}``), each line
flushed as it is written; the file starts with the history the trainer already holds (a run
resumed from a checkpoint rewrites the records up to its step, ``time_s`` null), so it always
equals ``history`` plus times. ``tensorboard_dir=DIR`` writes TensorBoard event files
(``train/loss``, ``train/lr``, ``eval/<metric>``) through ``torch.utils.tensorboard``; it needs
the ``tensorboard`` package (the ``[tensorboard]`` extra) and says so at construction if it is
missing.

Events passed to the callback: ``{"event": "step", "step", "max_steps", "loss", "lr"}`` after
every optimizer step, ``{"event": "eval", **record}`` after every evaluation,
``{"event": "checkpoint", "path", "best"}`` after every save.

Page: ``docs/training.md``.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from transformer_anatomy.tasks import TaskData
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID, SOS_ID

from .checkpoint import CheckpointError, check_writable_folder, folder_write_problem
from .manifest import json_safe
from .config import TrainConfig
from .evaluation import MAIN_METRIC, score_classification, score_qa, score_seq2seq, score_tagging
from .schedules import LRSchedule

Callback = Callable[[dict[str, Any]], None]

_REQUIRED_FIELDS = {
    "seq2seq": ("src", "tgt_in", "tgt_out"),
    "classification": ("src", "label"),
    "tagging": ("src", "tags"),
    "qa": ("src", "start", "end"),
}


def target_count(kind: str, batch: dict[str, np.ndarray]) -> int:
    """How many targets a batch's loss averages over: non-pad target tokens (seq2seq,
    tagging) or examples (classification, QA)."""
    if kind == "seq2seq":
        return int((batch["tgt_out"] != PAD_ID).sum())
    if kind == "tagging":
        return int((batch["tags"] != PAD_ID).sum())
    return int(len(batch["src"]))


class Trainer:
    """Backend-independent training loop (subclass it; see the module docstring).

    Args:
        model: a model of the backend (``Seq2SeqTransformer`` for ``kind="seq2seq"``,
            ``TransformerClassifier``, ``TransformerTagger``, ``TransformerQA``).
        data: the task (:class:`~transformer_anatomy.tasks.TaskData`); must have the fields
            the ``kind`` needs.
        config: :class:`TrainConfig`.
        callback: optional ``callback(event: dict)`` for progress (see module docstring).
        checkpoint_dir: if given, ``last.<ext>`` is written after every evaluation and
            ``best.<ext>`` whenever the main metric improves. Nothing is written otherwise.
        log_file: if given, the history as JSON lines (module docstring); the file is replaced
            at the first record a trainer writes.
        tensorboard_dir: if given, TensorBoard event files go into this folder (needs the
            ``tensorboard`` package: ``ModuleNotFoundError`` naming the option otherwise).

    Attributes:
        step: optimizer steps taken. epoch, batch_in_epoch: position in the data.
        history: ``{"train": [{"step", "loss", "lr"}, ...], "eval": [{"step", "epoch", "lr",
            "train_loss", "metrics": {...}}, ...]}``; identical between runs with the same seed.
        timings: wall-clock seconds per evaluation (``{"step", "elapsed", "train_time"}``);
            kept apart from ``history`` because times are never reproducible.
        step_times: seconds of each optimizer step taken by this object (not in checkpoints);
            ``summary()["median_step_ms"]`` is their median, robust to a slow step or two.

    Examples:
        >>> import json, tempfile, pathlib
        >>> from transformer_anatomy.numpy import Seq2SeqTransformer
        >>> from transformer_anatomy.tasks import make_reversal_task
        >>> from transformer_anatomy.training import NumpyTrainer, TrainConfig
        >>> data = make_reversal_task(n_train=32, n_valid=8, n_test=8, min_len=3, max_len=3, num_symbols=4)
        >>> model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=8, nhead=2,
        ...                            num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, rng=0)
        >>> cfg = TrainConfig(max_steps=4, batch_size=8, log_every=2, eval_every=4)
        >>> log = pathlib.Path(tempfile.mkdtemp()) / "run.jsonl"
        >>> _ = NumpyTrainer(model, data, cfg, log_file=log).fit()
        >>> [(r["kind"], r["step"]) for r in map(json.loads, log.read_text().splitlines())]
        [('train', 2), ('train', 4), ('eval', 4)]

    Shape:
        A micro-batch is a dict of int64 arrays padded to its longest row: ``src`` ``(N, S)``;
        seq2seq ``tgt_in``/``tgt_out`` ``(N, T)``; classification ``label`` ``(N,)``; tagging
        ``tags`` ``(N, S)``; QA ``start``/``end`` ``(N,)``. :meth:`predict` returns ``logits``
        ``(n, T, V)`` / ``(n, C)`` / ``(n, S, C)``, or ``start_logits``/``end_logits`` ``(n, S)``,
        and for seq2seq ``decoded`` ``(n, L)`` ids (``<sos>`` first).
    """

    backend = "base"
    checkpoint_ext = ""
    supports_torch_options = False  # compile, sdpa_backend, grad_checkpointing (TorchTrainer only)

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
        self._check_arguments(model, data, config)
        self.model, self.data, self.config = model, data, config
        self.callback = callback
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if self.checkpoint_dir is not None:  # fail now, not at the first evaluation
            check_writable_folder(self.checkpoint_dir)
        self.log_file = _check_log_file(log_file)
        self.tensorboard_dir = _check_tensorboard_dir(tensorboard_dir)
        self._log_started = False  # the log file is (re)written from history at the first record
        self._tb_writer: Any = None  # open only inside fit()
        self.main_metric = MAIN_METRIC[config.kind]
        self.schedule = LRSchedule(config, d_model=int(getattr(model, "d_model", 64)))
        self.n_train = data.size("train")
        if self.n_train == 0:
            raise ValueError("the training split is empty")
        self.batches_per_epoch = math.ceil(self.n_train / config.batch_size)
        # position and records (all saved in checkpoints)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_metric: float | None = None
        self.best_step: int | None = None
        self.stopped_early = False
        self.history: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
        self.best_weights: dict[str, Any] | None = None  # copy of the model at best_step
        self._log_sum, self._log_count = 0.0, 0  # training loss since the last log point
        self._eval_sum, self._eval_count = 0.0, 0  # training loss since the last evaluation
        # not saved: iterators and clocks
        self._epoch_iter: Iterator[dict[str, np.ndarray]] | None = None
        self.timings: list[dict[str, float]] = []
        self.train_time = 0.0  # seconds inside optimizer steps
        self.step_times: list[float] = []  # seconds of each optimizer step of this process (not checkpointed)
        self.elapsed = 0.0  # seconds inside fit(), evaluations included
        self.time_to_target: float | None = None
        self._clock: Callable[[], float] = lambda: self.elapsed

    def _check_arguments(self, model: Any, data: TaskData, config: TrainConfig) -> None:
        """Refuse, before any work, options this backend lacks and task data the model cannot take."""
        if not self.supports_torch_options:
            for name, default in (("compile", False), ("sdpa_backend", "auto"), ("grad_checkpointing", False)):
                if getattr(config, name) != default:
                    raise ValueError(f"TrainConfig.{name}={getattr(config, name)!r} is a PyTorch option; "
                                     f"the {self.backend} trainer has no such thing (leave it at {default!r})")
        missing = [f for f in _REQUIRED_FIELDS[config.kind] if f not in data.train]
        if missing:
            raise ValueError(f"task {data.name!r} has no field(s) {missing} needed by kind={config.kind!r}")
        _check_model_fits_data(model, data, config.kind)

    # ------------------------------------------------------------------------------ backend
    def _train_step(self, micro_batches: list[dict[str, np.ndarray]], total: int, lr: float) -> float:
        """One optimizer step on the summed gradients of ``micro_batches``; returns the mean loss."""
        raise NotImplementedError

    def _logits(self, batch: dict[str, np.ndarray]) -> Any:
        """Evaluation-mode outputs as NumPy: logits, or (start, end) logits for QA."""
        raise NotImplementedError

    def _decode(self, src: np.ndarray, max_len: int) -> np.ndarray:
        """Autoregressive decoding (greedy or beam), ``(N, L)`` ids starting with ``<sos>``."""
        raise NotImplementedError

    def _backend_state(self) -> dict[str, Any]:
        """``{"model", "optimizer", "rng"}`` in the backend's checkpoint format."""
        raise NotImplementedError

    def _copy_weights(self) -> dict[str, Any]:
        """A copy of the model's state dict (tensors or arrays)."""
        raise NotImplementedError

    def _set_weights(self, weights: dict[str, Any]) -> None:
        raise NotImplementedError

    def _load_backend_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def _save_file(self, path: Path, state: dict[str, Any]) -> Path:
        raise NotImplementedError

    def _load_file(self, path: Path) -> dict[str, Any]:
        raise NotImplementedError

    # --------------------------------------------------------------------------------- data
    def _epoch_batches(self, epoch: int) -> Iterator[dict[str, np.ndarray]]:
        """The micro-batches of ``epoch`` in their shuffled order (a function of seed and epoch)."""
        rng = np.random.default_rng([self.config.seed, epoch])
        return self.data.batches("train", self.config.batch_size, rng=rng, shuffle=True)

    def _next_micro_batches(self) -> tuple[list[dict[str, np.ndarray]], bool]:
        """Up to ``accumulate`` micro-batches from the current epoch; True if the epoch ended."""
        if self._epoch_iter is None:  # fresh start or resumed: skip what was consumed
            self._epoch_iter = itertools.islice(self._epoch_batches(self.epoch), self.batch_in_epoch, None)
        take = min(self.config.accumulate, self.batches_per_epoch - self.batch_in_epoch)
        micro = list(itertools.islice(self._epoch_iter, take))
        self.batch_in_epoch += len(micro)
        ended = self.batch_in_epoch >= self.batches_per_epoch
        if ended:
            self.epoch += 1
            self.batch_in_epoch = 0
            self._epoch_iter = None
        return micro, ended

    # --------------------------------------------------------------------------------- loop
    # --8<-- [start:fit]
    def fit(self, until_step: int | None = None) -> dict[str, Any]:
        """Train until ``config.max_steps`` (or ``until_step``, to simulate an interruption),
        or until the main metric reaches ``config.target_metric``. Returns :meth:`summary`."""
        c = self.config
        stop_at = c.max_steps if until_step is None else min(until_step, c.max_steps)
        t_fit, before = time.perf_counter(), self.elapsed
        self._clock = lambda: before + (time.perf_counter() - t_fit)  # seconds in fit(), all calls
        try:
            while self.step < stop_at and not self.stopped_early:
                micro, epoch_ended = self._next_micro_batches()
                total = sum(target_count(c.kind, b) for b in micro)  # targets in the whole group
                lr = self.schedule(self.step + 1)
                t0 = time.perf_counter()
                loss = self._train_step(micro, total, lr)
                dt = time.perf_counter() - t0
                self.train_time += dt
                self.step_times.append(dt)
                self.step += 1
                self._record_loss(loss, lr)
                due = (self.step % c.eval_every == 0) if c.eval_every else epoch_ended
                if due or self.step == c.max_steps:
                    self._evaluate_and_record(lr)
        finally:
            self._close_tensorboard()  # event files complete even after an error
        self.elapsed = self._clock()
        return self.summary()
    # --8<-- [end:fit]

    # --------------------------------------------------------------------------- monitoring
    # --8<-- [start:monitor]
    def _monitor(self, record: dict[str, Any]) -> None:
        """Send one history record to the log file (a JSON line) and to TensorBoard."""
        if self.log_file is not None:
            if not self._log_started:  # a fresh file that starts with the history held so far
                self._log_started = True
                self.log_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_file, "w", encoding="utf-8") as f:
                    for old in _history_records(self.history, until=record):
                        f.write(json.dumps({**old, "time_s": None}) + "\n")
            with open(self.log_file, "a", encoding="utf-8") as f:  # closed (flushed) after every line
                f.write(json.dumps({**record, "time_s": self._clock()}) + "\n")
        if self.tensorboard_dir is not None:
            if self._tb_writer is None:
                self._tb_writer = _summary_writer()(log_dir=str(self.tensorboard_dir))
            step = record["step"]
            if record["kind"] == "train":
                self._tb_writer.add_scalar("train/loss", record["loss"], step)
                self._tb_writer.add_scalar("train/lr", record["lr"], step)
            else:
                for name, value in record["metrics"].items():
                    self._tb_writer.add_scalar(f"eval/{name}", value, step)
                self._tb_writer.flush()
    # --8<-- [end:monitor]

    def _close_tensorboard(self) -> None:
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None

    def _record_loss(self, loss: float, lr: float) -> None:
        if not math.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss} at step {self.step}")
        self._log_sum += loss
        self._log_count += 1
        self._eval_sum += loss
        self._eval_count += 1
        if self.step % self.config.log_every == 0:
            rec = {"step": self.step, "loss": self._log_sum / self._log_count, "lr": lr}
            self.history["train"].append(rec)
            self._log_sum, self._log_count = 0.0, 0
            if self.log_file is not None or self.tensorboard_dir is not None:
                self._monitor({"kind": "train", **rec})
        if self.callback is not None:
            self.callback({"event": "step", "step": self.step, "max_steps": self.config.max_steps,
                           "loss": loss, "lr": lr})

    def _evaluate_and_record(self, lr: float) -> None:
        c = self.config
        metrics = self.evaluate(c.eval_split, limit=c.eval_limit, decode=c.eval_decoding)
        value = metrics[self.main_metric]
        record = {"step": self.step, "epoch": self.epoch, "lr": lr,
                  "train_loss": self._eval_sum / max(self._eval_count, 1), "metrics": metrics}
        self._eval_sum, self._eval_count = 0.0, 0
        self.history["eval"].append(record)
        if self.log_file is not None or self.tensorboard_dir is not None:
            self._monitor({"kind": "eval", **record})
        self.schedule.on_eval(metrics["loss"] if c.plateau_metric == "loss" else value)
        self.timings.append({"step": self.step, "elapsed": self._clock(), "train_time": self.train_time})
        hit = c.target_metric is not None and value >= c.target_metric
        # at the target a tie is an improvement too: the kept weights are those that held it longest
        improved = self.best_metric is None or value > self.best_metric or (hit and value >= self.best_metric)
        if improved:
            self.best_metric, self.best_step = float(value), self.step
            self.best_weights = self._copy_weights()
        if hit and self._target_streak() >= c.target_patience:
            self.stopped_early = True
            if self.time_to_target is None:
                self.time_to_target = self._clock()  # training and every evaluation so far
        if self.callback is not None:
            self.callback({"event": "eval", **record})
        if self.checkpoint_dir is not None:
            self._save_to_dir("last")
            if improved:
                self._save_to_dir("best")

    def _target_streak(self, until: int | None = None) -> int:
        """Evaluations in a row, ending with the ``until``-th (default the last), that reached the target."""
        records = self.history["eval"][: until]
        n = 0
        for r in reversed(records):
            if r["metrics"][self.main_metric] < self.config.target_metric:
                break
            n += 1
        return n

    def _save_to_dir(self, name: str) -> None:
        assert self.checkpoint_dir is not None
        path = self.save_checkpoint(self.checkpoint_dir / f"{name}{self.checkpoint_ext}")
        if self.callback is not None:
            self.callback({"event": "checkpoint", "path": str(path), "best": name == "best"})

    # --------------------------------------------------------------------------- evaluation
    def max_decode_len(self, split: str) -> int:
        """Tokens to decode including ``<sos>``: the split's target width + 1 (room for ``<eos>``)."""
        if self.config.max_decode_len is not None:
            return self.config.max_decode_len
        return int(self.data.split(split)["tgt_out"].shape[1]) + 1

    def predict(self, split: str, limit: int | None = None, decode: bool = True) -> dict[str, np.ndarray]:
        """Raw outputs on a split, in its order (no shuffling, no trimming).

        Returns ``logits`` (or ``start_logits``/``end_logits`` for QA) and, for seq2seq with
        ``decode=True``, ``decoded`` ``(N, L)`` ids from autoregressive decoding (``<sos>`` first).
        """
        c = self.config
        n = self.data.size(split) if limit is None else min(limit, self.data.size(split))
        if n == 0:
            raise ValueError(f"split {split!r} is empty")
        parts: dict[str, list[np.ndarray]] = {}
        arrays = self.data.split(split)
        max_len = self.max_decode_len(split) if c.kind == "seq2seq" else 0
        for lo in range(0, n, c.eval_batch_size):
            batch = {f: a[lo : min(lo + c.eval_batch_size, n)] for f, a in arrays.items()}
            out = self._logits(batch)
            if c.kind == "qa":
                parts.setdefault("start_logits", []).append(out[0])
                parts.setdefault("end_logits", []).append(out[1])
            else:
                parts.setdefault("logits", []).append(out)
            if c.kind == "seq2seq" and decode:
                dec = self._decode(batch["src"], max_len)
                width = max_len  # pad every batch's decoded ids to one width
                padded = np.full((dec.shape[0], width), PAD_ID, dtype=np.int64)
                padded[:, : dec.shape[1]] = dec
                parts.setdefault("decoded", []).append(padded)
        return {k: np.concatenate(v, axis=0) for k, v in parts.items()}

    def evaluate(self, split: str = "valid", limit: int | None = None, decode: bool = True) -> dict[str, float]:
        """Loss and metrics on ``split`` (the first ``limit`` examples); see ``evaluation``.

        ``decode=False`` (seq2seq) skips autoregressive decoding: the exact match then comes
        from the teacher-forced pass (``evaluation.teacher_forced_exact_match``, the same number
        for greedy decoding) and there is no ``decoded_token_accuracy``."""
        return self.score(split, self.predict(split, limit, decode=decode))

    def score(self, split: str, out: dict[str, np.ndarray]) -> dict[str, float]:
        """Metrics of outputs returned by :meth:`predict` on the first examples of ``split``."""
        arrays = self.data.split(split)
        n = len(next(iter(out.values())))
        kind = self.config.kind
        if kind == "seq2seq":
            return score_seq2seq(out["logits"], arrays["tgt_out"][:n], out.get("decoded"))
        if kind == "classification":
            return score_classification(out["logits"], arrays["label"][:n])
        if kind == "tagging":
            return score_tagging(out["logits"], arrays["tags"][:n])
        return score_qa(out["start_logits"], out["end_logits"], arrays["start"][:n], arrays["end"][:n],
                        ids=arrays["src"][:n])

    def use_best_weights(self) -> bool:
        """Put the weights of the best evaluation (by the main metric) into the model.

        Returns False (and changes nothing) if there was no evaluation yet. Training state
        (optimizer, step) is untouched: call this when training is over, before testing.
        """
        if self.best_weights is None:
            return False
        self._set_weights(self.best_weights)
        return True

    # ---------------------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        """Where training stands: steps, epochs, best metric, times, the last evaluation."""
        last = self.history["eval"][-1] if self.history["eval"] else None
        steps_to_target = None
        if self.config.target_metric is not None:
            hits = [r["step"] for i, r in enumerate(self.history["eval"])
                    if self._target_streak(until=i + 1) >= self.config.target_patience]
            steps_to_target = hits[0] if hits else None
        return {
            "backend": self.backend, "step": self.step, "epoch": self.epoch, "main_metric": self.main_metric,
            "best_metric": self.best_metric, "best_step": self.best_step, "last_eval": last,
            "stopped_early": self.stopped_early, "steps_to_target": steps_to_target,
            "train_time_s": self.train_time, "elapsed_s": self.elapsed, "time_to_target_s": self.time_to_target,
            "median_step_ms": 1000.0 * float(np.median(self.step_times)) if self.step_times else None,
        }

    # -------------------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        """Everything a checkpoint holds (the backend's format for model/optimizer/rng)."""
        return {
            **self._backend_state(),
            "scheduler": self.schedule.state_dict(),
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "best_metric": self.best_metric, "best_step": self.best_step, "stopped_early": self.stopped_early,
            "best_model": self.best_weights,
            "running": {"log_sum": self._log_sum, "log_count": self._log_count,
                        "eval_sum": self._eval_sum, "eval_count": self._eval_count},
            "history": self.history,
            "config": self.config.to_dict(),
            "task": {"name": self.data.name, "params": json_safe(self.data.params)},
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Atomically write the full training state to ``path``; returns the path."""
        return self._save_file(Path(path), self.state())

    def load_checkpoint(self, path: str | Path, strict_config: bool = True) -> dict[str, Any]:
        """Restore a state written by :meth:`save_checkpoint`, so :meth:`fit` continues it.

        With ``strict_config`` the checkpoint's config must equal this trainer's except for
        ``max_steps``, ``target_metric``, ``device``, ``amp``, ``compile``, ``sdpa_backend`` and
        ``grad_checkpointing`` (how a step is computed, not what it computes; ``ValueError`` names the
        fields that differ), and the checkpoint's task (name and parameters) must be this trainer's
        data (:class:`CheckpointError` names what differs). Returns the loaded dict.
        """
        state = self._load_file(Path(path))
        task = state.get("task")
        if strict_config and task is not None:  # the data must be what the checkpoint was trained on
            mine_task = {"name": self.data.name, "params": json_safe(self.data.params)}
            theirs_params = dict(task.get("params") or {})
            diff = ["name"] if task.get("name") != mine_task["name"] else []
            diff += sorted(k for k in set(mine_task["params"]) | set(theirs_params)
                           if mine_task["params"].get(k) != theirs_params.get(k))
            if diff:
                raise CheckpointError(
                    f"checkpoint {path} was made for different task data: {diff} differ "
                    f"(checkpoint: {task.get('name')!r} {theirs_params}, trainer: {mine_task['name']!r} "
                    f"{mine_task['params']})"
                )
        if strict_config:
            mine, theirs = self.config.to_dict(), dict(state["config"])
            free = {"max_steps", "target_metric", "device", "amp", "compile", "sdpa_backend", "grad_checkpointing"}
            defaults = TrainConfig().to_dict()  # a field the checkpoint predates had its default
            diff = sorted(k for k in mine if k not in free and mine[k] != theirs.get(k, defaults[k]))
            if diff:
                raise ValueError(f"checkpoint {path} was made with a different config: {diff}")
        self._load_backend_state(state)
        self.schedule.load_state_dict(state["scheduler"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.best_metric = None if state["best_metric"] is None else float(state["best_metric"])
        self.best_step = None if state["best_step"] is None else int(state["best_step"])
        self.stopped_early = bool(state["stopped_early"])
        self.best_weights = state.get("best_model")
        r = state["running"]
        self._log_sum, self._log_count = float(r["log_sum"]), int(r["log_count"])
        self._eval_sum, self._eval_count = float(r["eval_sum"]), int(r["eval_count"])
        self.history = {"train": [dict(x) for x in state["history"]["train"]],
                        "eval": [dict(x) for x in state["history"]["eval"]]}
        self._epoch_iter = None  # rebuilt from (seed, epoch), skipping batch_in_epoch
        self._log_started = False  # the log file is rewritten from this history at the next record
        return state


def _history_records(history: dict[str, list[dict[str, Any]]], until: dict[str, Any]) -> list[dict[str, Any]]:
    """The history's records in the order the loop wrote them (by step, a step's training record
    before its evaluation), without ``until`` itself (the record being written)."""
    recs = [{"kind": "train", **r} for r in history["train"]] + [{"kind": "eval", **r} for r in history["eval"]]
    recs = [r for r in recs if r != until]
    return sorted(recs, key=lambda r: (r["step"], r["kind"] == "eval"))


def _check_log_file(log_file: str | Path | None) -> Path | None:
    """``log_file`` as a Path, refused now (``OSError`` naming it) if it cannot be written."""
    if log_file is None:
        return None
    path = Path(log_file)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write log_file={str(path)!r}: it is a folder")
    problem, code = folder_write_problem(path.parent)
    if problem:
        raise OSError(code, f"cannot write log_file={str(path)!r}: its folder {str(path.parent)!r} cannot "
                            f"hold files ({problem})")
    return path


def _summary_writer() -> Any:
    """``torch.utils.tensorboard.SummaryWriter``; ``ModuleNotFoundError`` naming the option without it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # torch's module imports the tensorboard package
        raise ModuleNotFoundError(
            "tensorboard_dir needs the tensorboard package, which is not installed: "
            "pip install 'transformer-anatomy[tensorboard]' (or pip install tensorboard), "
            f"or leave tensorboard_dir=None ({e})"
        ) from e
    return SummaryWriter


def _check_tensorboard_dir(folder: str | Path | None) -> Path | None:
    if folder is None:
        return None
    _summary_writer()  # fail at construction, not at the first record
    path = Path(folder)
    problem, code = folder_write_problem(path)
    if problem:
        raise OSError(code, f"cannot write tensorboard_dir={str(path)!r}: {problem}")
    return path


_MODEL_SIZES = {  # field of the task -> (attribute path of the model, what it is called)
    "src": ("src_tok_emb.num_embeddings", "src_vocab_size"),
    "tgt_in": ("tgt_tok_emb.num_embeddings", "tgt_vocab_size"),
    "tgt_out": ("generator.out_features", "tgt_vocab_size"),
    "label": ("classifier.out_features", "num_classes"),
    "tags": ("tagger.out_features", "num_classes"),
}


def _model_size(model: Any, path: str) -> int | None:
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return int(obj) if isinstance(obj, (int, np.integer)) else None


def _check_model_fits_data(model: Any, data: TaskData, kind: str) -> None:
    """Refuse, before any work, a model too small for the task's ids (a vocabulary or a class
    count smaller than the data needs), which would fail at the first batch (or, for labels,
    in the middle of the loss). Models without the usual attributes are not checked."""
    for field in _REQUIRED_FIELDS[kind]:
        if field not in _MODEL_SIZES:
            continue
        path, what = _MODEL_SIZES[field]
        if field == "src" and kind != "seq2seq":
            path = "tok_emb.num_embeddings"
            what = "vocab_size"
        size = _model_size(model, path)
        if size is None:
            continue
        top = max((int(a.max()) for s in data.splits.values() if field in s and s[field].size
                   for a in (s[field],)), default=-1)
        if top >= size:
            raise ValueError(
                f"the model has {what}={size} but task {data.name!r} has {field} ids up to {top}; "
                f"build the model with {what} >= {top + 1}"
            )


__all__ = ["Trainer", "Callback", "target_count", "SOS_ID", "EOS_ID", "PAD_ID"]
