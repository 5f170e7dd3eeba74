"""MkDocs hook: the trained models as ONNX in the built site, for the playground page.

Before any page is written, every ``docs/results/models/<name>.pt`` (``scripts/reproduce.py``
keeps them; ``transformer_anatomy.torch.trained``) is exported with
``transformer_anatomy.torch.onnx_export.export_onnx`` and checked with ``check_onnx``
(onnxruntime in Python against the torch model, every element within ``1e-5 + 1e-5 |torch|``,
TESTING.md's float32 forward tolerance) on a few test examples of its task and one input with
an unknown word (for the language model, ``lm.pt`` from ``scripts/lm_study.py``: prompts from
its test topics, every greedy step compared, and one prompt with an unknown character): a
mismatch stops the build. After the build the graphs, their model cards and ``index.json`` (the
models, their examples and sizes) are copied into ``<site>/playground/models/<name>/``; nothing
generated goes into ``docs/``.

Exports are cached in the git-ignored ``.cache/onnx-models/<key>/``, the key being the sha256
of the ``.pt`` file, of the two modules that export and check, and the torch / onnxruntime
versions: a warm build copies files only. The cache entry is written after its check passed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "docs" / "results" / "models"
CACHE = ROOT / ".cache" / "onnx-models"
SITE_FOLDER = "playground/models"
N_CHECK = 4
"""Test examples per model that ``check_onnx`` runs (plus one with an unknown word)."""
N_EXAMPLES = 8
"""Test examples per model that the page offers."""
SEED = 0
"""The task data's seed (``scripts/reproduce.py --seed`` default)."""
UNKNOWN_WORD = "zzz"
UNKNOWN_CHAR = "€"
"""A character outside the language model's vocabulary (the help topics are ASCII)."""
LM_PROMPT_CHARS = 40
"""The longest example prompt of the language model, in characters (cut back to a space)."""

log = logging.getLogger("mkdocs.hooks.onnx_models")
_state: dict = {"entries": []}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(pt: Path) -> str:
    import onnxruntime
    import torch

    import transformer_anatomy.torch.onnx_export as ox
    import transformer_anatomy.torch.trained as tr

    h = hashlib.sha256()
    for part in (_sha256(pt), _sha256(Path(ox.__file__)), _sha256(Path(tr.__file__)), str(torch.__version__),
                 onnxruntime.__version__, _sha256(Path(__file__))):
        h.update(part.encode())
    return h.hexdigest()[:24]


def lm_prompts(trained, n: int = N_EXAMPLES) -> list[str]:
    """The language model's example prompts: the opening of the first paragraph of each of the
    first ``n`` test topics (held out in training), at most ``LM_PROMPT_CHARS`` characters, cut
    back to end on a space (the model continues a new word)."""
    import inspect

    from transformer_anatomy.tasks.language_model import make_language_model_data

    accepted = inspect.signature(make_language_model_data).parameters
    params = {k: v for k, v in (trained.settings.get("params") or {}).items() if k in accepted}
    data = make_language_model_data(**params)
    prompts = []
    for topic in data.topics["test"][:n]:
        text = data.texts[topic]
        body = text.split("\n\n", 1)[1] if "\n\n" in text else text  # after the heading and its underline
        snippet = body[:LM_PROMPT_CHARS]
        cut = snippet.rfind(" ")
        prompts.append(snippet[: cut + 1] if cut > 0 else snippet)
    return prompts


def example_texts(trained, n: int = N_EXAMPLES) -> list[str]:
    """The first ``n`` test examples of the model's task, as the text ``predict`` accepts
    (``" ".join(src_vocab.decode(ids))``; for QA ``question <sep> context``; for the language
    model :func:`lm_prompts`)."""
    import inspect

    from transformer_anatomy.tasks import TASKS

    if trained.kind == "causal_lm":
        return lm_prompts(trained, n)

    make = TASKS[trained.task]
    accepted = inspect.signature(make).parameters  # params also records derived values (form_weights)
    params = {k: v for k, v in (trained.settings.get("params") or {}).items() if k in accepted}
    data = make(**params, rng=SEED)
    texts = []
    for row in data.test["src"][:n]:
        texts.append(" ".join(data.src_vocab.decode(row)))
    return texts


