"""Training-step benchmark: precision, compile, SDPA backend, checkpointing, ours vs nn.Transformer.

    .venv/bin/python scripts/bench.py --threads 1                 # CPU: small + medium, ~2-4 min
    .venv/bin/python scripts/bench.py --device cuda --compile     # GPU: base + big (the paper's sizes)

One run measures every variant side by side: each variant gets its own model (same seed, same
initial weights) and AdamW optimizer, is warmed up, then the variants take turns one step at
a time for ``--repeats`` rounds (interleaved, so a slow spell of a shared machine hits all of
them) and the median step is reported. A step is forward + backward + ``AdamW.step()`` on a
batch of random token ids with a causal target.

Variants (one factor changed from the baseline ``ours fp32``, eager, default SDPA, no checkpointing):

- ``sdpa_math``: ``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)`` (the unfused reference kernel);
  the baseline lets PyTorch pick (flash / memory-efficient where they apply).
- ``bf16``: ``torch.autocast(dtype=torch.bfloat16)`` (weights and optimizer stay fp32).
- ``ckpt``: every encoder and decoder layer under ``torch.utils.checkpoint`` (recomputed in backward),
  with the trainers' own ``transformer_anatomy.training.enable_gradient_checkpointing``.
- ``reference``: ``nn.Transformer`` with the same embeddings, generator and sizes.
- ``compiled`` (``--compile``): ``torch.compile(model)``; its first steps (warm-up) are timed apart.
- ``tf32`` (CUDA only): ``torch.backends.cuda.matmul.allow_tf32`` for the fp32 matmuls.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward with the MATH SDPA
backend (the fused kernels have no FLOP formula on CPU). MFU = the baseline model's FLOPs
(useful work: recomputation in ``ckpt`` does not count) / step time / the measured peak of a
large matmul in the same run and precision (fp32 for fp32 rows, bf16 for bf16 rows; fp32's
where it is the faster, as on CPUs without bf16 units).

Memory: CUDA -- ``torch.cuda.max_memory_allocated`` over one step. CPU has no allocator
statistics, so it reports ``activation_bytes``: the bytes of the tensors autograd keeps for
backward during the forward (counted with ``torch.autograd.graph.saved_tensors_hooks``, each
storage once, parameters excluded) plus the layer inputs a checkpoint keeps to recompute from;
and ``state_bytes``: parameters + gradients + AdamW's two moments (computed).

Writes ``docs/results/bench-<device>.json`` (with the versions, git state and hardware that
``transformer_anatomy.training.manifest.environment`` records). Page: ``docs/advanced-training.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from transformer_anatomy.config import ModelConfig, preset  # noqa: E402
from transformer_anatomy.torch import Seq2SeqTransformer  # noqa: E402
from transformer_anatomy.training.manifest import environment  # noqa: E402
from transformer_anatomy.training.reference import ReferenceSeq2Seq  # noqa: E402
from transformer_anatomy.training.torch_trainer import enable_gradient_checkpointing  # noqa: E402


def _size(model: ModelConfig, N: int, L: int, V: int) -> dict:
    """A benchmark size: the model (encoder and decoder alike deep) and its batch N, lengths S=T, vocabulary V."""
    assert model.num_encoder_layers == model.num_decoder_layers
    return dict(model=model, d_model=model.d_model, nhead=model.nhead, layers=model.num_encoder_layers,
                dim_feedforward=model.dim_feedforward, N=N, L=L, V=V)


# --8<-- [start:sizes]
SIZES = {  # E, H, encoder+decoder layers, F (transformer_anatomy.config), batch N, lengths S=T, vocabulary V
    "small": _size(ModelConfig(d_model=128, nhead=4, dim_feedforward=512), N=32, L=32, V=1000),  # CPU
    "medium": _size(ModelConfig(d_model=256, nhead=8, dim_feedforward=1024), N=16, L=32, V=1000),  # CPU
    "base": _size(preset("base"), N=64, L=256, V=32000),  # GPU: the paper's base model
    "big": _size(preset("big"), N=32, L=512, V=32000),  # GPU: the paper's big model
}
# --8<-- [end:sizes]


# ---------------------------------------------------------------------------------------------
# gradient checkpointing around each layer, and what it keeps alive
class SavedBytes:
    """Bytes autograd keeps for backward, each storage once, parameters excluded."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude, self.seen, self.bytes = exclude, set(), 0

    def add(self, t: torch.Tensor) -> None:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return
        s = t.untyped_storage()
        key = s.data_ptr()
        if key in self.exclude or key in self.seen:
            return
        self.seen.add(key)
        self.bytes += s.nbytes()

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        self.add(t)
        return t


