"""What each head of a trained model does: the per-head statistics of its attention (docs/results.md).

Read from ``attention_reading["head_stats"]`` of docs/results/<task>-<backend>.json, which
``scripts/reproduce.py`` computes with :func:`transformer_anatomy.viz.reading.head_statistics` over
the whole test split; shown beside the attention map of the same run. Files written before those
statistics existed have no ``head_stats``: the map is shown alone and the page says so."""

import numpy as np

from results_io import BACKENDS, attention_reading, load_result, png_img

COLUMNS = {  # statistic -> column header
    "mean_offset": "mean offset",
    "entropy": "entropy (nats)",
    "entropy_normalized": "entropy / log n",
    "diagonal": "diagonal",
    "mirror": "mirror",
    "first_token": "first token",
}
RUN_OF_TASK = {"tagging": ("encoder_tagger", "encoder_decoder")}  # tasks with more than one read run


def head_stats(task, backend="torch", run=None, results=None):
    """The ``head_stats`` of a run's attention reading, or None (no file, no reading, or an older file)."""
    a = attention_reading(task, backend, run, results)
    return (a or {}).get("head_stats")


def stats_backend(task, run=None, results=None):
    """The first backend (PyTorch, then NumPy) whose file has head statistics, else the first with a reading."""
    for b in BACKENDS:
        if head_stats(task, b, run, results):
            return b
    return next((b for b in BACKENDS if attention_reading(task, b, run, results)), "torch")


def layer_label(name, layers):
    """``transformer.decoder.layers.1.multihead_attn`` -> ``layer 2 of 2``."""
    return f"layer {layers.index(name) + 1} of {len(layers)}"


