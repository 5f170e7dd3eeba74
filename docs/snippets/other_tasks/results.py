"""What docs/other-tasks.md prints and draws from docs/results/other_tasks.json.

The JSON is written by ``scripts/other_tasks_study.py`` (which saves the same figures as
PNGs); every number the page states about the forecaster and the pooling runs is printed by
a function here. ``OTHER_TASKS_RESULTS`` (a folder) overrides where it is read.
"""

import json
import os
from pathlib import Path

from results_io import RESULTS

from transformer_anatomy.viz import figure_to_svg

FOLDER = Path(os.environ.get("OTHER_TASKS_RESULTS") or RESULTS)
MISSING = "not yet produced — run `python scripts/other_tasks_study.py`"
NAMES = {"last_value": "last value", "seasonal_naive": "seasonal naive",
         "instance": "Transformer (instance-normalised)", "none": "Transformer (raw values)",
         "mean": "mean pooling", "cls": "[CLS] token"}


def load(folder=None):
    path = Path(folder or FOLDER) / "other_tasks.json"
    return json.loads(path.read_text()) if path.exists() else None


# ------------------------------------------------------------------------------ forecasting
def plot_forecast(r, history=96):
    """The end of the training part, the held-out part, and every forecast of it."""
    import numpy as np
    from matplotlib.figure import Figure

    f = r["forecast"]
    y, cut = np.asarray(f["series"]), f["holdout_start"]
    n_pred = len(f["baselines"]["last_value"]["forecast"])
    t_pred = np.arange(cut, cut + n_pred)
    lo = max(cut - history, 0)
    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(lo, len(y)), y[lo:], color="black", lw=1.2, label="series (truth)")
    for name, color in (("last_value", "tab:orange"), ("seasonal_naive", "tab:green")):
        ax.plot(t_pred, f["baselines"][name]["forecast"], color=color, lw=1, ls="--",
                label=f"{NAMES[name]} (MAE {f['baselines'][name]['mae']:.3f})")
    best = first_run(r, "instance")
    if best is not None:
        ax.plot(t_pred, best["forecast"], color="tab:blue", lw=1.4,
                label=f"{NAMES['instance']} (MAE {best['mae']:.3f})")
    ax.axvline(cut, color="tab:gray", ls=":", lw=1)
    ax.annotate("held out →", (cut, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3),
                textcoords="offset points", va="top", fontsize=8, color="tab:gray")
    ax.set_xlabel("time step")
    ax.set_ylabel("value")
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
    return fig


def first_run(r, normalize):
    return next((run for run in r["forecast"]["runs"] if run["normalize"] == normalize), None)


