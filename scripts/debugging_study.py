"""Seed 004's debugging tips, measured on trained models: dead ReLU units, attention entropy, embedding PCA.

Trains the numbers task (number words -> digits) and the reversal task with the settings of
``scripts/reproduce.py`` (its ``task_spec`` and ``build_model``: the same data, model and trainer,
PyTorch backend), then measures on the test split, for the freshly initialised model and for the
trained one (its best weights):

- **dead ReLU units** per feed-forward layer: units whose pre-activation ``linear1(x)`` is <= 0 at
  every real (non-pad) position of the test split, so their gradient is zero on every example;
- **attention entropy** per layer and head (``transformer_anatomy.viz.reading.head_statistics``):
  the entropy of each query row over the keys it may see, in nats and divided by ln(keys)
  (0: all weight on one key; 1: uniform), averaged over the test split;
- **the token embeddings projected by PCA** (numbers task): the first two principal components of
  the source embeddings of the number words, with the Spearman rank correlation between each
  component and the number's value (do the words line up by magnitude?).

It also records the loss before any update against ln V, the loss of a uniform prediction.

Writes into ``--out`` (default ``docs/results``): ``debugging.json``, ``debugging-relu.png``,
``debugging-entropy.png``, ``debugging-pca.png`` and ``debugging-manifest.json``.

Usage::

    OMP_NUM_THREADS=1 python scripts/debugging_study.py --threads 1     # the study (a few minutes)
    python scripts/debugging_study.py --quick --out /tmp/dbg             # seconds

Page: ``docs/misconceptions.md`` (#debugging-measured).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "src") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "src"))

TASKS = ("numbers", "reversal")
# The number words of the numbers task and the value each names.
NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
NUMBER_WORDS.update({w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())})
NUMBER_WORDS.update({"hundred": 100, "thousand": 1000})


from transformer_anatomy.training.manifest import start_study, study_main  # noqa: E402  (after the sys.path line)

def reproduce_module():
    """``scripts/reproduce.py`` as a module: its task settings and model builder, not a copy."""
    spec = importlib.util.spec_from_file_location("reproduce", REPO_ROOT / "scripts" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# the three measurements
# ---------------------------------------------------------------------------------------------
def dead_relu_units(model, batches) -> dict[str, dict]:
    """Per feed-forward layer: units whose ``linear1`` output is <= 0 at every real position.

    ``batches`` yields ``(inputs, masks)``: the model's inputs and, per stack ("encoder",
    "decoder"), a bool ``(N, L)`` array, True at the real positions of that stack's input.
    Returns layer name -> ``{"units", "dead", "dead_share", "active_share"}`` (``active_share``:
    the mean share of real positions at which a unit is positive).
    """
    import numpy as np
    import torch

    layers = {name: m for name, m in model.named_modules() if hasattr(m, "linear1") and hasattr(m, "activation")}
    seen = {name: None for name in layers}  # name -> (F,) bool: positive somewhere
    positive = {name: 0.0 for name in layers}
    count = {name: 0 for name in layers}
    current: dict[str, np.ndarray] = {}

    def hook(name):
        def record(module, inputs, output):
            h = output.detach().numpy()  # (N, L, F)
            mask = current["decoder" if ".decoder." in f".{name}." else "encoder"]  # (N, L)
            real = h[mask]  # (n real positions, F)
            on = (real > 0).any(0)
            seen[name] = on if seen[name] is None else seen[name] | on
            positive[name] += float((real > 0).sum(0).astype(np.float64).mean()) if len(real) else 0.0
            count[name] += len(real)
        return record

    handles = [m.linear1.register_forward_hook(hook(name)) for name, m in layers.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for inputs, masks in batches:
                current.update(masks)
                model(*[torch.as_tensor(x) for x in inputs])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    out = {}
    for name in layers:
        units = int(seen[name].size)
        dead = int((~seen[name]).sum())
        out[name] = {"units": units, "dead": dead, "dead_share": dead / units,
                     "active_share": positive[name] / max(count[name], 1)}
    return out


def attention_entropy(model, kind: str, split: dict, chunk: int = 250) -> dict[str, dict]:
    """Per attention layer: mean entropy per head (nats, and normalised by ln of the visible keys)."""
    import numpy as np

    from transformer_anatomy.viz import capture_attention
    from transformer_anatomy.viz.reading import head_statistics

    acc: dict[str, dict[str, list]] = {}
    N = len(split["src"])
    for lo in range(0, N, chunk):
        sl = slice(lo, min(lo + chunk, N))
        src, src_len = split["src"][sl], split["src_len"][sl]
        if kind == "seq2seq":
            tgt_in, tgt_len = split["tgt_in"][sl], split["tgt_len"][sl]
            weights = capture_attention(model, src, tgt_in)
        else:
            weights = capture_attention(model, src)
        for name, w in weights.items():
            if name.endswith("multihead_attn"):
                st = head_statistics(w, tgt_len, src_len)
            elif ".decoder." in f".{name}.":
                st = head_statistics(w, tgt_len, tgt_len, causal=True)
            else:
                st = head_statistics(w, src_len, src_len)
            a = acc.setdefault(name, {"entropy": [], "entropy_normalized": []})
            a["entropy"].append(st["entropy"])
            a["entropy_normalized"].append(st["entropy_normalized"])
    out = {}
    for name, a in sorted(acc.items()):
        e = np.concatenate(a["entropy"])  # (N, H)
        en = np.concatenate(a["entropy_normalized"])
        out[name] = {"entropy": np.nanmean(e, 0).tolist(), "entropy_normalized": np.nanmean(en, 0).tolist()}
    return out


def spearman(x, y) -> float:
    """Spearman's rank correlation (no ties in ``x``, ``y`` assumed: ranks by argsort)."""
    import numpy as np

    rx = np.argsort(np.argsort(np.asarray(x))).astype(np.float64)
    ry = np.argsort(np.argsort(np.asarray(y))).astype(np.float64)
    return float(np.corrcoef(rx, ry)[0, 1])


