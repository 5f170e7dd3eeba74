"""Where the parameters and the FLOPs of a Transformer are: attention, feed-forward, the rest.

The layers are real modules of the base size, their parameters grouped by state_dict name; the
embedding tables and the generator are ``V × E`` matrices (``+ V`` generator biases).
"""

from matplotlib.figure import Figure

from transformer_anatomy.torch import TransformerDecoderLayer, TransformerEncoderLayer
from transformer_anatomy.config import preset
from transformer_anatomy.viz import figure_to_svg

_base = preset("base")  # Vaswani et al. (2017), Table 3; V = 37000 is their shared BPE vocabulary
BASE = dict(E=_base.d_model, H=_base.nhead, F=_base.dim_feedforward, layers=_base.num_encoder_layers, V=37000)


# --8<-- [start:group]
def group(name):
    """Which part a parameter belongs to, from its state_dict key."""
    if "self_attn" in name or "multihead_attn" in name:
        return "attention"
    if "linear1" in name or "linear2" in name:
        return "feed-forward"
    if "norm" in name:
        return "LayerNorm"
    raise KeyError(name)
# --8<-- [end:group]


def layer_groups(layer):
    """Parameter count per group of one layer."""
    out = {}
    for name, p in layer.named_parameters():
        out[group(name)] = out.get(group(name), 0) + p.numel()
    return out


def shares(E=512, H=8, F=2048, layers=6, V=37000):
    """Parameter count per group of the base encoder–decoder with separate source/target tables."""
    enc = layer_groups(TransformerEncoderLayer(E, H, F))
    dec = layer_groups(TransformerDecoderLayer(E, H, F))
    totals = {k: layers * (enc[k] + dec[k]) for k in enc}
    totals["LayerNorm"] += 2 * 2 * E  # the final norms of the two stacks
    totals["embeddings + generator"] = V * E + V * E + (V * E + V)
    return totals, enc, dec


def flop_share(S, E=512, F=2048):
    """Feed-forward share of one encoder layer's forward FLOPs at length S (see the complexity page)."""
    ffn = 4 * S * E * F
    attention = 8 * S * E * E + 4 * S * S * E  # projections + scores and weighted sum
    return ffn / (ffn + attention)


def report():
    """Print the parameter split of the base model and the FFN's share of FLOPs (Markdown)."""
    totals, enc, dec = shares(**BASE)
    core = sum(v for k, v in totals.items() if k != "embeddings + generator")
    print("| part | base model parameters | share of all | share without embeddings |")
    print("|---|---:|---:|---:|")
    for part in ("attention", "feed-forward", "LayerNorm", "embeddings + generator"):
        n = totals[part]
        rest = f"{n / core:.1%}" if part != "embeddings + generator" else "—"
        print(f"| {part} | {n:,} | {n / sum(totals.values()):.1%} | {rest} |")
    for stack, g in (("encoder", enc), ("decoder", dec)):
        a, f = g["attention"], g["feed-forward"]
        print(f"\nOne {stack} layer: attention {a:,}, feed-forward {f:,} "
              f"(feed-forward = {f / (a + f):.1%} of the two).", end="")
    print(f"\n\nFeed-forward share of an encoder layer's forward FLOPs (E = {BASE['E']}, F = {BASE['F']}): "
          + ", ".join(f"S = {S}: {flop_share(S):.0%}" for S in LENGTHS) + ".")


LENGTHS = (32, 128, 512, 2048)


def show():
    """Parameters per part (bars) and the feed-forward share of FLOPs against length (curve), HTML."""
    totals, _, _ = shares(**BASE)
    parts = ("attention", "feed-forward", "LayerNorm", "embeddings + generator")
    fig = Figure(figsize=(7.8, 3.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.barh(range(len(parts)), [totals[p] / 1e6 for p in parts], color=[f"C{i}" for i in range(len(parts))])
    left.set_yticks(range(len(parts)), parts)
    left.invert_yaxis()
    left.set_xlabel("parameters (millions)")
    S = [2 ** k for k in range(3, 15)]
    right.semilogx(S, [100 * flop_share(s) for s in S], "o-", ms=3)
    right.axhline(50, color="gray", ls=":", lw=1)
    right.set_xlabel("sequence length S (tokens)")
    right.set_ylabel("feed-forward share of FLOPs (%)")
    print(figure_to_svg(fig, alt="Parameters per part of the base Transformer, and the feed-forward network's share "
                                 "of an encoder layer's FLOPs against sequence length",
                        caption=f"Base model (E = {BASE['E']}, F = {BASE['F']}, {BASE['layers']}+{BASE['layers']} "
                                f"layers, V = {BASE['V']:,}, separate tables); right: one encoder layer's forward."))
    core = sum(v for k, v in totals.items() if k != "embeddings + generator")
    print(f"<p>Without the embedding tables, attention holds {totals['attention'] / core:.1%} of the parameters and "
          f"the feed-forward networks {totals['feed-forward'] / core:.1%}; the feed-forward share of the FLOPs falls "
          f"from {flop_share(S[0]):.0%} at S = {S[0]} to {flop_share(S[-1]):.0%} at S = {S[-1]:,}.</p>")
