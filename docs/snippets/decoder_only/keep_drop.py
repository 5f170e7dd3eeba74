"""What GPT keeps and drops from the 2017 Transformer, counted on our modules: the decoder layer
of ``Seq2SeqTransformer`` against a block of ``GPT2LMHeadModel`` at the same width
(docs/decoder-only.md; checked by tests/docs/test_decoder_only_snippets.py)."""

from __future__ import annotations

import functools

import torch

from transformer_anatomy.tasks.language_model import make_language_model_data

E, H = 64, 4  # width, heads
V = make_language_model_data().vocab_size  # the LM's character vocabulary

# 2017 decoder layer part -> (GPT-2 part or None, what happens to it)
MAPPING = {
    "self_attn": ("attn", "kept: masked (causal) self-attention, fused Q/K/V projection `c_attn`"),
    "multihead_attn": (None, "dropped: cross-attention — there is no encoder to read"),
    "linear1 + linear2": ("mlp", "kept: the position-wise feed-forward network, GELU (tanh) instead of ReLU"),
    "norm1 + norm2": ("ln_1 + ln_2", "kept, moved: LayerNorm *before* each sublayer (pre-norm)"),
    "norm3": (None, "dropped with the cross-attention it followed"),
}


@functools.cache
def modules():
    """Our 2017 encoder–decoder and our GPT-2-style model at the same width, heads, depth."""
    from transformer_anatomy.torch import Seq2SeqTransformer
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel

    torch.manual_seed(0)
    s2s = Seq2SeqTransformer(V, V, d_model=E, nhead=H, dim_feedforward=4 * E)
    gpt = GPT2LMHeadModel(V, n_embd=E, n_layer=2, n_head=H)
    return s2s, gpt


def count(module, names):
    return sum(p.numel() for n in names.split(" + ") for p in module.get_submodule(n).parameters())


def keep_drop():
    """Rows ``(2017 part, its parameters, GPT-2 part, its parameters, what happens)`` for layer 0."""
    s2s, gpt = modules()
    dec, block = s2s.transformer.decoder.layers[0], gpt.transformer.h[0]
    rows = []
    for ours, (theirs, what) in MAPPING.items():
        rows.append((ours, count(dec, ours), theirs, count(block, theirs) if theirs else 0, what))
    return rows


def layer_totals():
    s2s, gpt = modules()
    dec, block = s2s.transformer.decoder.layers[0], gpt.transformer.h[0]
    enc = s2s.transformer.encoder.layers[0]
    return {"decoder layer": sum(p.numel() for p in dec.parameters()),
            "GPT-2 block": sum(p.numel() for p in block.parameters()),
            "encoder layer": sum(p.numel() for p in enc.parameters())}


def model_totals():
    s2s, gpt = modules()
    return {"Seq2SeqTransformer": s2s.num_parameters(), "GPT2LMHeadModel": gpt.num_parameters(),
            "encoder stack": sum(p.numel() for p in s2s.transformer.encoder.parameters()),
            "lm_head tied": gpt.lm_head.weight is gpt.transformer.wte.weight}


def report_keep_drop():
    print(f"Layer 0 of each, E = {E}, H = {H}, F = 4E:\n")
    print("| 2017 decoder layer | parameters | GPT-2 block | parameters | |")
    print("|---|---:|---|---:|---|")
    for ours, n_ours, theirs, n_theirs, what in keep_drop():
        print(f"| `{ours}` | {n_ours:,} | {f'`{theirs}`' if theirs else '—'} | {n_theirs:,} | {what} |")
    t = layer_totals()
    fewer = t["decoder layer"] - t["GPT-2 block"]
    print(f"| **whole layer** | **{t['decoder layer']:,}** | **whole block** | **{t['GPT-2 block']:,}** | "
          f"{fewer:,} fewer ({fewer / t['decoder layer']:.0%}) |")


def notice_keep_drop():
    t, m = layer_totals(), model_totals()
    print(f"A GPT-2 block has the parameters of an encoder layer ({t['encoder layer']:,}): "
          f"{'exactly' if t['GPT-2 block'] == t['encoder layer'] else 'not exactly'} the same. Around the blocks, "
          f"GPT drops the whole encoder stack ({m['encoder stack']:,} parameters here), replaces the sinusoidal "
          f"positions by a learned table `wpe`, adds a final LayerNorm `ln_f`, and its output head "
          f"{'is the token embedding, transposed (tied)' if m['lm_head tied'] else 'has its own matrix'}.")
