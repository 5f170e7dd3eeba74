"""Seed 003's run, reproduced: d_model = 512, 8 heads, a vocabulary of 1,000, 50 epochs, NumPy trainer.

The seed reports "loss 6.91 -> 5.71 after 50 epochs"; 6.91 = ln 1000, the loss of a uniform
prediction over 1,000 tokens. This study trains our NumPy ``Seq2SeqTransformer`` in that setting
on a small set and records the loss before any update (the ln V sanity check) and after every epoch.
The seed does not say what its data was; two data sets are run, both with 996 ordinary tokens
(+ the 4 specials = V = 1,000), drawn from a seed:

- ``random``: source and target are independent random token strings (the usual "dummy data" of a
  smoke test). Nothing can be learned beyond the token frequencies and memorising the training set,
  so the held-out loss cannot fall much below ln V.
- ``reversal``: the target is the source reversed (a task the model can learn).

Writes into ``--out`` (default ``docs/results``): ``seed003.json`` (per data set: the initial loss
on train and valid against ln V, the mean training loss of each epoch, the validation loss and
token accuracy after each epoch), ``seed003-loss.png`` and ``seed003-manifest.json``.

Usage::

    OMP_NUM_THREADS=1 python scripts/seed003_study.py --threads 1     # the study (a few minutes)
    python scripts/seed003_study.py --quick --out /tmp/s3               # seconds

Page: ``docs/misconceptions.md`` (#seed-003). Library: ``transformer_anatomy.numpy``,
``transformer_anatomy.training.NumpyTrainer``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

V = 1000  # the seed's vocabulary, specials included
# What seed 003 reports (a citation of the seed guide, not a measurement of ours).
SEED_CLAIM = {"source": "seed 003", "d_model": 512, "nhead": 8, "V": 1000, "epochs": 50,
              "initial": 6.91, "after_50_epochs": 5.71}
# quick: seconds (a smaller model, the same code path); full: the seed's sizes on a small set.
SETTINGS = {
    "full": {"model": dict(d_model=512, nhead=8, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=2048,
                           dropout=0.1),
             "n_train": 128, "n_valid": 64, "length": 8, "epochs": 50, "batch_size": 32, "lr": 1e-4, "warmup": 10},
    "quick": {"model": dict(d_model=32, nhead=8, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64,
                            dropout=0.1),
              "n_train": 16, "n_valid": 16, "length": 4, "epochs": 3, "batch_size": 8, "lr": 1e-3, "warmup": 2},
}
DATASETS = ("random", "reversal")


from transformer_anatomy.training.manifest import record_parts, start_study, study_main  # noqa: E402  (after the sys.path line)

def make_data(kind: str, n_train: int, n_valid: int, length: int, seed: int):
    """A ``TaskData`` of ``length``-token strings over ``V - 4`` ordinary tokens (V = 1,000 with specials)."""
    import numpy as np

    from transformer_anatomy.tasks import TaskData, Vocab
    from transformer_anatomy.tasks.reversal import reversal_example
    from transformer_anatomy.tasks.task_data import stack_splits

    vocab = Vocab([f"w{i}" for i in range(V - 4)])
    assert len(vocab) == V
    g = np.random.default_rng(seed)
    words = vocab.tokens[4:]
    sizes = {"train": n_train, "valid": n_valid, "test": n_valid}
    examples = {}
    for split, n in sizes.items():
        rows = []
        for _ in range(n):
            src = [words[i] for i in g.integers(0, V - 4, size=length)]
            ex = reversal_example(src, vocab)
            if kind == "random":  # an unrelated random target: only memorisation can lower the loss
                other = [words[i] for i in g.integers(0, V - 4, size=length)]
                ex = {**ex, **{k: v for k, v in reversal_example(other[::-1], vocab).items() if k.startswith("tgt")}}
            rows.append(ex)
        examples[split] = rows
    arrays = stack_splits(examples, ["src", "tgt", "tgt_in", "tgt_out"], ["src_len", "tgt_len"])
    return TaskData(f"seed003-{kind}", "seq2seq", arrays, src_vocab=vocab, tgt_vocab=vocab,
                    params={"kind": kind, **sizes, "length": length, "seed": seed})


def train_one(kind: str, cfg: dict, seed: int, say) -> dict:
    """Train one data set for ``cfg["epochs"]`` epochs; the record of the run."""
    import numpy as np

    from transformer_anatomy.numpy import Seq2SeqTransformer
    from transformer_anatomy.training import NumpyTrainer, TrainConfig

    data = make_data(kind, cfg["n_train"], cfg["n_valid"], cfg["length"], seed)
    model = Seq2SeqTransformer(V, V, **cfg["model"], dtype=np.float32, rng=seed)
    steps_per_epoch = math.ceil(cfg["n_train"] / cfg["batch_size"])
    losses: list[float] = []
    tc = TrainConfig(kind="seq2seq", max_steps=cfg["epochs"] * steps_per_epoch, batch_size=cfg["batch_size"],
                     lr=cfg["lr"], schedule="constant", warmup=cfg["warmup"], eval_every=0, log_every=1,
                     eval_limit=None, seed=seed)
    trainer = NumpyTrainer(model, data, tc, callback=lambda e: losses.append(e["loss"]) if e["event"] == "step" else None)
    t0 = time.perf_counter()
    initial = {split: trainer.evaluate(split)["loss"] for split in ("train", "valid")}
    spread = initial_logit_variance(model, data.split("valid"))
    say(f"{kind}: initial loss train {initial['train']:.3f}, valid {initial['valid']:.3f}; ln V = {math.log(V):.3f}")
    epochs = []
    for epoch in range(cfg["epochs"]):
        trainer.fit(until_step=(epoch + 1) * steps_per_epoch)
        valid = trainer.evaluate("valid")
        epoch_losses = losses[epoch * steps_per_epoch:(epoch + 1) * steps_per_epoch]
        epochs.append({"epoch": epoch + 1, "step": trainer.step, "train_loss": float(np.mean(epoch_losses)),
                       "valid_loss": valid["loss"], "valid_token_accuracy": valid["token_accuracy"]})
        if epoch % 10 == 9 or epoch == cfg["epochs"] - 1:
            say(f"{kind}: epoch {epoch + 1}: train {epochs[-1]['train_loss']:.3f}, valid {valid['loss']:.3f}")
    final_train = trainer.evaluate("train")  # the train split in eval mode (no dropout), after the last epoch
    return {"data": kind, "initial_loss": initial, "ln_V": math.log(V),
            "initial_logit_variance": spread, "ln_V_plus_half_variance": math.log(V) + spread / 2,
            "epochs": epochs,
            "final_train_eval_loss": final_train["loss"], "final_train_token_accuracy": final_train["token_accuracy"],
            "params": count_params(model),
            "steps": trainer.step, "steps_per_epoch": steps_per_epoch, "time_s": time.perf_counter() - t0,
            "ms_per_step": 1000 * (time.perf_counter() - t0) / max(trainer.step, 1)}


def initial_logit_variance(model, split: dict) -> float:
    """Variance of the logits over the vocabulary, averaged over the real target positions.

    For logits spread like a Gaussian of variance s2 around any mean, the expected cross-entropy
    is about ln V + s2 / 2 (the log-sum-exp of V such logits is ln V + mean + s2 / 2): a freshly
    initialised model starts a little above ln V, by that much.
    """
    import numpy as np

    was_training = model.training
    model.eval()
    try:
        logits = np.asarray(model.forward(split["src"], split["tgt_in"]), dtype=np.float64)  # (N, T, V)
    finally:
        model.train(was_training)
    real = split["tgt_out"] != 0  # (N, T)
    return float(logits.var(-1)[real].mean())


def count_params(model) -> int:
    """Parameters of a NumPy model (its state dict: every array once)."""
    return sum(int(a.size) for a in model.state_dict().values())


def figure(result: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    axes = fig.subplots(1, len(result["runs"]), sharey=True)
    for ax, run in zip(axes, result["runs"]):
        ep = [0] + [e["epoch"] for e in run["epochs"]]
        ax.plot(ep, [run["initial_loss"]["train"]] + [e["train_loss"] for e in run["epochs"]], label="train (mean of epoch)")
        ax.plot(ep, [run["initial_loss"]["valid"]] + [e["valid_loss"] for e in run["epochs"]], label="valid")
        ax.axhline(run["ln_V"], color="grey", ls="--", lw=1, label="ln V")
        ax.set_title(f"{run['data']} targets")
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy (nats)")
    axes[0].legend(fontsize=8)
    return fig


def parts(quick: bool = False) -> list[str]:
    """The study's pieces that ``scripts/reproduce.py --jobs`` runs as jobs of their own: the data sets."""
    return list(DATASETS)