def checkpointed_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The encoder and decoder layers ``enable_gradient_checkpointing`` put under checkpointing."""
    return [m for m in model.modules() if getattr(m, "_ta_checkpointed", False)]


# ---------------------------------------------------------------------------------------------
def build(kind: str, cfg: dict, device: torch.device, dropout: float) -> torch.nn.Module:
    torch.manual_seed(0)
    model = cfg["model"].replace(dropout=dropout, max_len=max(cfg["model"].max_len, cfg["L"]))
    if kind == "reference":
        return ReferenceSeq2Seq(cfg["V"], cfg["V"], **model.reference_kwargs()).to(device)
    return Seq2SeqTransformer(cfg["V"], cfg["V"], **model.seq2seq_kwargs()).to(device)


def make_batch(cfg: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    N, L, V = cfg["N"], cfg["L"], cfg["V"]
    src = torch.randint(4, V, (N, L), generator=g)  # no pad id (0): no padding masks
    tgt = torch.randint(4, V, (N, L + 1), generator=g)
    return src.to(device), tgt[:, :-1].to(device), tgt[:, 1:].to(device)


class Variant:
    """One column of the benchmark: a model, its optimizer, and the contexts its step runs in."""

    def __init__(self, name: str, cfg: dict, device: torch.device, dropout: float, *, model_kind: str = "ours",
                 bf16: bool = False, sdpa: str = "default", ckpt: bool = False, compiled: bool = False,
                 tf32: bool = False) -> None:
        self.name, self.device, self.bf16, self.sdpa, self.tf32 = name, device, bf16, sdpa, tf32
        self.ckpt, self.compiled, self.model_kind = ckpt, compiled, model_kind
        self.model = build(model_kind, cfg, device, dropout)
        if ckpt:
            enable_gradient_checkpointing(self.model)
        fused = device.type == "cuda"
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, fused=fused)
        self.run = torch.compile(self.model) if compiled else self.model
        self.times: list[float] = []
        self.warmup_s: float | None = None
        self.error: str | None = None

    @contextlib.contextmanager
    def context(self):
        with contextlib.ExitStack() as stack:
            if self.sdpa == "math":
                stack.enter_context(sdpa_kernel(SDPBackend.MATH))
            if self.bf16:
                stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
            if self.device.type == "cuda":
                old = torch.backends.cuda.matmul.allow_tf32
                torch.backends.cuda.matmul.allow_tf32 = self.tf32
                stack.callback(setattr, torch.backends.cuda.matmul, "allow_tf32", old)
            yield

    def forward_backward(self, batch) -> torch.Tensor:
        src, tgt_in, tgt_out = batch
        with self.context():
            logits = self.run(src, tgt_in)  # (N, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten())
        loss.backward()
        return loss

    def step(self, batch) -> float:
        sync(self.device)
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        self.forward_backward(batch)
        self.opt.step()
        sync(self.device)
        return time.perf_counter() - t0


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------
def count_flops(v: Variant, batch) -> int:
    """FLOPs of one forward + backward, with the MATH SDPA backend so attention is counted."""
    v.opt.zero_grad(set_to_none=True)
    old = v.sdpa
    v.sdpa = "math"
    run, v.run = v.run, v.model  # count the eager graph (the same arithmetic as the compiled one)
    try:
        with FlopCounterMode(display=False) as fc:
            v.forward_backward(batch)
    finally:
        v.sdpa, v.run = old, run
    v.opt.zero_grad(set_to_none=True)
    return int(fc.get_total_flops())


def activation_bytes(v: Variant, batch) -> int:
    """CPU stand-in for peak memory: bytes autograd saves for backward in one forward."""
    params = {p.untyped_storage().data_ptr() for p in v.model.parameters()}
    counter = SavedBytes(params)
    src, tgt_in, tgt_out = batch

    def keep_inputs(layer, args, kwargs):  # a checkpointed layer's inputs stay alive until backward recomputes it
        for a in (*args, *kwargs.values()):
            counter.add(a)

    hooks = [layer.register_forward_pre_hook(keep_inputs, with_kwargs=True) for layer in checkpointed_layers(v.model)]
    try:
        with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t), v.context():
            logits = v.run(src, tgt_in)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten())
    finally:
        for h in hooks:
            h.remove()
    del loss, logits
    return counter.bytes


def cuda_peak_bytes(v: Variant, batch) -> int:
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(v.device)
    v.step(batch)
    return int(torch.cuda.max_memory_allocated(v.device))


def state_bytes(model: torch.nn.Module) -> int:
    """Parameters + gradients + AdamW exp_avg + exp_avg_sq, all fp32: 4 copies of every parameter."""
    return 4 * sum(p.numel() * p.element_size() for p in model.parameters())


# --8<-- [start:peak]
def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 7, tf32: bool = False) -> float:
    """FLOP/s of an (n, n) @ (n, n) matmul (2 n³ FLOPs), median of ``repeats``: the ceiling for MFU."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        for _ in range(2):
            a @ b
        times = []
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - t0)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return 2 * n**3 / statistics.median(times)
# --8<-- [end:peak]


