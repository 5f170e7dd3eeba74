"""FLOPs of an encoder and a decoder layer: the formula against ``FlopCounterMode``.

Counting convention: a multiply-add is 2 FLOPs, so ``(m, k) @ (k, n)`` costs ``2·m·k·n``.
``torch.utils.flop_counter.FlopCounterMode`` counts exactly that for every matrix multiplication
(``mm``, ``addmm``, ``bmm``, and the attention kernels it has a formula for); it does not count
element-wise work (softmax, LayerNorm, bias, ReLU, residual adds).
"""

from collections import defaultdict

import numpy as np
import torch
from matplotlib.figure import Figure
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from transformer_anatomy.torch import Seq2SeqTransformer, TransformerDecoderLayer, TransformerEncoderLayer
from transformer_anatomy.viz import figure_to_svg


# --8<-- [start:analytic]
def encoder_layer_flops(N, S, E, F):
    """Forward FLOPs of one encoder layer, by part (matmuls only)."""
    return {
        "Q, K, V projections": 3 * 2 * N * S * E * E,  # (N·S, E) @ (E, E), three times
        "output projection": 2 * N * S * E * E,
        "scores + weighted sum": 2 * 2 * N * S * S * E,  # QKᵀ: H·(S, E/H)@(E/H, S); weights @ V: the same
        "feed-forward": 2 * 2 * N * S * E * F,  # (N·S, E) @ (E, F), then (N·S, F) @ (F, E)
    }


def decoder_layer_flops(N, T, S, E, F):
    """Forward FLOPs of one decoder layer: masked self-attention over T, cross-attention to S."""
    return {
        "self-attn projections": 4 * 2 * N * T * E * E,
        "self-attn scores + weighted sum": 2 * 2 * N * T * T * E,  # all T² scores: a causal kernel may skip half
        "cross-attn projections": 2 * 2 * N * T * E * E + 2 * 2 * N * S * E * E,  # Q and out from T; K, V from S
        "cross-attn scores + weighted sum": 2 * 2 * N * T * S * E,
        "feed-forward": 2 * 2 * N * T * E * F,
    }
# --8<-- [end:analytic]


def measure(fn, fused=False):
    """Run ``fn()`` under ``FlopCounterMode``; return ``(total, per-module dict, result)``.

    ``fused=False`` forces SDPA's math backend (ordinary ``bmm``), so the attention matmuls are
    counted; ``fused=True`` lets PyTorch pick its fused kernel, as in normal use.
    """
    counter = FlopCounterMode(display=False)
    if fused:
        with counter:
            out = fn()
    else:
        with sdpa_kernel(SDPBackend.MATH), counter:
            out = fn()
    per_module = defaultdict(dict)
    for module, ops in counter.get_flop_counts().items():
        for op, n in ops.items():
            per_module[module][str(op).replace("aten.", "")] = int(n)
    return counter.get_total_flops(), dict(per_module), out


def _mm(per_module, suffix, op="addmm"):
    """FLOPs of ``op`` in the (unique) module whose name ends with ``suffix``."""
    hits = [ops.get(op, 0) for name, ops in per_module.items() if name.endswith(suffix)]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} modules end with {suffix!r}: {sorted(per_module)}")
    return hits[0]


def measured_encoder_parts(per_module):
    """Map FlopCounterMode's per-module counts of an encoder layer onto the analytic parts."""
    out_proj = _mm(per_module, ".self_attn.out_proj")
    return {
        "Q, K, V projections": _mm(per_module, ".self_attn") - out_proj,  # in_proj is called in self_attn itself
        "output projection": out_proj,
        "scores + weighted sum": _mm(per_module, ".self_attn", "bmm"),
        "feed-forward": _mm(per_module, ".linear1") + _mm(per_module, ".linear2"),
    }


def measured_decoder_parts(per_module):
    return {
        "self-attn projections": _mm(per_module, ".self_attn"),
        "self-attn scores + weighted sum": _mm(per_module, ".self_attn", "bmm"),
        "cross-attn projections": _mm(per_module, ".multihead_attn"),
        "cross-attn scores + weighted sum": _mm(per_module, ".multihead_attn", "bmm"),
        "feed-forward": _mm(per_module, ".linear1") + _mm(per_module, ".linear2"),
    }


