"""Parameter counts of the three families at equal width, by component, from our models
(docs/three-families.md; checked by tests/docs/test_three_families_snippets.py)."""

from __future__ import annotations

import functools

import torch
from matplotlib.figure import Figure

from transformer_anatomy.tasks.language_model import make_language_model_data
from transformer_anatomy.viz import figure_to_svg

E, H, LAYERS = 64, 4, 2  # width, heads, layers per stack: the site's task models' sizes
V = make_language_model_data().vocab_size  # one vocabulary for every model: the LM's characters
C = 2  # classes of the classifier (sentiment)
COMPONENTS = ("token embeddings", "positions", "self-attention", "cross-attention", "feed-forward", "norms",
              "output head")
MODELS = {  # row label -> (family, our class)
    "encoder-only (BERT-style)": ("encoder", "TransformerClassifier"),
    "decoder-only (GPT-2-style)": ("decoder", "GPT2LMHeadModel"),
    "decoder-only (Llama-style)": ("decoder", "LlamaForCausalLM"),
    "encoder–decoder (2017)": ("encoder-decoder", "Seq2SeqTransformer"),
}
FIRST_LAYER = {"TransformerClassifier": "encoder.layers.0", "GPT2LMHeadModel": "transformer.h.0",
               "LlamaForCausalLM": "model.layers.0", "Seq2SeqTransformer": "transformer.decoder.layers.0"}


# --8<-- [start:component]
def component(name):
    """Which part of a model a parameter belongs to, from its name (HF's and torch's)."""
    if any(k in name for k in ("tok_emb", "wte", "embed_tokens")):
        return "token embeddings"
    if any(k in name for k in ("pos_emb", "wpe")):
        return "positions"  # learned (sinusoids and RoPE have no parameters)
    if "multihead_attn" in name:
        return "cross-attention"  # the decoder reading the encoder's output
    if any(k in name for k in ("self_attn", ".attn.")):
        return "self-attention"
    if any(k in name for k in ("linear1", "linear2", ".mlp.")):
        return "feed-forward"
    if "norm" in name or ".ln_" in name:
        return "norms"
    return "output head"  # classifier, lm_head, generator
# --8<-- [end:component]


@functools.cache
def models():
    """One model of each row of ``MODELS``, at ``E``, ``H``, ``LAYERS`` (feed-forward 4E; Llama's
    SwiGLU at its default width, about 8/3 E)."""
    from transformer_anatomy.torch import Seq2SeqTransformer, TransformerClassifier
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel
    from transformer_anatomy.torch.llama import LlamaForCausalLM

    torch.manual_seed(0)
    return {
        "encoder-only (BERT-style)": TransformerClassifier(V, C, d_model=E, nhead=H, num_layers=LAYERS,
                                                           dim_feedforward=4 * E),
        "decoder-only (GPT-2-style)": GPT2LMHeadModel(V, n_embd=E, n_layer=LAYERS, n_head=H),
        "decoder-only (Llama-style)": LlamaForCausalLM(V, hidden_size=E, num_hidden_layers=LAYERS,
                                                       num_attention_heads=H),
        "encoder–decoder (2017)": Seq2SeqTransformer(V, V, d_model=E, nhead=H, num_encoder_layers=LAYERS,
                                                     num_decoder_layers=LAYERS, dim_feedforward=4 * E),
    }


def breakdown(model):
    """``{component: parameters}`` (tied weights once, as ``named_parameters`` yields them)."""
    counts = dict.fromkeys(COMPONENTS, 0)
    for name, p in model.named_parameters():
        counts[component(name)] += p.numel()
    return counts


def layer_params(label):
    """Parameters of one layer (the decoder layer for the encoder–decoder)."""
    m = models()[label]
    return sum(p.numel() for p in m.get_submodule(FIRST_LAYER[MODELS[label][1]]).parameters())


def counts():
    """Per row: total (our ``num_parameters()``), per layer, per component."""
    return {label: {"total": m.num_parameters(), "layer": layer_params(label), **breakdown(m)}
            for label, m in models().items()}


def encoder_layer_params():
    m = models()["encoder–decoder (2017)"]
    return sum(p.numel() for p in m.get_submodule("transformer.encoder.layers.0").parameters())


def report_counts():
    c = counts()
    print(f"E = {E}, H = {H}, {LAYERS} layers per stack, V = {V}\n")
    print("| model | class | parameters | one layer | " + " | ".join(COMPONENTS) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(COMPONENTS))
    for label, row in c.items():
        parts = " | ".join(f"{row[k]:,}" for k in COMPONENTS)
        print(f"| {label} | `{MODELS[label][1]}` | {row['total']:,} | {row['layer']:,} | {parts} |")