def run_part(part: str, out: Path, quick: bool = False, seed: int = 0) -> dict:
    """One piece of :func:`parts` in this process: data set ``part``'s run (:func:`train_one`);
    ``run_study(parts=...)`` joins them; ``out`` is not written."""
    if part not in DATASETS:
        raise ValueError(f"part={part!r} is not one of {list(DATASETS)}")
    return train_one(part, SETTINGS["quick" if quick else "full"], seed, lambda line: None)


def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None, progress: bool = True,
              command: list[str] | None = None, parts: dict | None = None) -> dict:
    """Run both data sets, write ``seed003.json``, ``seed003-loss.png`` and ``seed003-manifest.json``.

    ``parts``: the data sets' records, trained already by :func:`run_part` in jobs of
    ``scripts/reproduce.py`` (part -> ``{"result": record, "wall_time_s": seconds}``); ``None``:
    train them here."""
    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    cfg = SETTINGS["quick" if quick else "full"]

    if parts is not None:
        runs = [parts[kind]["result"] for kind in DATASETS]
    else:
        runs = [train_one(kind, cfg, seed, say) for kind in DATASETS]
    result = {"seed": seed, "quick": quick, "V": V, "ln_V": math.log(V), "settings": cfg,
              "seed_claim": SEED_CLAIM,
              "runs": runs}
    record_parts(result, parts, clock.elapsed(), "each data set in its own job of scripts/reproduce.py")
    fig = figure(result)
    fig.savefig(out / "seed003-loss.png", dpi=110, transparent=True)
    write_study(out, "seed003", result, command=command or ["python", "scripts/seed003_study.py", *sys.argv[1:]],
                seed=seed, quick=quick, started=started, root=REPO_ROOT, files=("seed003-loss.png",))
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "seed003", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
