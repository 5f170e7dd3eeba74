"""Which F.scaled_dot_product_attention backends run on this machine, found by trying each one."""

import platform
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from matplotlib.figure import Figure

from transformer_anatomy.viz import figure_to_svg



from internals_pytorch.fast_path import OpLog  # noqa: E402  # the dispatcher log: one home, fast_path.py


BACKENDS = [SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]


def _qkv(dtype, device, N=2, H=4, L=16, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(N, H, L, D, generator=g).to(device=device, dtype=dtype) for _ in range(3)]  # (N, H, L, E/H)


# --8<-- [start:probe]
def probe_backends(device="cpu", dtypes=(torch.float32, torch.float64, torch.bfloat16)):
    """For each backend and dtype: 'ok (max diff vs math)' or the first line of the error it raised."""
    results = {}
    for dtype in dtypes:
        q, k, v = _qkv(dtype, device)
        with sdpa_kernel(SDPBackend.MATH):
            ref = F.scaled_dot_product_attention(q, k, v, is_causal=True).float()
        for backend in BACKENDS:
            with warnings.catch_warnings(record=True) as caught, sdpa_kernel(backend):
                warnings.simplefilter("always")
                try:
                    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    results[backend.name, str(dtype).removeprefix("torch.")] = (
                        f"ok, {(out.float() - ref).abs().max().item():.0e}")
                except RuntimeError as err:
                    why = [str(w.message) for w in caught] + [str(err)]
                    results[backend.name, str(dtype).removeprefix("torch.")] = "error: " + why[0].split(". ")[0]
    return results
# --8<-- [end:probe]


def default_kernel(device="cpu"):
    """The ATen kernel F.scaled_dot_product_attention picks by itself, case by case."""
    q, k, v = _qkv(torch.float32, device)
    L = q.size(-2)
    cases = {
        "no mask": {},
        "is_causal=True": {"is_causal": True},
        "bool attn_mask (True = attend)": {"attn_mask": torch.ones(L, L, dtype=torch.bool, device=device).tril()},
        "float attn_mask (added)": {"attn_mask": torch.zeros(L, L, device=device)},
        "dropout_p=0.1": {"dropout_p": 0.1},
    }
    chosen = {}
    for name, kwargs in cases.items():
        with OpLog() as log:
            F.scaled_dot_product_attention(q, k, v, **kwargs)
        kernel = [op for op in log.ops if "attention" in op or op in ("_safe_softmax", "_softmax")][0]
        family = next((f for f in ("flash", "efficient", "cudnn") if f in kernel), "math")
        chosen[name] = (family, kernel)
    return chosen


def report():
    """Print what runs here, found by trying."""
    print(f"torch {torch.__version__} on {platform.machine()}, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, CUDA available: {torch.cuda.is_available()}")
    results = probe_backends()
    dtypes = list(dict.fromkeys(d for _, d in results))
    print(f"with sdpa_kernel(backend), causal, (N, H, L, E/H) = (2, 4, 16, 8); 'ok, max |diff| vs MATH':")
    print(f"  {'backend':20s}" + "".join(f"{d:12s}" for d in dtypes))
    errors = set()
    for backend in dict.fromkeys(b for b, _ in results):
        cells = [results[backend, d] for d in dtypes]
        errors |= {c for c in cells if c.startswith("error")}
        print(f"  {backend:20s}" + "".join(f"{'refused' if c.startswith('error') else c:12s}" for c in cells))
    for e in sorted(errors):
        print(f"  refused = RuntimeError {e.removeprefix('error: ')!r}")
    print("default choice (no sdpa_kernel context), float32:")
    for case, (family, op) in default_kernel().items():
        print(f"  {case:30s} -> {family:5s} {op}")


def time_backends(N=4, H=8, L=512, D=64, rounds=5, dtype=torch.float32, device="cpu"):
    """Seconds per causal SDPA call, minimum over ``rounds``, for every backend that runs here (one thread)."""
    import time

    q, k, v = _qkv(dtype, device, N, H, L, D)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # restored below: the build machine may be shared
    times = {}
    try:
        for backend in BACKENDS:
            try:
                with sdpa_kernel(backend), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    F.scaled_dot_product_attention(q, k, v, is_causal=True)  # warm-up, raises if refused
                    best = float("inf")
                    for _ in range(rounds):
                        t0 = time.thread_time()
                        F.scaled_dot_product_attention(q, k, v, is_causal=True)
                        best = min(best, time.thread_time() - t0)
                times[backend.name] = best
            except RuntimeError:
                pass
    finally:
        torch.set_num_threads(threads)
    return times


def timing_figure(times, shape):
    fig = Figure(figsize=(6.0, 2.6))
    ax = fig.add_subplot()
    names = list(times)
    ax.barh(names, [times[n] * 1e3 for n in names], color=[f"C{i}" for i in range(len(names))])
    ax.set_xlabel("CPU time per call, ms (one thread, best of a few)")
    ax.set_title(f"causal SDPA, (N, H, L, E/H) = {shape}, float32", fontsize=9)
    fig.tight_layout()
    return fig


def report_timing(N=4, H=8, L=512, D=64):
    times = time_backends(N, H, L, D)
    print(figure_to_svg(timing_figure(times, (N, H, L, D)), alt="Bar chart of the time of one causal "
                        "scaled_dot_product_attention call for each backend that runs on this machine",
                        caption="Only the backends this machine accepted are drawn."))
    fastest = min(times, key=times.get)
    slowest = max(times, key=times.get)
    print(f"<p>Backends that ran: {', '.join(times)}. The fastest, {fastest}, took {times[fastest] * 1e3:.1f} ms; "
          f"{slowest} took {times[slowest] / times[fastest]:.1f} × as long.</p>")
