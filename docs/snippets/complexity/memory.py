"""Activation memory of an encoder layer: what autograd keeps for the backward pass, measured.

``torch.autograd.graph.saved_tensors_hooks`` calls a "pack" function for every tensor an op
saves for its backward. We record each one's storage (views of one buffer share it, so a
buffer is counted once) and leave out the parameters (they exist anyway). What remains is the
activation memory of training, the part that grows with N and S. The measurement is exact on
CPU; on a GPU ``torch.cuda.max_memory_allocated`` sees the same tensors plus workspace.
"""

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.nn.attention import SDPBackend, sdpa_kernel

from transformer_anatomy.torch import TransformerEncoderLayer
from transformer_anatomy.viz import figure_to_svg

from internals_pytorch.saved_tensors import record_saved  # the one home of the recorder



BYTES = 4  # float32


# --8<-- [start:analytic]
def activation_floats(N, S, E, H, F, attention="fused"):
    """Floats an encoder layer saves for backward (post-norm, ReLU, dropout 0).

    Per token: the layer input, Q K V, the attention output, two LayerNorm inputs, the
    LayerNorm output that feeds the FFN (8E), the ReLU output (F), two (mean, 1/std) pairs (4).
    Attention adds the (N, H, S, S) weights when it materialises them, or only a row
    log-sum-exp (N, H, S) in the fused kernel, which recomputes the weights in the backward.
    """
    per_token = N * S * (8 * E + F + 4)
    return per_token + (N * H * S * S if attention == "explicit" else N * H * S)
# --8<-- [end:analytic]


def saved_tensors(fn, module):
    """Run ``fn()`` recording what autograd saves; returns a list of
    ``(shapes seen, storage bytes)`` per distinct non-parameter storage.

    The recorder is the PyTorch-internals page's ``record_saved`` (one home for it).
    """
    records, out = record_saved(fn, module)
    storages = {}
    for r in records:
        if r["kind"] != "parameter":
            entry = storages.setdefault(r["storage"], [set(), r["storage_bytes"]])
            entry[0].add(r["shape"])
    return [(shapes, nbytes) for shapes, nbytes in storages.values()], out


def measure_layer(N, S, E=64, H=4, F=256, attention="fused", seed=0):
    """Measured activation bytes of one encoder layer: ``(total, attention-matrix part)``.

    ``attention="explicit"`` forces SDPA's math backend, which builds the weights as a tensor.
    A storage counts as an attention matrix when one of its saved views ends in ``(S, S)``.
    """
    torch.manual_seed(seed)
    layer = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True)
    x = torch.randn(N, S, E, requires_grad=True)
    if attention == "explicit":
        with sdpa_kernel(SDPBackend.MATH):
            saved, _ = saved_tensors(lambda: layer(x), layer)
    else:
        saved, _ = saved_tensors(lambda: layer(x), layer)
    total = sum(nbytes for _, nbytes in saved)
    attn = sum(nbytes for shapes, nbytes in saved if any(s[-2:] == (S, S) for s in shapes))
    return total, attn


LENGTHS = (48, 96, 192, 384)  # none equals E, E/H or F, so an (S, S) view cannot be anything else


def comparison(N=4, E=64, H=4, F=256, lengths=LENGTHS):
    """Rows ``(S, attention, measured total, analytic total, measured (S,S) part, N·H·S² floats)``."""
    rows = []
    for S in lengths:
        for attention in ("fused", "explicit"):
            total, attn = measure_layer(N, S, E, H, F, attention)
            rows.append((S, attention, total, BYTES * activation_floats(N, S, E, H, F, attention),
                         attn, BYTES * N * H * S * S))
    return rows


def memory_figure(rows, N=4, E=64, H=4, F=256):
    """Saved activation bytes against S, fused and explicit attention: formula lines, measured markers."""
    S = np.array(sorted({r[0] for r in rows}), dtype=float)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    grid = np.geomspace(S[0], S[-1], 50)
    for attention, color, marker in (("explicit", "tab:orange", "s"), ("fused", "tab:blue", "o")):
        mine = [r for r in rows if r[1] == attention]
        ax.loglog(grid, [BYTES * activation_floats(N, int(s), E, H, F, attention) / 2**20 for s in grid], "-",
                  color=color, label=f"{attention} attention, formula")
        ax.loglog([r[0] for r in mine], [r[2] / 2**20 for r in mine], marker, color=color,
                  label=f"{attention} attention, measured")
    ax.set_xlabel("sequence length S (tokens)")
    ax.set_ylabel("saved for backward, MiB")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


SIZES = dict(N=4, E=64, H=4, F=256)
_ROWS = {}


def _rows():
    """``comparison(**SIZES)``, measured once per build (the figure and the table share it)."""
    if not _ROWS:
        _ROWS["rows"] = comparison(**SIZES)
    return _ROWS["rows"]


def report_figure():
    """Print the memory figure (HTML) and one sentence read from the same numbers."""
    N, E, H, F = SIZES.values()
    rows = _rows()
    print(figure_to_svg(memory_figure(rows, N, E, H, F), alt="Activation memory of one encoder layer against "
                        "sequence length: fused attention grows linearly, explicit attention quadratically; "
                        "formula lines through the measured points",
                        caption=f"Encoder layer, N = {N}, E = {E}, H = {H}, F = {F}, float32: formula (lines) "
                        "and saved_tensors_hooks (markers)."))
    longest = max(r[0] for r in rows)
    explicit = next(r for r in rows if r[0] == longest and r[1] == "explicit")
    fused = next(r for r in rows if r[0] == longest and r[1] == "fused")
    print(f"<p>At S = {longest} the explicit layer keeps {explicit[2] / fused[2]:.1f} × what the fused one "
          f"keeps, and its (S, S) weights are {explicit[4] / explicit[2]:.0%} of its total.</p>")


def report():
    """Print measured vs analytic activation memory as a Markdown table."""
    N, E, H, F = SIZES.values()
    rows = _rows()
    print(f"Encoder layer, N = {N}, E = {E}, H = {H}, F = {F}, float32, dropout 0.\n")
    print("| S | attention | saved for backward (measured) | formula | of which (S, S) tensors | N·H·S² · 4 bytes |")
    print("|---:|---|---:|---:|---:|---:|")
    for S, attention, total, analytic, attn, nhs2 in rows:
        print(f"| {S} | {attention} | {total / 1024:,.1f} KiB | {analytic / 1024:,.1f} KiB "
              f"| {attn / 1024:,.1f} KiB | {nhs2 / 1024:,.1f} KiB |")
    print(f"\nMeasured == formula in every row: **{all(r[2] == r[3] for r in rows)}**.")
