"""LSTMs against our Transformer: trained side by side on reversal and sentiment, and one layer
of each timed and weighed against the sequence length.

Writes into ``--out`` (default ``docs/results``):

- ``rnn.json``: per task and model the held-out metric (the task's main metric, on the test
  split, best validation weights), steps and seconds to each accuracy threshold on the
  validation split, ms per optimizer step, the curves; per layer kind, width and length the
  median forward+backward time and the bytes autograd saves for backward; the ``n`` and ``d``
  of each task's config for the complexity table (Vaswani et al. 2017, Table 1);
- ``rnn-manifest.json``: versions, seed, hardware, threads, git commit, command, times.

The page draws its figures from ``rnn.json`` at build time.

Usage::

    nice -n 5 env OMP_NUM_THREADS=1 python scripts/rnn_study.py --threads 1   # the study (minutes)
    python scripts/rnn_study.py --quick --out /tmp/rnn                       # seconds

The tasks, their data, the Transformer and its training settings are those of
``scripts/reproduce.py`` (``task_spec``, ``build_model``, ``train``, imported from it) and the baselines
are ``transformer_anatomy.tasks.task_baselines``;
the LSTMs get the same data, optimizer, schedule, steps and evaluation.

Page: ``docs/rnn-vs-transformer.md``. Library: ``transformer_anatomy.torch.recurrent``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

# What each mode runs. quick: a smoke run of every step (seconds); full: the study on the page.
SETTINGS = {
    "full": {"lstm": {"d_model": 64, "num_layers": 2, "dropout": 0.1},  # E and depth of the Transformer's
             "thresholds": [0.9, 0.99, 1.0],
             "scaling": {"N": 8, "widths": [64, 256], "lengths": [16, 32, 64, 128, 256, 512], "repeats": 5,
                         "nhead": 4, "ffn_ratio": 4}},
    "quick": {"lstm": {"d_model": 32, "num_layers": 1, "dropout": 0.1},
              "thresholds": [0.5, 1.0],
              "scaling": {"N": 2, "widths": [16], "lengths": [8, 16], "repeats": 2, "nhead": 2, "ffn_ratio": 4}},
}
# (run name, what it is, model builder key); the first run of each task is our Transformer.
RUNS = {
    "reversal": [("transformer", "Seq2SeqTransformer (ours)"),
                 ("lstm", "LSTMSeq2Seq, Luong dot attention"),
                 ("lstm_no_attention", "LSTMSeq2Seq, no attention (one (h, c) carries the source)")],
    "sentiment": [("transformer", "TransformerClassifier (ours), mean pooling"),
                  ("lstm", "LSTMClassifier, mean pooling"),
                  ("lstm_last", "LSTMClassifier, last state")],
}
LAYERS = {"lstm": "nn.LSTM, one layer", "transformer": "TransformerEncoderLayer, fused attention (SDPA's choice)",
          "transformer_math": "TransformerEncoderLayer, explicit (S, S) attention (SDPA math backend)"}


from transformer_anatomy.training.manifest import start_study, study_main  # noqa: E402  (after the sys.path line)

def load_reproduce():
    """``scripts/reproduce.py`` as a module: one home for the tasks' settings and models."""
    spec = importlib.util.spec_from_file_location("reproduce", REPO_ROOT / "scripts" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(R, task: str, run: str, data, spec: dict, lstm: dict, seed: int):
    """The model of one run, after ``seed_everything(seed)`` (every run starts from the same seed)."""
    from transformer_anatomy.torch.recurrent import LSTMClassifier, LSTMSeq2Seq
    from transformer_anatomy.training import seed_everything

    (_, model_cls, kind), = R.MODELS[task]
    if run == "transformer":
        model, size = R.build_model("torch", model_cls, kind, data, spec, seed)
        return model, {"class": model_cls, **size}, kind
    seed_everything(seed)
    if kind == "seq2seq":
        size = {**lstm, "attention": run == "lstm"}
        return LSTMSeq2Seq(len(data.src_vocab), len(data.tgt_vocab), **size), {"class": "LSTMSeq2Seq", **size}, kind
    size = {**lstm, "pooling": "last" if run == "lstm_last" else "mean"}
    return LSTMClassifier(len(data.src_vocab), len(data.label_names), **size), {"class": "LSTMClassifier", **size}, kind


def to_threshold(trainer, thresholds: list[float], cpu: list[float]) -> dict:
    """First evaluation (step; wall seconds since the start of training; CPU seconds ``cpu`` of
    that evaluation) whose validation metric reaches each threshold; None where it never did."""
    out = {}
    evals, times = trainer.history["eval"], trainer.timings
    for th in thresholds:
        hit = next((i for i, e in enumerate(evals) if e["metrics"][trainer.main_metric] >= th), None)
        out[f"{th:g}"] = None if hit is None else {"step": evals[hit]["step"], "seconds": times[hit]["elapsed"],
                                                    "train_seconds": times[hit]["train_time"],
                                                    "cpu_seconds": cpu[hit]}
    return out


def _on_event(ctx: dict, event: dict) -> None:
    """At every evaluation, the CPU seconds this run has used so far (training and evaluations)."""
    if event["event"] == "eval":
        ctx["cpu_at_eval"].append(ctx["cpu"] + time.process_time() - ctx["chunk_start"])


def lockstep(ctxs: list[dict]) -> None:
    """Train the runs one evaluation interval each in turn (as reproduce.py's ``train``), so that
    they share whatever else the machine is doing, and count each run's CPU seconds."""
    chunk = max(c["config"].eval_every for c in ctxs) or 25

    def finished(t):
        return t.stopped_early or t.step >= t.config.max_steps

    while not all(finished(c["trainer"]) for c in ctxs):
        for c in ctxs:
            t = c["trainer"]
            if not finished(t):
                c["chunk_start"] = time.process_time()
                t.fit(until_step=t.step + chunk)
                c["cpu"] += time.process_time() - c["chunk_start"]


def train_task(R, task: str, cfg: dict, quick: bool, seed: int, say) -> dict:
    """Train every run of ``task`` in lockstep (reproduce.py's ``train``) and test each."""
    from transformer_anatomy.tasks import make_task
    from transformer_anatomy.torch.module import num_parameters
    from transformer_anatomy.training import TorchTrainer, TrainConfig

    from transformer_anatomy.tasks import task_baselines

    spec = R.task_spec(task, quick)
    data = make_task(task, **spec["data"], rng=seed)
    baselines = task_baselines(task, data, "test")
    ctxs = []
    for run, what in RUNS[task]:
        model, size, kind = build(R, task, run, data, spec, cfg["lstm"], seed)
        config = TrainConfig(kind=kind, seed=seed, device="cpu", **spec["train"])
        ctx = {"run": run, "what": what, "size": size, "model": model, "config": config, "kind": kind,
               "cpu": 0.0, "cpu_at_eval": []}
        ctx["trainer"] = TorchTrainer(model, data, config, callback=functools.partial(_on_event, ctx))
        ctxs.append(ctx)
    lockstep(ctxs)
    runs = {}
    for c in ctxs:
        t = c["trainer"]
        summary = {k: v for k, v in t.summary().items() if k != "last_eval"}
        t.use_best_weights()
        test = t.score("test", t.predict("test"))
        metric = t.main_metric
        runs[c["run"]] = {
            "what": c["what"], "model": c["size"], "num_params": num_parameters(c["model"]),
            "train_config": c["config"].to_dict(), "summary": summary,
            "ms_per_step": 1000.0 * t.train_time / max(t.step, 1),
            "cpu_ms_per_step": 1000.0 * c["cpu"] / max(t.step, 1),
            "test_metric": test[metric], "test_metrics": test,
            "to_threshold": to_threshold(t, cfg["thresholds"], c["cpu_at_eval"]),
            "curve": [{"step": e["step"], "valid": e["metrics"][metric], "seconds": tm["elapsed"], "cpu_seconds": cpu}
                      for e, tm, cpu in zip(t.history["eval"], t.timings, c["cpu_at_eval"])],
        }
        say(f"{task}/{c['run']}: test {metric} {test[metric]:.3f}, {runs[c['run']]['ms_per_step']:.1f} ms/step, "
            f"steps to target {summary['steps_to_target']}, {runs[c['run']]['num_params']:,} parameters")
    split = data.split("train")
    n_src = int(split["src"].shape[1])
    n_tgt = int(split["tgt_out"].shape[1]) if "tgt_out" in split else None
    d = ctxs[0]["size"]["d_model"]  # the Transformer's width (the LSTMs' too, in the full study)
    return {"kind": ctxs[0]["kind"], "metric": ctxs[0]["trainer"].main_metric, "split": "test",
            "data": data.describe()["sizes"], "baselines": baselines, "runs": runs,
            "shape": {"n_src": n_src, "n_tgt": n_tgt, "d_model": d}}


# --8<-- [start:saved_bytes]
def saved_bytes(fn, module) -> int:
    """Bytes of the tensors autograd saves for backward while ``fn()`` runs, each storage once,
    the module's parameters left out (they exist anyway): the activation memory of training."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(t):  # called for every tensor an operation keeps for its backward
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            storages[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())
# --8<-- [end:saved_bytes]


def layer_for(kind: str, E: int, nhead: int, ffn_ratio: int):
    from torch import nn

    from transformer_anatomy.torch import TransformerEncoderLayer

    if kind == "lstm":
        return nn.LSTM(E, E, batch_first=True)
    return TransformerEncoderLayer(E, nhead, ffn_ratio * E, dropout=0.0, batch_first=True)


# --8<-- [start:time_layer]
def time_layer(kind: str, N: int, S: int, E: int, nhead: int = 4, ffn_ratio: int = 4, repeats: int = 5,
               seed: int = 0) -> dict:
    """Median forward+backward seconds (wall and CPU) of one layer on ``(N, S, E)``, and its saved bytes."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(seed)
    layer = layer_for(kind, E, nhead, ffn_ratio)
    x = torch.randn(N, S, E, requires_grad=True)

    def forward():
        out = layer(x)
        return out[0] if isinstance(out, tuple) else out  # nn.LSTM: (output, (h, c))

    def step():
        with sdpa_kernel(SDPBackend.MATH) if kind == "transformer_math" else contextlib.nullcontext():
            forward().sum().backward()

    step()  # warm-up: first-call allocations and kernel selection
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # CPU seconds of this process: robust to a busy machine
    with sdpa_kernel(SDPBackend.MATH) if kind == "transformer_math" else contextlib.nullcontext():
        nbytes = saved_bytes(forward, layer)
    return {"seconds": statistics.median(times), "cpu_seconds": statistics.median(cpu), "saved_bytes": nbytes}
# --8<-- [end:time_layer]


def scaling(cfg: dict, seed: int, say) -> dict:
    s = cfg["scaling"]
    rows = []
    for E in s["widths"]:
        for S in s["lengths"]:
            for kind in LAYERS:
                r = time_layer(kind, s["N"], S, E, s["nhead"], s["ffn_ratio"], s["repeats"], seed)
                rows.append({"layer": kind, "E": E, "S": S, "N": s["N"], **r})
            line = ", ".join(f"{r['layer']} {1000 * r['seconds']:.2f} ms" for r in rows[-len(LAYERS):])
            say(f"E={E} S={S}: {line}")
    return {"N": s["N"], "nhead": s["nhead"], "ffn_ratio": s["ffn_ratio"], "repeats": s["repeats"],
            "layers": LAYERS, "timer": "time.perf_counter (seconds) and time.process_time (cpu_seconds), "
                                       "medians of the repeats after one warm-up",
            "memory": "bytes of the tensors torch.autograd.graph.saved_tensors_hooks sees saved for backward, "
                      "each storage once, parameters excluded", "rows": rows}


def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None) -> dict:
    """Run the whole study, write ``rnn.json`` and ``rnn-manifest.json`` into ``out``; return the JSON.

    ``command`` is recorded in the manifest (default: this script with the same arguments).
    """
    import torch

    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    cfg = SETTINGS["quick" if quick else "full"]
    R = load_reproduce()

    load_before = os.getloadavg()  # a busy machine stretches every wall time below
    tasks = {task: train_task(R, task, cfg, quick, seed, say) for task in RUNS}
    result = {"command": None, "seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(),
              "settings": cfg, "tasks": tasks, "scaling": scaling(cfg, seed, say)}
    result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg()),
                              "cpus": os.cpu_count(), "what": "os.getloadavg(): 1, 5 and 15 minute averages"}
    result["wall_time_s"] = clock.elapsed()
    if command is None:
        command = ["python", "scripts/rnn_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    write_study(out, "rnn", result, command=command, seed=seed, quick=quick, started=started, root=REPO_ROOT)
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "rnn", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
