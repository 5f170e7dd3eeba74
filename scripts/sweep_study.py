"""The hyper-parameter table measured: a one-factor-at-a-time sweep on reversal, and
ReduceLROnPlateau beside warmup + cosine.

**Sweep.** Around one base configuration (the site's reversal model: ``d_model`` 64, 4 heads,
2 encoder + 2 decoder layers, Adam at ``lr`` 1e-3, 100 warmup steps then cosine), one factor at
a time takes each of its values (``d_model``, ``nhead``, layers, ``lr``, ``warmup``) while the
others keep the base value; every cell is its own run of the PyTorch trainer from the same seed.
A run stops as soon as the validation exact match (greedy decoding, the first ``eval_limit``
validation sequences, every ``eval_every`` steps) reaches the target, 100 %, or at the step cap.
Each cell records the steps and the seconds to the target (``None`` where the cap came first),
the final and best exact match, the validation loss, the time per step and the parameter count.

**Plateau vs cosine.** The same base model trained for a fixed number of steps twice: warmup +
cosine decay (the site's schedule) and warmup + constant with ``ReduceLROnPlateau`` on the
validation loss (factor 0.5, patience 2, torch's threshold), with the curves of both.

Writes into ``--out`` (default ``docs/results``): ``sweep.json``, ``sweep.png`` (steps to target
per factor), ``sweep-plateau.png`` (the two schedules' curves) and ``sweep-manifest.json``.

Usage::

    OMP_NUM_THREADS=1 python scripts/sweep_study.py --threads 1       # the study (about 6 min of CPU)
    python scripts/sweep_study.py --quick --out /tmp/sweep             # seconds

Page: ``docs/training.md`` (#measured-the-hyper-parameter-table, #reducelronplateau-vs-warmup-cosine).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

NAME = "sweep"
FACTORS = ("d_model", "nhead", "layers", "lr", "warmup")

# What each mode runs. quick: a smoke run of every cell (seconds); full: the study on the page.
SETTINGS = {
    "full": {
        "task": {"n_train": 10_000, "n_valid": 500, "n_test": 500, "min_len": 8, "max_len": 8, "num_symbols": 12},
        "base": {"d_model": 64, "nhead": 4, "layers": 2, "lr": 1e-3, "warmup": 100},
        "values": {"d_model": [32, 64, 128], "nhead": [1, 2, 4, 8], "layers": [1, 2, 3],
                   "lr": [3e-4, 1e-3, 3e-3], "warmup": [0, 100, 300]},
        "ff_ratio": 4, "dropout": 0.1, "batch_size": 128, "max_steps": 500, "eval_every": 25, "eval_limit": 250,
        "target": 1.0,
        "plateau": {"max_steps": 400, "eval_every": 20, "factor": 0.5, "patience": 2, "min_lr": 1e-5},
    },
    "quick": {
        "task": {"n_train": 256, "n_valid": 32, "n_test": 32, "min_len": 4, "max_len": 4, "num_symbols": 6},
        "base": {"d_model": 16, "nhead": 2, "layers": 1, "lr": 3e-3, "warmup": 2},
        "values": {"d_model": [16, 32], "nhead": [1, 2], "layers": [1, 2], "lr": [1e-3, 3e-3], "warmup": [0, 2]},
        "ff_ratio": 2, "dropout": 0.1, "batch_size": 32, "max_steps": 6, "eval_every": 3, "eval_limit": 32,
        "target": 1.0,
        "plateau": {"max_steps": 8, "eval_every": 2, "factor": 0.5, "patience": 0, "min_lr": 1e-5},
    },
}


from transformer_anatomy.training.manifest import start_study, study_main  # noqa: E402  (after the sys.path line)

def cell_config(cfg: dict, factor: str | None = None, value=None) -> dict:
    """The base configuration with ``factor`` set to ``value`` (``None``: the base itself)."""
    point = dict(cfg["base"])
    if factor is not None:
        point[factor] = value
    return point


def build(point: dict, cfg: dict, data, seed: int):
    """The model of one cell (seeded): ``Seq2SeqTransformer`` with F = ff_ratio · E."""
    import torch

    from transformer_anatomy.torch import Seq2SeqTransformer

    torch.manual_seed(seed)
    return Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=point["d_model"],
                              nhead=point["nhead"], num_encoder_layers=point["layers"],
                              num_decoder_layers=point["layers"],
                              dim_feedforward=cfg["ff_ratio"] * point["d_model"], dropout=cfg["dropout"])


def train_cell(point: dict, cfg: dict, data, seed: int) -> dict:
    """One run to the target (or the cap): what the table shows for one cell."""
    from transformer_anatomy.training import TorchTrainer, TrainConfig

    model = build(point, cfg, data, seed)
    tc = TrainConfig(kind="seq2seq", max_steps=cfg["max_steps"], batch_size=cfg["batch_size"], lr=point["lr"],
                     warmup=point["warmup"], schedule="cosine", eval_every=cfg["eval_every"],
                     eval_limit=cfg["eval_limit"], target_metric=cfg["target"], log_every=cfg["eval_every"],
                     seed=seed)
    trainer = TorchTrainer(model, data, tc)
    s = trainer.fit()
    last = s["last_eval"]["metrics"]
    return {"point": point, "num_params": sum(p.numel() for p in model.parameters()),
            "steps_to_target": s["steps_to_target"], "time_to_target_s": s["time_to_target_s"],
            "reached": s["steps_to_target"] is not None, "steps": s["step"],
            "final_exact_match": last["exact_match"], "best_exact_match": s["best_metric"],
            "final_valid_loss": last["loss"], "train_time_s": s["train_time_s"], "elapsed_s": s["elapsed_s"],
            "ms_per_step": 1000 * s["train_time_s"] / max(s["step"], 1),
            "curve": [{"step": r["step"], "exact_match": r["metrics"]["exact_match"], "loss": r["metrics"]["loss"]}
                      for r in trainer.history["eval"]],
            "train_config": tc.to_dict()}


def plateau_runs(cfg: dict, data, seed: int) -> dict:
    """The base model for a fixed number of steps under warmup + cosine and under warmup +
    constant + ReduceLROnPlateau on the validation loss."""
    from transformer_anatomy.training import TorchTrainer, TrainConfig

    p, point = cfg["plateau"], cfg["base"]
    common = dict(kind="seq2seq", max_steps=p["max_steps"], batch_size=cfg["batch_size"], lr=point["lr"],
                  warmup=point["warmup"], eval_every=p["eval_every"], eval_limit=cfg["eval_limit"],
                  log_every=5, seed=seed)
    schedules = {
        "cosine": TrainConfig(schedule="cosine", **common),
        "plateau": TrainConfig(schedule="constant", plateau_factor=p["factor"], plateau_patience=p["patience"],
                               plateau_metric="loss", plateau_min_lr=p["min_lr"], **common),
    }
    out = {}
    for name, tc in schedules.items():
        trainer = TorchTrainer(build(point, cfg, data, seed), data, tc)
        s = trainer.fit()
        evals = trainer.history["eval"]
        hits = [r["step"] for r in evals if r["metrics"]["exact_match"] >= cfg["target"]]
        lrs = [r["lr"] for r in trainer.history["train"]]
        out[name] = {
            "train_config": tc.to_dict(),
            "train": trainer.history["train"],
            "eval": [{"step": r["step"], "lr": r["lr"], "loss": r["metrics"]["loss"],
                      "exact_match": r["metrics"]["exact_match"]} for r in evals],
            "cuts": sum(1 for a, b in zip(lrs, lrs[1:]) if b < a * (1 - 1e-9)) if name == "plateau" else None,
            "final_lr": lrs[-1] if lrs else None,
            "steps_to_target": hits[0] if hits else None,
            "final_valid_loss": evals[-1]["metrics"]["loss"], "final_exact_match": evals[-1]["metrics"]["exact_match"],
            "best_valid_loss": min(r["metrics"]["loss"] for r in evals),
            "train_time_s": s["train_time_s"],
        }
    return out


# -------------------------------------------------------------------------------- figures
def plot_sweep(result: dict):
    """One panel per factor: steps to the target against the factor's values (cap marked)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 2.9), layout="constrained")
    axes = fig.subplots(1, len(FACTORS), sharey=True)
    cap = result["settings"]["max_steps"]
    for ax, factor in zip(axes, FACTORS):
        rows = result["sweep"][factor]
        labels = [f"{r['value']:g}" for r in rows]
        steps = [r["steps_to_target"] if r["reached"] else cap for r in rows]
        colors = ["#1f77b4" if r["reached"] else "#bbbbbb" for r in rows]
        ax.bar(labels, steps, color=colors)
        for i, r in enumerate(rows):
            if not r["reached"]:
                ax.text(i, cap, "cap", ha="center", va="bottom", fontsize=8)
            if r["value"] == result["settings"]["base"][factor]:
                ax.text(i, 0, "base", ha="center", va="bottom", fontsize=7, color="white")
        ax.set_xlabel(factor)
        ax.axhline(cap, color="#ff7f0e", linestyle=":", linewidth=1)
    axes[0].set_ylabel("steps to 100 % exact match")
    fig.suptitle("Reversal, one factor at a time (grey: not reached by the step cap)", fontsize=10)
    return fig


