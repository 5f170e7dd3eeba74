"""What nn.Transformer's constructor builds: a compact module tree and its parameter count by formula."""

import textwrap
import warnings

import torch
from torch import nn




def _describe(module):
    """One line for a module: its class and its own parameters' shapes."""
    own = ", ".join(f"{n} {tuple(p.shape)}" for n, p in module.named_parameters(recurse=False))
    if isinstance(module, nn.Linear):
        own = f"{module.in_features} -> {module.out_features}"
    elif isinstance(module, nn.LayerNorm):
        own = f"{module.normalized_shape[0]}, eps={module.eps:g}"
    elif isinstance(module, nn.Dropout):
        own = f"p={module.p:g}"
    return type(module).__name__ + (f"({own})" if own else "")


def compact_tree(module, name="", indent=0, skip=(nn.Dropout,)):
    """Lines of the module tree; a ModuleList of identical layers is shown once as 'k x'."""
    pad = "  " * indent
    lines = [f"{pad}{name + ': ' if name else ''}{_describe(module)}"]
    for child_name, child in module.named_children():
        if isinstance(child, skip):
            continue
        if isinstance(child, nn.ModuleList) and len(child) and len({repr(c) for c in child}) == 1:
            sub = compact_tree(child[0], f"{child_name}.0..{len(child) - 1}", indent + 1, skip)
            sub[0] = sub[0].replace(": ", f": {len(child)} x ", 1)
            lines += sub
        else:
            lines += compact_tree(child, child_name, indent + 1, skip)
    return lines


def transformer_parameter_formula(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                                  dim_feedforward=2048):
    """Parameter count of nn.Transformer by formula (bias=True everywhere); returns the parts and the total."""
    E, F = d_model, dim_feedforward
    from complexity import params  # the one home of the parameter formulas
    mha = params.attention_params(E)  # in_proj (3E, E) + bias (3E) + out_proj (E, E) + bias (E)
    ffn = params.ffn_params(E, F)  # linear1 (F, E) + bias, linear2 (E, F) + bias
    norm = params.layer_norm_params(E)  # LayerNorm weight + bias
    enc_layer = params.encoder_layer_params(E, F)  # self-attention, FFN, norm1, norm2
    dec_layer = params.decoder_layer_params(E, F)  # self-attention, cross-attention, FFN, norm1..3
    parts = {
        "one MultiheadAttention  4E^2 + 4E": mha,
        "one feed-forward        2EF + F + E": ffn,
        "one encoder layer": enc_layer,
        "one decoder layer": dec_layer,
        f"encoder: {num_encoder_layers} layers + final norm": num_encoder_layers * enc_layer + norm,
        f"decoder: {num_decoder_layers} layers + final norm": num_decoder_layers * dec_layer + norm,
    }
    total = num_encoder_layers * enc_layer + num_decoder_layers * dec_layer + 2 * norm
    return parts, total


def count_parameters(module):
    """sum(p.numel()) over the module's parameters."""
    return sum(p.numel() for p in module.parameters())


def default_transformer():
    """nn.Transformer() with its defaults, built on the meta device (shapes only: no memory, no init cost).

    Returns the model and the messages of the warnings its constructor raised.
    """
    with warnings.catch_warnings(record=True) as caught, torch.device("meta"):
        warnings.simplefilter("always")
        model = nn.Transformer()
    return model, [str(w.message) for w in caught]


def report():
    """Print the compact tree of nn.Transformer() and its parameter count two ways."""
    model, warned = default_transformer()
    print("\n".join(compact_tree(model, "nn.Transformer()")))
    for message in warned:
        print(textwrap.fill(f"the constructor warned: {message}", width=78, subsequent_indent="  "))
    parts, total = transformer_parameter_formula()
    print()
    for name, value in parts.items():
        print(f"{name:40s} {value:>12,}")
    counted = count_parameters(model)
    print(f"{'total by formula':40s} {total:>12,}")
    print(f"{'sum(p.numel() for p in parameters())':40s} {counted:>12,}   equal: {total == counted}")
