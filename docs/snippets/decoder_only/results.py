"""What docs/decoder-only.md prints and draws from docs/results/lm.json, written by
``scripts/lm_study.py`` (its schema is documented at the top of that script). ``LM_RESULTS``
(a folder) overrides where it is read. Checked by tests/docs/test_decoder_only_snippets.py.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from matplotlib.figure import Figure
from results_io import RESULTS

from transformer_anatomy.viz import figure_to_svg

FOLDER = Path(os.environ.get("LM_RESULTS") or RESULTS)
MISSING = "*Not yet produced — run `python scripts/lm_study.py`.*"
BASELINES = ("uniform", "unigram", "bigram", "trigram", "4-gram", "5-gram")
FAMILY = {"gpt2": "GPT-2-style", "llama": "Llama-style"}
BACKEND = {"numpy": "NumPy", "torch": "PyTorch"}
STYLE = {"gpt2-numpy": ("C0", "o--"), "gpt2-torch": ("C0", "o-"), "llama-numpy": ("C1", "s--"),
         "llama-torch": ("C1", "s-")}
LN2 = math.log(2.0)


def load(folder=None):
    path = Path(folder or FOLDER) / "lm.json"
    return json.loads(path.read_text()) if path.exists() else None


def label(name, run):
    return f"{FAMILY.get(run['family'], run['family'])}, {BACKEND.get(run['backend'], run['backend'])}"


def baseline_bits(r, split="test"):
    """``{name: bits per character}`` of the n-gram baselines present, in ``BASELINES`` order."""
    return {b: r["baselines"][b][split]["bits_per_char"] for b in BASELINES if b in r["baselines"]}


# ----------------------------------------------------------------------------------- tables
def report_heldout(r=None):
    """Markdown: every run's held-out bits per character beside the n-gram baselines."""
    r = r or load()
    if r is None:
        return print(MISSING)
    s = r["settings"]
    print(f"{'Quick run (a smoke test, not the study). ' if r['quick'] else ''}"
          f"Context T = {s['block_size']}, batch N = {s['batch_size']}, {s['steps']:,} steps, width "
          f"{s['size']['hidden']}, {s['size']['layers']} layers, {s['size']['heads']} heads; "
          f"test split: {r['data']['splits']['test']['targets']:,} characters of "
          f"{r['data']['splits']['test']['num_topics']} topics never seen in training.\n")
    print("| model | parameters | valid bits/char | test bits/char | test nats/char | ms per step |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, run in r["runs"].items():
        print(f"| {label(name, run)} (`{run['class'].rsplit('.', 1)[-1]}`) | {run['num_parameters']:,} | "
              f"{run['valid']['bits_per_char']:.3f} | {run['test']['bits_per_char']:.3f} | "
              f"{run['test']['nats_per_char']:.3f} | {run['ms_per_step']:.1f} |")
    for b in BASELINES:
        if b in r["baselines"]:
            x = r["baselines"][b]
            print(f"| {b} baseline | — | {x['valid']['bits_per_char']:.3f} | {x['test']['bits_per_char']:.3f} | "
                  f"{x['test']['nats_per_char']:.3f} | — |")


def notice_heldout(r=None):
    """Sentences from the numbers: best run, against the n-grams, NumPy against torch."""
    r = r or load()
    if r is None:
        return print(MISSING)
    base = baseline_bits(r)
    runs = r["runs"]
    best = r["best_run"]
    tb = runs[best]["test"]["bits_per_char"]
    beats = [b for b, v in base.items() if tb < v]
    won = f"it beats the {', '.join(beats)} baseline{'s' if len(beats) > 1 else ''}" if beats else \
        "it beats none of the baselines"
    if beats and len(beats) == len(base):
        won = f"it beats every baseline, the {list(base)[-1]} included"
    print(f"- The best run by validation loss, {label(best, runs[best])}, reaches {tb:.3f} bits per character on "
          f"the test topics; {won}" + (f" (trigram: {base['trigram']:.3f}, 5-gram: {base['5-gram']:.3f})."
                                        if {"trigram", "5-gram"} <= set(base) else "."))
    for family in ("gpt2", "llama"):
        a, b = runs.get(f"{family}-numpy"), runs.get(f"{family}-torch")
        if a and b:
            d = a["test"]["bits_per_char"] - b["test"]["bits_per_char"]
            ratio = a["ms_per_step"] / b["ms_per_step"]
            gap, at = curve_gap(a, b)
            print(f"- {FAMILY[family]}: NumPy {a['test']['bits_per_char']:.3f}, "
                  f"PyTorch {b['test']['bits_per_char']:.3f} bits/char (difference {d:+.4f}); their validation curves differ by at most {gap:.1e} nats "
                  f"(at step {at}): the same initial weights and batches, float32 rounding apart. A NumPy step "
                  f"took {ratio:.1f}× a PyTorch one ({a['ms_per_step']:.1f} against {b['ms_per_step']:.1f} ms).")
    if "uniform" in base:
        print(f"- From {base['uniform']:.2f} bits (a uniform guess over {r['data']['vocab_size']} characters) to "
              f"{tb:.2f}: a perplexity of 2^{tb:.2f} = {2 ** tb:.1f}, as uncertain as a uniform choice among "
              f"{2 ** tb:.1f} characters instead of {2 ** base['uniform']:.0f}.")


def curve_gap(a, b):
    """Largest |validation loss (nats) of run ``a`` − run ``b``| over their common evaluations, and its step."""
    pairs = [(abs(x["valid_loss"] - y["valid_loss"]), x["step"]) for x, y in zip(a["curve"], b["curve"])
             if x["step"] == y["step"]]
    return max(pairs) if pairs else (float("nan"), None)


# ----------------------------------------------------------------------------------- figures
def figure_bits(r=None):
    """Horizontal bars: test bits per character of the baselines and of the four runs."""
    r = r or load()
    if r is None:
        return print(MISSING)
    base = baseline_bits(r)
    names = list(base) + [label(n, run) for n, run in r["runs"].items()]
    values = list(base.values()) + [run["test"]["bits_per_char"] for run in r["runs"].values()]
    colors = ["#7f7f7f"] * len(base) + [STYLE.get(n, ("C2", ""))[0] for n in r["runs"]]
    fig = Figure(figsize=(7.5, 0.36 * len(names) + 0.9))
    ax = fig.subplots()
    bars = ax.barh(names, values, color=colors)
    for bar, v in zip(bars, values):
        ax.text(bar.get_width() + 0.05, bar.get_y() + bar.get_height() / 2, f"{v:.2f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("test bits per character (lower is better)")
    ax.set_xlim(0, max(values) * 1.12)
    fig.tight_layout()
    alt = ("Bars of held-out bits per character: the uniform, unigram, bigram, trigram, 4-gram and 5-gram "
           "baselines in grey, then the GPT-2-style and Llama-style models in NumPy and PyTorch.")
    return print(figure_to_svg(fig, alt, caption="Test split of <code>lm.json</code>: topics never seen in "
                                                 "training. Grey: n-gram baselines fitted on the same training "
                                                 "text."))


def figure_curves(r=None):
    """Validation loss (bits per character) against steps and against training seconds."""
    r = r or load()
    if r is None:
        return print(MISSING)
    fig = Figure(figsize=(9.5, 3.4))
    ax_s, ax_t = fig.subplots(1, 2, sharey=True)
    for name, run in r["runs"].items():
        color, style = STYLE.get(name, ("C2", "-"))
        steps = [c["step"] for c in run["curve"]]
        secs = [c["train_seconds"] for c in run["curve"]]
        valid = [c["valid_loss"] / LN2 for c in run["curve"]]
        ax_s.plot(steps, valid, style, color=color, ms=3, label=label(name, run))
        ax_t.plot(secs, valid, style, color=color, ms=3, label=label(name, run))
    base = baseline_bits(r, "valid")
    for b, ls in (("trigram", ":"), ("5-gram", "-.")):
        if b in base:
            for ax in (ax_s, ax_t):
                ax.axhline(base[b], color="#7f7f7f", ls=ls, lw=1)
            ax_t.text(ax_t.get_xlim()[1], base[b], f" {b}", va="center", fontsize=8, color="#7f7f7f")
    ax_s.set_xlabel("optimizer step")
    ax_t.set_xlabel("training seconds (one core)")
    ax_s.set_ylabel("validation bits per character")
    ax_t.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    alt = ("Learning curves: validation bits per character falling with optimizer steps and with training "
           "seconds, for the GPT-2-style and Llama-style models in NumPy and PyTorch, with the trigram and "
           "5-gram baselines as horizontal lines.")
    return print(figure_to_svg(fig, alt, caption="Validation loss on fixed windows of the validation topics, "
                                                 "every evaluation of the run."))


# ----------------------------------------------------------------------------------- samples
def report_samples(r=None):
    """HTML: the best run's samples, the prompt set apart from what the model wrote."""
    r = r or load()
    if r is None:
        return print(MISSING)
    s = r["samples"]
    run = r["runs"][s["run"]]
    out = [f"<p>{html.escape(label(s['run'], run))}, {html.escape(s['how'])}. Prompt, from a test topic:</p>",
           f'<pre class="ta-sample"><code>{html.escape(s["prompt"])}</code></pre>']
    for item in s["items"]:
        args = ", ".join(f"{k}={v}" for k, v in item["settings"].items())
        out.append(f"<p><strong>{html.escape(item['name'])}</strong> "
                   f"(<code>generate({html.escape(args)})</code>, seed {item['seed']}):</p>")
        out.append(f'<pre class="ta-sample"><code>{html.escape(item["text"])}</code></pre>')
    print("\n".join(out))


def repeats(text, n=12):
    """How often the most frequent ``n``-character substring of ``text`` occurs (overlaps counted;
    substrings of whitespace only, such as indentation, left out)."""
    counts = {}
    for i in range(len(text) - n + 1):
        if text[i:i + n].strip():
            counts[text[i:i + n]] = counts.get(text[i:i + n], 0) + 1
    return max(counts.values(), default=0)


def notice_samples(r=None, n=12):
    r = r or load()
    if r is None:
        return print(MISSING)
    items = r["samples"]["items"]
    print(f"How often each sample repeats itself — occurrences of its most frequent {n}-character string: "
          + "; ".join(f"{item['name']} {repeats(item['text'], n)}" for item in items) + ".")


def report_manifest(r=None, folder=None):
    r = r or load(folder)
    if r is None:
        return print(MISSING)
    path = Path(folder or FOLDER) / "lm-manifest.json"
    m = json.loads(path.read_text()) if path.exists() else {}
    print(f"- command: `{r['command']}`; seed {r['seed']}; {r['threads']} thread(s) per run; "
          f"wall time {r['wall_time_s']:.0f} s{' (quick)' if r['quick'] else ''}"
          + (f", the sum of its {len(r['parts']['wall_time_s'])} runs, each its own job of `reproduce.py`"
             if r.get("parts") else ""))
    hw = m.get("hardware", {})
    if hw:
        print(f"- machine: {hw.get('cpu')} ({hw.get('usable_cpus')} usable cores), {hw.get('platform')}")
    d = r["data"]
    print(f"- data: `{d['source']}` of Python {d['python']} (sha256 `{d['sha256'][:12]}…`), {d['chars']:,} "
          f"characters, V = {d['vocab_size']}; splits by topic: "
          + ", ".join(f"{k} {v['num_topics']} topics / {v['chars']:,} characters" for k, v in d["splits"].items()))
