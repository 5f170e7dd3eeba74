"""Our from-scratch Transformer vs ``torch.nn.Transformer`` on CPU, side by side in one run.

Config: E=128, H=8, 2+2 layers, F=512, N=64, S=T=16, batch_first, causal target mask.
- train: forward + backward of a sum-of-squares loss, training mode (dropout 0.1), both models
  given the same float causal mask from ``generate_square_subsequent_mask`` (each detects it and
  uses the causal kernel);
- infer: eval mode under ``torch.no_grad()``: nn.Transformer takes its inference fast path
  (fused encoder layers, native MHA for self-attention); ours runs its ordinary code. nn with
  the fast path disabled is timed too, for reference.

Repeats are interleaved (ours, nn, ours, nn, ...) so machine noise hits both alike; medians are
reported with the ratio ours / nn (< 1 means ours is faster).

Usage: ``python benchmarks/bench_torch_vs_nn.py [--repeats 30] [--inner 5] [--threads 2]``.
This is a script, never a test: it prints and writes nothing else.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from transformer_anatomy.torch import Transformer


def build(seed: int = 0):
    """Two models with identical weights (ours loads nn's state_dict, strict)."""
    cfg = dict(d_model=128, nhead=8, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=512,
               dropout=0.1, batch_first=True)
    torch.manual_seed(seed)
    ref = nn.Transformer(**cfg)
    ours = Transformer(**cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def time_call(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="interleaved repeats per model and mode")
    ap.add_argument("--inner", type=int, default=5, help="calls per timed repeat")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    N, S, T, E = 64, 16, 16, 128
    ours, ref = build()
    g = torch.Generator().manual_seed(1)
    src = torch.randn(N, S, E, generator=g)
    tgt = torch.randn(N, T, E, generator=g)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T)

    def train_step(model):
        def step():
            model.zero_grad(set_to_none=True)
            out = model(src, tgt, tgt_mask=tgt_mask)
            out.pow(2).mean().backward()
        return step

    def infer_step(model, fastpath=True):
        def step():
            old = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(fastpath)
            try:
                with torch.no_grad():
                    model(src, tgt, tgt_mask=tgt_mask)
            finally:
                torch.backends.mha.set_fastpath_enabled(old)
        return step

    results = {}
    for mode in ("train", "infer"):
        for m in (ours, ref):
            m.train(mode == "train")
        if mode == "train":
            steps = {"ours": train_step(ours), "nn": train_step(ref)}
        else:  # nn with its fast path (the default) and, for reference, without it
            steps = {"ours": infer_step(ours), "nn": infer_step(ref), "nn_slow": infer_step(ref, fastpath=False)}
        for fn in steps.values():  # warm-up
            time_call(fn, 3)
        times = {k: [] for k in steps}
        for _ in range(args.repeats):
            for k, fn in steps.items():
                times[k].append(time_call(fn, args.inner))
        results[mode] = {k: statistics.median(v) for k, v in times.items()}

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}, "
          f"repeats={args.repeats} x inner={args.inner}")
    print(f"config: E={E} H=8 layers=2+2 F=512 N={N} S={S} T={T} batch_first causal tgt mask")
    print(f"{'mode':<36} {'ours (ms)':>10} {'nn (ms)':>10} {'ours/nn':>8}")
    labels = {"train": "train fwd+bwd (training mode)", "infer": "inference (eval, no_grad; nn fast path)"}
    for mode, r in results.items():
        print(f"{labels[mode]:<36} {r['ours'] * 1e3:>10.2f} {r['nn'] * 1e3:>10.2f} {r['ours'] / r['nn']:>8.3f}")
    r = results["infer"]
    print(f"(nn inference with the fast path disabled: {r['nn_slow'] * 1e3:.2f} ms; ours / that = {r['ours'] / r['nn_slow']:.3f})")


if __name__ == "__main__":
    main()
