"""It must learn: the GPT-2- and the Llama-style model, in NumPy and in PyTorch, trained as
character-level language models on the Python help topics, beside n-gram baselines.

The data is ``transformer_anatomy.tasks.language_model``: ``pydoc_data.topics`` split by
topic into train / valid / test (about 80 / 10 / 10 % of the characters), characters as
tokens, ``<eos>`` between topics. Four runs, the same data, batches (one seeded stream of
random windows), sizes, optimizer (AdamW, gradient clipping at 1.0) and schedule (linear
warmup, cosine decay) for all:

========================  =====================================================================
run                       model
========================  =====================================================================
``gpt2-numpy``            ``transformer_anatomy.numpy.gpt2.GPT2LMHeadModel``, hand-written backward
``gpt2-torch``            ``transformer_anatomy.torch.gpt2.GPT2LMHeadModel``, autograd
``llama-numpy``           ``transformer_anatomy.numpy.llama.LlamaForCausalLM``
``llama-torch``           ``transformer_anatomy.torch.llama.LlamaForCausalLM``
========================  =====================================================================

Each NumPy model starts from its torch twin's initial weights (``torch.manual_seed(seed)``,
copied with ``load_state_dict``), so the two backends of a family differ only by how they
compute (float32 rounding, the order of sums); NumPy uses ``numpy.optim.AdamW``,
``numpy.optim.clip_grad_norm_``, ``numpy.loss.CrossEntropyLoss`` and ``model.backward``.
The full study trains two runs at a time, each in its own process with one thread: measured
on the 2-core machine at the full study's sizes (median ms per training step, otherwise idle),
a second thread makes one run 1.13x faster in NumPy (185 -> 163 ms, Llama) and 1.7x in torch
(86 -> 52 ms), while two one-thread runs side by side each keep their one-thread speed (168 and
78 ms): 2x the throughput.

Writes into ``--out`` (default ``docs/results``):

- ``lm.json``: the results (schema below);
- ``lm-manifest.json``: versions, seed, hardware, threads, git commit, command, times;
- ``models/lm.pt``: the trained model of the ``llama-torch`` run (:data:`SAVED_RUN`, the torch
  run of the family with the lower held-out loss in the committed study), written with
  ``transformer_anatomy.torch.trained.save_trained`` (final weights, loadable with
  ``load_trained``; its prompts up to half the context, then up to
  ``trained.MAX_NEW_TOKENS`` generated characters): the model the browser playground runs.

Schema of ``lm.json`` (losses in nats per character, ``*_bits`` = nats / ln 2; a "character"
is one target id: a character of a topic, or the ``<eos>`` after it)::

    command, seed, quick, device ("cpu"), threads, wall_time_s, load_average
    settings: the SETTINGS entry of the mode: model sizes, block_size T, batch_size N, steps,
              lr, warmup, min_lr_ratio, weight_decay, betas, clip, eval_every, curve_windows,
              eval_batch, sample_chars, prompt_chars, workers, sample_settings, baseline_orders
    data: LanguageModelData.describe() without the vocabulary list: source, python, sha256,
          chars, vocab_size, specials, boundary, splits {train|valid|test: topics, num_topics,
          chars, char_fraction, stream_length, targets}, coverage, params
    vocab: the vocabulary in id order (specials first)
    baselines: tasks.language_model.ngram_baselines, orders 1-5: {uniform|unigram|bigram|trigram|
          4-gram|5-gram: {order, alphas, valid: {nats_per_char, bits_per_char}, test: {...},
          valid_by_alpha: [[alpha, nats], ...]}}, grid, smoothing
    runs: {gpt2-numpy|gpt2-torch|llama-numpy|llama-torch: {
          family, backend, class, model (constructor arguments), num_parameters,
          init ("torch.manual_seed(seed)", copied into NumPy), steps, tokens_seen, epochs,
          ms_per_step (training steps only: forward, backward, clipping, optimizer),
          train_seconds, wall_time_s (whole run: build, training, evaluation, samples),
          valid: {nats_per_char, bits_per_char}, test: {...}   (final weights, every target),
          trained_model (the saved run only): {file, bytes, num_params, class},
          curve: [{step, train_loss (mean over the steps since the last point), valid_loss
                   (on curve_windows fixed validation windows), seconds (since the run
                   started), train_seconds (training steps only)}],
          samples: [{name, settings, seed, text}] }}
    best_run: the run with the lowest validation loss
    samples: {run, prompt, chars, how, items: [{name, settings (generate's arguments), seed,
              text (the prompt excluded)}]}  - the best run's samples
    summary: {runs: {run: {valid_bits, test_bits}}, baselines: {name: test_bits}, beats_trigram: {run: bool},
              beats_5gram: {run: bool}, numpy_vs_torch_ms_ratio: {family: numpy ms / torch ms},
              numpy_vs_torch_loss: {family: {max_abs_train_loss_diff, max_abs_valid_loss_diff (over the
              curve), test_nats_diff (numpy - torch)}}}

Samples are made with ``model.generate`` (KV cache) in chunks: the model's context is
``block_size`` positions, so each call continues the last ``block_size // 2`` characters by up
to ``block_size // 2`` new ones, seeded ``seed + chunk``; greedy, temperature 0.5 / 0.8 / 1.0,
and top-p 0.9 (temperature 1.0).

Usage::

    python scripts/lm_study.py                       # the study (under 10 minutes on 2 cores)
    python scripts/lm_study.py --quick --out /tmp/lm # seconds

Page: ``docs/decoder-only.md``. Library: ``transformer_anatomy.tasks.language_model``,
``transformer_anatomy.{numpy,torch}.{gpt2,llama}``.
"""

