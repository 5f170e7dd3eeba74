"""Which F.scaled_dot_product_attention backends run on this machine, found by trying each one."""

import platform
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

BACKENDS = [SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]


class OpLog(TorchDispatchMode):
    """Record the name of every ATen operator that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _qkv(dtype, device, N=2, H=4, L=16, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(N, H, L, D, generator=g).to(device=device, dtype=dtype) for _ in range(3)]  # (N, H, L, E/H)


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