def embedding_pca(weight, vocab, words: dict[str, int], k: int = 2) -> dict:
    """The rows of ``weight`` for ``words`` projected on their first ``k`` principal components.

    Returns the coordinates, the explained variance ratios and, per component, Spearman's rank
    correlation with the words' values: on all words, and on ``one`` .. ``nine`` alone.
    """
    import numpy as np

    names = [w for w in words if w in vocab.word2idx]
    X = np.asarray(weight, dtype=np.float64)[[vocab.word2idx[w] for w in names]]  # (n words, E)
    Xc = X - X.mean(0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    coords = Xc @ vt[:k].T  # (n words, k)
    values = [words[w] for w in names]
    units = [i for i, w in enumerate(names) if 1 <= words[w] <= 9]
    return {"words": names, "values": values, "coords": coords.tolist(),
            "explained_variance_ratio": (s[:k] ** 2 / (s ** 2).sum()).tolist(),
            "spearman_all": [spearman(coords[:, j], values) for j in range(k)],
            "spearman_units": [spearman(coords[units, j], [values[i] for i in units]) for j in range(k)]}


def stack_masks(kind: str, split: dict, lo: int, hi: int):
    """The model inputs of examples ``lo:hi`` and the real-position masks of each stack."""
    src = split["src"][lo:hi]
    masks = {"encoder": src != 0}
    if kind == "seq2seq":
        tgt_in = split["tgt_in"][lo:hi]
        masks["decoder"] = tgt_in != 0
        return (src, tgt_in), masks
    return (src,), masks


def measure(model, kind: str, data, chunk: int = 250) -> dict:
    """Dead units and entropies on the test split (and the PCA for the numbers task)."""
    test = data.split("test")
    N = len(test["src"])
    batches = [stack_masks(kind, test, lo, min(lo + chunk, N)) for lo in range(0, N, chunk)]
    out = {"dead_relu": dead_relu_units(model, batches), "attention_entropy": attention_entropy(model, kind, test)}
    if data.name == "numbers":
        out["embedding_pca"] = embedding_pca(model.src_tok_emb.weight.detach().numpy(), data.src_vocab, NUMBER_WORDS)
    return out


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def relu_figure(result: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2), layout="constrained")
    axes = fig.subplots(1, len(result["tasks"]))
    for ax, (task, r) in zip(axes, result["tasks"].items()):
        names = list(r["trained"]["dead_relu"])
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [r["initial"]["dead_relu"][n]["dead_share"] for n in names], 0.4, label="at initialisation")
        ax.bar([i + 0.2 for i in x], [r["trained"]["dead_relu"][n]["dead_share"] for n in names], 0.4, label="trained")
        ax.set_xticks(list(x), [short(n) for n in names], rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("share of F units dead")
        ax.set_title(task)
    axes[0].legend(fontsize=8)
    return fig


def short(name: str) -> str:
    """``transformer.encoder.layers.1.self_attn`` -> ``enc 1 self_attn``."""
    parts = name.split(".")
    stack = "enc" if "encoder" in parts else "dec"
    i = parts.index("layers")
    rest = " ".join(parts[i + 2:])
    return f"{stack} {parts[i + 1]}{(' ' + rest) if rest else ''}"


def entropy_figure(result: dict):
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, len(result["tasks"]))
    for ax, (task, r) in zip(axes, result["tasks"].items()):
        ent = r["trained"]["attention_entropy"]
        names = list(ent)
        M = np.array([ent[n]["entropy_normalized"] for n in names])  # (layers, H)
        im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_yticks(range(len(names)), [short(n) for n in names], fontsize=8)
        ax.set_xticks(range(M.shape[1]), [str(h) for h in range(M.shape[1])])
        ax.set_xlabel("head")
        ax.set_title(f"{task}: entropy / ln(keys)")
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7, color="white" if M[i, j] < 0.6 else "black")
        fig.colorbar(im, ax=ax, label="0 = one key, 1 = uniform")
    return fig