from __future__ import annotations

import json
import math
import os
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
    "full": {"size": {"hidden": 96, "layers": 3, "heads": 4}, "block_size": 128, "batch_size": 16,
             "steps": 1200, "lr": 2e-3, "warmup": 60, "min_lr_ratio": 0.1, "weight_decay": 0.01,
             "betas": [0.9, 0.99], "clip": 1.0, "eval_every": 100, "curve_windows": 96, "eval_batch": 32,
             "sample_chars": 240, "prompt_chars": 32, "workers": 2},
    "quick": {"size": {"hidden": 32, "layers": 1, "heads": 2}, "block_size": 32, "batch_size": 8,
              "steps": 30, "lr": 3e-3, "warmup": 5, "min_lr_ratio": 0.1, "weight_decay": 0.01,
              "betas": [0.9, 0.99], "clip": 1.0, "eval_every": 10, "curve_windows": 16, "eval_batch": 64,
              "sample_chars": 24, "prompt_chars": 16, "workers": 0},
}
RUNS = (("llama", "numpy"), ("gpt2", "numpy"), ("llama", "torch"), ("gpt2", "torch"))  # longest first
SAMPLE_SETTINGS = (
    ("greedy", {"do_sample": False}),
    ("temperature 0.5", {"do_sample": True, "temperature": 0.5}),
    ("temperature 0.8", {"do_sample": True, "temperature": 0.8}),
    ("temperature 1.0", {"do_sample": True, "temperature": 1.0}),
    ("top-p 0.9", {"do_sample": True, "temperature": 1.0, "top_p": 0.9}),
)
BASELINE_ORDERS = (1, 2, 3, 4, 5)
SAVED_RUN = ("llama", "torch")
"""The run whose trained model is kept as ``<out>/models/lm.pt`` (the playground's language model):
the Llama-style torch run, the lowest held-out loss of the committed study's torch runs."""
SAVED_NAME = "lm"
LN2 = math.log(2.0)


from transformer_anatomy.training.manifest import record_parts, start_study, study_main  # noqa: E402  (after the sys.path line)