SIZES = dict(N=4, S=48, T=40, E=64, H=4, F=256)  # different values, so no term can hide another


def layer_comparison(N=4, S=48, T=40, E=64, H=4, F=256, seed=0):
    """Rows ``(layer, part, analytic, measured with math SDPA, measured with the fused kernel)``."""
    torch.manual_seed(seed)
    enc = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True)
    dec = TransformerDecoderLayer(E, H, F, dropout=0.0, batch_first=True)
    x, mem, y = torch.randn(N, S, E), torch.randn(N, S, E), torch.randn(N, T, E)
    rows = []
    for layer, analytic, run, parts in (
        ("encoder", encoder_layer_flops(N, S, E, F), lambda: enc(x), measured_encoder_parts),
        ("decoder", decoder_layer_flops(N, T, S, E, F), lambda: dec(y, mem, tgt_is_causal=True), measured_decoder_parts),
    ):
        math_parts = parts(measure(run)[1])
        fused_parts = parts(measure(run, fused=True)[1])
        for part, flops in analytic.items():
            rows.append((layer, part, flops, math_parts[part], fused_parts[part]))
    return rows


def backward_ratio(input_requires_grad, N=4, S=48, E=64, H=4, F=256, seed=0):
    """Measured backward FLOPs / forward FLOPs of one encoder layer (math SDPA)."""
    torch.manual_seed(seed)
    enc = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True)
    x = torch.randn(N, S, E, requires_grad=input_requires_grad)
    fwd, _, out = measure(lambda: enc(x))
    bwd, _, _ = measure(lambda: out.square().sum().backward())
    return fwd, bwd


def model_flops(N=4, S=48, T=40, V=1000, seed=0):
    """Whole ``Seq2SeqTransformer`` (default sizes): analytic vs measured forward and backward."""
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(V, V, dropout=0.0)
    E, F = model.d_model, model.transformer.encoder.layers[0].linear1.out_features
    L_enc, L_dec = len(model.transformer.encoder.layers), len(model.transformer.decoder.layers)
    src, tgt = torch.randint(1, V, (N, S)), torch.randint(1, V, (N, T))
    analytic = (L_enc * sum(encoder_layer_flops(N, S, E, F).values())
                + L_dec * sum(decoder_layer_flops(N, T, S, E, F).values())
                + 2 * N * T * E * V)  # generator: (N·T, E) @ (E, V)
    fwd, _, logits = measure(lambda: model(src, tgt))
    bwd, _, _ = measure(lambda: torch.nn.functional.cross_entropy(logits.flatten(0, 1), tgt.flatten()).backward())
    return {"analytic": analytic, "forward": fwd, "backward": bwd, "N": N, "S": S, "T": T}


def per_token(E, F, S):
    """Forward FLOPs per token of one encoder layer and 2 × its matmul parameters."""
    flops = sum(encoder_layer_flops(1, S, E, F).values()) / S  # = 8E² + 4EF + 4SE
    return flops, 2 * (4 * E * E + 2 * E * F)


def report_layers():
    """Print the per-part comparison as a Markdown table."""
    rows = layer_comparison(**SIZES)
    print("Sizes: " + ", ".join(f"{k} = {v}" for k, v in SIZES.items()) + ".\n")
    print("| layer | part | analytic | FlopCounterMode, math SDPA | FlopCounterMode, fused SDPA (default) |")
    print("|---|---|---:|---:|---:|")
    for layer, part, a, m, f in rows:
        print(f"| {layer} | {part} | {a:,} | {m:,} | {f:,} |")
    exact = all(a == m for _, _, a, m, _ in rows)
    missed = sum(a - f for _, _, a, _, f in rows)
    print(f"\nAnalytic == measured (math backend) for every part: **{exact}**. With the fused kernel "
          f"FlopCounterMode saw {missed:,} fewer FLOPs: exactly the attention rows.")


