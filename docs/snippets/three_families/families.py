"""What docs/three-families.md computes: the masks of the three families, from our mask
functions and measured on our models; their objectives; their heads; their parameter counts.

The three families, each as one of our models (torch backend):

- **encoder-only** (BERT): ``TransformerClassifier`` / ``TransformerTagger`` / ``TransformerQA``;
- **decoder-only** (GPT): ``transformer_anatomy.torch.gpt2.GPT2LMHeadModel`` and
  ``transformer_anatomy.torch.llama.LlamaForCausalLM``;
- **encoder–decoder** (the 2017 Transformer): ``Seq2SeqTransformer``.

Checked by tests/docs/test_three_families_snippets.py.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from transformer_anatomy.numpy.masks import causal_mask, make_key_padding_mask
from transformer_anatomy.tasks import PAD_ID, Vocab, pad_batch
from transformer_anatomy.viz import figure_to_svg, plot_mask_grid

SOURCE = ["the cat sat down", "a dog barked"]  # the second sentence is padded to the first's length
TARGET = "barked dog a"  # the encoder–decoder's target: the source reversed (the site's reversal task)


# --------------------------------------------------------------------------------- the tokens
@functools.cache
def example():
    """The vocabulary, the padded source ids ``(2, S)`` and the target ids ``(1, T)`` with <sos> first."""
    vocab = Vocab.build(SOURCE + [TARGET])
    src, _ = pad_batch([vocab.encode(s) for s in SOURCE])  # (2, S), padded with <pad> = 0
    tgt = np.array([vocab.encode(TARGET, add_sos=True)])  # (1, T): <sos> barked dog a
    return vocab, src, tgt


def tokens(ids):
    vocab = example()[0]
    return [vocab.idx2word[int(i)] for i in ids]


# --------------------------------------------------------------------------------- the masks
# --8<-- [start:masks]
def family_masks():
    """Each family's attention masks (True = may not attend), from our mask functions.

    The encoder reads the padded sentence "a dog barked <pad>"; the decoders read
    "<sos> barked dog a" (GPT alone, with no source at all).
    """
    _, src, tgt = example()
    S, T = src.shape[1], tgt.shape[1]
    pad = make_key_padding_mask(src[1:], PAD_ID)  # (1, S): True at <pad>
    return {
        # bidirectional: every token sees every real token
        "encoder-only: self-attention": np.broadcast_to(pad, (S, S)),
        "decoder-only: self-attention": causal_mask(T, T),  # position t sees 0..t
        "enc–dec: decoder self-attention": causal_mask(T, T),
        # every target position sees the whole (real) source
        "enc–dec: cross-attention": np.broadcast_to(pad, (T, S)),
    }
# --8<-- [end:masks]


def mask_labels():
    """Row (query) and column (key) tokens of each panel of :func:`family_masks`."""
    _, src, tgt = example()
    s, t = tokens(src[1]), tokens(tgt[0])
    return ({"encoder-only: self-attention": s, "decoder-only: self-attention": t,
             "enc–dec: decoder self-attention": t, "enc–dec: cross-attention": t},
            {"encoder-only: self-attention": s, "decoder-only: self-attention": t,
             "enc–dec: decoder self-attention": t, "enc–dec: cross-attention": s})


def figure_masks():
    rows, cols = mask_labels()
    fig = plot_mask_grid(family_masks(), row_labels=rows, col_labels=cols, figsize=(12.0, 3.3), fontsize=9)
    return figure_to_svg(
        fig, alt="Four 4 by 4 mask grids: the encoder's self-attention blocks only the pad column; the "
                 "decoder-only model's self-attention and the encoder–decoder's decoder self-attention block "
                 "the cells above the diagonal; the cross-attention blocks only the source's pad column",
        caption="From <code>causal_mask</code> and <code>make_key_padding_mask</code>. Grey × = may not attend; "
                "rows are queries, columns keys.")


# --------------------------------------------------------------------------------- the models
def build(family, V, E=16, layers=2, H=2, dtype=torch.float64, seed=0):
    """One of our models per family, at width ``E`` and ``layers`` layers (per stack), eval mode.

    ``family``: ``"encoder"`` (``TransformerTagger``, one output per position), ``"gpt2"``,
    ``"llama"``, ``"encoder-decoder"`` (``Seq2SeqTransformer``). Feed-forward width 4E
    (GPT-2's, the 2017 paper's) except Llama's default SwiGLU width.
    """
    from transformer_anatomy.torch import Seq2SeqTransformer, TransformerTagger
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel
    from transformer_anatomy.torch.llama import LlamaForCausalLM

    torch.manual_seed(seed)
    if family == "encoder":
        m = TransformerTagger(V, 3, d_model=E, nhead=H, num_layers=layers, dim_feedforward=4 * E, dropout=0.0)
    elif family == "gpt2":
        m = GPT2LMHeadModel(V, n_embd=E, n_layer=layers, n_head=H, dtype=dtype)
    elif family == "llama":
        m = LlamaForCausalLM(V, hidden_size=E, intermediate_size=3 * E, num_hidden_layers=layers,
                             num_attention_heads=H, dtype=dtype)
    elif family == "encoder-decoder":
        m = Seq2SeqTransformer(V, V, d_model=E, nhead=H, num_encoder_layers=layers, num_decoder_layers=layers,
                               dim_feedforward=4 * E, dropout=0.0)
    else:
        raise ValueError(f"family={family!r}: expected encoder, gpt2, llama or encoder-decoder")
    return m.to(dtype).eval()


TOKEN_EMBEDDINGS = {"encoder": ("tok_emb",), "gpt2": ("transformer.wte",), "llama": ("model.embed_tokens",),
                    "encoder-decoder": ("src_tok_emb", "tgt_tok_emb")}


# --8<-- [start:dependence]
def dependence(model, run, embeddings, seed=0):
    """depends[name][i, j]: does output position i change with input position j?

    Measured, not assumed: the gradient of (a random direction of) output i with
    respect to the token vectors x_j that the embedding model.<name> produced. If
    every layer's mask blocks j for i, it is exactly zero.
    """
    caught, hooks = {}, []
    for n in embeddings:
        keep = lambda m, args, out, n=n: caught.__setitem__(n, out)  # (1, L, E)
        hooks.append(model.get_submodule(n).register_forward_hook(keep))
    try:
        out = run(model)  # (1, T, C): every output position
    finally:
        for h in hooks:
            h.remove()
    g = torch.Generator().manual_seed(seed)
    r = torch.randn(out.shape[-1], generator=g, dtype=out.dtype)
    xs = [caught[n] for n in embeddings]
    depends = {n: np.zeros((out.shape[1], x.shape[1]), bool) for n, x in zip(embeddings, xs)}
    for i in range(out.shape[1]):
        grads = torch.autograd.grad(out[0, i] @ r, xs, retain_graph=True)
        for n, grad in zip(embeddings, grads):
            depends[n][i] = grad[0].abs().sum(-1).numpy() > 0  # (L,): one flag per input
    return depends
# --8<-- [end:dependence]


@functools.cache
def measured():
    """``dependence`` on each family's model, over the inputs of :func:`family_masks`."""
    vocab, src, tgt = example()
    V = len(vocab)
    s, t = torch.as_tensor(src[1:]), torch.as_tensor(tgt)  # (1, S) with a pad, (1, T)
    runs = {"encoder": lambda m: m(s), "gpt2": lambda m: m(t), "llama": lambda m: m(t),
            "encoder-decoder": lambda m: m(s, t)}
    return {family: dependence(build(family, V), run, TOKEN_EMBEDDINGS[family]) for family, run in runs.items()}


