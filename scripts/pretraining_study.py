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

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

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


def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None) -> dict:
    """Run the whole study, write its JSON, figures and manifest into ``out``; return the JSON.

    ``command`` is recorded in the manifest (default: this script with the same arguments).
    """
    import numpy as np
    import torch
    from transformers import BertForMaskedLM, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    from transformer_anatomy.tasks import make_sentiment_task
    from transformer_anatomy.training import pretraining as P
    from transformer_anatomy.training import seed_everything

    hf_logging.set_verbosity_error()  # the "newly initialized weights" notice: we report the keys ourselves
    hf_logging.disable_progress_bar()
    if threads is not None:
        torch.set_num_threads(threads)
    started, t_start = time.time(), time.perf_counter()
    cfg = SETTINGS["quick" if quick else "full"]
    size = P.ModelSize(**cfg["size"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", flush=True)

    # ---- corpus, tokenizer, blocks
    docs = P.load_corpus()
    train_names, held_names = P.split_corpus(docs, 0.1, seed)
    tok = P.WordTokenizer.build([docs[n] for n in train_names])
    base_vocab = len(tok)
    blocks = P.mlm_blocks(tok, [docs[n] for n in train_names], cfg["seq_len"])
    heldout = P.mlm_blocks(tok, [docs[n] for n in held_names], cfg["seq_len"])[: cfg["heldout_blocks"]]
    heldout_unk = float((heldout >= len(P.SPECIALS)).float().mean())  # share of ordinary tokens (not [UNK])
    say(f"corpus: {len(train_names)} topics for pre-training, {len(held_names)} held out; V = {base_vocab}; "
        f"{len(blocks)} blocks of {cfg['seq_len']}")

    # ---- pre-training
    seed_everything(seed)
    mlm = BertForMaskedLM(P.bert_config(base_vocab, size))
    initial = P.mlm_evaluate(mlm, heldout, base_vocab)
    pt = P.pretrain(mlm, blocks, heldout, base_vocab, steps=cfg["pretrain_steps"], batch_size=cfg["pretrain_batch"],
                    lr=cfg["pretrain_lr"], warmup=cfg["warmup"], seed=seed, eval_every=cfg["eval_every"],
                    callback=lambda e: say(f"pre-training step {e['step']}: batch loss {e['train_loss']:.3f}, held-out "
                                           f"loss {e['heldout_loss']:.3f}, accuracy {e['heldout_accuracy']:.3f}"))
    say(f"pre-training done in {pt['time_s']:.0f} s: held-out loss {pt['heldout'][-1]['loss']:.3f}")

    # ---- the sentiment task through the pre-training tokenizer
    data = make_sentiment_task(**cfg["task"], rng=seed)
    words = {s: P.sentiment_sentences(data, s) for s in ("train", "valid", "test")}
    cov = P.coverage(tok, words["train"][0])
    added = tok.add_tokens(cov["missing"])  # the task's unseen words get new (random) embedding rows
    ids = {s: P.encode_batch(tok, w) for s, (w, _) in words.items()}
    labels = {s: torch.as_tensor(y, dtype=torch.long) for s, (_, y) in words.items()}
    say(f"sentiment: {cov['token_coverage']:.1%} of word occurrences known; {added} words added")

    with tempfile.TemporaryDirectory() as folder:
        mlm.save_pretrained(folder)
        _, missing = P.classifier_from_pretrained(folder, num_labels=len(data.label_names), vocab_size=len(tok))
        n_train = len(ids["train"])

        def run(init: str, n_labels: int, lr: float, freeze: int = 0, decay: float = 1.0, rep: int = 0) -> dict:
            """One fine-tuning run; ``rep`` > 0 repeats it with another subset, head and data order."""
            run_seed = seed + 1000 * rep
            seed_everything(run_seed)
            if init == "pretrained":
                model, _ = P.classifier_from_pretrained(folder, len(data.label_names), vocab_size=len(tok))
            else:
                model = BertForSequenceClassification(P.bert_config(len(tok), size, len(data.label_names)))
            order = np.random.default_rng(run_seed).permutation(n_train)  # the same subsets for both inits
            pick = torch.as_tensor(order[:n_labels])
            r = P.finetune(model, ids["train"][pick], labels["train"][pick], ids["valid"], labels["valid"],
                           steps=cfg["finetune_steps"], batch_size=cfg["finetune_batch"], lr=lr, freeze=freeze,
                           layer_decay=decay, seed=run_seed)
            row = {"init": init, "n_labels": len(pick), "lr": lr, "frozen_layers": freeze, "decay": decay,
                   "seed": run_seed,
                   "valid_accuracy": r["accuracy"], "accuracy": P.classify_accuracy(model, ids["test"], labels["test"]),
                   "trainable_params": r["trainable_params"], "ms_per_step": r["ms_per_step"]}
            say(f"fine-tune {init:10s} labels {row['n_labels']:5d} lr {lr:.0e} frozen {freeze} decay {decay}: "
                f"valid {row['valid_accuracy']:.3f}, test {row['accuracy']:.3f} ({r['ms_per_step']:.0f} ms/step)")
            return row

        cache: dict[tuple, dict] = {}

        def cached(init: str, n_labels: int | None, lr: float, freeze: int = 0, decay: float = 1.0,
                   rep: int = 0) -> dict:
            key = (init, n_labels or n_train, lr, freeze, decay, rep)  # a run shared by two tables runs once
            if key not in cache:
                cache[key] = run(*key)
            return cache[key]

        # tip 1: the learning rate, at one number of labels; each init keeps its best (on valid)
        n_sweep = cfg["sweep_labels"]
        lr_rows = [cached(init, n_sweep, lr) for init in ("pretrained", "scratch") for lr in cfg["lrs"]]
        best_lr = {init: max((r for r in lr_rows if r["init"] == init), key=lambda r: r["valid_accuracy"])["lr"]
                   for init in ("pretrained", "scratch")}
        # accuracy against labels, each init at its best learning rate
        label_rows = []
        for n in cfg["n_labels"]:
            for init in ("pretrained", "scratch"):
                reps = [cached(init, n, best_lr[init], rep=k) for k in cfg["label_seeds"]]
                acc = [r["accuracy"] for r in reps]
                label_rows.append({"init": init, "n_labels": reps[0]["n_labels"], "lr": best_lr[init],
                                   "accuracy_mean": float(np.mean(acc)), "accuracy_min": min(acc),
                                   "accuracy_max": max(acc), "accuracies": acc,
                                   "seeds": [r["seed"] for r in reps]})
        # tips 2 and 3 on the pre-trained model at its best learning rate
        freeze_rows = [cached("pretrained", n_sweep, best_lr["pretrained"], k) for k in range(size.num_layers + 1)]
        decay_rows = [cached("pretrained", n_sweep, best_lr["pretrained"], 0, d) for d in cfg["decays"]]

    import matplotlib
    import transformers

    result = {
        "command": None,  # filled by the caller's manifest
        "seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(),
        "settings": cfg,
        "corpus": {"source": "pydoc_data.topics", "topics": len(docs), "chars": sum(map(len, docs.values())),
                   "pretraining_topics": len(train_names), "heldout_topics": held_names,
                   "pretraining_chars": sum(len(docs[n]) for n in train_names),
                   "heldout_chars": sum(len(docs[n]) for n in held_names),
                   "pretraining_tokens": int(blocks.numel()), "blocks": len(blocks),
                   "heldout_blocks": len(heldout), "heldout_known_share": heldout_unk},
        "tokenizer": {"vocab_size": base_vocab, "min_freq": 2, "specials": list(P.SPECIALS),
                      "vocab_size_with_task_words": len(tok), "added_task_words": added},
        "coverage": cov,
        "model": {**cfg["size"], "params_mlm": P.count_params(mlm), "ln_V": P.initial_loss_check(base_vocab)},
        "pretraining": {"train_loss": pt["train_loss"], "heldout": pt["heldout"], "initial_heldout": initial,
                        "ln_V": P.initial_loss_check(base_vocab), "time_s": pt["time_s"],
                        "ms_per_step": 1000 * pt["time_s"] / cfg["pretrain_steps"]},
        "from_pretrained": {"missing_keys": missing},
        "labels": {"rows": label_rows, "majority": float(max(np.mean(labels["test"].numpy() == c)
                                                             for c in range(len(data.label_names)))),
                   "best_lr": best_lr, "n_train": len(ids["train"])},
        "tips": {"lr": {"rows": lr_rows, "n_labels": n_sweep, "pretraining_lr": cfg["pretrain_lr"]},
                 "freeze": {"rows": freeze_rows, "n_labels": n_sweep, "lr": best_lr["pretrained"]},
                 "discriminative": {"rows": decay_rows, "n_labels": n_sweep, "lr": best_lr["pretrained"]}},
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                     "transformers": transformers.__version__, "matplotlib": matplotlib.__version__},
        "wall_time_s": time.perf_counter() - t_start,
    }
    figures = {"pretraining-loss.png": P.plot_pretraining, "pretraining-labels.png": P.plot_labels,
               "pretraining-tips.png": P.plot_tips}
    for name, plot in figures.items():
        plot(result).savefig(out / name, format="png", dpi=110, metadata={"Software": None})
    if command is None:
        command = ["python", "scripts/pretraining_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    result["wall_time_s"] = time.perf_counter() - t_start
    write_outputs(out, result, command, started)
    return result


def git_state() -> dict:
    def git(*cmd):
        try:
            return subprocess.run(["git", *cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20,
                                  check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    # As reproduce.py: results under docs/results (the tasks' run just before) are not code changes.
    status = git("status", "--porcelain", "--", ".", ":(exclude)docs/results")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def write_outputs(out: Path, result: dict, command: list[str], started: float) -> None:
    """``pretraining.json`` and this study's own manifest, ``pretraining-manifest.json``."""
    def iso(t):
        import datetime

        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")

    result["command"] = " ".join(command)
    (out / "pretraining.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    manifest = {"command": result["command"], "seed": result["seed"], "quick": result["quick"],
                "device": result["device"], "threads": result["threads"], "versions": result["versions"],
                "git": git_state(), "started": iso(started), "finished": iso(time.time()),
                "wall_time_s": result["wall_time_s"],
                "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
                "results": {name: {"written": iso(time.time())} for name in
                            ("pretraining.json", "pretraining-loss.png", "pretraining-labels.png",
                             "pretraining-tips.png")}}
    (out / "pretraining-manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results",
                        help="folder for pretraining.json, its figures and manifest (default: docs/results)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every step, under a minute")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the model and the data order")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="print nothing while running")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"argument --threads: must be >= 1, got {args.threads}")
    if args.seed < 0:
        parser.error(f"argument --seed: must be >= 0, got {args.seed}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"argument --out: {args.out} exists and is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = ["python", "scripts/pretraining_study.py", *(sys.argv[1:] if argv is None else argv)]
    result = run_study(args.out, quick=args.quick, seed=args.seed, threads=args.threads, progress=args.progress,
                       command=command)
    if args.progress:
        print(f"wrote pretraining.json, three figures and pretraining-manifest.json to {args.out} "
              f"in {result['wall_time_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
