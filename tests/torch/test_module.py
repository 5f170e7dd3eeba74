"""What every module of the PyTorch backend has (torch/module.py, the twin of numpy/module.py):
``num_parameters()``, a ``load_state_dict`` that names every bad key at once, and the
``eval_mode`` that decoding runs in."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import transformer_anatomy.torch as tt
from transformer_anatomy.errors import StateDictError
from transformer_anatomy.torch.module import ModuleMixin, check_state_dict, eval_mode, num_parameters

V = 11


ABSTRACT = {tt.CausalLM}  # the decoder-only models' base (generate only): checked through its subclasses


def our_module_classes():
    """Every class exported by transformer_anatomy.torch that is ours (not torch.nn's own)."""
    return [obj for name in tt.__all__ if inspect.isclass(obj := getattr(tt, name))
            and issubclass(obj, nn.Module) and obj.__module__.startswith("transformer_anatomy.")
            and obj not in ABSTRACT]


def build(cls):
    """A small instance of each of our module classes."""
    layer = dict(d_model=8, nhead=2, dim_feedforward=16)
    return {
        tt.PositionalEncoding: lambda: tt.PositionalEncoding(8, max_len=16),
        tt.LearnedPositionalEmbedding: lambda: tt.LearnedPositionalEmbedding(16, 8),
        tt.MultiheadAttention: lambda: tt.MultiheadAttention(8, 2),
        tt.TransformerEncoderLayer: lambda: tt.TransformerEncoderLayer(**layer),
        tt.TransformerDecoderLayer: lambda: tt.TransformerDecoderLayer(**layer),
        tt.TransformerEncoder: lambda: tt.TransformerEncoder(tt.TransformerEncoderLayer(**layer), 2),
        tt.TransformerDecoder: lambda: tt.TransformerDecoder(tt.TransformerDecoderLayer(**layer), 2),
        tt.Transformer: lambda: tt.Transformer(num_encoder_layers=1, num_decoder_layers=1, **layer),
        tt.Seq2SeqTransformer: lambda: tt.Seq2SeqTransformer(V, V, **layer),
        tt.TransformerClassifier: lambda: tt.TransformerClassifier(V, 3, **layer),
        tt.TransformerTagger: lambda: tt.TransformerTagger(V, 3, **layer),
        tt.TransformerQA: lambda: tt.TransformerQA(V, **layer),
        tt.RMSNorm: lambda: tt.RMSNorm(8),
        tt.RotaryEmbedding: lambda: tt.RotaryEmbedding(8),
        tt.SwiGLU: lambda: tt.SwiGLU(8, 16),
        tt.Conv1D: lambda: tt.Conv1D(16, 8),
        tt.GPT2MLP: lambda: tt.GPT2MLP(8, 16),
        tt.GPT2Attention: lambda: tt.GPT2Attention(8, 2),
        tt.GPT2Block: lambda: tt.GPT2Block(8, 2),
        tt.GPT2Model: lambda: tt.GPT2Model(V, 8, 1, 2, 16),
        tt.GPT2LMHeadModel: lambda: tt.GPT2LMHeadModel(V, 8, 1, 2, 16),  # tied: the head counted once
        tt.LlamaAttention: lambda: tt.LlamaAttention(8, 4, 2),
        tt.LlamaDecoderLayer: lambda: tt.LlamaDecoderLayer(8, 16, 4, 2),
        tt.LlamaModel: lambda: tt.LlamaModel(V, 8, 16, 1, 4, 2),
        tt.LlamaForCausalLM: lambda: tt.LlamaForCausalLM(V, 8, 16, 1, 4, 2),
    }[cls]()


def test_every_class_of_ours_is_covered_here():
    assert {c.__name__ for c in our_module_classes()} == {
        "PositionalEncoding", "LearnedPositionalEmbedding", "MultiheadAttention", "TransformerEncoderLayer",
        "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer",
        "Seq2SeqTransformer", "TransformerClassifier", "TransformerTagger", "TransformerQA",
        "RMSNorm", "RotaryEmbedding", "SwiGLU", "Conv1D", "GPT2MLP", "GPT2Attention", "GPT2Block",
        "GPT2Model", "GPT2LMHeadModel", "LlamaAttention", "LlamaDecoderLayer", "LlamaModel", "LlamaForCausalLM",
    }


@pytest.mark.parametrize("cls", our_module_classes(), ids=lambda c: c.__name__)
def test_num_parameters_counts_every_trainable_scalar_once(cls):
    m = build(cls)
    assert isinstance(m, ModuleMixin)
    expected = sum(p.numel() for p in {id(p): p for p in m.parameters()}.values())
    assert m.num_parameters() == num_parameters(m) == expected


def test_num_parameters_known_values_and_tied_weights():
    E, H = 8, 2
    assert tt.MultiheadAttention(E, H).num_parameters() == 3 * E * E + 3 * E + E * E + E
    assert tt.PositionalEncoding(E).num_parameters() == 0  # a fixed table, not a parameter
    untied = tt.Seq2SeqTransformer(V, V, d_model=E, nhead=H, dim_feedforward=16)
    tied = tt.Seq2SeqTransformer(V, V, d_model=E, nhead=H, dim_feedforward=16, tie_weights=True)
    assert untied.num_parameters() - tied.num_parameters() == V * E  # generator.weight is tgt_tok_emb.weight
    # the function works on torch.nn's own modules, which have no such method
    assert num_parameters(nn.Transformer(E, H, 1, 1, 16, batch_first=True)) == tt.Transformer(E, H, 1, 1, 16).num_parameters()


def test_load_state_dict_names_every_bad_key_at_once():
    m = tt.MultiheadAttention(8, 2)
    state = dict(m.state_dict())
    del state["in_proj_bias"]
    state["extra"] = torch.zeros(1)
    state["out_proj.weight"] = torch.zeros(4, 8)
    with pytest.raises(StateDictError) as err:
        m.load_state_dict(state)
    message = str(err.value)
    assert message.startswith("state_dict does not fit MultiheadAttention:")
    for piece in ("missing keys", "'in_proj_bias'", "unexpected keys", "'extra'",
                  "out_proj.weight: model (8, 8) vs state_dict (4, 8)"):
        assert piece in message
    with pytest.raises(StateDictError, match="mis-sized"):  # a wrong shape is refused even when not strict
        m.load_state_dict(state, strict=False)
    check_state_dict(m, m.state_dict())  # fits: no error


def test_eval_mode_restores_every_submodules_own_mode_also_after_an_error():
    m = tt.Seq2SeqTransformer(V, V, d_model=8, nhead=2, dim_feedforward=16).train()
    m.transformer.encoder.eval()  # a mixed mode
    before = {name: sub.training for name, sub in m.named_modules()}
    with eval_mode(m):
        assert not any(sub.training for sub in m.modules())
    assert {name: sub.training for name, sub in m.named_modules()} == before
    with pytest.raises(RuntimeError, match="boom"), eval_mode(m):
        raise RuntimeError("boom")
    assert {name: sub.training for name, sub in m.named_modules()} == before
