"""What docs/pretraining.md prints and draws from docs/results/pretraining.json.

The JSON is written by ``scripts/pretraining_study.py``; every number the page states is
printed by a function here. ``PRETRAINING_RESULTS`` (a folder) overrides where it is read.
"""

import json
import os
from pathlib import Path

from results_io import RESULTS

from transformer_anatomy.viz import figure_to_svg  # noqa: E402

FOLDER = Path(os.environ.get("PRETRAINING_RESULTS") or RESULTS)
MISSING = "not yet produced — run `python scripts/pretraining_study.py`"
NAMES = {"pretrained": "pre-trained", "scratch": "from scratch"}


def load(folder=None):
    path = Path(folder or FOLDER) / "pretraining.json"
    return json.loads(path.read_text()) if path.exists() else None


def pct(x):
    return f"{100 * x:.1f} %"


def label_count(n, r):
    return f"all {n:,}" if n == r["labels"]["n_train"] else f"{n:,}"


def report_corpus(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    c, m = r["corpus"], r["model"]
    print(f"- text: `{c['source']}`, {c['topics']} topics, {c['chars']:,} characters")
    print(f"- pre-training part: {c['pretraining_topics']} topics, {c['pretraining_chars']:,} characters, "
          f"{c['blocks']:,} blocks of {m['max_len']} tokens ({c['pretraining_tokens']:,} tokens)")
    print(f"- held-out part: {len(c['heldout_topics'])} topics ({c['heldout_chars']:,} characters): "
          + ", ".join(f"`{t}`" for t in c["heldout_topics"]))


def report_tokenizer(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    t, cov = r["tokenizer"], r["coverage"]
    known = cov["n_types"] - len(cov["missing"])
    print(f"- vocabulary: V = {t['vocab_size']:,} (words seen at least {t['min_freq']} times, "
          f"{len(t['specials'])} specials first: {' '.join(f'`{s}`' for s in t['specials'])})")
    print(f"- the sentiment task uses {cov['n_types']} distinct words; the pre-training vocabulary knows "
          f"{known} of them ({pct(cov['type_coverage'])}), covering {pct(cov['token_coverage'])} of the "
          f"word occurrences in its training sentences")
    print(f"- missing, added as new tokens (random rows, V becomes {t['vocab_size_with_task_words']:,}): "
          + ", ".join(f"`{w}`" for w in cov["missing"]))


def masking_demo(seed=0):
    """BERT's masking on the first held-out block, and its proportions measured on many blocks."""
    import torch

    from transformer_anatomy.training import pretraining as P

    docs = P.load_corpus()
    train, held = P.split_corpus(docs, 0.1, seed)
    tok = P.WordTokenizer.build([docs[n] for n in train])
    blocks = P.mlm_blocks(tok, [docs[n] for n in held], 32)
    gen = torch.Generator().manual_seed(seed)
    inputs, labels = P.mask_tokens(blocks, len(tok), gen)
    return tok, blocks, inputs, labels


def report_masking():
    from transformer_anatomy.training import pretraining as P

    tok, blocks, inputs, labels = masking_demo()
    row = 0
    words = tok.decode(blocks[row])
    shown = tok.decode(inputs[row])
    print("| position | original | model input | label |\n|---|---|---|---|")
    for i, (w, s, y) in enumerate(zip(words, shown, labels[row].tolist())):
        if y != P.IGNORE:
            print(f"| {i} | `{w}` | `{s}` | `{tok.idx2word[y]}` |")
    chosen = labels != P.IGNORE
    ordinary = blocks >= len(P.SPECIALS)
    n = int(chosen.sum())
    masked = int((chosen & (inputs == P.MASK_ID)).sum())
    kept = int((chosen & (inputs == blocks)).sum())
    print(f"\nOver all {len(blocks):,} held-out blocks: {pct(n / int(ordinary.sum()))} of the ordinary tokens "
          f"chosen; of those {pct(masked / n)} shown as `[MASK]`, {pct((n - masked - kept) / n)} replaced by "
          f"a random word, {pct(kept / n)} left as they were.")


def figure_pretraining(r=None):
    from transformer_anatomy.training.pretraining import plot_pretraining

    r = r or load()
    if r is None:
        return print(MISSING)
    print(figure_to_svg(plot_pretraining(r), alt="Masked-language-modelling loss against step: the batches' "
                        "loss and the held-out topics' loss fall from near ln V.",
                        caption="Pre-training: loss at the masked positions, batches and held-out topics."))


def notice_pretraining(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    pt, m, s = r["pretraining"], r["model"], r["settings"]
    first, last = pt["initial_heldout"], pt["heldout"][-1]
    print(f"The model (E = {m['d_model']}, {m['num_layers']} layers, {m['nhead']} heads, F = "
          f"{m['dim_feedforward']}, {m['params_mlm']:,} parameters) starts at a held-out loss of "
          f"{first['loss']:.2f}, next to ln V = {pt['ln_V']:.2f}: an untrained model guesses uniformly. "
          f"After {s['pretrain_steps']:,} steps of {s['pretrain_batch']} blocks ({pt['time_s'] / 60:.1f} minutes "
          f"on {r['threads']} CPU thread(s)) the held-out loss is {last['loss']:.2f} and "
          f"{pct(last['accuracy'])} of the held-out masked words are predicted exactly "
          f"(before: {pct(first['accuracy'])}).")


def report_missing_keys(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    print("Keys `from_pretrained` reported missing (created new, at random):\n")
    for k in r["from_pretrained"]["missing_keys"]:
        print(f"- `{k}`")


def figure_labels(r=None):
    from transformer_anatomy.training.pretraining import plot_labels

    r = r or load()
    if r is None:
        return print(MISSING)
    print(figure_to_svg(plot_labels(r), alt="Test accuracy against the number of labelled sentences, "
                        "for the pre-trained model and the same model from scratch.",
                        caption="Sentiment test accuracy against labels (band: range over the seeds)."))


def report_labels(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    rows = {(x["init"], x["n_labels"]): x for x in r["labels"]["rows"]}
    counts = sorted({n for _, n in rows})
    print("| labelled sentences | pre-trained | from scratch | difference |\n|---|---|---|---|")
    for n in counts:
        a, b = rows[("pretrained", n)], rows[("scratch", n)]
        print(f"| {label_count(n, r)} | {pct(a['accuracy_mean'])} | {pct(b['accuracy_mean'])} | "
              f"{100 * (a['accuracy_mean'] - b['accuracy_mean']):+.1f} points |")
    seeds = len(next(iter(rows.values()))["seeds"])
    print(f"\nMean over {seeds} fine-tuning seed(s) (the subset, the head and the batch order change); "
          f"{r['settings']['finetune_steps']} steps of {r['settings']['finetune_batch']} sentences each; "
          f"learning rate {r['labels']['best_lr']['pretrained']:g} (pre-trained) and "
          f"{r['labels']['best_lr']['scratch']:g} (from scratch), each the best mean validation accuracy in the "
          f"sweep below; majority class: {pct(r['labels']['majority'])}.")


def verdict(r=None):
    """Where pre-training helped and where it did not, in words, from the label table."""
    r = r or load()
    if r is None:
        return print(MISSING)
    rows = {(x["init"], x["n_labels"]): x["accuracy_mean"] for x in r["labels"]["rows"]}
    counts = sorted({n for _, n in rows})
    diffs = {n: rows[("pretrained", n)] - rows[("scratch", n)] for n in counts}
    spread = max(abs(x["accuracy_max"] - x["accuracy_min"]) for x in r["labels"]["rows"])
    helped = [n for n in counts if diffs[n] > spread]
    hurt = [n for n in counts if diffs[n] < -spread]
    even = [n for n in counts if n not in helped and n not in hurt]

    def names(ns):
        return ", ".join(label_count(n, r) for n in ns)

    print(f"Counting a difference only when it is larger than the largest spread between seeds "
          f"({100 * spread:.1f} points):\n")
    print(f"- pre-training helped at {names(helped)} labels;" if helped else "- pre-training helped at no label count;")
    print(f"- it hurt at {names(hurt)} labels;" if hurt else "- it hurt at no label count;")
    print(f"- no clear difference at {names(even)} labels." if even else "- every label count differs clearly.")


def figure_tips(r=None):
    from transformer_anatomy.training.pretraining import plot_tips

    r = r or load()
    if r is None:
        return print(MISSING)
    print(figure_to_svg(plot_tips(r), alt="Three panels: test accuracy against the fine-tuning learning rate, "
                        "against the number of frozen lower layers, and against the per-layer learning-rate decay.",
                        caption="The fine-tuning tips, each measured on the same labelled subset."))


def report_lr(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    t = r["tips"]["lr"]
    k = len(t["rows"][0].get("valid_accuracies", [None]))
    print(f"| learning rate | pre-trained: valid, mean of {k} subsets | test, first subset "
          f"| from scratch: valid, mean of {k} subsets | test, first subset |\n|---|---|---|---|---|")
    by = {(x["init"], x["lr"]): x for x in t["rows"]}

    def mean(x):  # results written before the mean was recorded: the one subset's figure
        return pct(x.get("valid_accuracy_mean", x["valid_accuracy"]))

    for lr in sorted({x["lr"] for x in t["rows"]}, reverse=True):
        a, b = by[("pretrained", lr)], by[("scratch", lr)]
        mark = " (pre-training's)" if lr == t["pretraining_lr"] else ""
        print(f"| {lr:g}{mark} | {mean(a)} | {pct(a['accuracy'])} | {mean(b)} | {pct(b['accuracy'])} |")
    print(f"\n{t['n_labels']:,} labelled sentences. The mean validation accuracy over {k} subsets (other sentences, "
          f"head and data order) picks each model's learning rate: "
          f"{r['labels']['best_lr']['pretrained']:g} pre-trained, {r['labels']['best_lr']['scratch']:g} from scratch "
          f"(pre-training used {t['pretraining_lr']:g}). One subset alone is a noisy judge: a rate near the edge of "
          f"diverging can do well on one subset and badly on the next. The test accuracy is the first subset's run, "
          f"as in the tips below.")


def report_freeze(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    t = r["tips"]["freeze"]
    print("| frozen | trainable parameters | test accuracy |\n|---|---|---|")
    L = r["model"]["num_layers"]
    for x in t["rows"]:
        k = x["frozen_layers"]
        what = "nothing" if k == 0 else ("embeddings + all layers" if k == L else f"embeddings + lowest {k}")
        print(f"| {what} | {x['trainable_params']:,} | {pct(x['accuracy'])} |")
    print(f"\nPre-trained model, {t['n_labels']:,} labels, learning rate {t['lr']:g}.")


def report_discriminative(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    t = r["tips"]["discriminative"]
    L = r["model"]["num_layers"]
    print("| decay ξ | embeddings' lr | lowest layer's lr | test accuracy |\n|---|---|---|---|")
    for x in t["rows"]:
        d = x["decay"]
        print(f"| {d:g} | {t['lr'] * d ** L:.2g} | {t['lr'] * d ** (L - 1):.2g} | {pct(x['accuracy'])} |")
    print(f"\nPre-trained model, {t['n_labels']:,} labels; the top layer, the pooler and the classifier keep "
          f"{t['lr']:g}.")


def report_manifest(folder=None):
    path = Path(folder or FOLDER) / "pretraining-manifest.json"
    if not path.exists():
        return print(MISSING)
    m = json.loads(path.read_text())
    v = m["versions"]
    print(f"Made by `{m['command']}` (seed {m['seed']}, {m['device']}, {m['threads']} thread(s), "
          f"{m['wall_time_s'] / 60:.1f} minutes, finished {m['finished']}; torch {v['torch']}, transformers "
          f"{v['transformers']}; commit `{(m['git']['commit'] or 'unknown')[:12]}`).")


def spread_of_choices(r=None):
    """How far the fine-tuning choices alone moved the pre-trained model (same labels, same weights)."""
    r = r or load()
    if r is None:
        return print(MISSING)
    t = r["tips"]
    runs = [(f"learning rate {x['lr']:g}", x) for x in t["lr"]["rows"] if x["init"] == "pretrained"]
    runs += [(f"{x['frozen_layers']} frozen layer(s)", x) for x in t["freeze"]["rows"] if x["frozen_layers"]]
    runs += [(f"per-layer decay {x['decay']:g}", x) for x in t["discriminative"]["rows"] if x["decay"] != 1.0]
    (worst_name, worst), (best_name, best) = min(runs, key=lambda p: p[1]["accuracy"]), max(
        runs, key=lambda p: p[1]["accuracy"])
    print(f"With the same pre-trained weights and the same {t['lr']['n_labels']:,} labels, the fine-tuning choices "
          f"alone moved the test accuracy from {pct(worst['accuracy'])} ({worst_name}) to "
          f"{pct(best['accuracy'])} ({best_name}).")


def gains(r=None):
    """The largest gain and the largest loss of pre-training over the label counts, in points."""
    r = r or load()
    rows = {(x["init"], x["n_labels"]): x["accuracy_mean"] for x in r["labels"]["rows"]}
    counts = sorted({n for _, n in rows})
    diffs = {n: 100 * (rows[("pretrained", n)] - rows[("scratch", n)]) for n in counts}
    return max(diffs.items(), key=lambda p: p[1]), min(diffs.items(), key=lambda p: p[1])


def report_gains(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    (n_best, best), (n_worst, worst) = gains(r)
    print(f"The largest difference in favour of pre-training: {best:+.1f} points (at {label_count(n_best, r)} "
          f"labels); the largest against it: {worst:+.1f} points (at {label_count(n_worst, r)} labels).")


def direction(delta):
    return "helped" if delta > 0 else ("hurt" if delta < 0 else "changed nothing")


def notice_lr(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    t = r["tips"]["lr"]
    by = {(x["init"], x["lr"]): x["accuracy"] for x in t["rows"]}
    lrs = sorted({x["lr"] for x in t["rows"]})
    lower = [lr for lr in lrs if lr < t["pretraining_lr"]]
    ahead = [lr for lr in lrs if by[("pretrained", lr)] > by[("scratch", lr)]]
    base = by[("pretrained", t["pretraining_lr"])]
    print(f"On the first label subset (test accuracy), fine-tuning the pre-trained model below the "
          f"pre-training learning rate ({', '.join(f'{lr:g}' for lr in lower)}) "
          f"gave {', '.join(pct(by[('pretrained', lr)]) for lr in lower)} against {pct(base)} at {t['pretraining_lr']:g}: "
          f"with this step budget the lower rate {direction(max(by[('pretrained', lr)] for lr in lower) - base)}. "
          f"The pre-trained model was ahead of the from-scratch one at {len(ahead)} of the {len(lrs)} learning rates "
          f"({', '.join(f'{lr:g}' for lr in ahead) or 'none'}), by up to "
          f"{100 * max(by[('pretrained', lr)] - by[('scratch', lr)] for lr in lrs):.1f} points; at each model's "
          f"best learning rate, from scratch was ahead by "
          f"{100 * (max(by[('scratch', lr)] for lr in lrs) - max(by[('pretrained', lr)] for lr in lrs)):+.1f} points.")


def notice_freeze(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    rows = r["tips"]["freeze"]["rows"]
    none, frozen = rows[0], rows[1:]
    print(f"Freezing {direction(max(x['accuracy'] for x in frozen) - none['accuracy'])}: "
          f"{pct(none['accuracy'])} with nothing frozen, "
          + ", ".join(f"{pct(x['accuracy'])} with {x['frozen_layers']} frozen layer(s)" for x in frozen)
          + f" (the majority class is {pct(r['labels']['majority'])}).")


def notice_discriminative(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    rows = r["tips"]["discriminative"]["rows"]
    flat = next(x for x in rows if x["decay"] == 1.0)
    others = [x for x in rows if x["decay"] != 1.0]
    print(f"Lower learning rates towards the input {direction(max(x['accuracy'] for x in others) - flat['accuracy'])}: "
          + ", ".join(f"ξ = {x['decay']:g}: {pct(x['accuracy'])}" for x in others)
          + f", against {pct(flat['accuracy'])} with one learning rate for all.")


def polarity_words():
    """The words that carry a clause's polarity in the sentiment grammar."""
    from transformer_anatomy.tasks.sentiment import ADJECTIVES, VERBS

    return sorted(set(ADJECTIVES) | set(VERBS) | {base for base, _ in VERBS.values()})


def report_polarity_overlap(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    words = polarity_words()
    known = [w for w in words if w not in r["coverage"]["missing"]]
    print(f"Of the {len(words)} words that carry polarity in the grammar, the pre-training vocabulary knows "
          f"{len(known)}: " + (", ".join(f"`{w}`" for w in known) or "none") + ".")
