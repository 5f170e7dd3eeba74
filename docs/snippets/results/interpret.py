"""What each result means: metric, baseline, curve and the gap, per task (docs/results.md).

Every number comes from docs/results/<task>-<backend>.json (written by scripts/reproduce.py)."""


from results_io import BACKENDS, TASKS, load_result, missing, png_img

METRIC_MEANING = {
    "exact_match": "the share of test examples whose whole output is right (every token, or both span ends)",
    "accuracy": "the share of test sentences given the right label",
    "token_accuracy": "the share of test words given the right tag",
}
TASK_QUESTION = {
    "reversal": "Can the decoder copy each source token from its mirrored position?",
    "numbers": "Can the model turn number words into digits, where words and digits do not align one to one?",
    "sentiment": "Can the model use word order and negation, which a bag of words cannot?",
    "tagging": "Can the model tag ambiguous words (noun or verb) from their context?",
    "qa": "Can the model find the fact about the person (or thing) the question asks about?",
}


# --8<-- [start:error_reduction]
def error_reduction(value, baseline):
    """Share of the baseline's errors that the model removes: (value - baseline) / (1 - baseline)."""
    if baseline >= 1.0:
        return float("nan")
    return (value - baseline) / (1.0 - baseline)
# --8<-- [end:error_reduction]


def headlines(task, results=None):
    """[(backend, run name, headline dict)] of a task, from both backends' result files."""
    out = []
    for backend in BACKENDS:
        r = load_result(task, backend, results)
        if r is None:
            continue
        for name, run in r["runs"].items():
            if run["model"]["class"].startswith("Reference"):
                continue
            out.append((backend, name, run["headline"], r["baselines"][run["headline"]["baseline"]]["what"]))
    return out


def report_task(task, results=None):
    rows = headlines(task, results)
    if not rows:
        print(f"*{missing(task)}*")
        return
    print(f"*{TASK_QUESTION[task]}*\n")
    for name in dict.fromkeys(n for _, n, _, _ in rows):
        mine = [(b, h, w) for b, n, h, w in rows if n == name]
        h, what = mine[0][1], mine[0][2]
        print(f"- `{name}`: metric **{h['metric'].replace('_', ' ')}**, {METRIC_MEANING[h['metric']]}. "
              f"Baseline `{h['baseline']}` ({what}): **{h['baseline_value']:.3f}**.")
        for b, hh, _ in mine:
            gap = hh["value"] - hh["baseline_value"]
            print(f"    - {BACKENDS[b]}: **{hh['value']:.3f}**, {gap:+.3f} over the baseline: it removes "
                  f"{error_reduction(hh['value'], hh['baseline_value']):.0%} of the baseline's errors.")
        others = {k: v for k, v in h.get("others", {}).items()}
        if others:
            print("    - other baselines on the same metric: " + ", ".join(f"`{k}` {v:.3f}" for k, v in others.items()))
    print()
    img = png_img(f"{task}-curves.png", f"training loss and validation metric against the optimizer step, {task}",
                  results)
    if img:
        print(img)


def gap_figure(results=None):
    """Model (PyTorch) vs headline baseline for every task and model, as grouped bars."""
    from matplotlib.figure import Figure

    labels, model, base = [], [], []
    for task in TASKS:
        for backend, name, h, _ in headlines(task, results):
            if backend != "torch":
                continue
            labels.append(f"{task}\n{name}")
            model.append(h["value"])
            base.append(h["baseline_value"])
    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = fig.subplots()
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], base, width=0.4, color="#7f7f7f", label="baseline")
    ax.bar([i + 0.2 for i in x], model, width=0.4, color="#1f77b4", label="model (PyTorch)")
    ax.set_xticks(list(x), labels=labels, fontsize=8)
    ax.set_ylabel("held-out metric (test split), 0 to 1")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    return fig, dict(labels=labels, model=model, baseline=base)


def report_gap_figure():
    from transformer_anatomy.viz import figure_to_svg

    fig, d = gap_figure()
    if not d["labels"]:
        print("<p>No results yet — run <code>python scripts/reproduce.py</code>.</p>")
        return
    worst = min(range(len(d["labels"])), key=lambda i: d["model"][i] - d["baseline"][i])
    beat = sum(m > b for m, b in zip(d["model"], d["baseline"]))
    print(figure_to_svg(fig, alt="bar chart: held-out metric of each trained model beside its task's baseline",
                        caption=f"{beat} of {len(d['labels'])} models beat their baseline; the smallest gap is "
                                f"{d['model'][worst] - d['baseline'][worst]:+.3f} "
                                f"({d['labels'][worst].replace(chr(10), ', ')})."))
