"""One training step (forward + backward + Adam) of the NumPy Seq2SeqTransformer vs the same
model in PyTorch eager, side by side in one process.

Config (the site's sequence-reversal size): N=64, S=T=10, E=64, H=4, F=256, 2+2 layers,
V=16, dropout 0.1 (train mode), float32, cross-entropy with ``ignore_index=pad``. The torch
side is written inline: ``nn.Embedding`` × √E + sinusoidal positions + dropout,
``nn.Transformer(batch_first=True)``, a ``nn.Linear`` generator, ``nn.CrossEntropyLoss`` and
``torch.optim.Adam``. Repeats are interleaved (NumPy, torch, NumPy, ...) and medians reported,
because the machines are shared and noisy.

By default the script runs itself twice, with the default glibc malloc settings and with
``MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_/MALLOC_TOP_PAD_`` set (they must be set before
Python starts; see ``PERF-NOTES.md``), and prints both. ``OPENBLAS_*`` variables are left as
they are; ``threadpoolctl`` reports which BLAS kernel ran.

Usage::

    python benchmarks/bench_numpy_vs_torch.py            # both malloc settings
    python benchmarks/bench_numpy_vs_torch.py --also-one-thread  # and with 1 thread each
    python benchmarks/bench_numpy_vs_torch.py --single   # this process only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "2000000000",
    "MALLOC_TRIM_THRESHOLD_": "4000000000",
    "MALLOC_TOP_PAD_": "268435456",
}

N, S, T, E, H, F, LAYERS, V, PAD, DROPOUT = 64, 10, 10, 64, 4, 256, 2, 16, 0, 0.1


def make_batch(seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    src = rng.integers(3, V, size=(N, S))
    src[: N // 4, -2:] = PAD  # a quarter of the batch is padded
    tgt_in = np.concatenate([np.full((N, 1), 1), src[:, ::-1][:, : T - 1]], axis=1)
    tgt_out = src[:, ::-1].copy()
    return src, tgt_in, tgt_out


def numpy_step_fn():
    import numpy as np

    import transformer_anatomy.numpy as tn

    model = tn.Seq2SeqTransformer(V, V, E, H, LAYERS, LAYERS, F, DROPOUT, pad_id=PAD,
                                  dtype=np.float32, rng=0)
    model.train()
    loss_fn = tn.CrossEntropyLoss(ignore_index=PAD)
    opt = tn.Adam(model.params, lr=1e-3)
    src, tgt_in, tgt_out = make_batch()

    def step() -> float:
        logits = model.forward(src, tgt_in)  # (N, T, V)
        loss = loss_fn(logits, tgt_out)
        model.backward(loss_fn.backward())
        opt.step(model.grads)
        return float(loss)

    return step


def torch_step_fn():
    import torch
    from torch import nn

    torch.manual_seed(0)

    class TorchSeq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_tok_emb = nn.Embedding(V, E)
            self.tgt_tok_emb = nn.Embedding(V, E)
            nn.init.normal_(self.src_tok_emb.weight, std=E**-0.5)
            nn.init.normal_(self.tgt_tok_emb.weight, std=E**-0.5)
            pos = torch.arange(512.0)[:, None]
            inv_freq = torch.exp(torch.arange(0, E, 2) * (-math.log(10000.0) / E))
            pe = torch.zeros(512, E)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * inv_freq), torch.cos(pos * inv_freq)
            self.register_buffer("pe", pe, persistent=False)
            self.dropout = nn.Dropout(DROPOUT)
            self.transformer = nn.Transformer(E, H, LAYERS, LAYERS, F, DROPOUT, batch_first=True)
            self.generator = nn.Linear(E, V)

        def embed(self, ids, emb):
            return self.dropout(emb(ids) * math.sqrt(E) + self.pe[: ids.size(1)])

        def forward(self, src, tgt):
            causal = torch.triu(torch.ones(tgt.size(1), tgt.size(1), dtype=torch.bool), 1)  # True = blocked
            src_pad, tgt_pad = src == PAD, tgt == PAD
            h = self.transformer(self.embed(src, self.src_tok_emb), self.embed(tgt, self.tgt_tok_emb),
                                 tgt_mask=causal, src_key_padding_mask=src_pad,
                                 tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad,
                                 tgt_is_causal=True)
            return self.generator(h)

    model = TorchSeq2Seq().train()
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    src, tgt_in, tgt_out = (torch.from_numpy(a) for a in make_batch())

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        logits = model(src, tgt_in)
        loss = loss_fn(logits.reshape(-1, V), tgt_out.reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def run_single(repeats: int, inner: int, threads: int | None = None) -> dict:
    import numpy as np
    import threadpoolctl
    import torch

    if threads is not None:  # through the libraries' APIs; OPENBLAS_* variables are not touched
        threadpoolctl.threadpool_limits(threads)
        torch.set_num_threads(threads)
    np_step, torch_step = numpy_step_fn(), torch_step_fn()
    for _ in range(5):  # warm up both
        np_step()
        torch_step()
    times: dict[str, list[float]] = {"numpy": [], "torch": []}
    for _ in range(repeats):  # interleaved
        for name, fn in (("numpy", np_step), ("torch", torch_step)):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t0) / inner)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "numpy_ms": med["numpy"] * 1e3,
        "torch_ms": med["torch"] * 1e3,
        "ratio": med["numpy"] / med["torch"],
        "malloc_env": {k: os.environ.get(k) for k in MALLOC_ENV},
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "torch_threads": torch.get_num_threads(),
        "numpy_threads": [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                          if lib["user_api"] == "blas"],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "threadpool_info": threadpoolctl.threadpool_info(),
    }


def report(label: str, r: dict) -> None:
    threads = f"threads numpy={r['numpy_threads']} torch={r['torch_threads']}"
    print(f"[{label:>15}, {threads}] NumPy {r['numpy_ms']:7.2f} ms/step   torch eager "
          f"{r['torch_ms']:7.2f} ms/step   NumPy/torch = {r['ratio']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--single", action="store_true", help="measure in this process only")
    ap.add_argument("--json", action="store_true", help="(with --single) print one JSON line")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--inner", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None,
                    help="limit NumPy's BLAS and torch to this many threads (default: their defaults)")
    ap.add_argument("--also-one-thread", action="store_true",
                    help="also measure with 1 thread each (robust on a loaded machine)")
    args = ap.parse_args()
    if args.single:
        r = run_single(args.repeats, args.inner, args.threads)
        if args.json:
            print(json.dumps(r))
        else:
            report("this process", r)
            for lib in r["threadpool_info"]:
                print("  threadpoolctl:", {k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")})
        return
    print(f"config: N={N} S={S} T={T} E={E} H={H} F={F} layers={LAYERS}+{LAYERS} V={V} dropout={DROPOUT} float32")
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")
    results = {}
    thread_settings = [args.threads] + ([1] if args.also_one_thread and args.threads != 1 else [])
    for threads in thread_settings:
        for label, extra in (("default malloc", {}), ("tuned malloc", MALLOC_ENV)):
            env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
            env.update(extra)
            cmd = [sys.executable, __file__, "--single", "--json", "--repeats", str(args.repeats),
                   "--inner", str(args.inner)] + ([] if threads is None else ["--threads", str(threads)])
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            results[(label, threads)] = json.loads(out.strip().splitlines()[-1])
            report(label, results[(label, threads)])
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    r = results[("default malloc", args.threads)]
    print(f"torch threads: {r['torch_threads']}; numpy {r['numpy']}, torch {r['torch']}; "
          f"OPENBLAS env: {r['openblas_env'] or 'none set'}")
    for lib in r["threadpool_info"]:
        print("threadpoolctl:", {k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")})


if __name__ == "__main__":
    main()
