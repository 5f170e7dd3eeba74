"""BERT-base's structure and exact parameter count, from BertConfig() alone (nothing is downloaded)."""

import torch
from matplotlib.figure import Figure
from torch import nn
from transformers import BertConfig, BertModel

from transformer_anatomy.viz import figure_to_svg




def bert_base_on_meta(config=None):
    """BertModel(BertConfig()) on the meta device: every parameter has its shape, none has storage."""
    with torch.device("meta"):
        return BertModel(config or BertConfig())


def compact_tree(module, name="", indent=0):
    """Lines of the module tree (no Dropout); a ModuleList of identical layers is shown once as 'k x'."""
    def describe(m):
        if isinstance(m, nn.Linear):
            return f"Linear({m.in_features} -> {m.out_features})"
        if isinstance(m, nn.Embedding):
            return f"Embedding({m.num_embeddings}, {m.embedding_dim})"
        if isinstance(m, nn.LayerNorm):
            return f"LayerNorm({m.normalized_shape[0]}, eps={m.eps:g})"
        return type(m).__name__

    lines = [f"{'  ' * indent}{name + ': ' if name else ''}{describe(module)}"]
    for child_name, child in module.named_children():
        if isinstance(child, nn.Dropout):
            continue
        if isinstance(child, nn.ModuleList) and len(child) and len({repr(c) for c in child}) == 1:
            sub = compact_tree(child[0], f"{child_name}.0..{len(child) - 1}", indent + 1)
            sub[0] = sub[0].replace(": ", f": {len(child)} x ", 1)
            lines += sub
        else:
            lines += compact_tree(child, child_name, indent + 1)
    return lines


# --8<-- [start:formula]
def bert_parameter_formula(c):
    """(part, formula text, count by formula, parameter-name prefixes, multiplier) for every part of BertModel."""
    E, F, L, V, P, T = (c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.vocab_size,
                        c.max_position_embeddings, c.type_vocab_size)
    from complexity import params as formulas  # the one home of the parameter formulas
    lin, norm = formulas.linear_params, formulas.layer_norm_params
    return [
        ("word embeddings", "V*E", V * E, ["embeddings.word_embeddings."], 1),
        ("position embeddings", "P*E", P * E, ["embeddings.position_embeddings."], 1),
        ("token type embeddings", "T*E", T * E, ["embeddings.token_type_embeddings."], 1),
        ("embedding LayerNorm", "2E", norm(E), ["embeddings.LayerNorm."], 1),
        ("encoder: query, key, value", "3(E^2+E)", 3 * lin(E, E), ["attention.self.query.", "attention.self.key.", "attention.self.value."], L),
        ("encoder: attention output", "E^2+E", lin(E, E), ["attention.output.dense."], L),
        ("encoder: attention LayerNorm", "2E", norm(E), ["attention.output.LayerNorm."], L),
        ("encoder: intermediate (E -> F)", "EF+F", lin(E, F), ["intermediate.dense."], L),
        ("encoder: output (F -> E)", "FE+E", lin(F, E), ["output.dense."], L),
        ("encoder: output LayerNorm", "2E", norm(E), ["output.LayerNorm."], L),
        ("pooler", "E^2+E", lin(E, E), ["pooler.dense."], 1),
    ]
# --8<-- [end:formula]


def count_by_part(model, config):
    """For each part: its count by formula (times the layers) and by sum(numel) over the matching names.

    Names inside ``encoder.layer.<i>.`` are matched on the rest of the name, so ``output.dense.`` does
    not catch ``attention.output.dense.``.
    """
    named = dict(model.named_parameters())
    rows = []
    for part, text, per, prefixes, layers in bert_parameter_formula(config):
        if layers > 1:
            rest = {n: n.split(".", 3)[3] for n in named if n.startswith("encoder.layer.")}  # drop "encoder.layer.<i>."
            names = [n for n, r in rest.items() if any(r.startswith(p) for p in prefixes)]
        else:
            names = [n for n in named if any(n.startswith(p) for p in prefixes)]
        rows.append({"part": part, "formula": f"{layers} x ({text})" if layers > 1 else text,
                     "by_formula": per * layers, "by_numel": sum(named[n].numel() for n in names)})
    return rows


def report_tree():
    """Print the compact module tree of BertModel(BertConfig())."""
    print("\n".join(compact_tree(bert_base_on_meta(), "BertModel(BertConfig())")))


def report():
    """Print the parameter table of BERT-base and the total both ways."""
    config = BertConfig()
    model = bert_base_on_meta(config)
    rows = count_by_part(model, config)
    total_numel = sum(p.numel() for p in model.parameters())
    total_formula = sum(r["by_formula"] for r in rows)
    E, F, L, V, P, T = (config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                        config.vocab_size, config.max_position_embeddings, config.type_vocab_size)
    print(f"BertConfig(): E={E}, F={F}, layers={L}, heads={config.num_attention_heads}, V={V}, P={P}, T={T}")
    print(f"{'part':34s} {'formula':14s} {'by formula':>12s} {'sum(numel)':>12s}  share")
    for r in rows:
        print(f"{r['part']:34s} {r['formula']:14s} {r['by_formula']:>12,} {r['by_numel']:>12,}  {r['by_numel'] / total_numel:6.1%}")
    print(f"{'total':34s} {'':14s} {total_formula:>12,} {total_numel:>12,}")
    print(f"formula == sum(numel) for every part: {all(r['by_formula'] == r['by_numel'] for r in rows)}; "
          f"parts cover every parameter: {sum(r['by_numel'] for r in rows) == total_numel}")
    print(f"total = {total_numel / 1e6:.2f} million parameters, {total_numel * 4 / 2**20:.1f} MiB in float32")


def shares(config=None):
    """(part, parameters, share of the total) for BertModel(config), counted by sum(numel) per part."""
    config = config or BertConfig()
    rows = count_by_part(bert_base_on_meta(config), config)
    total = sum(r["by_numel"] for r in rows)
    return [(r["part"], r["by_numel"], r["by_numel"] / total) for r in rows]


def shares_figure(rows):
    fig = Figure(figsize=(7.2, 3.8))
    ax = fig.add_subplot()
    names = [r[0] for r in rows][::-1]
    values = [r[1] / 1e6 for r in rows][::-1]
    colors = ["tab:orange" if n.startswith("encoder") else "tab:blue" for n in names]
    bars = ax.barh(names, values, color=colors)
    for bar, (_, n, share) in zip(bars, rows[::-1]):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {share:.1%}", va="center", fontsize=7)
    ax.set_xlabel("parameters, millions (all layers together)")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, max(values) * 1.18)
    fig.tight_layout()
    return fig


def report_figure():
    rows = shares()
    print(figure_to_svg(shares_figure(rows), alt="Bar chart of BERT-base's parameters by part, the word "
                        "embeddings and the feed-forward matrices being the largest",
                        caption="<code>BertModel(BertConfig())</code>: parameters per part; orange: summed over "
                        "the encoder layers."))
    top = sorted(rows, key=lambda r: -r[1])[:3]
    ffn = sum(r[1] for r in rows if "intermediate" in r[0] or "output (F" in r[0])
    attn = sum(r[1] for r in rows if "query" in r[0] or "attention output" in r[0])
    print("<p>The three largest parts: " + ", ".join(f"{n} ({sh:.1%})" for n, _, sh in top) +
          f". The feed-forward matrices hold {ffn / attn:.1f} × the parameters of the attention projections.</p>")
