#!/usr/bin/env python
"""Time to 100 %: our recipe against the seed's, ours against nn.Transformer, three seeds, side by side.

For each seed, the reversal task (``scripts/reproduce.py``'s data) is learnt by these runs,
trained **in alternating blocks of ten steps** in one process, so that whatever else the
machine does hits them alike:

run                                model                       recipe
---------------------------------  --------------------------  ------------------------------------
``ours``                           ``Seq2SeqTransformer``      ``FULL["reversal"]`` (ours)
``nn.Transformer, seed recipe``    ``ReferenceSeq2Seq``        ``SEED_RECIPE`` (what a user copies)
``nn.Transformer, our recipe``     ``ReferenceSeq2Seq``        ours
``ours, seed recipe``              ``Seq2SeqTransformer``      the seed's
``ours, dropout 0.1`` ...          ``Seq2SeqTransformer``      ours with one choice put back as the seed has it

Every run stops by the same rule (``STOPPING``): validation exact match, from one teacher-forced
pass every 10 steps, at 100 % in three evaluations in a row. The time to target counts training
*and* those evaluations; the test exact match (greedy decoding, the kept weights) is reported
beside it. Each run's median step time comes from ``Trainer.step_times``.

Writes into ``--out`` (default ``docs/results``): ``speed.json`` (per seed and run: steps, time to
target, median ms per step, test exact match, the validation curve with its times; the medians
over the seeds and the ratios) and ``speed-curves.png`` (validation exact match against seconds
of training, seed 0), with ``speed-manifest.json``.

    python scripts/speed_study.py                 # three seeds, about five minutes on 2 cores
    python scripts/speed_study.py --quick --out /tmp/speed

Page: ``docs/training.md`` ("Why the seed's recipe is slow").
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from transformer_anatomy.training.manifest import record_parts, start_study, study_main  # noqa: E402  (after the sys.path line)

SEEDS = {"full": (0, 1, 2), "quick": (0,)}
BLOCK = 10
"""Steps each run takes before the next one's turn."""
OURS, SEED_REF, OUR_REF = "ours", "nn.Transformer, seed recipe", "nn.Transformer, our recipe"


