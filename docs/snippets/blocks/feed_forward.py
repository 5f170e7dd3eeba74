"""The position-wise feed-forward network: activations, F = 4E, and "position-wise" checked."""

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from transformer_anatomy.numpy import GELU, ReLU, from_torch


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