# ============================================================================================
# Models
# ============================================================================================
def model_kwargs(family: str, cfg: dict, vocab_size: int) -> dict:
    """The constructor arguments (HF's names) of ``family`` at the size of ``cfg``: the same width,
    depth, heads and context for both; SwiGLU's width ``8E/3`` (rounded up to 8) matches the
    parameters of GPT-2's ``4E`` MLP; each family's own default for tying the head."""
    E, L, H, T = cfg["size"]["hidden"], cfg["size"]["layers"], cfg["size"]["heads"], cfg["block_size"]
    if family == "gpt2":
        return {"vocab_size": vocab_size, "n_embd": E, "n_layer": L, "n_head": H, "n_positions": T,
                "n_inner": 4 * E, "tie_word_embeddings": True}
    return {"vocab_size": vocab_size, "hidden_size": E, "intermediate_size": -(-8 * E // 24) * 8,
            "num_hidden_layers": L, "num_attention_heads": H, "max_position_embeddings": T,
            "tie_word_embeddings": False}


def build(family: str, backend: str, kwargs: dict, seed: int):
    """The model of one run: the torch model after ``torch.manual_seed(seed)``; the NumPy one with
    that model's initial weights copied in (float32)."""
    import numpy as np
    import torch

    if family == "gpt2":
        from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel as TorchModel
    else:
        from transformer_anatomy.torch.llama import LlamaForCausalLM as TorchModel
    torch.manual_seed(seed)
    tm = TorchModel(**kwargs)
    if backend == "torch":
        return tm
    if family == "gpt2":
        from transformer_anatomy.numpy.gpt2 import GPT2LMHeadModel as NumpyModel
    else:
        from transformer_anatomy.numpy.llama import LlamaForCausalLM as NumpyModel
    nm = NumpyModel(**kwargs, dtype=np.float32, rng=seed)
    nm.load_state_dict({k: v.detach().cpu().numpy().copy() for k, v in tm.state_dict().items()})
    return nm


def lr_at(step: int, cfg: dict) -> float:
    """Linear warmup over ``warmup`` steps, then cosine decay to ``min_lr_ratio * lr`` at the last step."""
    lr, warmup, steps = cfg["lr"], cfg["warmup"], cfg["steps"]
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup - 1, 1)
    floor = cfg["min_lr_ratio"] * lr
    return floor + (lr - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class NumpyRun:
    """One NumPy training step and the held-out loss, with the library's optimizer and loss."""

    def __init__(self, model, cfg: dict):
        from transformer_anatomy.numpy.loss import CrossEntropyLoss
        from transformer_anatomy.numpy.optim import AdamW

        self.model = model
        self.opt = AdamW(model.params, lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"])
        self.loss_fn = CrossEntropyLoss()
        self.sum_fn = CrossEntropyLoss(reduction="sum")  # ignore_index -100: the padded tail of a window
        self.clip = cfg["clip"]

    def step(self, x, y, lr: float) -> float:
        from transformer_anatomy.numpy.optim import clip_grad_norm_

        logits = self.model(x)  # (N, T) -> (N, T, V)
        loss = float(self.loss_fn(logits, y))
        self.model.backward(self.loss_fn.backward())  # dlogits (N, T, V) -> model.grads
        grads = self.model.grads
        clip_grad_norm_(grads, self.clip)
        self.opt.lr = lr
        self.opt.step(grads)
        return loss

    def nats(self, x, y) -> float:
        """Summed -ln p of the targets (``-100`` ignored)."""
        return float(self.sum_fn(self.model(x), y))

    def generate(self, ids, **kw):
        import numpy as np

        return np.asarray(self.model.generate(np.asarray(ids, dtype=np.int64), **kw))


class TorchRun:
    """The same step and loss with ``torch.optim.AdamW``, ``clip_grad_norm_`` and ``F.cross_entropy``."""

    def __init__(self, model, cfg: dict):
        import torch

        self.model = model
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                                     weight_decay=cfg["weight_decay"])
        self.clip = cfg["clip"]

    def step(self, x, y, lr: float) -> float:
        import torch
        import torch.nn.functional as F

        x, y = torch.from_numpy(x), torch.from_numpy(y)
        logits = self.model(x)  # (N, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.step()
        return loss.item()

    def nats(self, x, y) -> float:
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            logits = self.model(torch.from_numpy(x))
            return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1),
                                         reduction="sum", ignore_index=-100))

    def generate(self, ids, **kw):
        import numpy as np
        import torch

        return self.model.generate(torch.as_tensor(np.asarray(ids, dtype=np.int64)), **kw).numpy()