def load_reproduce():
    """``scripts/reproduce.py`` as a module: one home for the tasks' settings and models."""
    spec = importlib.util.spec_from_file_location("reproduce", REPO_ROOT / "scripts" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipes(R, quick: bool) -> dict[str, tuple[str, dict, dict]]:
    """Run name -> (model class, model config, training settings)."""
    full = R.FULL["reversal"]
    ours_model, ours_train = full["model"], dict(full["train"])
    seed_model, seed_train = R.SEED_RECIPE["model"], {**R.SEED_RECIPE["train"], **R.STOPPING}
    if quick:  # a pipeline check: tiny models, a few dozen steps
        q = dict(R.QUICK_TRAIN, eval_every=BLOCK, eval_decoding=False, target_metric=1.0, target_patience=3)
        ours_model = seed_model = R.preset("quick")
        ours_train, seed_train = dict(q, max_steps=40), dict(q, max_steps=40, batch_size=48)
    out = {
        OURS: ("Seq2SeqTransformer", ours_model, ours_train),
        SEED_REF: ("ReferenceSeq2Seq", seed_model, seed_train),
        OUR_REF: ("ReferenceSeq2Seq", ours_model, ours_train),
        "ours, seed recipe": ("Seq2SeqTransformer", seed_model, seed_train),
    }
    # one choice at a time put back as the seed has it
    changes = {
        "ours, dropout 0.1": ({"dropout": seed_model.dropout}, {}),
        "ours, batch 128": ({}, {"batch_size": seed_train["batch_size"]}),
        "ours, warmup 100": ({}, {"warmup": seed_train["warmup"]}),
        "ours, cosine over 1500 steps": ({}, {"max_steps": seed_train["max_steps"]}),
    }
    for name, (model_change, train_change) in changes.items():
        out[name] = ("Seq2SeqTransformer", ours_model.replace(**model_change), {**ours_train, **train_change})
    return out


def build(R, model_cls: str, model_cfg, train: dict, data, seed: int):
    """A trainer for one run (the model built after ``seed_everything(seed)``)."""
    from transformer_anatomy.training import TorchTrainer, TrainConfig

    backend = "reference" if model_cls == "ReferenceSeq2Seq" else "torch"
    model, size = R.build_model(backend, model_cls, "seq2seq", data, {"model": model_cfg}, seed)
    return TorchTrainer(model, data, TrainConfig(kind="seq2seq", seed=seed, **train)), size


def run_seed(R, seed: int, quick: bool, say) -> dict:
    """Every run of one seed, in alternating blocks; their records."""
    from transformer_anatomy.tasks import make_task

    data = make_task("reversal", **R.task_spec("reversal", quick)["data"], rng=seed)
    runs = {name: build(R, cls, cfg, train, data, seed) + (cls, cfg, train)
            for name, (cls, cfg, train) in recipes(R, quick).items()}
    R.train_in_blocks([r[0] for r in runs.values()], BLOCK)
    out = {}
    for name, (trainer, size, cls, cfg, train) in runs.items():
        s = trainer.summary()
        trainer.use_best_weights()
        test = trainer.evaluate("test")  # greedy decoding
        out[name] = {
            "model": cls, "model_config": size, "train": train,
            "steps_to_target": s["steps_to_target"], "steps": s["step"],
            "time_to_target_s": s["time_to_target_s"], "elapsed_s": s["elapsed_s"], "train_time_s": s["train_time_s"],
            "median_step_ms": s["median_step_ms"], "test_exact_match": test["exact_match"],
            "curve": [{"step": r["step"], "time_s": t["elapsed"], "exact_match": r["metrics"]["exact_match"]}
                      for r, t in zip(trainer.history["eval"], trainer.timings)],
        }
        when = s["time_to_target_s"]
        say(f"seed {seed}  {name:30s} {s['step']:5d} steps  "
            + (f"target in {when:6.1f} s" if when is not None else f"no target ({s['elapsed_s']:.1f} s)")
            + f"  median {s['median_step_ms']:.1f} ms/step  test exact match {test['exact_match']:.3f}")
    return out


def parts(quick: bool = False) -> list[str]:
    """The study's pieces that ``scripts/reproduce.py --jobs`` runs as jobs of their own: one per
    seed offset (``"0"``, ``"1"``, ``"2"``), each seed's runs still interleaved in one process."""
    return [str(s) for s in SEEDS["quick" if quick else "full"]]


def run_part(part: str, out: Path, quick: bool = False, seed: int = 0) -> dict:
    """One piece of :func:`parts` in this process: seed ``seed + int(part)``'s runs (what
    :func:`run_seed` returns). ``run_study(parts=...)`` joins them; ``out`` is not written."""
    if part not in parts(quick):
        raise ValueError(f"part={part!r} is not one of {parts(quick)}")
    return run_seed(load_reproduce(), seed + int(part), quick, lambda line: None)


def summarize(per_seed: dict[int, dict]) -> dict:
    """Medians over the seeds per run, and the ratios the issue asks for, per seed and as medians."""
    names = list(next(iter(per_seed.values())))
    med = {}
    for name in names:
        rows = [per_seed[s][name] for s in per_seed]
        times = [r["time_to_target_s"] for r in rows]
        med[name] = {
            "time_to_target_s": statistics.median(times) if None not in times else None,
            "steps_to_target": statistics.median(r["steps_to_target"] for r in rows) if None not in times else None,
            "median_step_ms": statistics.median(r["median_step_ms"] for r in rows),
            "test_exact_match_min": min(r["test_exact_match"] for r in rows),
            "reached_target": sum(t is not None for t in times),
        }

    def ratios(a: str, b: str, key: str) -> dict:
        per = {str(s): (per_seed[s][a][key] / per_seed[s][b][key]
                        if per_seed[s][a][key] is not None and per_seed[s][b][key] is not None else None)
               for s in per_seed}
        vals = [v for v in per.values() if v is not None]
        return {"per_seed": per, "median": statistics.median(vals) if len(vals) == len(per) else None}

    return {
        "medians": med,
        "ours_vs_nn_seed_recipe_time": ratios(OURS, SEED_REF, "time_to_target_s"),
        "ours_vs_nn_our_recipe_time": ratios(OURS, OUR_REF, "time_to_target_s"),
        "ours_vs_nn_our_recipe_step": ratios(OURS, OUR_REF, "median_step_ms"),
        "ours_seed_recipe_vs_nn_seed_recipe_step": ratios("ours, seed recipe", SEED_REF, "median_step_ms"),
    }


def curves_figure(per_seed: dict[int, dict], path: Path) -> None:
    """Validation exact match against seconds of training (evaluations included), first seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed = min(per_seed)
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    styles = {OURS: dict(color="C0", lw=2.2), SEED_REF: dict(color="C3", lw=2.2),
              OUR_REF: dict(color="C1", lw=1.6, ls="--"), "ours, seed recipe": dict(color="C2", lw=1.6, ls=":")}
    for name, style in styles.items():
        c = per_seed[seed][name]["curve"]
        ax.plot([p["time_s"] for p in c], [p["exact_match"] for p in c], label=name, **style)
    ax.set_xlabel("seconds of training (evaluations included)")
    ax.set_ylabel("validation exact match")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(f"Sequence reversal to 100 %: recipes side by side (seed {seed})")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None, parts: dict | None = None) -> dict:
    """Run the whole study, write ``speed.json``, ``speed-curves.png`` and ``speed-manifest.json``.

    ``parts``: the seeds' records, trained already by :func:`run_part` in jobs of
    ``scripts/reproduce.py`` (part -> ``{"result": record, "wall_time_s": seconds}``); ``None``:
    train them here, one seed after the other.
    """
    import torch

    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    R = load_reproduce()
    load_before = os.getloadavg()  # a busy machine stretches every wall time below
    seeds = tuple(seed + s for s in SEEDS["quick" if quick else "full"])
    if parts is not None:
        per_seed = {seed + int(p): piece["result"] for p, piece in sorted(parts.items(), key=lambda kv: int(kv[0]))}
    else:
        per_seed = {s: run_seed(R, s, quick, say) for s in seeds}
    curves_figure(per_seed, out / "speed-curves.png")
    result = {"command": None, "seed": seed, "seeds": list(seeds), "quick": quick, "device": "cpu",
              "threads": torch.get_num_threads(), "block_steps": BLOCK, "stopping": R.STOPPING,
              "runs": {str(s): v for s, v in per_seed.items()}, "summary": summarize(per_seed)}
    result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg()),
                              "cpus": os.cpu_count(), "what": "os.getloadavg(): 1, 5 and 15 minute averages"}
    record_parts(result, parts, clock.elapsed(), "each seed in its own job of scripts/reproduce.py (one process, "
                 f"{result['threads']} thread(s)); a part is the seed's offset from --seed")
    if command is None:
        command = ["python", "scripts/speed_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    write_study(out, "speed", result, command=command, seed=seed, quick=quick, started=started, root=REPO_ROOT,
                files=["speed-curves.png"])
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "speed", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results",
                      echo=print)


if __name__ == "__main__":
    sys.exit(main())