def bench_size(size: str, cfg: dict, device: torch.device, args, peaks: dict) -> dict:
    batch = make_batch(cfg, device)
    specs = [("ours_fp32", {}), ("ours_sdpa_math", {"sdpa": "math"}), ("ours_bf16", {"bf16": True}),
             ("ours_ckpt", {"ckpt": True}), ("reference_fp32", {"model_kind": "reference"})]
    if device.type == "cuda":
        specs.insert(1, ("ours_tf32", {"tf32": True}))
        specs.append(("reference_bf16", {"model_kind": "reference", "bf16": True}))
    if args.compile:
        specs.append(("ours_compiled_fp32", {"compiled": True}))
        specs.append(("ours_compiled_bf16", {"compiled": True, "bf16": True}))
    variants = [Variant(name, cfg, device, args.dropout, **kw) for name, kw in specs]
    n_params = variants[0].model.num_parameters()
    n_params_ref = next(v for v in variants if v.model_kind == "reference").model.num_parameters()
    for v in variants:  # warm-up (compile happens here: timed on its own)
        try:
            t0 = time.perf_counter()
            for _ in range(args.warmup):
                v.step(batch)
            v.warmup_s = time.perf_counter() - t0
        except Exception as e:  # a backend that is not supported here: record it, keep going
            v.error = f"{type(e).__name__}: {e}"[:300]
    live = [v for v in variants if v.error is None]
    for _ in range(args.repeats):  # interleaved: one step of each variant per round
        for v in live:
            v.times.append(v.step(batch))
    tokens = cfg["N"] * 2 * cfg["L"]  # source + target tokens per step
    base_flops = {kind: count_flops(next(v for v in live if v.model_kind == kind and not v.ckpt), batch)
                  for kind in ("ours", "reference")}
    rows = []
    for v in variants:
        row = {"variant": v.name, "model": v.model_kind, "precision": "bf16 autocast" if v.bf16 else ("tf32" if v.tf32 else "fp32"),
               "sdpa": v.sdpa, "checkpointing": v.ckpt, "compiled": v.compiled, "warmup_steps": args.warmup,
               "warmup_s": v.warmup_s, "error": v.error}
        if v.error is None:
            step = statistics.median(v.times)
            flops = base_flops[v.model_kind]
            counted = count_flops(v, batch) if v.ckpt else flops
            # the ceiling of the row's precision, or fp32's where that is faster (CPUs without
            # bf16 units run bf16 matmuls slower than fp32 ones: the hardware's best is fp32)
            own = peaks["bf16"] if v.bf16 else (peaks["tf32"] if v.tf32 else peaks["fp32"])
            peak = max(own, peaks["fp32"])
            row.update(step_s=step, step_times_s=v.times, tokens_per_s=tokens / step, flops_per_step=flops,
                       flops_counted_incl_recompute=counted, flops_per_s=flops / step, mfu=flops / step / peak)
            if device.type == "cuda":
                row["peak_memory_bytes"] = cuda_peak_bytes(v, batch)
            else:
                row["activation_bytes"] = activation_bytes(v, batch)
                row["state_bytes"] = state_bytes(v.model)
        rows.append(row)
    config = {k: v for k, v in cfg.items() if k != "model"}
    return {"size": size, "config": config, "model": cfg["model"].to_dict(), "params_ours": n_params, "params_reference": n_params_ref,
            "tokens_per_step": tokens, "variants": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto")
    ap.add_argument("--sizes", default=None, help="comma-separated names of SIZES (default small,medium on CPU, base,big on CUDA)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timed rounds (median reported)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per variant before timing")
    ap.add_argument("--compile", action="store_true", help="add torch.compile variants (off by default on CPU: slow to compile, no speedup)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--out", default=None, help="JSON path (default docs/results/bench-<device>.json)")
    args = ap.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = (args.sizes or ("base,big" if device.type == "cuda" else "small,medium")).split(",")
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"unknown size {s!r}; expected some of {tuple(SIZES)}")
    t_start = time.perf_counter()
    n = 8192 if device.type == "cuda" else 1024
    peaks = {"fp32": matmul_peak(device, torch.float32, n), "bf16": matmul_peak(device, torch.bfloat16, n)}
    if device.type == "cuda":
        peaks["tf32"] = matmul_peak(device, torch.float32, n, tf32=True)
    results = []
    for s in sizes:
        print(f"[bench] {s} ...", flush=True)
        results.append(bench_size(s, SIZES[s], device, args, peaks))
        for r in results[-1]["variants"]:
            if r["error"]:
                print(f"  {r['variant']:<20} ERROR {r['error']}")
            else:
                mem = r.get("peak_memory_bytes", r.get("activation_bytes"))
                print(f"  {r['variant']:<20} {r['step_s'] * 1e3:8.1f} ms  {r['tokens_per_s']:9.0f} tok/s  "
                      f"MFU {100 * r['mfu']:5.1f}%  mem {mem / 2**20:7.1f} MiB", flush=True)
    out = Path(args.out) if args.out else ROOT / "docs" / "results" / f"bench-{device.type}.json"
    env = environment(str(device), ROOT)
    report = {
        "made_by": "scripts/bench.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "device": device.type, "device_name": env["hardware"]["gpu"] or env["hardware"]["cpu"],
        "torch": torch.__version__, "python": platform.python_version(),
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "peak_matmul": {"n": n, "flops_per_s": peaks, "how": f"median of 7 ({n},{n})@({n},{n}) matmuls, 2n^3 FLOPs"},
        "memory_measure": ("torch.cuda.max_memory_allocated over one step" if device.type == "cuda" else
                           "activation_bytes: storages saved for backward in one forward (saved_tensors_hooks, "
                           "parameters excluded, checkpoint inputs included); state_bytes: params+grads+AdamW moments"),
        "flops_measure": "FlopCounterMode, forward+backward, SDPA MATH backend; MFU uses the non-recomputed FLOPs "
                         "and the faster of the row's own precision's matmul ceiling and fp32's",
        "timing": {"repeats": args.repeats, "warmup": args.warmup, "interleaved": True, "statistic": "median"},
        "dropout": args.dropout, "optimizer": "AdamW" + (" (fused)" if device.type == "cuda" else " (foreach)"),
        "results": results, "total_seconds": time.perf_counter() - t_start,
        **{k: env[k] for k in ("versions", "git", "hardware", "blas", "env")},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"[bench] wrote {out} in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
