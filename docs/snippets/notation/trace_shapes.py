"""Trace the shape of every tensor of an encoder–decoder forward pass from a real run.

Forward hooks record what the modules of our ``Seq2SeqTransformer`` receive and return. Inside
attention the fused kernel (``F.scaled_dot_product_attention``) never hands out the scores, so
``MultiheadAttention.attend`` is wrapped for the duration of one forward pass: the wrapper
re-computes scores, weights, per-head outputs, concatenation and output projection from the
module's own ``q, k, v`` and checks that the re-computation equals what the module returned.
Nothing here types a shape: every row of the table is ``tuple(tensor.shape)``.
"""

import math

import torch

from transformer_anatomy.config import preset
from transformer_anatomy.torch import Seq2SeqTransformer, scaled_dot_product_attention

# Named sizes from transformer_anatomy.config: "small" is Seq2SeqTransformer's defaults, "base" the
# paper's base model. Every letter gets a different value, so a shape read back names its letters.
CONFIGS = {
    "small": dict(model=dict(src_vocab_size=23, tgt_vocab_size=19, **preset("small").seq2seq_kwargs()), N=2, S=7, T=5),
    "base": dict(model=dict(src_vocab_size=37000, tgt_vocab_size=37000, **preset("base").seq2seq_kwargs()),
                 N=2, S=9, T=6),
}

# (name, shape in letters) in the order the forward pass produces them.
EXPECTED = [
    ("source ids", "N, S"),
    ("source token embeddings", "N, S, E"),
    ("× √E", "N, S, E"),
    ("positional encoding PE[:S]", "S, E"),
    ("summed embeddings (encoder input)", "N, S, E"),
    ("enc self-attn: key padding mask, merged", "N, 1, 1, S"),
    ("enc self-attn: Q per head", "N, H, S, E/H"),
    ("enc self-attn: K per head", "N, H, S, E/H"),
    ("enc self-attn: V per head", "N, H, S, E/H"),
    ("enc self-attn: scores Q Kᵀ/√(E/H)", "N, H, S, S"),
    ("enc self-attn: weights softmax(scores)", "N, H, S, S"),
    ("enc self-attn: per-head outputs", "N, H, S, E/H"),
    ("enc self-attn: heads concatenated", "N, S, E"),
    ("enc self-attn: out_proj", "N, S, E"),
    ("enc FFN hidden linear1(x)", "N, S, F"),
    ("enc FFN output linear2(relu(.))", "N, S, E"),
    ("encoder layer 0 output", "N, S, E"),
    ("encoder output = memory", "N, S, E"),
    ("target ids (shifted right)", "N, T"),
    ("target token embeddings", "N, T, E"),
    ("× √E (target)", "N, T, E"),
    ("positional encoding PE[:T]", "T, E"),
    ("summed embeddings (decoder input)", "N, T, E"),
    ("dec self-attn: Q per head", "N, H, T, E/H"),
    ("dec self-attn: K per head", "N, H, T, E/H"),
    ("dec self-attn: V per head", "N, H, T, E/H"),
    ("dec self-attn: scores (causal)", "N, H, T, T"),
    ("dec self-attn: weights", "N, H, T, T"),
    ("dec self-attn: per-head outputs", "N, H, T, E/H"),
    ("dec self-attn: out_proj", "N, T, E"),
    ("cross-attn: key padding mask, merged", "N, 1, 1, S"),
    ("cross-attn: Q per head (from decoder)", "N, H, T, E/H"),
    ("cross-attn: K per head (from memory)", "N, H, S, E/H"),
    ("cross-attn: V per head (from memory)", "N, H, S, E/H"),
    ("cross-attn: scores", "N, H, T, S"),
    ("cross-attn: weights", "N, H, T, S"),
    ("cross-attn: per-head outputs", "N, H, T, E/H"),
    ("cross-attn: out_proj", "N, T, E"),
    ("dec FFN hidden linear1(x)", "N, T, F"),
    ("decoder layer 0 output", "N, T, E"),
    ("decoder output (after final norm)", "N, T, E"),
    ("logits", "N, T, V"),
]


