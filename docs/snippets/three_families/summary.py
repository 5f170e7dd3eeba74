"""The side-by-side table of docs/three-families.md: every entry computed by the page's other
snippets (checked by tests/docs/test_three_families_snippets.py)."""

from __future__ import annotations

import numpy as np
from three_families.families import dependence_on, example
from three_families.objectives import S, lm_summary, load_lm, predictions_per_sequence, task_rows
from three_families.params import E, LAYERS, counts, heads


def mask_kind(depends):
    """``"bidirectional"`` (every output reads every input), ``"causal"`` (output i reads inputs 0..i)."""
    if depends.all():
        return "bidirectional"
    if (depends == np.tril(np.ones_like(depends))).all():
        return "causal"
    return "other"


def measured_kinds():
    """Each family's attention, classified from the dependence measured on an unpadded sentence."""
    ids = example()[1][:1]  # (1, 4): the cat sat down
    enc = dependence_on("encoder", ids)["tok_emb"]
    gpt = dependence_on("gpt2", ids)["transformer.wte"]
    llama = dependence_on("llama", ids)["model.embed_tokens"]
    ed = dependence_on("encoder-decoder", ids)
    return {"encoder-only": mask_kind(enc), "decoder-only": mask_kind(gpt), "decoder-only (Llama)": mask_kind(llama),
            "encoder–decoder": f"{mask_kind(ed['src_tok_emb'])} over the source, "
                               f"{mask_kind(ed['tgt_tok_emb'])} over the target"}


def summary():
    kinds, per, c, h = measured_kinds(), predictions_per_sequence(), counts(), heads()
    tasks = {}
    for r in task_rows():
        tasks.setdefault(r["family"], []).append(f"{r['task']} ({r['metric']})")
    tasks.setdefault("decoder-only", []).append(f"language model ({lm_summary(load_lm())})")
    return [
        {"family": "encoder-only (BERT)", "attention": kinds["encoder-only"],
         "objective": f"masked LM or the task's labels; {per['masked LM']:.1f} of {S} positions trained by masked LM",
         "heads": ", ".join(f"`{h[k]['attr']}`" for k in ("classification", "tagging", "extractive QA")),
         "params": c["encoder-only (BERT-style)"]["total"], "tasks": tasks.get("encoder-only", [])},
        {"family": "decoder-only (GPT, Llama)",
         "attention": kinds["decoder-only"] + ("" if kinds["decoder-only (Llama)"] == kinds["decoder-only"]
                                               else f" (Llama: {kinds['decoder-only (Llama)']})"),
         "objective": f"causal LM: the next token; {per['causal LM']:.0f} of {S} positions trained",
         "heads": "`lm_head`" + (" (tied)" if h["language model (GPT-2)"]["tied"] else ""),
         "params": c["decoder-only (GPT-2-style)"]["total"], "tasks": tasks.get("decoder-only", [])},
        {"family": "encoder–decoder (2017)", "attention": kinds["encoder–decoder"],
         "objective": f"the target given the source; {per['seq2seq']:.0f} of {S} positions trained "
                      "(the other half is the source)",
         "heads": f"`{h['seq2seq']['attr']}`", "params": c["encoder–decoder (2017)"]["total"],
         "tasks": tasks.get("encoder–decoder", [])},
    ]


def report_summary():
    print(f"| family | attention (measured) | objective | head | parameters (E = {E}, {LAYERS} layers per stack) "
          f"| this site's tasks (held-out) |")
    print("|---|---|---|---|---:|---|")
    for r in summary():
        print(f"| {r['family']} | {r['attention']} | {r['objective']} | {r['heads']} | {r['params']:,} | "
              f"{'; '.join(r['tasks'])} |")
