"""One home for reading ``docs/results/`` (written by ``scripts/reproduce.py``) from the pages.

- ``RESULTS``: the results folder (``docs/results`` of the build's working directory, else
  the one beside ``src/``);
- ``TASKS``: the task names in the order of ``transformer_anatomy.tasks.TASKS``; ``BACKENDS``;
- :func:`load_result`: one ``<task>-<backend>.json``, or None;
- :func:`png_img`: a PNG of the folder inlined as an ``<img>`` data URI;
- :func:`attention_reading`: the ``"attention_reading"`` statistics of one run, and
  :func:`reading_lines`: the same as Markdown bullets (per head, chance level, ✗ examples).
"""

import base64
import html
import json
from pathlib import Path

from transformer_anatomy.tasks import TASKS as _TASK_MAKERS

RESULTS = Path("docs/results")
if not RESULTS.is_dir():
    import transformer_anatomy

    RESULTS = Path(transformer_anatomy.__file__).resolve().parents[2] / "docs" / "results"
TASKS = tuple(_TASK_MAKERS)
BACKENDS = {"torch": "PyTorch", "numpy": "NumPy"}


def load_result(task="reversal", backend="torch", results=None):
    """The JSON written by ``scripts/reproduce.py --task <task>``, or None if not produced yet."""
    path = Path(results or RESULTS) / f"{task}-{backend}.json"
    return json.loads(path.read_text()) if path.exists() else None


def missing(task, backend=None):
    what = f"{task} ({backend})" if backend else task
    return f"{what}: not yet produced — run `python scripts/reproduce.py --task {task}`"


def png_img(name, alt, results=None):
    """``<img>`` with the PNG ``name`` of the results folder inlined, or None if it is missing."""
    path = Path(results or RESULTS) / name
    if not path.exists():
        return None
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width:100%">'


def attention_reading(task, backend="torch", run=None, results=None):
    """The ``attention_reading`` of a run (its first run by default), or None."""
    r = load_result(task, backend, results)
    if r is None:
        return None
    runs = r["runs"]
    return (runs[run] if run else next(iter(runs.values()))).get("attention_reading")


STAT_WORDS = {  # statistic of the attention reading -> how the page names it
    "mirror": "on the mirrored source position",
    "digit_alignment": "of examples with a left-to-right alignment of digits to words",
    "peak_mass": "on the most attended source word",
    "same_position": "on the same position",
    "polar_words": "on the polarity words",
    "negators": "on the negators",
    "answer_span": "on the gold answer span",
    "asked_entity": "from the answer span on the context tokens that repeat the question's entity",
    "predicted_span": "on the predicted span",
}


def reading_lines(task, backend="torch", run=None, results=None):
    """Markdown bullets: each attention statistic of the figure's layer, per head (test split)."""
    a = attention_reading(task, backend, run, results)
    if not a:
        return []
    layer = a["figure_layer"]
    lines = []
    for name, st in a["statistics"].items():
        s = st["layers"][layer]
        heads = ", ".join("—" if v is None else f"{v:.2f}" for v in s["per_head"])
        chance = ""
        if "chance" in st:
            above = sum(v is not None and v > st["chance"] for v in s["per_head"])
            chance = f" (chance {st['chance']:.2f}: {above} of {len(s['per_head'])} heads above it)"
        wrong = ""
        if s["wrong"]["examples"]:
            wrong = "; on the ✗ ones " + ", ".join(f"{v:.2f}" for v in s["wrong"]["per_head"] if v is not None)
        lines.append(f"- mass {STAT_WORDS[name]}, heads 0–{len(s['per_head']) - 1}: **{heads}**{chance}; "
                     f"over {s['examples']} test examples{wrong}.")
        if name == "digit_alignment":
            lines[-1] = lines[-1].replace("- mass of", "- share of")
        if len(a["layers"]) > 1:
            means = [layer_mean(st["layers"][k]["per_head"]) for k in a["layers"]]
            lines.append("    - by layer, first to last (mean of the heads): " + ", ".join(f"{m:.2f}" for m in means))
    return lines




def layer_mean(per_head):
    """Mean of the finite per-head values of one layer."""
    vals = [v for v in per_head if v is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def reading_backend(task, run=None, results=None):
    """The first backend (PyTorch, then NumPy) whose result file of ``task`` holds an attention reading."""
    return next((b for b in BACKENDS if attention_reading(task, b, run, results)), "torch")
