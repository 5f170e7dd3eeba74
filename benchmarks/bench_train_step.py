"""One training step of our ``Seq2SeqTransformer`` vs ``nn.Transformer`` inside ``TorchTrainer``.

The step is the trainer's own (``TorchTrainer._train_step``): forward, summed cross-entropy
(pad ignored), backward, ``clip_grad_norm_``, ``Adam.step``, ``zero_grad``. Both models are
built after ``seed_everything(0)`` from ``preset("small", dropout=0.0)``: ours
(``Seq2SeqTransformer``) and the reference (``training.ReferenceSeq2Seq``: the same embeddings
and generator around ``torch.nn.Transformer``). Task: reversal, 10 symbols per sequence (the
site's size). Both trainers get the **same** micro-batches.

Steps are interleaved (ours, nn, nn, ours, ours, nn, ...: the order flips every pair) so that
machine noise hits both alike; the per-step medians are reported with their ratio ours / nn
(< 1: ours is faster) and the median of the per-pair ratios.

Usage::

    python benchmarks/bench_train_step.py [--batch-size 128] [--threads 1] [--steps 60]
        [--warmup 5] [--profile] [--json PATH]

``--profile`` adds a ``torch.profiler`` table per model (top ops by self CPU time over a few
steps). This is a script, never a test: it prints, and writes only the ``--json`` file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import statistics
import time

import torch

from transformer_anatomy.config import preset
from transformer_anatomy.tasks import make_task
from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer
from transformer_anatomy.training.config import TrainConfig
from transformer_anatomy.training.loop import target_count
from transformer_anatomy.training.reference import ReferenceSeq2Seq
from transformer_anatomy.training.seeding import seed_everything
from transformer_anatomy.training.torch_trainer import TorchTrainer

LR = 1e-3  # a constant learning rate: the step's cost does not depend on it


def build(batch_size: int, min_len: int = 10, max_len: int = 10):
    """The task and one trainer per model (``ours``, ``nn``), each model built after ``seed_everything(0)``.

    ``min_len < max_len`` gives padded batches (key padding masks in every attention)."""
    data = make_task("reversal", n_train=10_000, n_valid=1_000, n_test=1_000, min_len=min_len, max_len=max_len,
                     num_symbols=12, rng=0)
    V = len(data.src_vocab)
    cfg = preset("small", dropout=0.0)
    config = TrainConfig(max_steps=1_000_000, batch_size=batch_size, schedule="constant", lr=LR)
    seed_everything(0)
    ours = Seq2SeqTransformer(V, V, **cfg.kwargs("seq2seq"))
    seed_everything(0)
    ref = ReferenceSeq2Seq(V, V, **cfg.reference_kwargs())
    return data, {"ours": TorchTrainer(ours, data, config), "nn": TorchTrainer(ref, data, config)}


def micro_batches(trainer: TorchTrainer):
    """The trainer's own shuffled micro-batches, epoch after epoch, forever."""
    for epoch in itertools.count():
        yield from trainer._epoch_batches(epoch)


def timed_step(trainer: TorchTrainer, batch, total: int) -> tuple[float, int]:
    """Seconds and minor page faults (fresh memory the allocator got from the OS) of one step."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    trainer._train_step([batch], total, LR)
    seconds = time.perf_counter() - t0
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def keep_freed_memory() -> None:
    """glibc only: never give freed heap memory back to the OS (``mallopt`` trim and mmap thresholds),
    so that no step pays page faults for memory the previous step freed."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    if not (libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 1 << 26)):
        raise RuntimeError("mallopt failed")


def profile_table(trainer: TorchTrainer, batches, steps: int, rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in itertools.islice(batches, steps):
            trainer._train_step([batch], target_count("seq2seq", batch), LR)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=128, help="examples per step")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--min-len", type=int, default=10, help="shortest sequence (< --max-len: padded batches)")
    ap.add_argument("--max-len", type=int, default=10, help="longest sequence")
    ap.add_argument("--steps", type=int, default=60, help="timed steps per model (interleaved)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per model first")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table per model")
    ap.add_argument("--profile-steps", type=int, default=10, help="steps per model under the profiler")
    ap.add_argument("--rows", type=int, default=25, help="rows of each profiler table")
    ap.add_argument("--keep-freed-memory", action="store_true",
                    help="glibc: never return freed heap memory to the OS (no page faults from reuse)")
    ap.add_argument("--json", metavar="PATH", help="write the figures to this JSON file")
    args = ap.parse_args()
    if args.keep_freed_memory:
        keep_freed_memory()
    torch.set_num_threads(args.threads)
    data, trainers = build(args.batch_size, args.min_len, args.max_len)
    batches = micro_batches(trainers["ours"])  # one stream; each batch goes to both models

    for batch in itertools.islice(batches, args.warmup):
        for trainer in trainers.values():
            trainer._train_step([batch], target_count("seq2seq", batch), LR)
    times: dict[str, list[float]] = {"ours": [], "nn": []}
    faults: dict[str, list[int]] = {"ours": [], "nn": []}
    for i, batch in enumerate(itertools.islice(batches, args.steps)):
        total = target_count("seq2seq", batch)
        order = ("ours", "nn") if i % 2 == 0 else ("nn", "ours")
        for name in order:
            seconds, n_faults = timed_step(trainers[name], batch, total)
            times[name].append(seconds)
            faults[name].append(n_faults)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_faults = {k: statistics.median(v) for k, v in faults.items()}
    pair_ratio = statistics.median(o / n for o, n in zip(times["ours"], times["nn"]))
    shape = tuple(batch["src"].shape), tuple(batch["tgt_in"].shape)

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"threads={torch.get_num_threads()}, batch={args.batch_size}, src/tgt_in {shape[0]}/{shape[1]}, "
          f"steps={args.steps} interleaved (+{args.warmup} warm-up)")
    print(f"{'model':<8} {'median ms':>10} {'min ms':>8} {'p90 ms':>8} {'page faults/step':>17}")
    for k, v in times.items():
        q = statistics.quantiles(v, n=10)
        print(f"{k:<8} {med[k] * 1e3:>10.2f} {min(v) * 1e3:>8.2f} {q[-1] * 1e3:>8.2f} {med_faults[k]:>17.0f}")
    print(f"ours / nn: {med['ours'] / med['nn']:.3f} (ratio of medians), {pair_ratio:.3f} (median of per-step ratios)")

    tables = {}
    if args.profile:
        for name, trainer in trainers.items():
            tables[name] = profile_table(trainer, batches, args.profile_steps, args.rows)
            print(f"\n== {name}: top ops by self CPU time over {args.profile_steps} steps ==")
            print(tables[name])
    if args.json:
        figures = {
            "torch": torch.__version__, "threads": torch.get_num_threads(), "batch_size": args.batch_size,
            "src_shape": shape[0], "tgt_in_shape": shape[1], "steps": args.steps, "warmup": args.warmup,
            "keep_freed_memory": args.keep_freed_memory, "min_len": args.min_len, "max_len": args.max_len,
            "median_ms": {k: v * 1e3 for k, v in med.items()}, "median_page_faults": med_faults,
            "ratio_of_medians": med["ours"] / med["nn"], "median_pair_ratio": pair_ratio,
            "times_ms": {k: [t * 1e3 for t in v] for k, v in times.items()},
            "profile": tables or None,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