def letters(model, N, S, T):
    """The value of every shape letter for this model and batch."""
    E, H = model.d_model, model.transformer.nhead
    F = model.transformer.encoder.layers[0].linear1.out_features
    return {"N": N, "S": S, "T": T, "E": E, "H": H, "E/H": E // H, "F": F, "V": model.tgt_vocab_size, "1": 1}


def expected_shape(formula, values):
    """``"N, H, S, E/H"`` -> ``(2, 4, 7, 16)`` for the given letter values."""
    return tuple(values[part.strip()] for part in formula.split(","))


def make_batch(model, N, S, T, seed=0):
    """Random ids; the last source sequence ends with two pads, so the padding mask exists."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(1, model.src_vocab_size, (N, S), generator=g)  # (N, S), no pad id 0
    tgt = torch.randint(1, model.tgt_vocab_size, (N, T), generator=g)  # (N, T)
    src[-1, -2:] = model.pad_id
    return src, tgt


def _wrap_attend(mha, prefix, record, checks):
    """Record q, k, v of ``mha`` and re-compute the rest of attention from them."""
    original = mha.attend

    def attend(q, k, v, mask=None, is_causal=False, need_weights=False):
        out, weights = original(q, k, v, mask, is_causal, need_weights)  # what the layer computes
        if mask is not None:
            record(f"{prefix}: key padding mask, merged", mask)
        for name, t in (("Q", q), ("K", k), ("V", v)):
            record(f"{prefix}: {name} per head", t)  # (N, H, L, E/H)
        # --8<-- [start:recompute]
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (N, H, T, E/H) x (N, H, E/H, S) -> (N, H, T, S)
        heads, w = scaled_dot_product_attention(q, k, v, mask, is_causal=is_causal)  # (N, H, T, E/H), (N, H, T, S)
        concat = heads.transpose(1, 2).flatten(2)  # (N, H, T, E/H) -> (N, T, H, E/H) -> (N, T, E)
        projected = mha.out_proj(concat)  # (N, T, E) -> (N, T, E)
        # --8<-- [end:recompute]
        record(f"{prefix}: scores", scores)
        record(f"{prefix}: weights", w)
        record(f"{prefix}: per-head outputs", heads)
        record(f"{prefix}: heads concatenated", concat)
        record(f"{prefix}: out_proj", projected)
        checks[prefix] = float((projected - out).abs().max())  # re-computation == the module
        return out, weights

    mha.attend = attend  # an instance attribute shadows the method until it is deleted
    return mha


@torch.no_grad()
def trace(model, src_ids, tgt_ids):
    """Run ``model(src_ids, tgt_ids)`` once and return ``(records, checks, logits)``.

    ``records``: list of ``(what, shape)`` in the order they were produced; ``checks``: for
    each attention, max |re-computed output - module output|.
    """
    model.eval()  # no dropout: the re-computation must match exactly
    raw, checks, hooks = [], {}, []

    def record(what, t):
        raw.append((what, tuple(t.shape)))

    def on(module, fn):
        def hook(m, inputs, out):
            fn(m, inputs, out)  # a hook that returned a value would replace the output
        hooks.append(module.register_forward_hook(hook))

    enc0, dec0 = model.transformer.encoder.layers[0], model.transformer.decoder.layers[0]
    side = {"n": 0}  # the sinusoidal module is shared: 1st call = source, 2nd = target

    def pos_hook(module, inputs, out):
        x, offset = inputs[0], (inputs[1] if len(inputs) > 1 else 0)
        L = x.size(-2)
        table = module.pe if hasattr(module, "pe") else module.weight
        src = side["n"] == 0
        side["n"] += 1
        record("× √E" if src else "× √E (target)", x)
        record("positional encoding PE[:S]" if src else "positional encoding PE[:T]", table[offset:offset + L])
        record("summed embeddings (encoder input)" if src else "summed embeddings (decoder input)", out)

    on(model.src_tok_emb, lambda m, i, o: (record("source ids", i[0]), record("source token embeddings", o)))
    on(model.tgt_tok_emb, lambda m, i, o: (record("target ids (shifted right)", i[0]), record("target token embeddings", o)))
    for pos in {id(model.src_pos_emb): model.src_pos_emb, id(model.tgt_pos_emb): model.tgt_pos_emb}.values():
        on(pos, pos_hook)
    on(enc0.linear1, lambda m, i, o: record("enc FFN hidden linear1(x)", o))
    on(enc0.linear2, lambda m, i, o: record("enc FFN output linear2(relu(.))", o))
    on(enc0, lambda m, i, o: record("encoder layer 0 output", o))
    on(model.transformer.encoder, lambda m, i, o: record("encoder output = memory", o))
    on(dec0.linear1, lambda m, i, o: record("dec FFN hidden linear1(x)", o))
    on(dec0, lambda m, i, o: record("decoder layer 0 output", o))
    on(model.transformer.decoder, lambda m, i, o: record("decoder output (after final norm)", o))
    on(model.generator, lambda m, i, o: record("logits", o))
    _wrap_attend(enc0.self_attn, "enc self-attn", record, checks)
    _wrap_attend(dec0.self_attn, "dec self-attn", record, checks)
    _wrap_attend(dec0.multihead_attn, "cross-attn", record, checks)
    try:
        logits = model(src_ids, tgt_ids)
    finally:
        for h in hooks:
            h.remove()
        for mha in (enc0.self_attn, dec0.self_attn, dec0.multihead_attn):
            del mha.attend
    return _name_rows(raw), checks, logits


# The wrapper records generic names; map them onto the rows of EXPECTED (the order is fixed).
_RENAME = {
    "enc self-attn: scores": "enc self-attn: scores Q Kᵀ/√(E/H)",
    "enc self-attn: weights": "enc self-attn: weights softmax(scores)",
    "dec self-attn: scores": "dec self-attn: scores (causal)",
    "cross-attn: Q per head": "cross-attn: Q per head (from decoder)",
    "cross-attn: K per head": "cross-attn: K per head (from memory)",
    "cross-attn: V per head": "cross-attn: V per head (from memory)",
}
_DROP = {"dec self-attn: heads concatenated", "cross-attn: heads concatenated"}


def _name_rows(raw):
    return [(_RENAME.get(what, what), shape) for what, shape in raw if what not in _DROP]


def trace_config(name, seed=0):
    """Build the named config, trace one forward pass; rows ``(what, traced, formula, expected)``."""
    cfg = CONFIGS[name]
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(**cfg["model"])
    src, tgt = make_batch(model, cfg["N"], cfg["S"], cfg["T"], seed)
    records, checks, _ = trace(model, src, tgt)
    values = letters(model, cfg["N"], cfg["S"], cfg["T"])
    traced = dict(records)
    if len(traced) != len(records) or [w for w, _ in records] != [w for w, _ in EXPECTED]:
        raise RuntimeError(f"trace order changed: {[w for w, _ in records]}")
    rows = [(what, traced[what], formula, expected_shape(formula, values)) for what, formula in EXPECTED]
    return rows, checks, values


def report(name):
    """Print the traced table for one config (Markdown, the page renders it)."""
    rows, checks, values = trace_config(name)
    shown = ", ".join(f"{k} = {v}" for k, v in values.items() if k != "1")
    print(f"Config **{name}**: {shown}.\n")
    print("| # | tensor | traced shape | in letters | matches |")
    print("|---|---|---|---|---|")
    for i, (what, traced, formula, expected) in enumerate(rows, 1):
        ok = "✓" if traced == expected else "✗"
        print(f"| {i} | {what} | `{traced}` | ({formula}) | {ok} |")
    worst = max(checks.values())
    print(f"\nAll {len(rows)} traced shapes equal their formula: {all(t == e for _, t, _, e in rows)}. "
          f"Re-computed attention vs the module's own output, max |difference| over the "
          f"{len(checks)} attentions: {worst:.1e}.")


# The rows the shape-flow figure draws: the main path, one tensor per step.
FLOW = [
    "source ids", "summed embeddings (encoder input)", "enc self-attn: Q per head",
    "enc self-attn: scores Q Kᵀ/√(E/H)", "enc self-attn: per-head outputs", "enc self-attn: out_proj",
    "enc FFN hidden linear1(x)", "encoder output = memory", "target ids (shifted right)",
    "summed embeddings (decoder input)", "dec self-attn: scores (causal)",
    "cross-attn: Q per head (from decoder)", "cross-attn: K per head (from memory)", "cross-attn: scores",
    "dec FFN hidden linear1(x)", "logits",
]
LETTER_COLORS = {"N": "tab:gray", "S": "tab:blue", "T": "tab:orange", "E": "tab:green", "H": "tab:purple",
                 "E/H": "tab:pink", "F": "tab:olive", "V": "tab:cyan", "1": "tab:brown"}


def shape_flow_figure(name="small"):
    """One row per traced tensor of the main path, one box per axis, coloured by its letter."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    rows, _, values = trace_config(name)
    by_name = {what: (traced, formula) for what, traced, formula, _ in rows}
    fig = Figure(figsize=(7.6, 0.34 * len(FLOW) + 0.5), layout="constrained")
    ax = fig.subplots()
    for y, what in enumerate(FLOW):
        traced, formula = by_name[what]
        x = 0.0
        for size, letter in zip(traced, [p.strip() for p in formula.split(",")]):
            ax.add_patch(FancyBboxPatch((x, y - 0.36), 1.0, 0.72, boxstyle="round,pad=0,rounding_size=0.1",
                                        facecolor=LETTER_COLORS[letter], alpha=0.45, edgecolor="black", lw=0.6))
            ax.text(x + 0.5, y, f"{letter}={size}", ha="center", va="center", fontsize=7)
            x += 1.08
    ax.set_yticks(range(len(FLOW)), FLOW, fontsize=7.5)
    ax.set_ylim(len(FLOW) - 0.5, -0.5)
    ax.set_xlim(-0.05, 4 * 1.08)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"traced shapes, config {name} (axes left to right)", fontsize=9)
    return fig, rows


def report_shape_flow(name="small"):
    from transformer_anatomy.viz import figure_to_svg

    fig, _ = shape_flow_figure(name)
    print(figure_to_svg(fig, alt="The shapes of the main tensors of the forward pass, one row per tensor and one "
                                 "coloured box per axis labelled with its letter and size: ids have two axes, "
                                 "vectors three, per-head tensors and scores four",
                        caption="Read top to bottom: a head axis H appears at Q and disappears after the "
                                "output projection; cross-attention scores mix T and S."))


def notice_shape_flow(name="small"):
    rows, checks, values = trace_config(name)
    by_name = {what: traced for what, traced, _, _ in rows}
    per_head = by_name["enc self-attn: Q per head"]
    scores = by_name["cross-attn: scores"]
    print(f"In config {name}, the encoder's $Q$ per head is `{per_head}`: the same "
          f"{per_head[1] * per_head[3]} numbers per token as the $E = {values['E']}$ of the input, regrouped "
          f"into $H = {values['H']}$ heads of $E/H = {values['E/H']}$. The cross-attention scores are "
          f"`{scores}`: {scores[2]} target queries against {scores[3]} source keys.")