def figure_forecast(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    H = r["forecast"]["settings"]["horizon"]
    print(figure_to_svg(plot_forecast(r), alt="The synthetic series, the end of its training part and the held-out "
                        "part, with the forecasts of the last-value and seasonal-naive baselines and of the "
                        "Transformer; the Transformer's forecast follows the truth closely.",
                        caption=f"Forecasts of the held-out part, made {H} steps at a time from the "
                                f"{r['forecast']['settings']['context']} values before each origin."))


def report_forecast(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    f = r["forecast"]
    s = f["settings"]
    print(f"- series: {f['length']} steps, periods {', '.join(f'{p:g}' for p in s['series']['periods'])}, "
          f"amplitudes {', '.join(f'{a:g}' for a in s['series']['amplitudes'])}, trend {s['series']['trend']:g} per "
          f"step, noise σ = {s['series']['noise']:g} (seed {r['seed']})")
    print(f"- windows: context C = {s['context']}, horizon H = {s['horizon']}; {f['n_train_windows']} training "
          f"windows before step {f['holdout_start']}, {f['n_test_windows']} back-to-back test windows covering "
          f"the last {s['n_holdout']} steps")
    print(f"- model: d_model {s['model']['d_model']}, {s['model']['nhead']} heads, {s['model']['num_layers']} layers, "
          f"{first_run(r, s['normalize'][0])['params']:,} parameters; {s['steps']} steps of batch {s['batch_size']}, "
          f"lr {s['lr']:g} (warmup {s['warmup']}, cosine), L1 loss")
    print()
    print("| forecaster | MAE on the held-out part |")
    print("|---|---|")
    for name, b in f["baselines"].items():
        print(f"| {NAMES[name]} | {b['mae']:.4f} |")
    for norm, sm in f["summary"].items():
        per = ", ".join(f"{m:.4f}" for m in sm["maes"])
        print(f"| {NAMES[norm]} | {sm['mae_mean']:.4f} (seeds: {per}) |")
    print(f"| noise floor σ·√(2/π) | {f['noise_floor']:.4f} |")


def notice_forecast(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    f = r["forecast"]
    best_base = min(f["baselines"].values(), key=lambda b: b["mae"])["mae"]
    inst = f["summary"].get("instance", {}).get("mae_mean")
    raw = f["summary"].get("none", {}).get("mae_mean")
    trend = f["settings"]["series"]["trend"]
    y, cut = f["series"], f["holdout_start"]
    above = sum(v > max(y[:cut]) for v in y[cut:]) / len(y[cut:])
    train = {norm: sum(x["train_mae"] for x in f["runs"] if x["normalize"] == norm)
             / sum(1 for x in f["runs"] if x["normalize"] == norm) for norm in f["summary"]}
    print(f"The seasonal-naive forecast is one season ({f['settings']['season']} steps) old: the trend alone "
          f"puts it {trend * f['settings']['season']:.3f} below the truth at every step.")
    print()
    print(f"The instance-normalised Transformer's MAE ({inst:.4f}) is {best_base / inst:.1f}× smaller than the "
          f"better baseline's ({best_base:.4f}) and {inst / f['noise_floor']:.2f}× the noise floor "
          f"({f['noise_floor']:.4f}), the error of a forecaster that knew the noiseless series. "
          f"Without normalisation the same model scores {raw:.4f} on the held-out part, though its training MAE "
          f"({train['none']:.4f}) is as low as the normalised one's ({train['instance']:.4f}): the trend ({trend:g} per "
          f"step) lifts {above:.0%} of the held-out values above the largest value of the training part.")


# ------------------------------------------------------------------------------ pooling
def plot_pooling(r):
    """Validation accuracy against step for each pooling and seed; test accuracy per seed."""
    from matplotlib.figure import Figure

    p = r["pooling"]
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2, width_ratios=(2, 1))
    colors = {"mean": "tab:blue", "cls": "tab:orange"}
    for pooling in p["summary"]:
        for i, row in enumerate(x for x in p["rows"] if x["pooling"] == pooling):
            steps, acc = zip(*row["valid_curve"])
            ax1.plot(steps, acc, color=colors[pooling], lw=1, alpha=0.9, ls="-" if i == 0 else "--",
                     label=NAMES[pooling] if i == 0 else None)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("validation accuracy")
    ax1.legend(frameon=False, fontsize=8)
    for k, (pooling, sm) in enumerate(p["summary"].items()):
        ax2.plot([k] * len(sm["accuracies"]), sm["accuracies"], "o", color=colors[pooling], alpha=0.8)
        ax2.plot([k - 0.2, k + 0.2], [sm["accuracy_mean"]] * 2, color="black", lw=1.5)
    ax2.set_xticks(range(len(p["summary"])), [NAMES[k] for k in p["summary"]])
    ax2.set_xlim(-0.6, len(p["summary"]) - 0.4)
    ax2.set_ylabel("test accuracy (each seed; bar: mean)")
    return fig


def figure_pooling(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    print(figure_to_svg(plot_pooling(r), alt="Left: validation accuracy of the sentiment classifier against "
                        "training step, mean pooling and [CLS] token, one line per seed. Right: test accuracy "
                        "of each seed after the same number of steps, with the mean of each pooling.",
                        caption="Mean pooling against a [CLS] token on sentiment, the same data, budget and seeds."))


def report_pooling(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    p = r["pooling"]
    t = p["settings"]["train"]
    print(f"- the sentiment task ({p['n_train']:,} training sentences), d_model {p['settings']['model']['d_model']}, "
          f"{p['settings']['model']['num_layers']} layer(s); {t['max_steps']} steps of batch {t['batch_size']} "
          f"(lr {t['lr']:g}, warmup {t['warmup']}, cosine) for every run; test accuracy after the last step")
    print()
    print(f"| pooling | parameters | test accuracy, mean | each seed | first step with validation ≥ "
          f"{p['settings']['target']} |")
    print("|---|---|---|---|---|")
    for pooling, sm in p["summary"].items():
        rows = [x for x in p["rows"] if x["pooling"] == pooling]
        steps = ", ".join("—" if x["steps_to_target"] is None else str(x["steps_to_target"]) for x in rows)
        each = ", ".join(f"{a:.4f} (seed {x['seed']})" for a, x in zip(sm["accuracies"], rows))
        print(f"| {NAMES[pooling]} | {rows[0]['params']:,} | {sm['accuracy_mean']:.4f} | {each} | {steps} |")


def notice_pooling(r=None):
    import math

    r = r or load()
    if r is None:
        return print(MISSING)
    s = r["pooling"]["summary"]
    mean, cls = s["mean"], s["cls"]
    diff = cls["accuracy_mean"] - mean["accuracy_mean"]
    n1, n2 = len(mean["accuracies"]), len(cls["accuracies"])
    chance = 1 / math.comb(n1 + n2, n1)  # one given order of two groups of seeds, all distinct, by chance alone
    if mean["accuracy_min"] > cls["accuracy_max"] or cls["accuracy_min"] > mean["accuracy_max"]:
        better, worse = ("[CLS]", "mean pooling") if diff > 0 else ("mean pooling", "[CLS]")
        verdict = (f"every seed of {better} scored above every seed of {worse} (with {n1} and {n2} seeds, chance "
                   f"alone would order them so about once in {round(1 / chance)} trials)")
    else:
        verdict = "the seeds of the two overlap: at this budget neither is measurably better"
    print(f"Test accuracy after the last step: [CLS] {cls['accuracy_mean']:.4f} against mean pooling "
          f"{mean['accuracy_mean']:.4f} ({diff:+.4f}); {verdict}. Spread between seeds: mean pooling "
          f"{mean['accuracy_max'] - mean['accuracy_min']:.4f}, [CLS] {cls['accuracy_max'] - cls['accuracy_min']:.4f}.")
    target = r["pooling"]["settings"]["target"]
    steps = {}
    for pooling in s:
        hit = [x["steps_to_target"] for x in r["pooling"]["rows"] if x["pooling"] == pooling]
        steps[pooling] = ", ".join("not reached" if h is None else str(h) for h in hit)
    print()
    print(f"Steps until the validation accuracy first reached {target} (each seed, in the budget of "
          f"{r['pooling']['settings']['train']['max_steps']}): mean pooling {steps['mean']}; [CLS] {steps['cls']}.")


def report_manifest(folder=None):
    path = Path(folder or FOLDER) / "other_tasks-manifest.json"
    if not path.exists():
        return print(MISSING)
    m = json.loads(path.read_text())
    print(f"Made by `{m['command']}` (seed {m['seed']}, {m['device']}, {m['hardware']['torch_threads']} thread(s), "
          f"{m['wall_time_s'] / 60:.1f} minutes, finished {m['finished']}; torch {m['versions']['torch']}; "
          f"commit `{(m['git']['commit'] or 'unknown')[:12]}`).")