def plot_plateau(result: dict):
    """Validation loss, exact match and learning rate against the step, both schedules."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.0), layout="constrained")
    ax_loss, ax_em, ax_lr = fig.subplots(1, 3)
    styles = {"cosine": ("#1f77b4", "warmup + cosine"), "plateau": ("#d62728", "warmup + ReduceLROnPlateau")}
    for name, (color, label) in styles.items():
        run = result["plateau"][name]
        steps = [r["step"] for r in run["eval"]]
        ax_loss.plot(steps, [r["loss"] for r in run["eval"]], color=color, label=label)
        ax_em.plot(steps, [r["exact_match"] for r in run["eval"]], color=color, label=label)
        ax_lr.plot([r["step"] for r in run["train"]], [r["lr"] for r in run["train"]], color=color, label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("validation loss (nats / token)")
    ax_em.set_ylabel("validation exact match")
    ax_lr.set_ylabel("learning rate")
    for ax in (ax_loss, ax_em, ax_lr):
        ax.set_xlabel("optimizer step")
    ax_lr.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------- study
def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None) -> dict:
    """Run the sweep and the plateau comparison; write ``sweep.json``, its figures and
    ``sweep-manifest.json`` into ``out``; return the JSON."""
    import torch

    from transformer_anatomy.tasks import make_reversal_task
    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    cfg = SETTINGS["quick" if quick else "full"]

    data = make_reversal_task(**cfg["task"], rng=seed)
    cells: dict[tuple, dict] = {}  # the base cell appears in every factor's row: run it once
    sweep: dict[str, list[dict]] = {}
    for factor in FACTORS:
        sweep[factor] = []
        for value in cfg["values"][factor]:
            point = cell_config(cfg, factor, value)
            key = tuple(sorted(point.items()))
            if key not in cells:
                cells[key] = train_cell(point, cfg, data, seed)
                c = cells[key]
                reached = f"target at step {c['steps_to_target']}" if c["reached"] else "target not reached"
                say(f"{factor}={value:g}: {reached} (exact match {c['final_exact_match']:.3f} at step {c['steps']}), "
                    f"{c['train_time_s']:.1f} s, {c['ms_per_step']:.0f} ms/step")
            sweep[factor].append({"factor": factor, "value": value, **cells[key]})
    say("plateau vs cosine")
    plateau = plateau_runs(cfg, data, seed)
    for name, r in plateau.items():
        say(f"{name}: final valid loss {r['final_valid_loss']:.4f}, exact match {r['final_exact_match']:.3f}, "
            f"target at {r['steps_to_target']}, final lr {r['final_lr']:.2e}")

    result = {
        "command": None,  # filled by write_study
        "seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(),
        "settings": {k: v for k, v in cfg.items() if k != "task"} | {"task": cfg["task"]},
        "task": {"name": data.name, "params": {k: v for k, v in data.params.items()},
                 "sizes": {s: data.size(s) for s in ("train", "valid", "test")}},
        "factors": list(FACTORS),
        "runs": len(cells),
        "sweep": sweep,
        "plateau": plateau,
        "wall_time_s": None,
    }
    figures = {"sweep.png": plot_sweep, "sweep-plateau.png": plot_plateau}
    for name, plot in figures.items():
        plot(result).savefig(out / name, format="png", dpi=110, metadata={"Software": None})
    if command is None:
        command = ["python", "scripts/sweep_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    result["wall_time_s"] = clock.elapsed()
    write_study(out, NAME, result, command=command, seed=seed, quick=quick, started=started, root=REPO_ROOT,
                files=list(figures))
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "sweep", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