def pca_figure(result: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, which in zip(axes, ("initial", "trained")):
        p = result["tasks"]["numbers"][which]["embedding_pca"]
        xs = [c[0] for c in p["coords"]]
        ys = [c[1] for c in p["coords"]]
        sc = ax.scatter(xs, ys, c=[math.log10(v + 1) for v in p["values"]], cmap="plasma")
        for w, x, y in zip(p["words"], xs, ys):
            ax.annotate(w, (x, y), fontsize=7, xytext=(2, 2), textcoords="offset points")
        ev = p["explained_variance_ratio"]
        ax.set_xlabel(f"PC 1 ({ev[0]:.0%} of variance)")
        ax.set_ylabel(f"PC 2 ({ev[1]:.0%})")
        ax.set_title(f"{which}: number-word embeddings", fontsize=10)
    fig.colorbar(sc, ax=axes, label="log10(value + 1)")
    return fig


# ---------------------------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------------------------
def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None, progress: bool = True,
              command: list[str] | None = None) -> dict:
    """Train each task, measure before and after, write ``debugging.json``, three figures and the manifest."""
    import torch

    from transformer_anatomy.tasks import make_task
    from transformer_anatomy.training import TorchTrainer, TrainConfig
    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    rp = reproduce_module()

    tasks = {}
    for task in TASKS:
        spec = rp.task_spec(task, quick)
        data = make_task(task, **spec["data"], rng=seed)
        (run_name, model_cls, kind), = rp.MODELS[task]
        model, size = rp.build_model("torch", model_cls, kind, data, spec, seed)
        cfg = TrainConfig(kind=kind, seed=seed, device="cpu", **spec["train"])
        trainer = TorchTrainer(model, data, cfg)
        V = len(data.tgt_vocab)
        initial_loss = trainer.evaluate("valid")["loss"]
        initial = measure(model, kind, data)
        say(f"{task}: initial valid loss {initial_loss:.3f} (ln V = {math.log(V):.3f}); training {cfg.max_steps} steps max")
        trainer.fit()
        trainer.use_best_weights()
        summary = trainer.summary()
        trained = measure(model, kind, data)
        test = trainer.evaluate("test")
        say(f"{task}: trained to step {summary['step']} (best {summary['best_metric']:.3f} at {summary['best_step']}); "
            f"test {test}")
        tasks[task] = {"model": model_cls, "size": size, "train": spec["train"], "data": spec["data"],
                       "V_tgt": V, "ln_V": math.log(V), "initial_valid_loss": initial_loss,
                       "summary": summary, "test_metrics": test, "initial": initial, "trained": trained}

    result = {"seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(),
              "definitions": {
                  "dead_relu": "a feed-forward unit whose linear1 output is <= 0 at every real (non-pad) position of "
                               "the test split (encoder layers: source positions; decoder layers: decoder inputs)",
                  "attention_entropy": "entropy of each query row over the keys it may see (nats); normalised: divided "
                                       "by ln(number of visible keys); mean over real queries and test examples",
                  "embedding_pca": "first two principal components of the source-embedding rows of the number words; "
                                   "Spearman rank correlation of each component with the number's value"},
              "tasks": tasks, "wall_time_s": clock.elapsed()}
    figures = {"debugging-relu.png": relu_figure, "debugging-entropy.png": entropy_figure,
               "debugging-pca.png": pca_figure}
    for name, draw in figures.items():
        draw(result).savefig(out / name, dpi=110, transparent=True)
    write_study(out, "debugging", result, command=command or ["python", "scripts/debugging_study.py", *sys.argv[1:]],
                seed=seed, quick=quick, started=started, root=REPO_ROOT, files=tuple(figures))
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "debugging", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
