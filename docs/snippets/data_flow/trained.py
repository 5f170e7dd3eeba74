"""What the full training run of a task reached: read from docs/results/ (written by
``scripts/reproduce.py``), never typed. Used at the end of each section of the data-flow page."""

import json
from pathlib import Path

from results_io import BACKENDS, RESULTS, attention_reading, png_img, reading_backend, reading_lines


def trained_rows(task, results=RESULTS):
    """One row per (backend, model) of ``<task>-<backend>.json``: held-out metric, baseline, steps."""
    rows = []
    for backend in BACKENDS:
        path = Path(results) / f"{task}-{backend}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        for name, run in r["runs"].items():
            if run["model"]["class"].startswith("Reference"):
                continue
            h, s = run["headline"], run["summary"]
            others = {k: v for k, v in run["test_metrics"].items() if k != h["metric"] and isinstance(v, float)}
            rows.append(dict(backend=backend, model=name, metric=h["metric"], value=h["value"], baseline=h["baseline"],
                             baseline_value=h["baseline_value"], others=others, steps=s["step"],
                             best_step=s["best_metric"] is not None and s["best_step"], train_time_s=s["train_time_s"],
                             params=run["model"]["num_params"], config=run["model"]["config"],
                             data=r["data"].get("params", {}), command=r["command"]))
    return rows


def first_step_above(task, backend, value, results=RESULTS):
    """The first evaluation step whose validation main metric exceeded ``value`` (None if never)."""
    path = Path(results) / f"{task}-{backend}.json"
    if not path.exists():
        return None
    run = next(iter(json.loads(path.read_text())["runs"].values()))
    metric = run["headline"]["metric"]
    return next((e["step"] for e in run["history"]["eval"] if e["metrics"][metric] > value), None)


def report_trained(task, results=RESULTS):
    rows = trained_rows(task, results)
    if not rows:
        print(f"*Not yet produced: run `python scripts/reproduce.py --task {task}`.*")
        return
    print("| backend | model | parameters | held-out metric (test) | baseline (test) | steps (best at) | training time |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        extra = "".join(f", {k.replace('_', ' ')} {v:.3f}" for k, v in r["others"].items() if k != "loss")
        print(f"| {BACKENDS[r['backend']]} | `{r['model']}` | {r['params']:,} | {r['metric'].replace('_', ' ')} "
              f"**{r['value']:.3f}**{extra} | {r['baseline']} {r['baseline_value']:.3f} | {r['steps']} "
              f"({r['best_step']}) | {r['train_time_s']:.0f} s |")
    print()
    for name in dict.fromkeys(r["model"] for r in rows):
        cfg = next(r["config"] for r in rows if r["model"] == name)
        print(f"- `{name}`: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    data = ", ".join(f"{k}={v}" for k, v in rows[0]["data"].items())
    print(f"- data: {data}\n\nRegenerate: `python scripts/reproduce.py --task {task}`; every run of the "
          "[results table](results.md).")


def report_curves(task, results=RESULTS):
    img = png_img(f"{task}-curves.png", f"training loss and validation metric against the step, {task} runs", results)
    if img:
        print(img)


def report_attention(task, run=None, backend=None, results=RESULTS):
    """The attention map of the trained model (from reproduce.py) and the numbers that read it:
    both from the same backend's run (PyTorch if its file has the reading, else NumPy)."""
    backend = backend or reading_backend(task, run, results)
    suffix = f"-{run}" if run and run != "encoder_tagger" and task == "tagging" else ""
    a = attention_reading(task, backend, run, results)
    img = png_img(f"{task}{suffix}-attention-{backend}.png",
                  f"attention weights per head of the trained {task} model on one test example, "
                  "query tokens on the rows, key tokens on the columns", results)
    if img:
        print(img + "\n")
    if not a:
        print(f"*The attention reading is not in the results yet: rerun `python scripts/reproduce.py --task {task}`.*")
        return
    print(f"{BACKENDS[backend]} model. {a['attention'].capitalize()}, layer `{a['figure_layer']}`, "
          f"test example {a['figure_example']} "
          f"in the figure; the statistics below are over the whole test split ({a['correct']} ✓, {a['wrong']} ✗), "
          "computed by `scripts/reproduce.py` from the same weights:\n")
    print("\n".join(reading_lines(task, backend, run, results)))


def report_transition(task="qa", results=RESULTS):
    """When the validation metric first beat the task's headline baseline, and when it passed 0.9."""
    for backend, label in BACKENDS.items():
        path = Path(results) / f"{task}-{backend}.json"
        if not path.exists():
            continue
        run = next(iter(json.loads(path.read_text())["runs"].values()))
        base, name = run["headline"]["baseline_value"], run["headline"]["baseline"]
        above = first_step_above(task, backend, base, results)
        high = first_step_above(task, backend, 0.9, results)
        first = run["history"]["eval"][0]
        metric = run["headline"]["metric"]
        print(f"- {label}: validation {metric.replace('_', ' ')} {first['metrics'][metric]:.3f} at step "
              f"{first['step']}; first above {name} ({base:.3f}) at step {above}; first above 0.9 at step {high}.")


def context_lengths(n=400, seed=0):
    """Mean context length (tokens after <sep>) of QA examples: the preset vs the generator's default."""
    import inspect

    import numpy as np

    from transformer_anatomy.tasks import make_qa_task
    from transformer_anatomy.tasks.qa import SEP

    default = inspect.signature(make_qa_task).parameters["extra_fact_prob"].default
    out = {}
    for p in (0.0, default):
        d = make_qa_task(n_train=n, n_valid=8, n_test=8, extra_fact_prob=p, rng=seed)
        tr, sep = d.split("train"), d.src_vocab.word2idx[SEP]
        lens = [int(L) - 1 - int(np.flatnonzero(row == sep)[0]) for row, L in zip(tr["src"], tr["src_len"])]
        out[p] = float(np.mean(lens))
    return {"preset": out[0.0], "default": out[default], "default_prob": default}


def report_context_lengths():
    c = context_lengths()
    print(f"With the generator's default of extra facts about other relations (`extra_fact_prob={c['default_prob']}`: "
          f"contexts of {c['default']:.1f} tokens on average against {c['preset']:.1f}, "
          f"{c['default'] / c['preset']:.1f} times longer), shorter trials of a two-layer post-norm model stayed on "
          "that plateau; they were not kept as results, so no number from them is shown here. The preset in "
          "`scripts/reproduce.py` (its configuration is in the table above) is what gets past it.")