def _fmt(v, signed=False):
    if v is None:
        return "—"
    v = 0.0 if abs(v) < 0.005 else v  # no "-0.00"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def stats_table(hs, layer, example=False):
    """Markdown table: one row per statistic, one column per head of ``layer``, then uniform attention (chance)."""
    src = hs["figure_example"] if example else hs["layers"]
    uniform = hs.get("figure_example_uniform" if example else "uniform")
    st = src[layer]
    H = len(st["entropy"])
    lines = ["| statistic | " + " | ".join(f"head {h}" for h in range(H)) + (" | uniform |" if uniform else " |"),
             "|---|" + "---:|" * (H + bool(uniform))]
    for c, header in COLUMNS.items():
        cells = [_fmt(st[c][h], c == "mean_offset") for h in range(H)]
        if uniform:
            cells.append(_fmt(uniform[c], c == "mean_offset"))
        lines.append(f"| {header} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stats_table_html(hs, layer):
    """The same table as HTML with compact cells, to sit beside the map in a two-column grid."""
    import html

    md = stats_table(hs, layer).splitlines()
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md if not line.startswith("|---")]
    td = 'style="padding:0.35em 0.6em;min-width:0{}"'
    head = "".join(f"<th {td.format(';text-align:right' if i else '')}>{html.escape(c)}</th>"
                   for i, c in enumerate(rows[0]))
    body = "".join("<tr>" + "".join(f"<td {td.format(';text-align:right' if i else '')}>{html.escape(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


ABOVE = 1.5  # a head "does" a pattern when its mass there is at least this many times the uniform level
PATTERN_WORDS = {"mirror": "the mirrored key", "diagonal": "the query's own position", "first_token": "the first token"}


def _heads(hs_list):
    return ", ".join(str(h) for h in hs_list)


def notice(hs, layer):
    """What the table says, from its numbers: sharpness, the patterns above chance and which heads
    share them (do the heads of this layer differ?), and the attended offsets."""
    st, u = hs["layers"][layer], hs.get("uniform", {})
    heads = list(range(len(st["entropy"])))
    parts = []
    ent = [(st["entropy_normalized"][h], h) for h in heads if st["entropy_normalized"][h] is not None]
    if ent:
        (lo, h_lo), (hi, h_hi) = min(ent), max(ent)
        parts.append(f"entropy / log n runs from {lo:.2f} (head {h_lo}, the sharpest) to {hi:.2f} (head {h_hi}), "
                     "against 1 for uniform attention")
    strongest = 0.0
    for name, words in PATTERN_WORDS.items():
        if not u.get(name):
            continue
        vals = {h: st[name][h] for h in heads if st[name][h] is not None}
        if not vals:
            continue
        ratio = {h: v / u[name] for h, v in vals.items()}
        strongest = max(strongest, max(ratio.values()))
        doing = [h for h in vals if ratio[h] >= ABOVE]
        if not doing:
            continue
        lo, hi = f"{min(vals[h] for h in doing):.2f}", f"{max(vals[h] for h in doing):.2f}"
        span = lo if lo == hi else f"{lo}–{hi}"
        if len(doing) == len(vals):
            parts.append(f"all {len(vals)} heads put {span} on {words} (uniform: {u[name]:.2f}), the same pattern")
        else:
            rest = max(vals[h] for h in vals if h not in doing)
            parts.append(f"head{'s' if len(doing) > 1 else ''} {_heads(doing)} put{'' if len(doing) > 1 else 's'} "
                         f"{span} on {words} (uniform: {u[name]:.2f}), the other heads at most {rest:.2f}")
    if strongest < ABOVE:
        parts.append(f"no head puts more than {ABOVE:g} × the uniform mass on its own position, the mirror or the "
                     f"first token (at most {strongest:.1f} ×)")
    off = [(st["mean_offset"][h], h) for h in heads if st["mean_offset"][h] is not None]
    if off:
        (lo, h_lo), (hi, h_hi) = min(off), max(off)
        parts.append(f"mean offsets run from {_fmt(lo, True)} (head {h_lo}) to {_fmt(hi, True)} (head {h_hi}), "
                     f"against {_fmt(u.get('mean_offset', 0.0), True)} for uniform attention")
    return "Reading the table: " + "; ".join(parts) + "."


def report_heads(task, run=None, results=None):
    """The attention map of a task's trained model beside its per-head statistics (Markdown)."""
    backend = stats_backend(task, run, results)
    r = load_result(task, backend, results)
    if r is None:
        print(f"*{task}: no results yet — run `python scripts/reproduce.py --task {task}`.*")
        return
    run = run or next(iter(r["runs"]))
    a = attention_reading(task, backend, run, results) or {}
    suffix = f"-{run}" if task == "tagging" and run != "encoder_tagger" else ""
    img = png_img(f"{task}{suffix}-attention-{backend}.png",
                  f"attention weights per head of the trained {task} model ({run}) on one test example, "
                  "query tokens on the rows, key tokens on the columns", results)
    hs = a.get("head_stats")
    if not hs:
        if img:
            print(img + "\n")
        print(f"*`{task}-{backend}.json` ({run}) has no per-head statistics yet (`attention_reading.head_stats`): "
              f"the table appears here once `scripts/reproduce.py --task {task}` has written them.*\n")
        return
    layer = a["figure_layer"]
    what = a["attention"]
    print(f"**`{run}`, {BACKENDS[backend]}**: {what}, {layer_label(layer, a['layers'])} (`{layer}`). "
          f"Left, test example {a['figure_example']}; right, each head's statistics averaged over the "
          f"{hs['examples']} test examples.\n")
    print('<div class="grid" style="grid-template-columns: minmax(0, 1fr) auto; align-items: start" markdown>\n')
    print((img or "*(no attention figure in the results folder)*") + "\n")
    print(stats_table_html(hs, layer) + "\n")
    print("</div>\n")
    print(notice(hs, layer) + "\n")
    others = [name for name in a["layers"] if name != layer and name in hs["layers"]]
    if others or "figure_example" in hs:
        print('??? note "Every layer, and the example of the figure"\n')
        for name in others:
            print(f"    {layer_label(name, a['layers']).capitalize()} (`{name}`), test split:\n")
            print("\n".join("    " + line for line in stats_table(hs, name).splitlines()) + "\n")
        if "figure_example" in hs and layer in hs["figure_example"]:
            print(f"    {layer_label(layer, a['layers']).capitalize()}, test example {a['figure_example']} only "
                  "(the one drawn):\n")
            print("\n".join("    " + line for line in stats_table(hs, layer, example=True).splitlines()) + "\n")


def report_task_heads(task, results=None):
    """``report_heads`` for each read run of a task."""
    for run in RUN_OF_TASK.get(task, (None,)):
        report_heads(task, run, results)


# --8<-- [start:patterns]
def pattern_heads(n=5):
    """Four hand-made heads on n tokens, one pattern each: (H, n, n) weights and their names."""
    t = np.arange(n)
    w = np.zeros((4, n, n))
    w[0, t, t] = 1.0  # itself: the diagonal
    w[1, t, np.maximum(t - 1, 0)] = 1.0  # the previous token (the first one: itself)
    w[2, t, n - 1 - t] = 1.0  # the mirror, as reversal needs
    w[3] = 1.0 / n  # uniform: the chance level of every statistic
    return w, ["itself", "previous token", "mirror", "uniform"]
# --8<-- [end:patterns]


def pattern_table(n=5):
    """The hand-made heads' statistics as one Markdown table (and the raw dict, for the tests)."""
    from transformer_anatomy.viz.reading import head_statistics

    w, names = pattern_heads(n)
    st = head_statistics(w[None], [n], [n])  # (1, H) each
    lines = ["| head | " + " | ".join(COLUMNS.values()) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for h, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(_fmt(float(st[c][0, h]), c == "mean_offset") for c in COLUMNS) + " |")
    return "\n".join(lines), st


def figure_patterns(n=5):
    """The hand-made heads as attention maps (HTML)."""
    from transformer_anatomy.viz import figure_to_svg, plot_attention

    w, names = pattern_heads(n)
    tokens = [f"t{i}" for i in range(n)]
    fig = plot_attention(w, tokens, tokens, head_labels=names)
    print(figure_to_svg(fig, alt=f"Four {n} by {n} attention maps made by hand: each token on itself, on the "
                             "previous token, on its mirrored position, and uniform attention",
                        caption="Four hand-made heads: query tokens down, key tokens across."))


def report_pattern_table(n=5):
    """The hand-made heads' statistics and what to notice (Markdown)."""
    table, st = pattern_table(n)
    print(table + "\n")
    print(f"Each pattern has its signature. The mirror head puts {st['mirror'][0, 2]:.2f} on the mirror and looks "
          f"ahead and back by the same amount (mean offset {_fmt(float(st['mean_offset'][0, 2]), True)}); the "
          f"previous-token head looks back ({_fmt(float(st['mean_offset'][0, 1]), True)}: every query but the first "
          f"one step). A one-hot head has entropy {st['entropy'][0, 0]:.2f}; uniform attention has "
          f"log n = {st['entropy'][0, 3]:.2f} nats and 1/n = {st['diagonal'][0, 3]:.2f} on any one key, so a "
          "trained head is read against the uniform row.")


def report_definitions():
    """The definitions, from the library (the same words the results files carry)."""
    from transformer_anatomy.viz.reading import HEAD_STATISTICS

    for name, definition in HEAD_STATISTICS.items():
        print(f"- **{COLUMNS[name]}** (`{name}`): {definition}.")