def notice_counts():
    c = counts()
    enc, gpt = encoder_layer_params(), c["decoder-only (GPT-2-style)"]["layer"]
    dec = c["encoder–decoder (2017)"]["layer"]
    llama = c["decoder-only (Llama-style)"]["layer"]
    swiglu = models()["decoder-only (Llama-style)"].model.layers[0].mlp.gate_proj.weight.shape[0]
    print(f"A GPT-2 block has {gpt:,} parameters, an encoder layer {enc:,}: "
          f"{'the same count' if gpt == enc else 'not the same count'} — the same sublayers, with a causal mask. "
          f"A 2017 decoder layer has {dec:,}: its cross-attention and third norm add {dec - enc:,} "
          f"({(dec - enc) / enc:.0%} of an encoder layer). A Llama layer has {llama:,} (no biases; "
          f"SwiGLU's three matrices at width {swiglu}).")
    tied = c["decoder-only (GPT-2-style)"]["output head"]
    print(f"\nGPT-2's output head adds {tied:,} parameters: it is the token embedding, transposed (tied); "
          f"Llama's untied head adds {c['decoder-only (Llama-style)']['output head']:,} = V·E.")


def figure_counts():
    c = counts()
    labels = list(c)
    fig = Figure(figsize=(8.5, 3.0))
    ax = fig.subplots()
    left = [0] * len(labels)
    for k, comp in enumerate(COMPONENTS):
        vals = [c[label][comp] for label in labels]
        ax.barh(labels, vals, left=left, color=f"C{k}", label=comp)
        left = [a + b for a, b in zip(left, vals)]
    ax.invert_yaxis()
    ax.set_xlabel("parameters")
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return figure_to_svg(fig, alt="Stacked bars of the parameter counts of the four models by component: the "
                                  "encoder–decoder is the largest, with its cross-attention; GPT-2 and the "
                                  "encoder have the same layers",
                         caption=f"Our models at E = {E}, {LAYERS} layers per stack, V = {V}.")


# ------------------------------------------------------------------------------------ heads
HEADS = {  # row -> (our class, head attribute, what it reads)
    "classification": ("TransformerClassifier", "classifier", "the mean of the non-pad states"),
    "tagging": ("TransformerTagger", "tagger", "every position"),
    "extractive QA": ("TransformerQA", "qa_outputs", "every position"),
    "language model (GPT-2)": ("GPT2LMHeadModel", "lm_head", "every position"),
    "language model (Llama)": ("LlamaForCausalLM", "lm_head", "every position"),
    "seq2seq": ("Seq2SeqTransformer", "generator", "every target position"),
}


def head_models():
    """One model per row of ``HEADS`` (``models()`` where it has one), at ``E``."""
    from transformer_anatomy.torch import TransformerQA, TransformerTagger

    m = models()
    torch.manual_seed(0)
    return {"classification": m["encoder-only (BERT-style)"],
            "tagging": TransformerTagger(V, 5, d_model=E, nhead=H, num_layers=LAYERS, dim_feedforward=4 * E),
            "extractive QA": TransformerQA(V, d_model=E, nhead=H, num_layers=LAYERS, dim_feedforward=4 * E),
            "language model (GPT-2)": m["decoder-only (GPT-2-style)"],
            "language model (Llama)": m["decoder-only (Llama-style)"],
            "seq2seq": m["encoder–decoder (2017)"]}


def heads(ids=((5, 6, 7, 8),)):
    """Per row: the head's weight shape, its own parameters (0 if tied), the model's output shape on ``ids``."""
    ids = torch.tensor(ids)  # (1, 4)
    rows = {}
    for row, m in head_models().items():
        cls, attr, reads = HEADS[row]
        head = m.get_submodule(attr)
        embedding = {"GPT2LMHeadModel": "transformer.wte", "LlamaForCausalLM": "model.embed_tokens"}.get(cls)
        tied = embedding is not None and head.weight is m.get_submodule(embedding).weight
        own = 0 if tied else sum(p.numel() for p in head.parameters())
        m.eval()
        with torch.no_grad():
            out = m(ids, ids) if cls == "Seq2SeqTransformer" else m(ids)
        shape = tuple(tuple(o.shape) for o in out) if isinstance(out, tuple) else tuple(out.shape)
        rows[row] = dict(cls=cls, attr=attr, reads=reads, weight=tuple(head.weight.shape), own=own, tied=tied,
                         out=shape)
    return rows


def report_heads():
    print(f"| task kind | our model | head | weight (out, in) | its parameters | reads | output on ids (1, 4) |")
    print("|---|---|---|---|---:|---|---|")
    for row, h in heads().items():
        out = " and ".join(str(o) for o in h["out"]) if isinstance(h["out"][0], tuple) else str(h["out"])
        own = "0 (tied to the embedding)" if h["tied"] else f"{h['own']:,}"
        print(f"| {row} | `{h['cls']}` | `{h['attr']}` | {h['weight']} | {own} | {h['reads']} | {out} |")
