"""GELU MLP -> SwiGLU: the activations against HF's, ours against LlamaMLP, the parameter
count at F = 8E/3, finite differences of the backward, and GELU vs SiLU drawn."""

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from transformers.activations import NewGELUActivation
from transformers.models.gpt2.modeling_gpt2 import GPT2MLP as HFGPT2MLP
from transformers.models.llama import modeling_llama as hf

from gpt2_llama.hf_ref import gpt2_config, llama_config, max_diff
from transformer_anatomy.numpy.activation import GELU
from transformer_anatomy.numpy.gpt2 import GPT2MLP
from transformer_anatomy.numpy.gradcheck import max_relative_error, numerical_gradient
from transformer_anatomy.numpy.llama import SwiGLU
from transformer_anatomy.viz import figure_to_svg


def gelu_versus_hf(seed=0):
    """Our GELU(approximate="tanh") vs HF's gelu_new (NewGELUActivation), and vs the exact erf GELU."""
    x = np.random.default_rng(seed).standard_normal(1000) * 4
    ours = GELU(approximate="tanh")(x)
    ref = NewGELUActivation()(torch.from_numpy(x))
    return {"gelu_new": max_diff(ours, ref), "exact": max_diff(ours, GELU()(x))}


def report_gelu():
    r = gelu_versus_hf()
    print(f"max |ours tanh-GELU - HF gelu_new| = {r['gelu_new']:.1e} (float64); "
          f"tanh form vs exact erf form: {r['exact']:.1e}")


def _versus(ours, ref, E, seed):
    """Output, input gradient and every parameter gradient of ``ours`` vs the HF module ``ref`` (float64)."""
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal((2, 5, E)), rng.standard_normal((2, 5, E))
    xt = torch.tensor(x, requires_grad=True)
    yt = ref(xt)
    yt.backward(torch.from_numpy(dy))
    y = ours(x)
    out = {"output": max_diff(y, yt), "dx": max_diff(ours.backward(dy), xt.grad)}
    for name, p in ref.named_parameters():
        out["d" + name] = max_diff(ours.grads[name], p.grad)
    return out


def gpt2_mlp_versus_hf(E=16, seed=0):
    """Our GPT2MLP (F = 4E) with HF GPT2MLP's weights: output and every gradient, float64."""
    torch.manual_seed(seed)
    ref = HFGPT2MLP(4 * E, gpt2_config(n_embd=E)).double().eval()
    ours = GPT2MLP(E, 4 * E, dtype=np.float64)
    ours.load_state_dict(ref.state_dict())  # c_fc.weight (E, 4E), c_fc.bias, c_proj.weight (4E, E), c_proj.bias
    return _versus(ours, ref, E, seed)


def report_gpt2_mlp():
    r = gpt2_mlp_versus_hf()
    print(f"max |ours - HF GPT2MLP|, float64: output {r['output']:.1e}, every gradient ≤ "
          f"{max(v for k, v in r.items() if k != 'output'):.1e}")


def swiglu_versus_hf(E=16, F=40, seed=0):
    """Our SwiGLU with HF LlamaMLP's weights: output and every gradient, float64 (no upcast in the MLP)."""
    torch.manual_seed(seed)
    ref = hf.LlamaMLP(llama_config(hidden_size=E, intermediate_size=F)).double()
    ours = SwiGLU(E, F, dtype=np.float64)
    ours.load_state_dict(ref.state_dict())  # the same names: gate_proj.weight, up_proj.weight, down_proj.weight
    return _versus(ours, ref, E, seed)


def report_swiglu():
    r = swiglu_versus_hf()
    print("max |ours - HF LlamaMLP|, float64: " + ", ".join(f"{n} {d:.1e}" for n, d in r.items()))


def swiglu_gradcheck(E=4, F=6, seed=0):
    """SwiGLU.backward against central finite differences (float64, h = 1e-6): input and weights."""
    rng = np.random.default_rng(seed)
    mlp = SwiGLU(E, F, dtype=np.float64, rng=seed)
    x, w = rng.standard_normal((3, E)), rng.standard_normal((3, E))
    mlp(x)
    grads = {"x": mlp.backward(w)} | {k: g.copy() for k, g in mlp.grads.items()}
    loss = lambda: float(np.sum(w * mlp(x)))  # noqa: E731
    arrays = {"x": x} | mlp.params
    return {k: max_relative_error(grads[k], numerical_gradient(loss, arrays[k])) for k in grads}


