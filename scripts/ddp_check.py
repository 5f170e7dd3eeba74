"""Train the reversal model for a few steps with a fixed GLOBAL batch, in one process or under torchrun.

    # one process: the whole global batch per step
    python scripts/ddp_check.py --steps 5 --out /tmp/single
    # two processes (gloo on CPU): each rank takes half of every global batch; DDP averages
    # the gradients, so every rank takes the step the single process takes
    torchrun --nproc_per_node=2 scripts/ddp_check.py --steps 5 --out /tmp/ddp

Both write ``<out>/params.pt`` (the final ``state_dict``, from rank 0 only) and
``<out>/ddp_check.json`` (the loss of every step, averaged over ranks, and the setup).
``tests/training/test_ddp.py`` runs both and compares every parameter. Dropout is 0 and the
task has a fixed length (no padding), so each rank's mean loss is over the same number of
tokens and the mean of the ranks' gradients is exactly the gradient of the global mean loss.

Page: ``docs/advanced-training.md`` (scaling out with DDP).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from transformer_anatomy.tasks import PAD_ID, make_reversal_task  # noqa: E402
from transformer_anatomy.torch import Seq2SeqTransformer  # noqa: E402
from transformer_anatomy.training.distributed import (  # noqa: E402
    ShardSampler,
    cleanup,
    init_distributed,
    is_rank0,
    wrap_ddp,
)


OPTIMIZERS = {  # --optimizer: its choices are these keys
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
    "adamw": lambda params, lr: torch.optim.AdamW(params, lr=lr),
}


# --8<-- [start:train]
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--global-batch", type=int, default=32, help="examples per optimizer step, all ranks together")
    ap.add_argument("--optimizer", default="sgd", choices=tuple(OPTIMIZERS))
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="folder for params.pt and ddp_check.json")
    args = ap.parse_args()

    info = init_distributed()  # gloo on CPU; a no-op without torchrun
    P, rank = info.world_size, info.rank
    if args.global_batch % P:
        raise SystemExit(f"--global-batch {args.global_batch} must be divisible by the world size {P}")
    data = make_reversal_task(n_train=args.global_batch * args.steps, n_valid=8, n_test=8, rng=args.seed)
    torch.manual_seed(args.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=64, nhead=4,
                               dim_feedforward=128, dropout=0.0).to(info.device)
    ddp_model = wrap_ddp(model, info)
    opt = OPTIMIZERS[args.optimizer](model.parameters(), args.lr)
    train = {k: torch.as_tensor(v) for k, v in data.train.items()}
    # every rank draws the same order of the training set: one global batch per step
    order = list(ShardSampler(len(data.train["src"]), world_size=1, rank=0, seed=args.seed))
    # rank r takes positions r, r + P, ... of each global batch: global_batch / P examples
    mine = list(ShardSampler(args.global_batch, world_size=P, rank=rank, shuffle=False))
    losses, t0 = [], time.perf_counter()
    for step in range(args.steps):
        batch = order[step * args.global_batch:(step + 1) * args.global_batch]
        idx = torch.tensor([batch[i] for i in mine])  # this rank's share of the global batch
        src, tgt_in, tgt_out = (train[k][idx].to(info.device) for k in ("src", "tgt_in", "tgt_out"))
        logits = ddp_model(src, tgt_in)  # (N/P, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP: all-reduce (average) the gradients over the P ranks here
        opt.step()
        global_loss = loss.detach().clone()
        if info.distributed:
            dist.all_reduce(global_loss)  # sum of the ranks' means ...
            global_loss /= P  # ... -> mean over the global batch (equal token counts per rank)
        losses.append(float(global_loss))
    seconds = time.perf_counter() - t0
    if is_rank0():
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / "params.pt")
        summary = {"world_size": P, "backend": info.backend, "global_batch": args.global_batch,
                   "per_rank_batch": args.global_batch // P, "steps": args.steps, "optimizer": args.optimizer,
                   "lr": args.lr, "seed": args.seed, "losses": losses, "train_seconds": seconds,
                   "threads_per_process": torch.get_num_threads(),
                   "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__}
        (out / "ddp_check.json").write_text(json.dumps(summary, indent=2) + "\n")
    cleanup()
    return 0
# --8<-- [end:train]


if __name__ == "__main__":
    raise SystemExit(main())
