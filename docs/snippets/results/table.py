"""The results table of docs/results.md: one row per (task, backend, model) from every
docs/results/<task>-<backend>.json written by ``scripts/reproduce.py``."""

import json
from pathlib import Path

import results_io  # noqa: E402

RESULTS = results_io.RESULTS
TASKS = results_io.TASKS
BACKENDS = tuple(results_io.BACKENDS)


def result_files(results=RESULTS):
    """Every <task>-<backend>.json (not manifest.json), sorted by task order then backend."""
    files = [p for p in Path(results).glob("*-*.json") if p.stem.rsplit("-", 1)[-1] in BACKENDS]
    order = lambda p: (TASKS.index(p.stem.rsplit("-", 1)[0]) if p.stem.rsplit("-", 1)[0] in TASKS else 99, p.name)  # noqa: E731
    return sorted(files, key=order)


def rows(results=RESULTS):
    out = []
    for path in result_files(results):
        r = json.loads(path.read_text())
        for name, run in r["runs"].items():
            h = run["headline"]
            out.append(dict(task=r["task"], backend=r["backend"], model=name, model_class=run["model"]["class"],
                            metric=h["metric"], split=h["split"], value=h["value"], baseline=h["baseline"],
                            baseline_value=h["baseline_value"], train_time_s=run["summary"].get("train_time_s"),
                            wall_time_s=r["wall_time_s"], device=r["device"], quick=r.get("quick", False),
                            command=r["command"], commit=r["git"]["commit"], file=path.name))
    return out


def markdown_table(results=RESULTS):
    lines = ["| task | backend | model | held-out metric | baseline | training time | task wall time | device | regenerate |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows(results):
        train = f"{r['train_time_s']:.1f} s" if r["train_time_s"] is not None else "—"
        quick = " (quick)" if r["quick"] else ""
        lines.append(f"| {r['task']}{quick} | {r['backend']} | `{r['model']}` ({r['model_class']}) | "
                     f"{r['metric']} {r['value']:.3f} ({r['split']}) | {r['baseline']} {r['baseline_value']:.3f} | "
                     f"{train} | {r['wall_time_s']:.0f} s | {r['device']} | `{r['command']}` |")
    return "\n".join(lines)


def missing_tasks(results=RESULTS):
    """(task, backend) pairs with no result file yet."""
    have = {p.stem for p in result_files(results)}
    return [(t, b) for t in TASKS for b in BACKENDS if f"{t}-{b}" not in have]


def manifest(results=RESULTS):
    path = Path(results) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def report_table():
    if not result_files():
        print("No results yet — run `python scripts/reproduce.py`.")
        return
    print(markdown_table())
    gone = missing_tasks()
    if gone:
        print()
        for t, b in gone:
            print(f"- {t} ({b}): not yet produced — run `python scripts/reproduce.py --task {t}`")


def report_manifest():
    m = manifest()
    if m is None:
        print("manifest.json: not yet produced — run `python scripts/reproduce.py`")
        return
    dirty = " (with uncommitted changes)" if m["git"].get("dirty") else ""
    print(f"- last command: `{m['command']}` (seed {m['seed']}, device {m['device']}, quick {m['quick']})")
    print(f"- git commit: `{m['git']['commit']}`{dirty}")
    print(f"- finished {m['finished']}, wall time {m['wall_time_s']:.0f} s")
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    hw = m.get("hardware", {})
    print(f"- hardware: {hw.get('cpu')}, {hw.get('usable_cpus')} usable CPUs, torch threads {hw.get('torch_threads')}, "
          f"GPU {hw.get('gpu') or 'none'}; {hw.get('platform')}")
    print("- result files in this manifest: " + ", ".join(f"`{k}`" for k in m.get("results", {})))
