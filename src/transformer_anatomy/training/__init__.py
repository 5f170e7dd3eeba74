"""Training loops for both backends, learning-rate schedules, evaluation and checkpoints.

>>> from transformer_anatomy.tasks import make_reversal_task
>>> from transformer_anatomy.torch import Seq2SeqTransformer
>>> from transformer_anatomy.training import TorchTrainer, TrainConfig
>>> data = make_reversal_task(n_train=256, n_valid=64, n_test=64)
>>> model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab))
>>> trainer = TorchTrainer(model, data, TrainConfig(kind="seq2seq", max_steps=4, batch_size=64))
>>> summary = trainer.fit()

The library prints nothing and writes files only into a ``checkpoint_dir`` you pass;
progress is reported through ``callback(event: dict)``. ``scripts/reproduce.py`` hooks tqdm
into it and writes the results.

Page: ``docs/training.md``.
"""

from .checkpoint import (
    CheckpointError,
    atomic_write,
    load_numpy_checkpoint,
    load_torch_checkpoint,
    save_numpy_checkpoint,
    save_torch_checkpoint,
)
from .config import TrainConfig
from .evaluation import MAIN_METRIC, best_spans
from .loop import Trainer
from .numpy_trainer import NumpyTrainer
from .schedules import LRSchedule, ReduceLROnPlateau
from .seeding import seed_everything


def __getattr__(name: str):  # torch is imported only when a torch trainer is asked for
    if name in ("TorchTrainer", "resolve_device", "enable_gradient_checkpointing"):
        from . import torch_trainer

        return getattr(torch_trainer, name)
    if name == "ReferenceSeq2Seq":
        from .reference import ReferenceSeq2Seq

        return ReferenceSeq2Seq
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckpointError", "LRSchedule", "MAIN_METRIC", "NumpyTrainer", "ReduceLROnPlateau", "ReferenceSeq2Seq", "TorchTrainer",
    "TrainConfig", "Trainer", "atomic_write", "best_spans", "enable_gradient_checkpointing", "load_numpy_checkpoint", "load_torch_checkpoint",
    "resolve_device", "save_numpy_checkpoint", "save_torch_checkpoint", "seed_everything",
]
