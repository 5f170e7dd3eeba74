"""What autograd keeps for the backward pass of one encoder layer, counted with saved_tensors_hooks."""

import collections
import contextlib

import torch
from torch import nn


def saved_tensors(layer, x, grad=True):
    """Run ``layer(x)`` and return one record per tensor autograd saved for backward.

    Each record: shape, dtype, bytes of the tensor, id of its storage, and what it is ('parameter',
    'input' or 'activation'). A view of a stored tensor shares its storage and costs nothing extra.
    """
    param_storages = {p.untyped_storage().data_ptr() for p in layer.parameters()}
    records = []

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        kind = "parameter" if ptr in param_storages else "input" if ptr == x.untyped_storage().data_ptr() else "activation"
        records.append({"shape": tuple(t.shape), "dtype": t.dtype, "bytes": t.numel() * t.element_size(),
                        "storage": ptr, "storage_bytes": t.untyped_storage().nbytes(), "kind": kind})
        return t

    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    with ctx, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return records


def summarize(records):
    """Counts and bytes by kind; activation memory counts each storage once."""
    out = {}
    for kind in ("parameter", "input", "activation"):
        rs = [r for r in records if r["kind"] == kind]
        unique = {r["storage"]: r["storage_bytes"] for r in rs}
        out[kind] = {"saved": len(rs), "storages": len(unique), "bytes": sum(unique.values())}
    return out


def encoder_layer_memory(N=8, S=32, E=64, H=4, F=256, dropout=0.1, seed=0):
    """Saved-tensor summaries for one nn.TransformerEncoderLayer in train mode, eval mode, and under no_grad."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(E, H, F, dropout=dropout, batch_first=True)
    x = torch.randn(N, S, E, requires_grad=True)
    train = saved_tensors(layer.train(), x)
    evaluation = saved_tensors(layer.eval(), x)
    nograd = saved_tensors(layer.eval(), x, grad=False)
    return {"train": train, "eval": evaluation, "no_grad": nograd,
            "x_bytes": x.numel() * x.element_size(),
            "param_bytes": sum(p.numel() * p.element_size() for p in layer.parameters())}


def report(N=8, S=32, E=64, H=4, F=256):
    """Print the saved tensors of a train-mode forward and the totals for three modes."""
    m = encoder_layer_memory(N, S, E, H, F)
    print(f"nn.TransformerEncoderLayer(E={E}, H={H}, F={F}, dropout=0.1), input (N, S, E) = ({N}, {S}, {E}), float32")
    print(f"input x: {m['x_bytes']:,} bytes; parameters: {m['param_bytes']:,} bytes")
    for mode in ("train", "eval"):
        print(f"tensors saved for backward in {mode} mode (shape x how many times), float32:")
        by = collections.Counter((r["kind"], r["shape"]) for r in m[mode])
        for (kind, shape), n in sorted(by.items()):
            print(f"  {kind:10s} {str(shape):16s} x {n}")
    print(f"\n{'mode':8s} {'saved':>6s} {'activation storages':>20s} {'bytes':>10s} {'x input':>8s}  S x S matrix")
    for mode in ("train", "eval", "no_grad"):
        s = summarize(m[mode])
        act = s["activation"]
        square = any(r["shape"] in ((N, H, S, S), (N * H, S, S)) for r in m[mode])
        print(f"{mode:8s} {sum(v['saved'] for v in s.values()):6d} {act['storages']:20d} {act['bytes']:>10,} "
              f"{act['bytes'] / m['x_bytes']:8.1f}  {'yes' if square else 'no'}")
