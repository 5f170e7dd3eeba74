"""What autograd keeps for the backward pass of one encoder layer, counted with saved_tensors_hooks."""

import collections
import contextlib

import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.viz import figure_to_svg


# --8<-- [start:record_saved]
def record_saved(fn, module, x=None):
    """Run ``fn()`` and record every tensor autograd saves for the backward pass.

    Returns ``(records, output)``; a record holds the tensor's shape, dtype, bytes, the id and size
    of its storage (views of one storage cost nothing extra) and its kind: 'parameter' (memory
    the model holds anyway), 'input' (the storage of ``x``) or 'activation' (new memory).
    """
    param_storages = {p.untyped_storage().data_ptr() for p in module.parameters()}
    x_storage = None if x is None else x.untyped_storage().data_ptr()
    records = []

    def pack(t):  # called once per tensor an operation saves for its backward
        ptr = t.untyped_storage().data_ptr()
        kind = "parameter" if ptr in param_storages else "input" if ptr == x_storage else "activation"
        records.append({"shape": tuple(t.shape), "dtype": t.dtype, "bytes": t.numel() * t.element_size(),
                        "storage": ptr, "storage_bytes": t.untyped_storage().nbytes(), "kind": kind})
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return records, out
# --8<-- [end:record_saved]


def saved_tensors(layer, x, grad=True):
    """Run ``layer(x)`` (under ``no_grad`` when ``grad`` is False) and return ``record_saved``'s records."""
    ctx = contextlib.nullcontext() if grad else torch.no_grad()
    with ctx:
        return record_saved(lambda: layer(x), layer, x)[0]


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


def memory_figure(m, N, S, E, H):
    """Activation bytes autograd keeps per mode, split into the (S, S) attention matrices and the rest."""
    modes = ("train", "eval", "no_grad")
    square, rest = [], []
    for mode in modes:
        acts = {r["storage"]: r for r in m[mode] if r["kind"] == "activation"}
        sq = sum(r["storage_bytes"] for r in acts.values() if r["shape"][-2:] == (S, S))
        square.append(sq / 1024)
        rest.append((sum(r["storage_bytes"] for r in acts.values()) - sq) / 1024)
    fig = Figure(figsize=(6.0, 2.8))
    ax = fig.add_subplot()
    ax.barh(modes, rest, color="tab:blue", label="other activations")
    ax.barh(modes, square, left=rest, color="tab:orange", label="(S, S) attention matrices")
    ax.invert_yaxis()
    ax.set_xlabel("activation memory saved for backward, KiB")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig, dict(zip(modes, zip(rest, square)))


def report_figure(N=8, S=32, E=64, H=4, F=256):
    m = encoder_layer_memory(N, S, E, H, F)
    fig, kib = memory_figure(m, N, S, E, H)
    print(figure_to_svg(fig, alt="Bar chart of the activation memory one encoder layer saves for backward in "
                        "train mode, eval mode and under no_grad, split into attention matrices and the rest",
                        caption=f"One <code>nn.TransformerEncoderLayer</code>, (N, S, E) = ({N}, {S}, {E}), H = {H}."))
    t, e = sum(kib["train"]), sum(kib["eval"])
    print(f"<p>Train mode keeps {t:,.0f} KiB, of which {kib['train'][1]:,.0f} KiB are (S, S) matrices; eval mode "
          f"with gradients keeps {e:,.0f} KiB ({e / t:.0%} of it); no_grad keeps {sum(kib['no_grad']):,.0f}.</p>")
