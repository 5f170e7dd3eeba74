"""The position-wise feed-forward network: activations, F = 4E, and "position-wise" checked."""

import numpy as np
import torch
import torch.nn.functional as Fn
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.numpy import GELU, ReLU, from_torch
from transformer_anatomy.viz import figure_to_svg


def activations_vs_torch(seed=0):
    """Max |ours - torch| for ReLU, GELU (exact erf form) and GELU (tanh form), float64."""
    x = np.random.default_rng(seed).standard_normal(10_000) * 4.0
    t = torch.from_numpy(x)
    return {
        "relu": float(np.abs(ReLU()(x) - Fn.relu(t).numpy()).max()),
        "gelu": float(np.abs(GELU()(x) - Fn.gelu(t).numpy()).max()),
        "gelu (tanh)": float(np.abs(GELU("tanh")(x) - Fn.gelu(t, approximate="tanh").numpy()).max()),
    }


def paper_sizes():
    """E, F and the parameters of the FFN and of the attention in nn.TransformerEncoderLayer(512, 8)."""
    with torch.device("meta"):  # shapes only, no memory, no initialisation
        layer = nn.TransformerEncoderLayer(512, 8)
    count = lambda prefixes: sum(p.numel() for n, p in layer.named_parameters() if n.startswith(prefixes))
    E, F = layer.linear1.in_features, layer.linear1.out_features
    return {"E": E, "F": F, "ffn": count(("linear1", "linear2")), "attention": count(("self_attn",)),
            "layer": sum(p.numel() for p in layer.parameters())}


def position_wise(seed=0):
    """The FFN of an encoder layer applied to the whole (N, S, E) tensor vs one position at a time."""
    torch.manual_seed(seed)
    layer = from_torch(nn.TransformerEncoderLayer(16, 4, 64, dropout=0.0, batch_first=True).double().eval())
    x = np.random.default_rng(seed).standard_normal((2, 5, 16))  # (N, S, E)
    whole = layer._ff(x)  # (N, S, E) -> (N, S, F) -> (N, S, E)
    one_by_one = np.stack([np.stack([layer._ff(x[n, s][None])[0] for s in range(5)]) for n in range(2)])
    shuffled = layer._ff(x[:, ::-1])[:, ::-1]  # reverse the positions, apply, reverse back
    return {"one position at a time": float(np.abs(whole - one_by_one).max()),
            "positions reversed": float(np.abs(whole - shuffled).max())}


def report():
    """Print the three checks."""
    for name, d in activations_vs_torch().items():
        print(f"max |ours - torch| {name:12s} = {d:.1e}")
    s = paper_sizes()
    print(f"\nnn.TransformerEncoderLayer(512, 8): E = {s['E']}, F = {s['F']} = {s['F'] // s['E']}E")
    print(f"FFN parameters       2EF + F + E = {s['ffn']:,}")
    print(f"attention parameters 4E² + 4E    = {s['attention']:,}")
    print(f"the FFN holds {s['ffn'] / s['layer']:.1%} of the layer's {s['layer']:,} parameters")
    print()
    for name, d in position_wise().items():
        print(f"max |FFN(whole sequence) - FFN({name})| = {d:.1e}")


def hidden_activations(E=64, F=256, tokens=64, seed=0):
    """The FFN's hidden layer on random unit-variance token vectors: pre-activation x W_1ᵀ + b_1 (tokens, F)
    and what ReLU and GELU make of it, with nn.Linear's default initialisation."""
    torch.manual_seed(seed)
    linear1 = nn.Linear(E, F, dtype=torch.float64)
    x = torch.randn(tokens, E, dtype=torch.float64)
    with torch.no_grad():
        h = linear1(x).numpy()  # (tokens, E) @ (E, F) -> (tokens, F)
    relu, gelu = ReLU()(h), GELU()(h)
    return {"pre": h, "relu": relu, "gelu": gelu, "relu_zero": float((relu == 0).mean()),
            "gelu_negative": float((gelu < 0).mean()), "gelu_min": float(gelu.min())}


def figure_hidden():
    """Histograms of the hidden pre-activations and of their ReLU and GELU."""
    r = hidden_activations()
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    a, b = fig.subplots(1, 2)
    bins = np.linspace(r["pre"].min(), r["pre"].max(), 41)
    a.hist(r["pre"].ravel(), bins=bins, color="#7f7f7f")
    a.set_title("pre-activation  x W₁ᵀ + b₁", fontsize=10)
    b.hist(r["relu"].ravel(), bins=bins, color="#1f77b4", alpha=0.6, label="ReLU")
    b.hist(r["gelu"].ravel(), bins=bins, color="#ff7f0e", alpha=0.6, label="GELU")
    b.set_yscale("log")
    b.set_title("after the activation (log count)", fontsize=10)
    b.legend(fontsize=8, frameon=False)
    for ax in (a, b):
        ax.set_xlabel("hidden value")
        ax.set_ylabel("count")
    return figure_to_svg(fig, alt="Histograms of the feed-forward hidden layer: the pre-activations are spread "
                         "around 0; ReLU piles every negative value at exactly 0, GELU keeps small negative values",
                         caption=f"{r['pre'].shape[0]} random tokens, F = {r['pre'].shape[1]} hidden units.")


def report_hidden():
    r = hidden_activations()
    print(f"<p>ReLU sets {r['relu_zero']:.0%} of the hidden values to exactly zero (those units pass no gradient "
          f"for that token); GELU leaves {r['gelu_negative']:.0%} of them slightly negative, none below "
          f"{r['gelu_min']:.3f}, and is smooth at zero.</p>")