def measured_masks():
    """The measured dependence as masks (True = output ``i`` does not change with input ``j``),
    on the panels of :func:`family_masks` (GPT-2's and Llama's must agree)."""
    d = measured()
    return {"encoder-only: self-attention": ~d["encoder"]["tok_emb"],
            "decoder-only: self-attention": ~d["gpt2"]["transformer.wte"],
            "decoder-only (Llama): self-attention": ~d["llama"]["model.embed_tokens"],
            "enc–dec: decoder self-attention": ~d["encoder-decoder"]["tgt_tok_emb"],
            "enc–dec: cross-attention": ~d["encoder-decoder"]["src_tok_emb"]}


def compare_measured():
    """Per panel: cells where the measured dependence and the mask function disagree."""
    masks, got = family_masks(), measured_masks()
    got_llama = got.pop("decoder-only (Llama): self-attention")
    rows = {name: [(int(i), int(j)) for i, j in zip(*np.nonzero(got[name] != masks[name]))] for name in masks}
    return rows, bool((got_llama == got["decoder-only: self-attention"]).all())


def report_measured():
    rows, llama_same = compare_measured()
    row_tokens, col_tokens = mask_labels()
    print("| panel | cells | measured = mask function, except at (query, key) |")
    print("|---|---:|---|")
    for name, diff in rows.items():
        cells = family_masks()[name].size
        what = ", ".join(f"({row_tokens[name][i]}, {col_tokens[name][j]})" for i, j in diff) or "nowhere"
        print(f"| {name} | {cells} | {what} |")
    print(f"\nLlama's measured dependence equals GPT-2's, cell for cell: {llama_same}.")


def dependence_on(family, ids, seed=0):
    """:func:`dependence` of one family's model on one unpadded sequence ``ids`` ``(1, L)``
    (the encoder–decoder reads it as source and as target)."""
    vocab = example()[0]
    x = torch.as_tensor(ids)
    run = (lambda m: m(x, x)) if family == "encoder-decoder" else (lambda m: m(x))
    return dependence(build(family, len(vocab), seed=seed), run, TOKEN_EMBEDDINGS[family])


def figure_measured():
    got = measured_masks()
    got.pop("decoder-only (Llama): self-attention")
    rows, cols = mask_labels()
    fig = plot_mask_grid(got, row_labels=rows, col_labels=cols, figsize=(12.0, 3.3), fontsize=9)
    return figure_to_svg(
        fig, alt="The same four grids measured on our models: grey where an output position's gradient with "
                 "respect to an input token vector is exactly zero; they match the mask grids except the pad "
                 "row's own cell in the encoder",
        caption="Measured on <code>TransformerTagger</code>, <code>GPT2LMHeadModel</code> and "
                "<code>Seq2SeqTransformer</code>: grey × = the output at the row does not depend on the input "
                "at the column.")
