"""LayerNorm -> RMSNorm: ours against HF's LlamaRMSNorm, its backward by finite differences,
and what dropping the centring changes."""

import numpy as np
import torch
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from gpt2_llama.hf_ref import hf_float64, max_diff
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient
from transformer_anatomy.numpy.llama import RMSNorm
from transformer_anatomy.numpy.normalization import LayerNorm


def _hf_rms(weight, dtype):
    ref = LlamaRMSNorm(weight.size, eps=1e-6).to(dtype)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(weight))
    return ref


def versus_hf(E=32, seed=0):
    """max |ours - HF| of the output in float32, and of the output and both gradients in float64."""
    rng = np.random.default_rng(seed)
    x, w, dy = rng.standard_normal((2, 5, E)), rng.standard_normal(E), rng.standard_normal((2, 5, E))
    out = {}
    ours32 = RMSNorm(E, dtype=np.float32)
    ours32.weight[...] = w
    with torch.no_grad():
        out["float32 output"] = max_diff(ours32(x.astype(np.float32)), _hf_rms(w.astype(np.float32), torch.float32)(
            torch.from_numpy(x.astype(np.float32))))
    ours = RMSNorm(E, dtype=np.float64)
    ours.weight[...] = w
    y = ours(x)
    dx = ours.backward(dy)
    ref, xt = _hf_rms(w, torch.float64), torch.tensor(x, requires_grad=True)
    with hf_float64():
        yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    with torch.no_grad():
        out["float64, HF as is"] = max_diff(y, ref(xt))  # HF's float32 upcast left in place
    out["float64 output"] = max_diff(y, yt)
    out["float64 dx"] = max_diff(dx, xt.grad)
    out["float64 dweight"] = max_diff(ours.grads["weight"], ref.weight.grad)
    return out


def report_versus_hf():
    for name, d in versus_hf().items():
        print(f"max |ours - HF LlamaRMSNorm|, {name:18} {d:.1e}")


# --8<-- [start:gradcheck]
def rms_norm_gradcheck(E=6, seed=0):
    """Our hand-written dx and dweight against central finite differences (h = 1e-6, float64)."""
    rng = np.random.default_rng(seed)
    norm = RMSNorm(E, dtype=np.float64)
    norm.weight[...] = rng.standard_normal(E)
    x, w = rng.standard_normal((3, E)), rng.standard_normal((3, E))  # loss = sum(w * y)
    norm(x)
    dx, dweight = norm.backward(w), norm.grads["weight"].copy()
    loss = lambda: float(np.sum(w * norm(x)))  # noqa: E731
    return {"dx": max_relative_error(dx, numerical_gradient(loss, x)),
            "dweight": max_relative_error(dweight, numerical_gradient(loss, norm.weight))}
# --8<-- [end:gradcheck]


def report_gradcheck():
    for name, err in rms_norm_gradcheck().items():
        print(f"{name:8} max relative error against finite differences: {err:.1e}")


def shift_and_scale(E=8, seed=0):
    """LayerNorm and RMSNorm of a row x, of 3x, and of x + 5 (weight 1, bias 0)."""
    x = np.random.default_rng(seed).standard_normal(E)
    ln, rms = LayerNorm(E, dtype=np.float64), RMSNorm(E, dtype=np.float64)
    rows = {}
    for name, norm in (("LayerNorm", ln), ("RMSNorm", rms)):
        y = norm(x)
        rows[name] = {"mean of output": float(y.mean()),
                      "scale x by 3": max_diff(norm(3 * x), y),
                      "shift x by 5": max_diff(norm(x + 5), y)}
    return rows


def report_shift_and_scale():
    rows = shift_and_scale()
    print(f"{'':10} {'mean of output':>15} {'|change| after x*3':>19} {'|change| after x+5':>19}")
    for name, r in rows.items():
        print(f"{name:10} {r['mean of output']:15.3f} {r['scale x by 3']:19.1e} {r['shift x by 5']:19.3f}")
