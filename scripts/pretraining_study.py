"""Pre-train a small BERT on the Python help topics, fine-tune it on sentiment, measure the tips.

Writes into ``--out`` (default ``docs/results``):

- ``pretraining.json``: the pre-training curve and held-out MLM loss/accuracy, the tokenizer
  and its coverage of the sentiment words, the keys ``from_pretrained`` reported missing,
  accuracy against the number of labels (pre-trained and from scratch), and the three
  fine-tuning tips (learning rate, frozen layers, per-layer learning rates);
- ``pretraining-loss.png``, ``pretraining-labels.png``, ``pretraining-tips.png``;
- ``pretraining-manifest.json``: versions, seed, device, threads, git commit, command, times.

Usage::

    OMP_NUM_THREADS=1 python scripts/pretraining_study.py --threads 1          # the study (minutes)
    python scripts/pretraining_study.py --quick --out /tmp/pre                  # under a minute

Page: ``docs/pretraining.md``. Library: ``transformer_anatomy.training.pretraining``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

FIGURES = ("pretraining-loss.png", "pretraining-labels.png", "pretraining-tips.png")

# What each mode runs. quick: a smoke run of every step (seconds); full: the study on the page.
SETTINGS = {
    "full": {"size": {"d_model": 64, "num_layers": 2, "nhead": 4, "dim_feedforward": 256, "max_len": 32},
             "seq_len": 32, "pretrain_steps": 1200, "pretrain_batch": 32, "pretrain_lr": 1e-3, "warmup": 80,
             "eval_every": 100, "heldout_blocks": 320,
             "finetune_steps": 600, "finetune_batch": 32, "n_labels": [50, 200, 1000, None], "label_seeds": [0, 1],
             "sweep_labels": 1000, "lrs": [3e-3, 1e-3, 3e-4, 1e-4], "decays": [1.0, 0.5, 0.25],
             "task": {"n_train": 8000, "n_valid": 1000, "n_test": 1000}},
    "quick": {"size": {"d_model": 32, "num_layers": 2, "nhead": 2, "dim_feedforward": 64, "max_len": 16},
              "seq_len": 16, "pretrain_steps": 30, "pretrain_batch": 16, "pretrain_lr": 1e-3, "warmup": 5,
              "eval_every": 15, "heldout_blocks": 64,
              "finetune_steps": 20, "finetune_batch": 16, "n_labels": [50, None], "label_seeds": [0],
              "sweep_labels": 50, "lrs": [1e-3, 1e-4], "decays": [1.0, 0.5],
              "task": {"n_train": 300, "n_valid": 100, "n_test": 100}},
}


from transformer_anatomy.training.manifest import start_study, study_main  # noqa: E402  (after the sys.path line)

def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None) -> dict:
    """Run the whole study, write its JSON, figures and manifest into ``out``; return the JSON.

    ``command`` is recorded in the manifest (default: this script with the same arguments).
    """
    import torch
    from transformers.utils import logging as hf_logging

    from transformer_anatomy.training import pretraining as P

    hf_logging.set_verbosity_error()  # the "newly initialized weights" notice: we report the keys ourselves
    hf_logging.disable_progress_bar()
    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    cfg = SETTINGS["quick" if quick else "full"]

    corpus = prepare_corpus(cfg, seed, say)
    mlm, pre = pretrain_mlm(corpus, cfg, seed, say)
    task = sentiment_inputs(corpus["tok"], cfg, seed, say)
    with tempfile.TemporaryDirectory() as folder:
        mlm.save_pretrained(folder)
        _, missing = P.classifier_from_pretrained(folder, num_labels=task["num_labels"], vocab_size=len(corpus["tok"]))
        tables = finetune_tables(FineTuner(folder, task, cfg, seed, say))
    result = {"command": None,  # filled by the caller's manifest
              "seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(), "settings": cfg,
              **describe(corpus, task, cfg, mlm, pre, missing, tables), "wall_time_s": clock.elapsed()}
    for name, plot in zip(FIGURES, (P.plot_pretraining, P.plot_labels, P.plot_tips)):
        plot(result).savefig(out / name, format="png", dpi=110, metadata={"Software": None})
    if command is None:
        command = ["python", "scripts/pretraining_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    result["wall_time_s"] = clock.elapsed()
    write_outputs(out, result, command, started)
    return result


def prepare_corpus(cfg: dict, seed: int, say) -> dict:
    """The help topics split into pre-training and held-out ones, the tokenizer, the MLM blocks."""
    from transformer_anatomy.training import pretraining as P

    docs = P.load_corpus()
    train_names, held_names = P.split_corpus(docs, 0.1, seed)
    tok = P.WordTokenizer.build([docs[n] for n in train_names])
    blocks = P.mlm_blocks(tok, [docs[n] for n in train_names], cfg["seq_len"])
    heldout = P.mlm_blocks(tok, [docs[n] for n in held_names], cfg["seq_len"])[: cfg["heldout_blocks"]]
    say(f"corpus: {len(train_names)} topics for pre-training, {len(held_names)} held out; V = {len(tok)}; "
        f"{len(blocks)} blocks of {cfg['seq_len']}")
    return {"docs": docs, "train_names": train_names, "held_names": held_names, "tok": tok, "base_vocab": len(tok),
            "blocks": blocks, "heldout": heldout,
            "heldout_unk": float((heldout >= len(P.SPECIALS)).float().mean())}  # share of ordinary tokens


def pretrain_mlm(corpus: dict, cfg: dict, seed: int, say):
    """A fresh small BERT, pre-trained with masked language modelling; the model and its curves."""
    from transformers import BertForMaskedLM

    from transformer_anatomy.training import pretraining as P
    from transformer_anatomy.training import seed_everything

    V = corpus["base_vocab"]
    seed_everything(seed)
    mlm = BertForMaskedLM(P.bert_config(V, P.ModelSize(**cfg["size"])))
    initial = P.mlm_evaluate(mlm, corpus["heldout"], V)
    pt = P.pretrain(mlm, corpus["blocks"], corpus["heldout"], V, steps=cfg["pretrain_steps"],
                    batch_size=cfg["pretrain_batch"], lr=cfg["pretrain_lr"], warmup=cfg["warmup"], seed=seed,
                    eval_every=cfg["eval_every"],
                    callback=lambda e: say(f"pre-training step {e['step']}: batch loss {e['train_loss']:.3f}, held-out "
                                           f"loss {e['heldout_loss']:.3f}, accuracy {e['heldout_accuracy']:.3f}"))
    say(f"pre-training done in {pt['time_s']:.0f} s: held-out loss {pt['heldout'][-1]['loss']:.3f}")
    return mlm, {"initial": initial, **pt}


def sentiment_inputs(tok, cfg: dict, seed: int, say) -> dict:
    """The sentiment task through the pre-training tokenizer (its unseen words added to it)."""
    import torch

    from transformer_anatomy.tasks import make_sentiment_task
    from transformer_anatomy.training import pretraining as P

    data = make_sentiment_task(**cfg["task"], rng=seed)
    words = {s: P.sentiment_sentences(data, s) for s in ("train", "valid", "test")}
    cov = P.coverage(tok, words["train"][0])
    added = tok.add_tokens(cov["missing"])  # the task's unseen words get new (random) embedding rows
    say(f"sentiment: {cov['token_coverage']:.1%} of word occurrences known; {added} words added")
    return {"num_labels": len(data.label_names), "coverage": cov, "added": added, "vocab_size": len(tok),
            "ids": {s: P.encode_batch(tok, w) for s, (w, _) in words.items()},
            "labels": {s: torch.as_tensor(y, dtype=torch.long) for s, (_, y) in words.items()}}


class FineTuner:
    """Fine-tuning runs on the sentiment task, each run once (a run two tables share is reused)."""

    def __init__(self, folder: str, task: dict, cfg: dict, seed: int, say) -> None:
        self.folder, self.task, self.cfg, self.seed, self.say = folder, task, cfg, seed, say
        self.n_train = len(task["ids"]["train"])
        self.cache: dict[tuple, dict] = {}

    def __call__(self, init: str, n_labels: int | None, lr: float, freeze: int = 0, decay: float = 1.0,
                 rep: int = 0) -> dict:
        key = (init, n_labels or self.n_train, lr, freeze, decay, rep)
        if key not in self.cache:
            self.cache[key] = self.run(*key)
        return self.cache[key]

    def run(self, init: str, n_labels: int, lr: float, freeze: int = 0, decay: float = 1.0, rep: int = 0) -> dict:
        """One fine-tuning run; ``rep`` > 0 repeats it with another subset, head and data order."""
        import numpy as np
        import torch
        from transformers import BertForSequenceClassification

        from transformer_anatomy.training import pretraining as P
        from transformer_anatomy.training import seed_everything

        ids, labels, C, cfg = self.task["ids"], self.task["labels"], self.task["num_labels"], self.cfg
        run_seed = self.seed + 1000 * rep
        seed_everything(run_seed)
        if init == "pretrained":
            model, _ = P.classifier_from_pretrained(self.folder, C, vocab_size=self.task["vocab_size"])
        else:
            model = BertForSequenceClassification(P.bert_config(self.task["vocab_size"], P.ModelSize(**cfg["size"]), C))
        order = np.random.default_rng(run_seed).permutation(self.n_train)  # the same subsets for both inits
        pick = torch.as_tensor(order[:n_labels])
        r = P.finetune(model, ids["train"][pick], labels["train"][pick], ids["valid"], labels["valid"],
                       steps=cfg["finetune_steps"], batch_size=cfg["finetune_batch"], lr=lr, freeze=freeze,
                       layer_decay=decay, seed=run_seed)
        row = {"init": init, "n_labels": len(pick), "lr": lr, "frozen_layers": freeze, "decay": decay,
               "seed": run_seed, "valid_accuracy": r["accuracy"],
               "accuracy": P.classify_accuracy(model, ids["test"], labels["test"]),
               "trainable_params": r["trainable_params"], "ms_per_step": r["ms_per_step"]}
        self.say(f"fine-tune {init:10s} labels {row['n_labels']:5d} lr {lr:.0e} frozen {freeze} decay {decay}: "
                 f"valid {row['valid_accuracy']:.3f}, test {row['accuracy']:.3f} ({r['ms_per_step']:.0f} ms/step)")
        return row


def finetune_tables(tune: FineTuner) -> dict:
    """The three tips (learning rate, frozen layers, per-layer decay) and accuracy against labels."""
    import numpy as np

    cfg, n_sweep = tune.cfg, tune.cfg["sweep_labels"]
    # tip 1: the learning rate, at one number of labels; each init keeps the rate with the best mean
    # validation accuracy over the label subsets (``label_seeds``). One subset alone is a noisy
    # judge: a rate at the edge of diverging can win on one subset and fall to chance on the next
    # (seen when torch's float sums changed with the CPU). A row holds the first subset's run, as
    # the other tips' rows, and the mean it was chosen by.
    lr_rows = []
    for init in ("pretrained", "scratch"):
        for lr in cfg["lrs"]:
            reps = [tune(init, n_sweep, lr, rep=k) for k in cfg["label_seeds"]]
            valid = [r["valid_accuracy"] for r in reps]
            lr_rows.append({**reps[0], "valid_accuracies": valid, "valid_accuracy_mean": float(np.mean(valid)),
                            "seeds": [r["seed"] for r in reps]})
    best_lr = {init: max((r for r in lr_rows if r["init"] == init), key=lambda r: r["valid_accuracy_mean"])["lr"]
               for init in ("pretrained", "scratch")}
    label_rows = []  # accuracy against labels, each init at its best learning rate
    for n in cfg["n_labels"]:
        for init in ("pretrained", "scratch"):
            reps = [tune(init, n, best_lr[init], rep=k) for k in cfg["label_seeds"]]
            acc = [r["accuracy"] for r in reps]
            label_rows.append({"init": init, "n_labels": reps[0]["n_labels"], "lr": best_lr[init],
                               "accuracy_mean": float(np.mean(acc)), "accuracy_min": min(acc),
                               "accuracy_max": max(acc), "accuracies": acc, "seeds": [r["seed"] for r in reps]})
    # tips 2 and 3 on the pre-trained model at its best learning rate
    layers = cfg["size"]["num_layers"]
    freeze_rows = [tune("pretrained", n_sweep, best_lr["pretrained"], k) for k in range(layers + 1)]
    decay_rows = [tune("pretrained", n_sweep, best_lr["pretrained"], 0, d) for d in cfg["decays"]]
    return {"lr_rows": lr_rows, "best_lr": best_lr, "label_rows": label_rows, "freeze_rows": freeze_rows,
            "decay_rows": decay_rows, "n_sweep": n_sweep}


def describe(corpus: dict, task: dict, cfg: dict, mlm, pre: dict, missing: list, tables: dict) -> dict:
    """The study's JSON fields (everything but seed, settings and times)."""
    import numpy as np

    from transformer_anatomy.training import pretraining as P
    from transformer_anatomy.training.manifest import versions

    docs, train_names, held_names, V = corpus["docs"], corpus["train_names"], corpus["held_names"], corpus["base_vocab"]
    best_lr, n_sweep, test_labels = tables["best_lr"], tables["n_sweep"], task["labels"]["test"].numpy()
    return {
        "corpus": {"source": "pydoc_data.topics", "topics": len(docs), "chars": sum(map(len, docs.values())),
                   "pretraining_topics": len(train_names), "heldout_topics": held_names,
                   "pretraining_chars": sum(len(docs[n]) for n in train_names),
                   "heldout_chars": sum(len(docs[n]) for n in held_names),
                   "pretraining_tokens": int(corpus["blocks"].numel()), "blocks": len(corpus["blocks"]),
                   "heldout_blocks": len(corpus["heldout"]), "heldout_known_share": corpus["heldout_unk"]},
        "tokenizer": {"vocab_size": V, "min_freq": 2, "specials": list(P.SPECIALS),
                      "vocab_size_with_task_words": task["vocab_size"], "added_task_words": task["added"]},
        "coverage": task["coverage"],
        "model": {**cfg["size"], "params_mlm": P.count_params(mlm), "ln_V": P.initial_loss_check(V)},
        "pretraining": {"train_loss": pre["train_loss"], "heldout": pre["heldout"], "initial_heldout": pre["initial"],
                        "ln_V": P.initial_loss_check(V), "time_s": pre["time_s"],
                        "ms_per_step": 1000 * pre["time_s"] / cfg["pretrain_steps"]},
        "from_pretrained": {"missing_keys": missing},
        "labels": {"rows": tables["label_rows"],
                   "majority": float(max(np.mean(test_labels == c) for c in range(task["num_labels"]))),
                   "best_lr": best_lr, "n_train": len(task["ids"]["train"])},
        "tips": {"lr": {"rows": tables["lr_rows"], "n_labels": n_sweep, "pretraining_lr": cfg["pretrain_lr"]},
                 "freeze": {"rows": tables["freeze_rows"], "n_labels": n_sweep, "lr": best_lr["pretrained"]},
                 "discriminative": {"rows": tables["decay_rows"], "n_labels": n_sweep, "lr": best_lr["pretrained"]}},
        "versions": versions(("transformers",)),
    }


def write_outputs(out: Path, result: dict, command: list[str], started: float) -> None:
    """``pretraining.json`` and this study's own manifest, ``pretraining-manifest.json``."""
    from transformer_anatomy.training.manifest import write_study

    write_study(out, "pretraining", result, command=command, seed=result["seed"], quick=result["quick"],
                started=started, root=REPO_ROOT, files=FIGURES, device=result["device"],
                extra_versions=("transformers",), extra={"threads": result["threads"]})


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "pretraining", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
