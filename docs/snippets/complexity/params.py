"""Parameter counts: closed-form formulas against ``sum(p.numel() for p in model.parameters())``.

Big models are built on PyTorch's ``meta`` device: parameters with shapes but no memory and no
initialisation, so counting a 100M-parameter model takes milliseconds.
"""

import torch

from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.config import preset


# --8<-- [start:formulas]
def linear_params(n_in, n_out):
    """A biased nn.Linear(n_in, n_out): weight (n_out × n_in) + bias."""
    return n_in * n_out + n_out


def layer_norm_params(E):
    """LayerNorm's γ and β."""
    return 2 * E


def attention_params(E):
    """W_q, W_k, W_v, W_o (E × E each) and their biases: 4E² + 4E."""
    return 4 * linear_params(E, E)


def ffn_params(E, F):
    """linear1 (E → F) and linear2 (F → E) with biases: 2EF + F + E."""
    return linear_params(E, F) + linear_params(F, E)


def encoder_layer_params(E, F):
    return attention_params(E) + ffn_params(E, F) + 2 * layer_norm_params(E)  # + two LayerNorms


def decoder_layer_params(E, F):
    return 2 * attention_params(E) + ffn_params(E, F) + 3 * layer_norm_params(E)  # self + cross attention, three norms
# --8<-- [end:formulas]


# --8<-- [start:models]


def seq2seq_params(V_src, V_tgt, E, F, L_enc, L_dec, tie_weights=False, learned_positions=0):
    """Our Seq2SeqTransformer: embeddings, the nn.Transformer core (with its two final norms),
    the generator (V_tgt × E + V_tgt; its weight is the target embedding when tied)."""
    core = L_enc * encoder_layer_params(E, F) + L_dec * decoder_layer_params(E, F) + 2 * layer_norm_params(E)
    embeddings = V_src * E + V_tgt * E + 2 * learned_positions * E
    generator = V_tgt + (0 if tie_weights else V_tgt * E)
    return embeddings + core + generator


def bert_parts(V=30522, E=768, F=3072, L=12, P=512, types=2):
    """BERT: token, position and token-type embeddings + LayerNorm; L encoder layers; pooler."""
    return {
        "embeddings (+ LayerNorm)": V * E + P * E + types * E + layer_norm_params(E),
        f"{L} encoder layers": L * encoder_layer_params(E, F),
        "pooler": linear_params(E, E),
    }


def bert_params(**sizes):
    return sum(bert_parts(**sizes).values())
# --8<-- [end:models]


def count(model):
    """Distinct parameters (a tied weight is counted once, as ``parameters()`` yields it once)."""
    return sum(p.numel() for p in model.parameters())


CONFIGS = {
    "small (defaults), V = 16": dict(src_vocab_size=16, tgt_vocab_size=16),
    "small, learned positions, tied": dict(src_vocab_size=16, tgt_vocab_size=16, positional="learned", tie_weights=True),
    # the paper's sizes (Vaswani et al. 2017, Table 3): transformer_anatomy.config's presets
    "base, V = 37000 (separate tables)": dict(src_vocab_size=37000, tgt_vocab_size=37000,
                                            **preset("base").seq2seq_kwargs()),
    "big, V = 37000": dict(src_vocab_size=37000, tgt_vocab_size=37000, **preset("big").seq2seq_kwargs()),
}


def seq2seq_rows():
    """Rows ``(name, formula, sum(numel))`` for our configurations, built on the meta device."""
    rows = []
    for name, kw in CONFIGS.items():
        with torch.device("meta"):
            model = Seq2SeqTransformer(**kw)
        E, F = model.d_model, model.transformer.encoder.layers[0].linear1.out_features
        formula = seq2seq_params(
            model.src_vocab_size, model.tgt_vocab_size, E, F,
            len(model.transformer.encoder.layers), len(model.transformer.decoder.layers),
            tie_weights=kw.get("tie_weights", False),
            learned_positions=model.src_pos_emb.max_len if kw.get("positional") == "learned" else 0,
        )
        rows.append((name, formula, count(model)))
    return rows


_BASE = preset("base")  # Vaswani et al. (2017), Table 3: E = 512, F = 2048, 6 + 6 layers


def paper_base(V=37000, E=_BASE.d_model, F=_BASE.dim_feedforward, L=_BASE.num_encoder_layers):
    """The paper's base model shares ONE table between source embedding, target embedding and
    the pre-softmax projection (§3.4) and its projection has no bias: ``V·E + core``."""
    core = L * encoder_layer_params(E, F) + L * decoder_layer_params(E, F) + 2 * layer_norm_params(E)
    return V * E + core, core


PAPER_REPORTED = {"base": 65e6, "BERT-base": 110e6}  # as printed in the two papers


def bert_check():
    """``(formula by part, sum(numel) of transformers' BertModel(BertConfig()), the config)``, built on meta."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig()
    with torch.device("meta"):
        model = BertModel(cfg)
    parts = bert_parts(cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers,
                       cfg.max_position_embeddings, cfg.type_vocab_size)
    return parts, count(model), cfg


def report():
    """Print our configurations and the paper's base model (Markdown)."""
    print("| configuration | formula | `sum(numel)` | equal |")
    print("|---|---:|---:|---|")
    for name, formula, counted in seq2seq_rows():
        print(f"| {name} | {formula:,} | {counted:,} | {formula == counted} |")
    total, core = paper_base()
    print(f"\nThe paper's base model with one shared table of 37000 tokens: **{total:,}** "
          f"({total / 1e6:.1f}M; the encoder–decoder core alone is {core:,}). "
          f"The paper reports {PAPER_REPORTED['base'] / 1e6:.0f}M.")


def report_bert():
    """Print the BERT-base formula against transformers' BertModel (Markdown)."""
    parts, counted, cfg = bert_check()
    formula = sum(parts.values())
    print(f"`BertConfig()`: V = {cfg.vocab_size}, E = {cfg.hidden_size}, H = {cfg.num_attention_heads}, "
          f"F = {cfg.intermediate_size}, {cfg.num_hidden_layers} layers, {cfg.max_position_embeddings} positions.\n")
    print("| part | parameters | share |")
    print("|---|---:|---:|")
    for part, n in parts.items():
        print(f"| {part} | {n:,} | {n / formula:.1%} |")
    print(f"| **formula, total** | **{formula:,}** | |")
    print(f"| **`BertModel(BertConfig())`, sum(numel)** | **{counted:,}** | equal: {formula == counted} |")
    print(f"\nThe BERT paper reports {PAPER_REPORTED['BERT-base'] / 1e6:.0f}M.")
