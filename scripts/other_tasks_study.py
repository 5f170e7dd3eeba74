"""Extending to other tasks: a Transformer forecaster against two baselines, [CLS] vs mean pooling.

Writes into ``--out`` (default ``docs/results``):

- ``other_tasks.json``:
  ``forecast``: the synthetic series' settings, the held-out part, the MAE on it of the
  last-value and seasonal-naive baselines and of the Transformer forecaster (per seed, with
  and without instance normalisation), the noise floor, and the forecasts themselves (for
  the page's figure); ``pooling``: the sentiment task trained with mean pooling and with a
  ``[CLS]`` token, the same budget and seeds: test accuracy per seed, validation curves;
- ``other_tasks-forecast.png``, ``other_tasks-pooling.png`` (the page draws the same figures
  from the JSON at build time);
- ``other_tasks-manifest.json``: versions, seed, hardware, git commit, command, times.

Usage::

    OMP_NUM_THREADS=1 python scripts/other_tasks_study.py --threads 1   # the study (a few minutes)
    python scripts/other_tasks_study.py --quick --out /tmp/other        # seconds

Page: ``docs/other-tasks.md``. Library: ``transformer_anatomy.tasks.forecasting``,
``transformer_anatomy.torch.forecasting``; the ``[CLS]`` model: ``docs/snippets/other_tasks/pooling.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
for folder in (REPO_ROOT / "src", REPO_ROOT / "docs" / "snippets"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

NAME = "other_tasks"
FIGURES = (f"{NAME}-forecast.png", f"{NAME}-pooling.png")

# What each mode runs. quick: every step in seconds (numbers not expected to converge); full: the page.
SETTINGS = {
    "full": {
        "forecast": {"series": {"length": 1200}, "context": 48, "horizon": 24, "n_holdout": 240, "season": 24,
                     "model": {"d_model": 32, "nhead": 4, "num_layers": 2, "dim_feedforward": 64, "dropout": 0.0},
                     "steps": 600, "batch_size": 64, "lr": 1e-3, "warmup": 50, "seeds": [0, 1],
                     "normalize": ["instance", "none"]},
        "pooling": {"task": {"n_train": 8000, "n_valid": 1000, "n_test": 1000},
                    "model": {"d_model": 64, "nhead": 4, "num_layers": 2, "dim_feedforward": 256, "dropout": 0.1},
                    "train": {"max_steps": 1200, "batch_size": 64, "lr": 1e-3, "schedule": "cosine", "warmup": 100,
                              "eval_every": 50, "log_every": 50},
                    "seeds": [0, 1, 2], "target": 0.99},
    },
    "quick": {
        "forecast": {"series": {"length": 300}, "context": 24, "horizon": 12, "n_holdout": 48, "season": 24,
                     "model": {"d_model": 16, "nhead": 2, "num_layers": 1, "dim_feedforward": 32, "dropout": 0.0},
                     "steps": 20, "batch_size": 32, "lr": 1e-3, "warmup": 5, "seeds": [0],
                     "normalize": ["instance", "none"]},
        "pooling": {"task": {"n_train": 256, "n_valid": 64, "n_test": 64},
                    "model": {"d_model": 32, "nhead": 2, "num_layers": 1, "dim_feedforward": 64, "dropout": 0.1},
                    "train": {"max_steps": 10, "batch_size": 32, "lr": 2e-3, "schedule": "cosine", "warmup": 2,
                              "eval_every": 5, "log_every": 5},
                    "seeds": [0], "target": 0.99},
    },
}


from transformer_anatomy.training.manifest import start_study, study_main  # noqa: E402  (after the sys.path line)

def forecast_study(cfg: dict, seed: int, say) -> dict:
    """The series, the baselines' and the forecaster's MAE on the held-out part, the forecasts."""
    import math

    import numpy as np
    import torch

    from transformer_anatomy.tasks import forecasting as FC
    from transformer_anatomy.torch.forecasting import TransformerForecaster, predict, train_forecaster

    series_args = {**FC.SERIES_DEFAULTS, **cfg["series"]}
    series = FC.make_series(**series_args, rng=seed)
    C, H, n_hold = cfg["context"], cfg["horizon"], cfg["n_holdout"]
    x_tr, y_tr, x_te, y_te = FC.holdout_windows(series, C, H, n_hold)
    baselines = {"last_value": FC.last_value_forecast(x_te, H),
                 "seasonal_naive": FC.seasonal_naive_forecast(x_te, H, cfg["season"])}
    runs = []
    for norm in cfg["normalize"]:
        for k in cfg["seeds"]:
            run_seed = seed + k
            torch.manual_seed(run_seed)
            model = TransformerForecaster(C, H, **cfg["model"], normalize=norm)
            fit = train_forecaster(model, x_tr, y_tr, steps=cfg["steps"], batch_size=cfg["batch_size"],
                                   lr=cfg["lr"], warmup=cfg["warmup"], seed=run_seed)
            pred = predict(model, x_te)
            row = {"normalize": norm, "seed": run_seed, "mae": FC.mae(pred, y_te),
                   "train_mae": FC.mae(predict(model, x_tr), y_tr), "loss": fit["loss"],
                   "ms_per_step": fit["ms_per_step"], "params": sum(p.numel() for p in model.parameters()),
                   "forecast": pred.reshape(-1).tolist()}
            runs.append(row)
            say(f"forecaster normalize={norm} seed {run_seed}: held-out MAE {row['mae']:.4f} "
                f"(train {row['train_mae']:.4f}), {fit['ms_per_step']:.0f} ms/step")
    cut = len(series) - n_hold
    return {
        "settings": {**cfg, "series": series_args},
        "length": len(series), "holdout_start": cut, "n_train_windows": len(x_tr), "n_test_windows": len(x_te),
        "series": series.tolist(),
        "baselines": {name: {"mae": FC.mae(p, y_te), "forecast": p.reshape(-1).tolist()}
                      for name, p in baselines.items()},
        "noise_floor": series_args["noise"] * math.sqrt(2.0 / math.pi),  # E|ε| for ε ~ N(0, σ²)
        "runs": runs,
        "summary": {norm: {"mae_mean": float(np.mean([r["mae"] for r in runs if r["normalize"] == norm])),
                           "maes": [r["mae"] for r in runs if r["normalize"] == norm]}
                    for norm in cfg["normalize"]},
    }


def pooling_study(cfg: dict, seed: int, say) -> dict:
    """Mean pooling against a [CLS] token on sentiment: same data, budget and seeds."""
    import numpy as np

    from other_tasks.pooling import POOLINGS
    from transformer_anatomy.tasks import make_sentiment_task
    from transformer_anatomy.training import TorchTrainer, TrainConfig, seed_everything

    data = make_sentiment_task(**cfg["task"], rng=seed)
    rows = []
    for pooling, cls in POOLINGS.items():
        for k in cfg["seeds"]:
            run_seed = seed + k
            seed_everything(run_seed)
            model = cls(len(data.src_vocab), len(data.label_names), **cfg["model"])
            config = TrainConfig(kind="classification", seed=run_seed, **cfg["train"])
            trainer = TorchTrainer(model, data, config)
            summary = trainer.fit()
            test = trainer.evaluate("test")  # the weights after the last step: a fixed budget for both
            curve = [(r["step"], r["metrics"]["accuracy"]) for r in trainer.history["eval"]]
            hits = [s for s, a in curve if a >= cfg["target"]]
            rows.append({"pooling": pooling, "seed": run_seed, "test_accuracy": test["accuracy"],
                         "valid_curve": curve, "steps_to_target": hits[0] if hits else None,
                         "ms_per_step": 1000.0 * summary["train_time_s"] / max(summary["step"], 1),
                         "params": sum(p.numel() for p in model.parameters())})
            say(f"pooling {pooling:4s} seed {run_seed}: test accuracy {test['accuracy']:.4f}, "
                f"valid >= {cfg['target']} at step {rows[-1]['steps_to_target']}")
    summary = {}
    for pooling in POOLINGS:
        acc = [r["test_accuracy"] for r in rows if r["pooling"] == pooling]
        summary[pooling] = {"accuracy_mean": float(np.mean(acc)), "accuracy_min": min(acc), "accuracy_max": max(acc),
                            "accuracies": acc}
    return {"settings": cfg, "n_train": len(data.splits["train"]["src"]), "rows": rows, "summary": summary}


def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None) -> dict:
    """Run both parts, write ``other_tasks.json``, its figures and manifest into ``out``; return the JSON.

    ``command`` is recorded in the manifest (default: this script with the same arguments).
    """
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from other_tasks import results as R
    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    cfg = SETTINGS["quick" if quick else "full"]

    result = {"command": None, "seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(),
              "forecast": forecast_study(cfg["forecast"], seed, say),
              "pooling": pooling_study(cfg["pooling"], seed, say)}
    for name, plot in zip(FIGURES, (R.plot_forecast, R.plot_pooling)):
        plot(result).savefig(out / name, format="png", dpi=110, metadata={"Software": None})
    if command is None:
        command = ["python", "scripts/other_tasks_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    result["wall_time_s"] = clock.elapsed()
    write_study(out, NAME, result, command=command, seed=seed, quick=quick, started=started, root=REPO_ROOT,
                files=FIGURES)
    return json.loads((out / f"{NAME}.json").read_text())  # what the page reads (tuples as lists)


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "other_tasks", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
