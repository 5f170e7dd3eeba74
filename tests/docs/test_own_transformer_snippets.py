"""The claims of docs/own-transformer.md, checked by importing the page's snippet files."""

import ast
import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "own_transformer"


@functools.cache
def snippet(name):
    """Import docs/snippets/own_transformer/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"own_transformer_{name}", SNIPPETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_constructor_has_nn_transformers_arguments_and_defaults():
    m = snippet("skeleton")
    rows = m.signatures()
    assert len(rows) >= len(m.SKELETON)
    assert all(a == b for _, a, b in rows), rows
    src = m.skeleton_source()
    ast.parse(src)  # valid Python
    for piece in ("d_model=512", "nhead=8", "dim_feedforward=2048", "activation='relu'", "memory_key_padding_mask=None"):
        assert piece in src


def test_nn_transformer_state_dict_loads_strictly_and_outputs_match():
    m = snippet("load_state_dict")
    theirs, _, result = m.pair()
    assert not result.missing_keys and not result.unexpected_keys
    for grad in (False, True):
        assert m.compare(torch.float64, grad) < 1e-12
        assert m.compare(torch.float32, grad) < 1e-5


def test_wrong_key_error_names_every_problem():
    msg = snippet("load_state_dict").wrong_key_message()
    assert msg.startswith("StateDictError")
    assert "encoder.layers.0.self_attn.in_proj_weight" in msg  # missing
    assert "encoder.layers.0.self_attn.qkv_weight" in msg  # unexpected
    assert "decoder.norm.weight" in msg and "(33,)" in msg  # mis-sized


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_sdpa_path_equals_explicit_path_and_nn_mha(dtype, tol):
    o = snippet("sdpa_vs_explicit").outputs(dtype)
    assert (o["SDPA"] - o["explicit"]).abs().max() < tol
    assert (o["SDPA"] - o["nn.MultiheadAttention"]).abs().max() < tol


def test_mask_conventions_table():
    found = snippet("mask_table").conventions()
    assert found.pop("F.scaled_dot_product_attention(attn_mask=)") == "attend"
    assert len(found) == 4 and set(found.values()) == {"blocked"}


def test_fully_masked_row_nan_in_nn_transformer_inference_only_and_never_in_ours():
    m = snippet("fully_masked")
    theirs, ours = m.nan_rows(training=False, grad=False)
    assert all(theirs[1]) and not any(theirs[0])  # the left-padded sequence is all NaN
    assert not any(any(r) for r in ours)
    for training, grad in ((True, True), (False, True)):
        theirs, ours = m.nan_rows(training, grad)
        assert not any(any(r) for r in theirs + ours)


def test_fully_masked_row_weights_nan_vs_zeros():
    r = snippet("fully_masked").attention_row()
    assert np.isnan(r["nn weights"]).all() and r["nn output is NaN"]
    assert (r["our weights"] == 0).all()
    assert np.array_equal(r["our output"], r["out_proj.bias"])


def test_kv_cache_equals_full_recomputation_and_beam_one_is_greedy():
    m = snippet("kv_cache_check")
    d, steps, nbytes, k_shape = m.cached_vs_full()
    assert d < 1e-12 and steps == m.MAX_LEN - 1 and nbytes > 0
    assert k_shape[2] == steps
    agree = m.decoders_agree()
    assert agree["greedy, cache == greedy, no cache"] and agree["beam_search(beam_size=1) == greedy"]


def test_numpy_ours_pytorch_triangle():
    m = snippet("triangle")
    assert all(d < 1e-12 for d in m.transformer_triangle().values())
    d, cls = m.seq2seq_triangle()
    assert d < 1e-12 and cls.endswith("numpy.models.Seq2SeqTransformer")
