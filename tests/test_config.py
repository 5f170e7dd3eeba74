"""transformer_anatomy.config: ModelConfig's defaults are the models' own, its checks are the models'."""

from __future__ import annotations

import inspect

import pytest

import transformer_anatomy.numpy as tn
import transformer_anatomy.torch as tt
from transformer_anatomy.config import PRESETS, ModelConfig, preset

MODELS = ("Seq2SeqTransformer", "TransformerClassifier", "TransformerTagger", "TransformerQA")


@pytest.mark.parametrize("backend", [tn, tt], ids=["numpy", "torch"])
@pytest.mark.parametrize("name", MODELS)
def test_defaults_are_the_models_defaults(backend, name):
    params = inspect.signature(getattr(backend, name).__init__).parameters
    kind = "seq2seq" if name == "Seq2SeqTransformer" else "classification"
    for key, value in ModelConfig().kwargs(kind).items():
        assert key in params, f"{name} takes no {key}"
        assert params[key].default == value, f"{name}.{key}: model default {params[key].default!r}, config {value!r}"


@pytest.mark.parametrize("backend", [tn, tt], ids=["numpy", "torch"])
def test_kwargs_build_every_model(backend):
    cfg = preset("quick")
    assert backend.Seq2SeqTransformer(11, 13, **cfg.kwargs("seq2seq")).d_model == cfg.d_model
    for name in MODELS[1:3]:
        getattr(backend, name)(11, 3, **cfg.kwargs("tagging"))
    backend.TransformerQA(11, **cfg.kwargs("qa"))


def test_presets():
    assert preset("small") == ModelConfig()
    base, big = preset("base"), preset("big")
    assert (base.d_model, base.nhead, base.num_encoder_layers, base.dim_feedforward) == (512, 8, 6, 2048)
    assert (big.d_model, big.nhead, big.dim_feedforward, big.dropout) == (1024, 16, 4096, 0.3)
    assert all(isinstance(c, ModelConfig) for c in PRESETS.values())
    assert preset("base", dropout=0.0).dropout == 0.0 and base.dropout == 0.1  # a copy, frozen original
    with pytest.raises(ValueError, match="preset must be one of"):
        preset("huge")


def test_encoder_kwargs_have_one_stack():
    kw = ModelConfig(num_encoder_layers=3, num_decoder_layers=5).encoder_kwargs()
    assert kw["num_layers"] == 3
    assert not {"num_encoder_layers", "num_decoder_layers", "tie_weights"} & set(kw)


@pytest.mark.parametrize("changes, error, message", [
    ({"d_model": 16.0}, TypeError, "d_model must be a positive integer, got d_model=16.0"),
    ({"nhead": 0}, ValueError, "nhead must be a positive integer, got nhead=0"),
    ({"dropout": 1.5}, ValueError, r"dropout must be in \[0, 1\], got dropout=1.5"),
    ({"norm_first": 1}, TypeError, "norm_first must be True or False"),
    ({"activation": "tanh"}, ValueError, "activation must be one of"),
    ({"positional": "rotary"}, ValueError, "positional must be one of"),
    ({"d_model": 30, "nhead": 4}, ValueError, "d_model must be divisible by nhead"),
])
def test_bad_values_are_refused(changes, error, message):
    with pytest.raises(error, match=message):
        ModelConfig(**changes)
    with pytest.raises(error, match=message):
        ModelConfig().replace(**changes)


def test_reference_kwargs_build_nn_transformer_and_refuse_what_it_lacks():
    from transformer_anatomy.training.reference import ReferenceSeq2Seq

    cfg = preset("quick")
    model = ReferenceSeq2Seq(11, 13, **cfg.reference_kwargs())
    assert model.transformer.d_model == cfg.d_model
    params = inspect.signature(ReferenceSeq2Seq.__init__).parameters
    assert all(params[k].default == v for k, v in ModelConfig().reference_kwargs().items())
    with pytest.raises(ValueError, match="ReferenceSeq2Seq has sinusoidal positions"):
        cfg.replace(positional="learned").reference_kwargs()