def report_backward():
    """Print backward/forward FLOP ratios as a Markdown table."""
    print("| what | forward FLOPs | backward FLOPs | backward / forward |")
    print("|---|---:|---:|---:|")
    for needs_grad in (True, False):
        fwd, bwd = backward_ratio(needs_grad)
        print(f"| encoder layer, input `requires_grad={needs_grad}` | {fwd:,} | {bwd:,} | {bwd / fwd:.4f} |")
    m = model_flops()
    print(f"| `Seq2SeqTransformer` (defaults, V = 1000), N = {m['N']}, S = {m['S']}, T = {m['T']} "
          f"| {m['forward']:,} | {m['backward']:,} | {m['backward'] / m['forward']:.4f} |")
    print(f"\nThe whole model's forward count equals the sum of the per-layer formulas plus the generator's "
          f"$2NTEV$ ({m['analytic']:,}): **{m['analytic'] == m['forward']}**.")


def report_per_token(lengths=(128, 512, 2048), E=512, F=2048):
    """Print FLOPs per token of the base model's encoder layer at a few lengths (Markdown)."""
    print(f"Base encoder layer, E = {E}, F = {F}:\n")
    print("| S | forward FLOPs per token | 2 × matmul parameters | ratio |")
    print("|---:|---:|---:|---:|")
    for S in lengths:
        flops, two_p = per_token(E, F, S)
        print(f"| {S} | {flops:,.0f} | {two_p:,} | {flops / two_p:.3f} |")


LENGTHS = (16, 32, 64, 128, 256, 512, 1024)


def flops_vs_length(lengths=LENGTHS, N=1, E=64, H=4, F=256, seed=0):
    """Rows ``(S, analytic linear, analytic n², measured linear, measured n²)`` for one encoder layer.

    "n²" is the scores and the weighted sum (the ``bmm`` inside attention, math SDPA); "linear" is
    every other matrix product (projections and feed-forward).
    """
    torch.manual_seed(seed)
    enc = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True)
    rows = []
    for S in lengths:
        x = torch.randn(N, S, E)
        analytic = encoder_layer_flops(N, S, E, F)
        quad = analytic.pop("scores + weighted sum")
        with torch.no_grad():
            total, per_module, _ = measure(lambda: enc(x))
        measured_quad = _mm(per_module, ".self_attn", "bmm")
        rows.append((S, sum(analytic.values()), quad, total - measured_quad, measured_quad))
    return rows


def flops_figure(rows, E=64, F=256):
    """Linear and quadratic FLOPs against S: formula as lines, FlopCounterMode as markers."""
    S = np.array([r[0] for r in rows], dtype=float)
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ax.loglog(S, [r[1] for r in rows], "-", color="tab:blue", label="projections + FFN, formula")
    ax.loglog(S, [r[3] for r in rows], "o", color="tab:blue", label="projections + FFN, measured")
    ax.loglog(S, [r[2] for r in rows], "-", color="tab:orange", label="scores + weighted sum, formula")
    ax.loglog(S, [r[4] for r in rows], "s", color="tab:orange", label="scores + weighted sum, measured")
    ax.axvline(2 * E + F, color="tab:gray", lw=0.8, ls="--")
    ax.text(2 * E + F, ax.get_ylim()[1], f" n = 2E + F = {2 * E + F}", va="top", fontsize=8)
    ax.set_xlabel("sequence length S (tokens)")
    ax.set_ylabel("forward FLOPs, one layer, N = 1")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def report_flops_vs_length(E=64, H=4, F=256):
    """Print the FLOPs-vs-length figure and one Markdown sentence read from its numbers."""
    rows = flops_vs_length(E=E, H=H, F=F)
    exact = all(r[1] == r[3] and r[2] == r[4] for r in rows)
    print(figure_to_svg(flops_figure(rows, E, F), alt="Forward FLOPs of one encoder layer against sequence "
                        "length, split into the linear part and the quadratic attention part, formula and "
                        "FlopCounterMode", caption=f"One encoder layer, E = {E}, H = {H}, F = {F}: formula "
                        "(lines) and FlopCounterMode (markers)."))
    first, last = rows[0], rows[-1]
    print(f"<p>Every marker sits on its line (formula == measured at all {len(rows)} lengths: <strong>{exact}</strong>). "
          f"From S = {first[0]} to S = {last[0]} the linear part grows {last[1] / first[1]:.0f}-fold and the "
          f"quadratic part {last[2] / first[2]:,.0f}-fold; the quadratic share of the FLOPs goes from "
          f"{first[2] / (first[1] + first[2]):.1%} to {last[2] / (last[1] + last[2]):.1%}.</p>")
