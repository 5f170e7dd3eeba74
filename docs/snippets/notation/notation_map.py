"""The notation map: our letters next to the names other texts use for the same sizes.

The "base model" column is read from the default arguments of ``torch.nn.Transformer`` (which
are the paper's base model) and checked against ours, so no size in it is typed by hand.
"""

import inspect

import torch

from transformer_anatomy.config import preset
from transformer_anatomy.torch import Transformer

# (meaning, ours, paper, nanoGPT, (N, M, E) texts, PyTorch docs, HuggingFace, base-model key)
ROWS = [
    ("batch size", "N", "— (*N* = layers!)", "B", "N", "N", "batch_size", None),
    ("source length", "S", "n", "T", "M", "S", "sequence_length", None),
    ("target length", "T", "n (or m)", "T", "M", "T; L in MHA docs", "sequence_length", None),
    ("model width", "E", "d_model", "C = n_embd", "E", "E, embed_dim", "hidden_size", "d_model"),
    ("heads", "H", "h", "n_head", "—", "nhead, num_heads", "num_attention_heads", "nhead"),
    ("head width", "E/H", "d_k = d_v = d_model/h", "hs = C // n_head", "—", "head_dim", "attention_head_size", "head"),
    ("feed-forward width", "F", "d_ff", "4 · C", "—", "dim_feedforward", "intermediate_size", "dim_feedforward"),
    ("vocabulary size", "V", "—", "vocab_size", "—", "—", "vocab_size", None),
    ("layers per stack", "—", "N", "n_layer", "—", "num_encoder_layers", "num_hidden_layers", "num_encoder_layers"),
]


def base_sizes():
    """The base model's sizes: ``nn.Transformer``'s defaults, which must equal our class's and the
    ``base`` preset of ``transformer_anatomy.config``."""
    theirs = {k: p.default for k, p in inspect.signature(torch.nn.Transformer.__init__).parameters.items()}
    ours = {k: p.default for k, p in inspect.signature(Transformer.__init__).parameters.items()}
    base = preset("base").to_dict()
    keys = ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward")
    for k in keys:
        if not theirs[k] == ours[k] == base[k]:
            raise ValueError(f"default {k}: nn.Transformer {theirs[k]}, ours {ours[k]}, preset base {base[k]}")
    sizes = {k: theirs[k] for k in keys}
    sizes["head"] = sizes["d_model"] // sizes["nhead"]
    return sizes


def report():
    """Print the map as a Markdown table."""
    base = base_sizes()
    print("| meaning | **ours** | paper (Vaswani et al.) | nanoGPT | (N, M, E) texts "
          "| PyTorch docs | HuggingFace config / docs | base model |")
    print("|---|---|---|---|---|---|---|---|")
    for meaning, ours, paper, nano, nme, pt, hf, key in ROWS:
        value = "" if key is None else str(base[key])
        print(f"| {meaning} | **{ours}** | {paper} | {nano} | {nme} | {pt} | {hf} | {value} |")