def report_gradcheck():
    print("SwiGLU.backward vs finite differences, max relative error: "
          + ", ".join(f"{n} {e:.1e}" for n, e in swiglu_gradcheck().items()))


# --8<-- [start:params]
def mlp_parameters(E):
    """Weights of GPT-2's MLP (F = 4E, with biases) and of a SwiGLU MLP with F = 8E/3 (no biases)."""
    gelu_mlp = E * 4 * E + 4 * E + 4 * E * E + E  # c_fc (E, 4E) + bias, c_proj (4E, E) + bias
    F = 8 * E // 3
    swiglu = 3 * E * F  # gate_proj, up_proj (F, E), down_proj (E, F)
    return {"gelu_mlp": gelu_mlp, "swiglu": swiglu, "F": F}


def llama_intermediate_size(E, multiple_of=256):
    """Meta's rule (llama/model.py, FeedForward): 2/3 of 4E, rounded up to a multiple of multiple_of."""
    hidden = int(2 * 4 * E / 3)
    return multiple_of * math.ceil(hidden / multiple_of)
# --8<-- [end:params]


def report_params(widths=(768, 4096)):
    print(f"{'E':>5} {'GELU MLP (F = 4E)':>18} {'SwiGLU (F = 8E/3)':>18} {'F':>6} {'Llama F (×256)':>15}")
    for E in widths:
        p = mlp_parameters(E)
        print(f"{E:>5} {p['gelu_mlp']:>18,} {p['swiglu']:>18,} {p['F']:>6} {llama_intermediate_size(E):>15,}")


def _silu(x):
    return x / (1.0 + np.exp(-x))


def figure_activations():
    """GELU (tanh form), SiLU and ReLU, and their derivatives, from our modules' forward/backward."""
    x = np.linspace(-5, 3, 401)
    gelu = GELU(approximate="tanh")
    y_gelu = gelu(x)
    d_gelu = gelu.backward(np.ones_like(x))
    s = 1.0 / (1.0 + np.exp(-x))
    curves = {"GELU, tanh form (GPT-2)": (y_gelu, d_gelu, "#1f77b4"),
              "SiLU = x·σ(x) (Llama's gate)": (_silu(x), s * (1 + x * (1 - s)), "#ff7f0e"),
              "ReLU": (np.maximum(x, 0), (x > 0).astype(float), "#7f7f7f")}
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2)
    for label, (y, dy, color) in curves.items():
        ls = ":" if label == "ReLU" else "-"
        a.plot(x, y, color=color, ls=ls, label=label)
        b.plot(x, dy, color=color, ls=ls, label=label)
    a.set_title("activation", fontsize=10)
    b.set_title("derivative", fontsize=10)
    for ax in (a, b):
        ax.set_xlabel("x")
        ax.axhline(0, color="#7f7f7f", lw=0.5)
    a.legend(fontsize=8, frameon=False)
    m_gelu, e = float(y_gelu.min()), silu_extremes()
    return figure_to_svg(fig, alt=f"GELU, SiLU and ReLU and their derivatives from x = -5 to 3. GELU and SiLU are "
                         f"smooth and dip below zero for negative x (minimum {m_gelu:.2f} and {e['min']:.2f}); ReLU "
                         f"has a kink at 0",
                         caption=f"Two smooth cousins of ReLU: GELU dips to {m_gelu:.2f}, SiLU to {e['min']:.2f} "
                                 f"(at x = {e['x_min']:.2f}); SiLU's slope peaks at {e['max_slope']:.2f} "
                                 f"(x = {e['x_max_slope']:.2f}).")


def silu_extremes():
    """The minimum of SiLU and the largest slope of SiLU (numbers the figure caption quotes)."""
    x = np.linspace(-10, 10, 200001)
    s = 1.0 / (1.0 + np.exp(-x))
    slope = s * (1 + x * (1 - s))
    return {"min": float(_silu(x).min()), "x_min": float(x[np.argmin(_silu(x))]),
            "max_slope": float(slope.max()), "x_max_slope": float(x[np.argmax(slope)])}