def _with_unknown(trained, text: str) -> str:
    if trained.kind == "causal_lm":
        return UNKNOWN_CHAR + text[1:]
    words = text.split()
    sep = trained.settings.get("sep")
    i = next(i for i, w in enumerate(words) if w != sep)
    words[i] = UNKNOWN_WORD
    return " ".join(words)


def _tokenizer(vocab) -> str | None:
    """How a vocabulary joins tokens into text: ``"char"`` (no spaces) or ``"word"``; ``None`` without one."""
    from transformer_anatomy.tasks.vocab import CharVocab

    return None if vocab is None else ("char" if isinstance(vocab, CharVocab) else "word")


def _export(pt: Path) -> dict:
    """Export and check one model (or reuse its cache entry); its index entry."""
    from transformer_anatomy.errors import CheckpointError
    from transformer_anatomy.torch.trained import load_trained

    folder = CACHE / _key(pt)
    meta = folder / "entry.json"
    if meta.is_file():
        return json.loads(meta.read_text())
    t0 = time.perf_counter()
    try:
        trained = load_trained(pt)
    except CheckpointError as e:
        raise PluginError(f"onnx_models: {e}") from e
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")  # one per build: builds may run at once
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        entry = _export_into(trained, pt, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if meta.is_file():  # another build finished the same export meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        try:
            tmp.rename(folder)
        except OSError:  # another build renamed its copy first
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("onnx_models: exported and checked %s in %.1f s (max |onnxruntime - torch| = %.2g)",
             pt.name, time.perf_counter() - t0, entry["checked"]["max_abs_diff"])
    return entry


def _export_into(trained, pt: Path, tmp: Path) -> dict:
    """Export ``trained`` into ``tmp``, check it, write its ``entry.json``; the entry."""
    from transformer_anatomy.torch.onnx_export import ONNX_ATOL, ONNX_RTOL, check_onnx, export_onnx

    name = pt.stem
    paths = export_onnx(trained, tmp)
    examples = example_texts(trained)
    checked = examples[:N_CHECK] + [_with_unknown(trained, examples[0])]
    try:
        worst = check_onnx(trained, paths, checked)
    except AssertionError as e:  # OnnxMismatchError
        raise PluginError(f"onnx_models: the ONNX export of {pt.name} differs from torch: {e}") from e
    card = json.loads(paths["card"].read_text())
    entry = {
        "name": name,
        "task": trained.task,
        "kind": trained.kind,
        "card": f"{name}/{paths['card'].name}",
        "graphs": {g: f"{name}/{v['file']}" for g, v in card["graphs"].items()},
        "bytes": sum(p.stat().st_size for p in paths.values()),
        "parameters": int(sum(p.numel() for p in trained.model.parameters())),
        "max_src_len": card["max_src_len"],
        "tokenizer": card["tokenizer"],
        "tgt_tokenizer": _tokenizer(trained.tgt_vocab),
        "block_size": card.get("block_size"),
        "max_new_tokens": card.get("max_new_tokens"),
        "input_format": card["input_format"],
        "examples": examples,
        "checked": {"texts": len(checked), "max_abs_diff": worst, "atol": ONNX_ATOL, "rtol": ONNX_RTOL},
        "pt_sha256": _sha256(pt),
    }
    (tmp / "entry.json").write_text(json.dumps(entry, indent=1) + "\n")
    return entry


def on_pre_build(config):  # noqa: ARG001 (MkDocs' hook signature)
    """Export and check every kept model before any page is written; drop stale cache entries."""
    pts = sorted(MODELS.glob("*.pt"))
    _state["entries"] = [_export(pt) for pt in pts]
    keep = {_key(pt) for pt in pts}
    for old in CACHE.glob("*") if CACHE.is_dir() else ():
        if old.is_dir() and old.name not in keep and not old.name.endswith(".tmp"):
            shutil.rmtree(old, ignore_errors=True)


def on_post_build(config):
    """Copy the graphs, cards and the index into the built site."""
    out = Path(config["site_dir"]) / SITE_FOLDER
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for entry in _state["entries"]:
        src = CACHE / _key(MODELS / f"{entry['name']}.pt")
        dest = out / entry["name"]
        dest.mkdir()
        for f in src.iterdir():
            if f.suffix in (".onnx", ".json") and f.name != "entry.json":
                shutil.copy2(f, dest / f.name)
    index = {"format": "transformer_anatomy/playground-index-v1",
             "models": {e["name"]: e for e in _state["entries"]}}
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
