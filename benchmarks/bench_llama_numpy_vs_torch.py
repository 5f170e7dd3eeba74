"""One training step (forward + cross-entropy on next-token targets + backward + AdamW) of the
Llama-style language model, NumPy (hand-written backward) vs our torch model (autograd, eager),
side by side in one process, on the same weights and the same batch.

Config (the language-modelling task's size): N=16 sequences of T=64 characters, V=96,
E=64, H=4 query heads sharing Hk=2 key/value heads (GQA), F=176 (SwiGLU), 2 layers, untied
head, float32. The models are ``transformer_anatomy.numpy.llama.LlamaForCausalLM`` and
``transformer_anatomy.torch.llama.LlamaForCausalLM``; the NumPy one is loaded with the torch
one's state dict. The losses are ``numpy.loss.CrossEntropyLoss`` / ``nn.CrossEntropyLoss``
on ``logits[:, :-1]`` against ``ids[:, 1:]``; the optimisers ``numpy.optim.AdamW`` /
``torch.optim.AdamW`` (lr 1e-3, weight decay 0.01). Repeats are interleaved (NumPy, torch,
NumPy, ...) and medians reported, because the machines are shared and noisy. The first
step's losses are printed too: on the same weights they agree (to float32 rounding).

This is a benchmark, not a test: it asserts nothing and writes nothing unless ``--out`` is given.

Usage::

    python benchmarks/bench_llama_numpy_vs_torch.py                 # default repeats
    python benchmarks/bench_llama_numpy_vs_torch.py --quick         # a few seconds
    python benchmarks/bench_llama_numpy_vs_torch.py --threads 1 --out llama_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

N, T, V, E, H, HK, F, LAYERS = 16, 64, 96, 64, 4, 2, 176, 2
LR, WEIGHT_DECAY = 1e-3, 1e-2


def make_batch(seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).integers(0, V, size=(N, T))  # (N, T) token ids


def torch_model():
    import torch

    from transformer_anatomy.torch.llama import LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(V, E, F, LAYERS, H, HK, dtype=torch.float32).train()


def numpy_step_fn(state_dict):
    import numpy as np

    from transformer_anatomy.numpy.llama import LlamaForCausalLM
    from transformer_anatomy.numpy.loss import CrossEntropyLoss
    from transformer_anatomy.numpy.optim import AdamW

    model = LlamaForCausalLM(V, E, F, LAYERS, H, HK, dtype=np.float32, rng=0)
    model.load_state_dict({k: v.detach().numpy().copy() for k, v in state_dict.items()}, strict=True)
    model.train()
    loss_fn = CrossEntropyLoss()
    opt = AdamW(model.params, lr=LR, weight_decay=WEIGHT_DECAY)
    ids = make_batch()
    inputs, targets = ids, ids[:, 1:]

    def step() -> float:
        logits = model.forward(inputs)  # (N, T, V)
        loss = loss_fn(logits[:, :-1], targets)  # next-token targets: position t predicts t + 1
        dlogits = np.zeros_like(logits)
        dlogits[:, :-1] = loss_fn.backward()  # the last position has no target
        model.backward(dlogits)
        opt.step(model.grads)
        return float(loss)

    return step


def torch_step_fn(model):
    import torch
    from torch import nn

    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    ids = torch.from_numpy(make_batch())

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        logits = model(ids)  # (N, T, V)
        loss = loss_fn(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def run(repeats: int, inner: int, warmup: int, threads: int | None = None) -> dict:
    import numpy as np
    import threadpoolctl
    import torch

    if threads is not None:  # through the libraries' APIs; OPENBLAS_* variables are not touched
        threadpoolctl.threadpool_limits(threads)
        torch.set_num_threads(threads)
    model = torch_model()
    np_step = numpy_step_fn(model.state_dict())  # same weights
    torch_step = torch_step_fn(model)
    first = {"numpy": np_step(), "torch": torch_step()}  # the first step: same weights, same loss
    for _ in range(warmup):  # warm up both
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
        "config": dict(N=N, T=T, V=V, E=E, H=H, Hk=HK, F=F, layers=LAYERS, dtype="float32", lr=LR,
                       weight_decay=WEIGHT_DECAY),
        "repeats": repeats, "inner": inner,
        "first_loss": first,
        "numpy_ms": med["numpy"] * 1e3,
        "torch_ms": med["torch"] * 1e3,
        "ratio": med["numpy"] / med["torch"],
        "numpy_ms_all": [t * 1e3 for t in times["numpy"]],
        "torch_ms_all": [t * 1e3 for t in times["torch"]],
        "torch_threads": torch.get_num_threads(),
        "numpy_threads": [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                          if lib["user_api"] == "blas"],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repeats: seconds, for a smoke run")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 15; --quick 3)")
    ap.add_argument("--inner", type=int, default=None, help="steps per repeat (default 5; --quick 1)")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit NumPy's BLAS and torch to this many threads (default: their defaults)")
    ap.add_argument("--out", default=None, help="write the results as JSON to this file (default: write nothing)")
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 15)
    inner = args.inner or (1 if args.quick else 5)
    warmup = 1 if args.quick else 3
    print(f"config: N={N} T={T} V={V} E={E} H={H} Hk={HK} F={F} layers={LAYERS} float32, AdamW; "
          f"{repeats} interleaved repeats x {inner} steps")
    print(f"load average before: {os.getloadavg()[0]:.2f} (on {os.cpu_count()} CPUs)")
    r = run(repeats, inner, warmup, args.threads)
    print(f"first-step loss: NumPy {r['first_loss']['numpy']:.6f}   torch {r['first_loss']['torch']:.6f}")
    print(f"[threads numpy={r['numpy_threads']} torch={r['torch_threads']}] NumPy {r['numpy_ms']:7.2f} ms/step   "
          f"torch eager {r['torch_ms']:7.2f} ms/step   NumPy/torch = {r['ratio']:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}; numpy {r['numpy']}, torch {r['torch']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(r, f, indent=2)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
