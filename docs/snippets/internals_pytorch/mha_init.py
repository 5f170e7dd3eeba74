"""nn.MultiheadAttention's initialisation, measured on the module and compared with the formulas."""

import math
import warnings

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.viz import figure_to_svg


# --8<-- [start:xavier]
def xavier_bound(fan_in, fan_out):
    """Xavier/Glorot uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); its std is a / sqrt(3)."""
    return math.sqrt(6.0 / (fan_in + fan_out))


def packed_init(E, H):
    """What nn.MultiheadAttention(E, H)._reset_parameters does to in_proj_weight: Xavier on all (3E, E) at once."""
    w = torch.empty(3 * E, E)
    nn.init.xavier_uniform_(w)  # fans of the whole packed matrix: fan_in = E, fan_out = 3E
    return w, xavier_bound(E, 3 * E)
# --8<-- [end:xavier]


def init_statistics(E=512, H=8, seed=0):
    """Measure every parameter of a fresh nn.MultiheadAttention(E, H) against the theory."""
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H)
    w = mha.in_proj_weight.detach()  # (3E, E): fan_out = 3E rows, fan_in = E columns
    fan_out, fan_in = w.shape
    bound = xavier_bound(fan_in, fan_out)
    out_w = mha.out_proj.weight.detach()  # (E, E): nn.Linear's default init, kept by MHA
    return {
        "fan_in": fan_in, "fan_out": fan_out,
        "bound": bound, "max_abs": w.abs().max().item(),
        "std_theory": bound / math.sqrt(3.0), "std": w.std().item(),
        "bound_per_matrix": xavier_bound(E, E),  # what Xavier on one (E, E) block would give
        "in_proj_bias_zero": bool((mha.in_proj_bias == 0).all()),
        "out_proj_bias_zero": bool((mha.out_proj.bias == 0).all()),
        "out_proj_bound": 1.0 / math.sqrt(E),  # kaiming_uniform_(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        "out_proj_max_abs": out_w.abs().max().item(),
    }


def transformer_reinit(E=64, H=4, F=256, seed=0):
    """nn.Transformer re-initialises every matrix with Xavier; a lone encoder layer keeps nn.Linear's init."""
    torch.manual_seed(seed)
    lone = nn.TransformerEncoderLayer(E, H, F)
    with warnings.catch_warnings():  # the batch_first=False nested-tensor warning; shown on the page elsewhere
        warnings.simplefilter("ignore")
        whole = nn.Transformer(E, H, 1, 1, F)
    layer = whole.encoder.layers[0]
    return {
        "lone linear1 max|w|": lone.linear1.weight.abs().max().item(),
        "kaiming bound 1/sqrt(E)": 1 / math.sqrt(E),
        "nn.Transformer linear1 max|w|": layer.linear1.weight.abs().max().item(),
        "xavier bound sqrt(6/(E+F))": xavier_bound(E, F),
        "lone out_proj max|w|": lone.self_attn.out_proj.weight.abs().max().item(),
        "nn.Transformer out_proj max|w|": layer.self_attn.out_proj.weight.abs().max().item(),
        "xavier bound sqrt(6/(2E))": xavier_bound(E, E),
    }


def report():
    """Print the measured statistics next to the formulas."""
    s = init_statistics()
    print(f"in_proj_weight ({s['fan_out']}, {s['fan_in']}): fan_in = {s['fan_in']}, fan_out = {s['fan_out']}")
    print(f"  bound sqrt(6/(fan_in+fan_out)) = {s['bound']:.6f}")
    print(f"  max |w|                        = {s['max_abs']:.6f}  (<= bound: {s['max_abs'] <= s['bound']})")
    print(f"  std theory bound/sqrt(3)       = {s['std_theory']:.6f}")
    print(f"  empirical std                  = {s['std']:.6f}")
    print(f"  Xavier bound of one (E, E) block would be {s['bound_per_matrix']:.6f}")
    print(f"in_proj_bias all zero: {s['in_proj_bias_zero']}; out_proj.bias all zero: {s['out_proj_bias_zero']}")
    print("out_proj.weight (nn.Linear's own init):")
    print(f"  bound 1/sqrt(E) = {s['out_proj_bound']:.6f}, max |w| = {s['out_proj_max_abs']:.6f}")
    print()
    for name, value in transformer_reinit().items():
        print(f"{name:32s} {value:.6f}")


def init_figure(E=512, H=8, seed=0):
    """Histogram of a fresh in_proj_weight with the packed bound and the per-block bound."""
    torch.manual_seed(seed)
    w = nn.MultiheadAttention(E, H).in_proj_weight.detach().numpy().ravel()
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.add_subplot()
    ax.hist(w, bins=60, color="tab:blue", alpha=0.8)
    for bound, label, style in ((xavier_bound(E, 3 * E), "packed (3E, E) bound", "-"),
                                (xavier_bound(E, E), "one (E, E) block's bound", "--")):
        for sign in (-1, 1):
            ax.axvline(sign * bound, color="tab:orange" if style == "-" else "tab:red", ls=style,
                       label=label if sign > 0 else None)
    ax.set_xlabel("weight value")
    ax.set_ylabel("count")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def report_figure(E=512, H=8):
    s = init_statistics(E, H)
    print(figure_to_svg(init_figure(E, H), alt="Histogram of the weights of a fresh in_proj_weight: flat between "
                        "the packed Xavier bounds, inside the wider per-block bounds",
                        caption=f"A fresh <code>nn.MultiheadAttention({E}, {H})</code>: in_proj_weight values."))
    print(f"<p>The histogram is flat up to ±{s['max_abs']:.4f}, the packed bound {s['bound']:.4f}; Xavier on one "
          f"E × E block would allow ±{s['bound_per_matrix']:.4f} ({s['bound_per_matrix'] / s['bound']:.4f} × wider).</p>")