def heldout(run, windows, batch: int) -> float:
    """Mean nats per target over evaluation windows ``(x, y)`` (targets ``-100`` not counted)."""
    x, y = windows
    total = sum(run.nats(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch))
    return total / int((y != -100).sum())


def curve_windows(data, cfg: dict):
    """``curve_windows`` validation windows, evenly spaced over the stream: the curves' fixed subset."""
    import numpy as np

    x, y = data.windows("valid", cfg["block_size"])
    idx = np.unique(np.linspace(0, len(x) - 2, cfg["curve_windows"]).round().astype(int))  # never the padded last
    return x[idx], y[idx]


def sample(run, data, prompt: str, n_chars: int, block_size: int, settings: dict, seed: int) -> str:
    """``n_chars`` new characters after ``prompt`` with ``model.generate``, in chunks of at most
    ``block_size // 2`` new ids after the last ``block_size // 2`` (the model's context is ``block_size``)."""
    import numpy as np

    ids = list(data.encode(prompt))
    half = max(block_size // 2, 1)
    new = 0
    chunk = 0
    while new < n_chars:
        window = ids[-half:]
        k = min(n_chars - new, block_size - len(window))
        out = run.generate(np.array([window]), max_new_tokens=k, seed=seed + chunk, **settings)
        ids.extend(int(t) for t in out[0, len(window):])
        new += k
        chunk += 1
    return data.decode(ids[len(ids) - n_chars:])


def save_model(model, data, kwargs: dict, path) -> dict:
    """``transformer_anatomy.torch.trained.save_trained`` of a trained torch LM; its record
    (file, bytes, parameters, class), as ``scripts/reproduce.py`` keeps the task models."""
    from transformer_anatomy.torch.trained import MAX_NEW_TOKENS, save_trained

    path = Path(path)
    model_args = {k: v for k, v in kwargs.items() if k != "vocab_size"}  # the vocabulary size is read off the model
    block = kwargs.get("max_position_embeddings", kwargs.get("n_positions"))
    new = min(MAX_NEW_TOKENS, block // 2)  # the playground's continuation: at most half the context
    save_trained(path, model, data, model_kwargs=model_args, task=SAVED_NAME, max_new_tokens=new)
    cls = type(model)
    return {"file": f"models/{path.name}", "bytes": path.stat().st_size, "num_params": int(model.num_parameters()),
            "class": f"{cls.__module__}.{cls.__name__}"}


def train_run(family: str, backend: str, cfg: dict, seed: int, say=None, model_out=None) -> dict:
    """Build, train, evaluate and sample one run (in this process, on this process's threads).

    ``model_out``: a path to keep the trained torch model at (:func:`save_model`; ``None``: not kept)."""
    import numpy as np

    from transformer_anatomy.tasks.language_model import make_language_model_data

    t_start = time.perf_counter()
    data = make_language_model_data(seed=seed)
    kwargs = model_kwargs(family, cfg, data.vocab_size)
    model = build(family, backend, kwargs, seed)
    run = (NumpyRun if backend == "numpy" else TorchRun)(model, cfg)
    cw = curve_windows(data, cfg)
    rng = np.random.default_rng(seed)  # the batches: the same stream of windows for every run
    curve, train_time, recent = [], 0.0, []
    for step in range(cfg["steps"]):
        x, y = data.batch("train", cfg["batch_size"], cfg["block_size"], rng)
        t0 = time.perf_counter()
        recent.append(run.step(x, y, lr_at(step, cfg)))
        train_time += time.perf_counter() - t0
        if (step + 1) % cfg["eval_every"] == 0 or step + 1 == cfg["steps"]:
            v = heldout(run, cw, cfg["eval_batch"])
            curve.append({"step": step + 1, "train_loss": float(np.mean(recent)), "valid_loss": v,
                          "seconds": time.perf_counter() - t_start, "train_seconds": train_time})
            recent = []
            if say is not None:
                say(f"{family}-{backend} step {step + 1}: train {curve[-1]['train_loss']:.3f}, valid {v:.3f} nats")
    final = {}
    for split in ("valid", "test"):
        nats = heldout(run, data.windows(split, cfg["block_size"]), cfg["eval_batch"])
        final[split] = {"nats_per_char": nats, "bits_per_char": nats / LN2}
    prompt = prompt_text(data, cfg)
    samples = [{"name": name, "settings": settings, "seed": seed,
                "text": sample(run, data, prompt, cfg["sample_chars"], cfg["block_size"], settings, seed)}
               for name, settings in SAMPLE_SETTINGS]
    steps = cfg["steps"]
    tokens = steps * cfg["batch_size"] * cfg["block_size"]
    cls = type(model)
    kept = {}
    if model_out is not None:
        if backend != "torch":
            raise ValueError(f"only a torch run's model is kept, not {family}-{backend}'s")
        kept["trained_model"] = save_model(model, data, kwargs, model_out)
    return {"family": family, "backend": backend, "class": f"{cls.__module__}.{cls.__name__}", "model": kwargs,
            "num_parameters": int(model.num_parameters()),
            "init": "torch.manual_seed(seed), then the torch model's initial weights"
                    + (" copied into the NumPy model" if backend == "numpy" else ""),
            "steps": steps, "tokens_seen": tokens, "epochs": tokens / data.num_targets("train"),
            "ms_per_step": 1000.0 * train_time / steps, "train_seconds": train_time,
            "valid": final["valid"], "test": final["test"], "curve": curve, "samples": samples,
            "wall_time_s": time.perf_counter() - t_start, **kept}


def prompt_text(data, cfg: dict) -> str:
    """The samples' prompt: the first ``prompt_chars`` characters of the first test topic."""
    return data.texts[data.topics["test"][0]][: cfg["prompt_chars"]]


def worker(spec_path: str, out_path: str) -> None:
    """One run in a subprocess: read ``{family, backend, cfg, seed}``, write the run's JSON."""
    import torch

    torch.set_num_threads(1)
    spec = json.loads(Path(spec_path).read_text())
    result = train_run(spec["family"], spec["backend"], spec["cfg"], spec["seed"], model_out=spec.get("model_out"))
    Path(out_path).write_text(json.dumps(result))


def run_parallel(cfg: dict, seed: int, say, model_out=None) -> dict:
    """Every run, ``workers`` at a time, each in its own process with one thread (``worker``);
    :data:`SAVED_RUN`'s model is kept at ``model_out`` (if given)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    code = "import runpy, sys; runpy.run_path(sys.argv[1])['worker'](sys.argv[2], sys.argv[3])"
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="lm_study_") as tmp:
        pending = list(RUNS)
        running: list[tuple[str, subprocess.Popen, Path]] = []
        while pending or running:
            while pending and len(running) < cfg["workers"]:
                family, backend = pending.pop(0)
                name = f"{family}-{backend}"
                spec, out = Path(tmp, f"{name}-spec.json"), Path(tmp, f"{name}.json")
                keep = str(model_out) if model_out is not None and (family, backend) == SAVED_RUN else None
                spec.write_text(json.dumps({"family": family, "backend": backend, "cfg": cfg, "seed": seed,
                                            "model_out": keep}))
                proc = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).resolve()), str(spec),
                                         str(out)], env=env, cwd=str(REPO_ROOT))
                running.append((name, proc, out))
                say(f"{name}: started (pid {proc.pid})")
            time.sleep(0.2)
            for item in list(running):
                name, proc, out = item
                if proc.poll() is None:
                    continue
                running.remove(item)
                if proc.returncode != 0:
                    for _, other, _ in running:
                        other.kill()
                    raise RuntimeError(f"run {name} failed with exit status {proc.returncode}")
                results[name] = json.loads(out.read_text())
                r = results[name]
                say(f"{name}: valid {r['valid']['bits_per_char']:.3f}, test {r['test']['bits_per_char']:.3f} "
                    f"bits/char, {r['ms_per_step']:.1f} ms/step, {r['wall_time_s']:.0f} s")
    return results


def parts(quick: bool = False) -> list[str]:
    """The study's pieces that ``scripts/reproduce.py --jobs`` runs as jobs of their own: each run
    of the full study (``gpt2-numpy``, ...); none for the quick one (one job)."""
    return [f"{f}-{b}" for f, b in RUNS] if SETTINGS["quick" if quick else "full"]["workers"] else []


def run_part(part: str, out: Path, quick: bool = False, seed: int = 0) -> dict:
    """One piece of :func:`parts`, in this process: the run ``part``'s record (what :func:`worker`
    writes); the kept run's model goes to ``out/models``. ``run_study(parts=...)`` joins them."""
    family, _, backend = part.partition("-")
    if (family, backend) not in RUNS:
        raise ValueError(f"part={part!r} is not one of {parts(quick) or [f'{f}-{b}' for f, b in RUNS]}")
    keep = Path(out) / "models" / f"{SAVED_NAME}.pt" if (family, backend) == SAVED_RUN else None
    return train_run(family, backend, SETTINGS["quick" if quick else "full"], seed, model_out=keep)


def summarize(runs: dict, baselines: dict) -> dict:
    ratio, agreement = {}, {}
    for family in ("gpt2", "llama"):
        n, t = runs.get(f"{family}-numpy"), runs.get(f"{family}-torch")
        if n and t:
            ratio[family] = n["ms_per_step"] / t["ms_per_step"]
            agreement[family] = {
                "max_abs_train_loss_diff": max(abs(a["train_loss"] - b["train_loss"])
                                               for a, b in zip(n["curve"], t["curve"])),
                "max_abs_valid_loss_diff": max(abs(a["valid_loss"] - b["valid_loss"])
                                               for a, b in zip(n["curve"], t["curve"])),
                "test_nats_diff": n["test"]["nats_per_char"] - t["test"]["nats_per_char"]}
    names = [k for k in baselines if isinstance(baselines[k], dict) and "test" in baselines[k]]
    return {"runs": {k: {"valid_bits": r["valid"]["bits_per_char"], "test_bits": r["test"]["bits_per_char"]}
                     for k, r in runs.items()},
            "baselines": {k: baselines[k]["test"]["bits_per_char"] for k in names},
            "beats_trigram": {k: r["test"]["nats_per_char"] < baselines["trigram"]["test"]["nats_per_char"]
                              for k, r in runs.items()},
            "beats_5gram": {k: r["test"]["nats_per_char"] < baselines["5-gram"]["test"]["nats_per_char"]
                            for k, r in runs.items()},
            "numpy_vs_torch_ms_ratio": ratio, "numpy_vs_torch_loss": agreement}


def run_study(out: Path, quick: bool = False, seed: int = 0, threads: int | None = None,
              progress: bool = True, command: list[str] | None = None, parts: dict | None = None) -> dict:
    """Run the whole study, write ``lm.json`` and ``lm-manifest.json`` into ``out``; return the JSON.

    ``command`` is recorded in the manifest (default: this script with the same arguments).
    ``parts``: the records of the runs, trained already by :func:`run_part` in jobs of
    ``scripts/reproduce.py`` (name -> ``{"result": record, "wall_time_s": seconds}``); ``None``:
    train them here.
    """
    import torch

    from transformer_anatomy.tasks.language_model import make_language_model_data, ngram_baselines
    from transformer_anatomy.training.manifest import write_study

    clock = start_study(out, threads, echo=(lambda line: print(line, flush=True)) if progress else None)
    out, started, say = clock.out, clock.started, clock.say
    cfg = SETTINGS["quick" if quick else "full"]
    load_before = os.getloadavg()

    data = make_language_model_data(seed=seed)
    desc = data.describe()
    vocab = desc.pop("vocab")
    baselines = ngram_baselines(data, orders=BASELINE_ORDERS)
    say(f"data: {desc['chars']:,} characters, V = {data.vocab_size}; "
        + ", ".join(f"{s} {d['num_topics']} topics ({100 * d['char_fraction']:.1f} %)" for s, d in desc["splits"].items())
        + "; test bits/char: " + ", ".join(f"{k} {baselines[k]['test']['bits_per_char']:.3f}"
                                           for k in ("unigram", "bigram", "trigram", "5-gram")))
    model_out = out / "models" / f"{SAVED_NAME}.pt"
    if parts is not None:
        runs = {name: piece["result"] for name, piece in parts.items()}
        for name, r in runs.items():
            say(f"{name}: valid {r['valid']['bits_per_char']:.3f}, test {r['test']['bits_per_char']:.3f} "
                f"bits/char, {r['ms_per_step']:.1f} ms/step, {r['wall_time_s']:.0f} s (its own job)")
    elif cfg["workers"]:
        runs = run_parallel(cfg, seed, say, model_out=model_out)
    else:
        runs = {}
        for family, backend in RUNS:
            keep = model_out if (family, backend) == SAVED_RUN else None
            runs[f"{family}-{backend}"] = train_run(family, backend, cfg, seed, model_out=keep)
            r = runs[f"{family}-{backend}"]
            say(f"{family}-{backend}: valid {r['valid']['bits_per_char']:.3f}, test {r['test']['bits_per_char']:.3f} "
                f"bits/char, {r['ms_per_step']:.1f} ms/step")
    runs = {f"{f}-{b}": runs[f"{f}-{b}"] for f, b in sorted(RUNS)}  # gpt2-numpy, gpt2-torch, llama-...
    best = min(runs, key=lambda k: runs[k]["valid"]["nats_per_char"])
    result = {"command": None, "seed": seed, "quick": quick, "device": "cpu", "threads": torch.get_num_threads(),
              "settings": {**cfg, "sample_settings": [dict(name=n, **s) for n, s in SAMPLE_SETTINGS],
                           "baseline_orders": list(BASELINE_ORDERS)},
              "data": desc, "vocab": vocab, "baselines": baselines, "runs": runs, "best_run": best,
              "samples": {"run": best, "prompt": prompt_text(data, cfg), "chars": cfg["sample_chars"],
                          "how": f"model.generate with the KV cache, in chunks: the last {cfg['block_size'] // 2} "
                                 f"characters continued by up to {cfg['block_size'] // 2} (context "
                                 f"{cfg['block_size']}), sampling seeded seed + chunk",
                          "items": runs[best]["samples"]},
              "summary": summarize(runs, baselines)}
    say(f"best: {best}, test {runs[best]['test']['bits_per_char']:.3f} bits/char (trigram "
        f"{baselines['trigram']['test']['bits_per_char']:.3f}, 5-gram {baselines['5-gram']['test']['bits_per_char']:.3f})")
    result["load_average"] = {"before": list(load_before), "after": list(os.getloadavg()),
                              "cpus": os.cpu_count(), "what": "os.getloadavg(): 1, 5 and 15 minute averages"}
    record_parts(result, parts, clock.elapsed(), "each run in its own job of scripts/reproduce.py (one process, one thread)")
    if command is None:
        command = ["python", "scripts/lm_study.py", *(["--quick"] if quick else []), "--seed", str(seed),
                   *(["--threads", str(threads)] if threads else []), "--out", str(out)]
    write_study(out, "lm", result, command=command, seed=seed, quick=quick, started=started, root=REPO_ROOT,
                extra={"workers": "jobs of scripts/reproduce.py" if parts is not None else cfg["workers"],
                       "threads_per_worker": 1 if cfg["workers"] else None})
    return result


def main(argv: list[str] | None = None) -> int:
    """The command line every study shares (``--out``, ``--quick``, ``--seed``, ``--threads``, ``--no-progress``)."""
    return study_main(run_study, "lm", __doc__.split("\n")[0], argv, default_out=REPO_ROOT / "docs" / "results", echo=print)


if __name__ == "__main__":
    sys.exit(main())
