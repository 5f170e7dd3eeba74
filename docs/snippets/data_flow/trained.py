"""What the full training run of a task reached: read from docs/results/ (written by
``scripts/reproduce.py``), never typed. Used at the end of each section of the data-flow page."""

import base64
import json
from pathlib import Path

# the site is built from the repository root; otherwise find docs/results beside src/
RESULTS = Path("docs/results")
if not RESULTS.is_dir():
    import transformer_anatomy

    RESULTS = Path(transformer_anatomy.__file__).resolve().parents[2] / "docs" / "results"
BACKENDS = {"torch": "PyTorch", "numpy": "NumPy"}


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
    path = Path(results) / f"{task}-curves.png"
    if path.exists():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        print(f'<img src="data:image/png;base64,{data}" alt="training curves of the {task} runs" '
              'style="max-width:100%">')


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
