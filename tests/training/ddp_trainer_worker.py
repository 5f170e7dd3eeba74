"""Worker for ``test_ddp.py``: train with ``TorchTrainer`` in one process or under torchrun.

    python tests/training/ddp_trainer_worker.py OUT [--optimizer adam]
    python -m torch.distributed.run --nproc_per_node=2 tests/training/ddp_trainer_worker.py OUT

A small reversal model (dropout 0, so every rank computes what one process computes) on 33
training examples with batch_size 16 and accumulate 3: every optimizer step is one epoch of
micro-batches of 16, 16 and 1 examples, so gradient accumulation under ``no_sync``, shards of
8 rows and a shard with no row at all (rank 1 of the last micro-batch) are all exercised.

Every rank writes ``OUT/rank<r>.json`` (its history and the checkpoint files it wrote),
``OUT/params<r>.pt`` (final state_dict) and ``OUT/grads<r>.pt`` (the gradients each
optimizer step used, after clipping: recorded by wrapping ``optimizer.step``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from transformer_anatomy.tasks import make_reversal_task  # noqa: E402
from transformer_anatomy.torch import Seq2SeqTransformer  # noqa: E402
from transformer_anatomy.training import TorchTrainer, TrainConfig, seed_everything  # noqa: E402
from transformer_anatomy.training.distributed import cleanup, init_distributed  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--optimizer", default="adam", choices=("adam", "adamw"))
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    info = init_distributed()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = make_reversal_task(n_train=33, n_valid=16, n_test=16, min_len=3, max_len=7, rng=0)
    seed_everything(0)
    model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=32, nhead=2,
                               num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64, dropout=0.0)
    cfg = TrainConfig(kind="seq2seq", max_steps=args.steps, batch_size=16, accumulate=3, lr=3e-3,
                      optimizer=args.optimizer, schedule="constant", warmup=0, eval_every=3, log_every=1, seed=0)
    trainer = TorchTrainer(model, data, cfg, checkpoint_dir=out / f"ckpt{info.rank}")
    grads: list[dict[str, torch.Tensor]] = []
    step = trainer.optimizer.step

    def recording_step(*a, **k):
        grads.append({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
        return step(*a, **k)

    trainer.optimizer.step = recording_step
    trainer.fit()
    record = {"rank": info.rank, "world_size": info.world_size, "backend": info.backend,
              "history": trainer.history, "checkpoint_files": sorted(p.name for p in (out / f"ckpt{info.rank}").glob("*"))
              if (out / f"ckpt{info.rank}").exists() else []}
    (out / f"rank{info.rank}.json").write_text(json.dumps(record))
    torch.save(model.state_dict(), out / f"params{info.rank}.pt")
    torch.save(grads, out / f"grads{info.rank}.pt")
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
