"""The three training objectives on one batch, and which of the site's tasks each family
serves (docs/three-families.md; checked by tests/docs/test_three_families_snippets.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from results_io import RESULTS, load_result

from transformer_anatomy.tasks.task_data import MAIN_METRIC
from transformer_anatomy.training.pretraining import IGNORE, SPECIALS, mask_tokens

N, S, V = 256, 64, 100  # a batch of sequences of S tokens over V ids


# --8<-- [start:objectives]
def objectives(seed=0):
    """Inputs and labels of each family's objective on the same token ids (N, S)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(len(SPECIALS), V, (N, S), generator=g)  # ordinary tokens only
    # encoder-only, masked LM (BERT): hide 15 %, predict them from both sides
    mlm_in, mlm_labels = mask_tokens(ids, V, generator=g)  # IGNORE (-100): no loss
    # decoder-only, causal LM (GPT): every next token, from the tokens on its left
    clm_in, clm_labels = ids[:, :-1], ids[:, 1:]  # targets = inputs shifted by one
    # encoder–decoder: read a source, predict the target (here: the source reversed)
    src, tgt = ids[:, : S // 2], ids[:, S // 2:].flip(1)
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # teacher forcing: the decoder reads tgt_in
    return {"masked LM": (mlm_in, mlm_labels), "causal LM": (clm_in, clm_labels),
            "seq2seq": ((src, tgt_in), tgt_out)}
# --8<-- [end:objectives]


def predictions_per_sequence(seed=0):
    """Positions that carry a loss, per sequence (mean over the batch)."""
    out = {}
    for name, (_, labels) in objectives(seed).items():
        out[name] = float((labels != IGNORE).sum(dim=1).float().mean())
    return out


def report_objectives():
    o = objectives()
    per = predictions_per_sequence()
    mlm_in, mlm_labels = o["masked LM"]
    chosen = mlm_labels != IGNORE
    from transformer_anatomy.training.pretraining import MASK_ID
    became_mask = float((mlm_in[chosen] == MASK_ID).float().mean())
    print(f"| objective | model input | labels | positions with a loss per sequence (of {S} tokens) |")
    print("|---|---|---|---:|")
    print(f"| masked LM | {tuple(mlm_in.shape)}, {became_mask:.0%} of the chosen became [MASK] | "
          f"{tuple(mlm_labels.shape)}, {IGNORE} where no loss | {per['masked LM']:.1f} |")
    clm_in, clm_labels = o["causal LM"]
    print(f"| causal LM | {tuple(clm_in.shape)} | {tuple(clm_labels.shape)}, inputs shifted by one | "
          f"{per['causal LM']:.0f} |")
    (src, tgt_in), tgt_out = o["seq2seq"]
    print(f"| seq2seq | src {tuple(src.shape)}, tgt_in {tuple(tgt_in.shape)} | {tuple(tgt_out.shape)} | "
          f"{per['seq2seq']:.0f} |")
    print(f"\nPer sequence of {S} tokens the causal LM has {per['causal LM'] / per['masked LM']:.1f}× as many "
          f"positions with a loss as the masked LM.")


# ------------------------------------------------------------------------ which task wants which
TASKS = {  # the site's task -> (results file task, run, family, head, why)
    "sentiment": ("sentiment", "encoder_classifier", "encoder-only", "mean pool → `classifier` (E → C)",
                  "one label for the whole sentence: every token may look at every other"),
    "tagging": ("tagging", "encoder_tagger", "encoder-only", "`tagger` (E → C) at every position",
                "one label per token, from both sides"),
    "tagging as seq2seq": ("tagging", "encoder_decoder", "encoder–decoder", "`generator` (E → V)",
                           "the same task generated tag by tag"),
    "reversal": ("reversal", "encoder_decoder", "encoder–decoder", "`generator` (E → V)",
                 "an output sequence of its own, read off the whole input"),
    "numbers": ("numbers", "encoder_decoder", "encoder–decoder", "`generator` (E → V)",
                "words in, digits out: two vocabularies and lengths"),
    "qa": ("qa", "encoder_qa", "encoder-only", "`qa_outputs` (E → 2): a start and an end per position",
           "the answer is a span of the input"),
}


def load_lm(results=None):
    path = Path(results or RESULTS) / "lm.json"
    return json.loads(path.read_text()) if path.exists() else None


def task_rows(results=None):
    """One row per site task: family, our model class, head, held-out main metric (from the results)."""
    rows = []
    for name, (task, run, family, head, why) in TASKS.items():
        r = load_result(task, "torch", results)
        got = None if r is None else r["runs"].get(run)
        if got is None:
            rows.append(dict(task=name, family=family, model="—", head=head, metric="not yet produced", why=why))
            continue
        kind = r.get("kind") or got.get("kind") or _kind(got["model"]["class"])
        metric = MAIN_METRIC[kind]
        rows.append(dict(task=name, family=family, model=got["model"]["class"], head=head, why=why,
                         metric=f"{metric.replace('_', ' ')} {got['test_metrics'][metric]:.3f}",
                         params=got["model"]["num_params"]))
    return rows


def _kind(cls):
    return {"TransformerClassifier": "classification", "TransformerTagger": "tagging",
            "TransformerQA": "qa"}.get(cls, "seq2seq")


def report_tasks(results=None):
    print("| task | family | our model | head | held-out (test) | why |")
    print("|---|---|---|---|---|---|")
    for r in task_rows(results):
        print(f"| {r['task']} | {r['family']} | `{r['model']}` | {r['head']} | {r['metric']} | {r['why']} |")
    lm = load_lm(results)
    print(f"| language model | decoder-only | `GPT2LMHeadModel`, `LlamaForCausalLM` | `lm_head` (E → V) | "
          f"{lm_summary(lm)} | the next character from the ones before it: nothing on the right exists yet |")


def lm_summary(lm):
    """Held-out bits per character of the best decoder-only run of ``lm.json`` (or a placeholder)."""
    if lm is None:
        return "not yet produced (`scripts/lm_study.py`)"
    best = min(lm["runs"].values(), key=lambda run: run["test"]["bits_per_char"])
    family = {"gpt2": "GPT-2-style", "llama": "Llama-style"}.get(best["family"], best["family"])
    backend = {"numpy": "NumPy", "torch": "PyTorch"}.get(best["backend"], best["backend"])
    quick = ", a quick run" if lm.get("quick") else ""
    return f"{best['test']['bits_per_char']:.2f} bits/char, {family}, {backend}{quick}"


def tagging_pair(results=None):
    """The tagging task's two runs on a metric they share: whole sentences tagged right."""
    r = load_result("tagging", "torch", results)
    if r is None or not {"encoder_tagger", "encoder_decoder"} <= set(r["runs"]):
        return None
    enc, ed = r["runs"]["encoder_tagger"], r["runs"]["encoder_decoder"]
    return {"encoder": (enc["test_metrics"]["sentence_accuracy"], enc["model"]["num_params"]),
            "encoder-decoder": (ed["test_metrics"]["exact_match"], ed["model"]["num_params"])}


def notice_tagging(results=None):
    pair = tagging_pair(results)
    if pair is None:
        return print("*Tagging results not yet produced — run `python scripts/reproduce.py --task tagging`.*")
    (a, na), (b, nb) = pair["encoder"], pair["encoder-decoder"]
    print(f"On tagging, the test sentences tagged entirely right: {a:.1%} by the encoder with a per-token head "
          f"({na:,} parameters), {b:.1%} by the encoder–decoder generating the tags ({nb:,} parameters).")
