"""The claims of docs/blocks.md, checked by importing the page's snippet files."""

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from transformer_anatomy.tasks import EOS_ID, PAD_ID, SOS_ID

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "blocks"


@functools.cache
def snippet(name):
    """Import docs/snippets/blocks/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"blocks_{name}", SNIPPETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_encoder_layer_equals_torch_post_and_pre_norm():
    diffs = snippet("add_norm").compare_post_pre()
    assert set(diffs) == {"post-norm", "pre-norm"}
    assert all(d < 1e-12 for d in diffs.values()), diffs


def test_post_norm_keeps_the_stream_normalised_and_pre_norm_lets_it_grow():
    m = snippet("add_norm")
    post, pre = m.residual_stream_std(False), m.residual_stream_std(True)
    assert np.allclose(post, 1.0, atol=1e-4)  # LayerNorm last: std 1 up to eps
    assert pre[-1] > pre[0] and pre[-1] > 1.2  # grows with depth


def test_identity_path_keeps_the_gradient_and_its_absence_loses_it():
    m = snippet("residual_gradient")
    norms = [m.input_gradient_norms(d) for d in (1, 2, 4, 8, 16)]
    without = [n["without residual"] for n in norms]
    assert all(a > b for a, b in zip(without, without[1:]))  # shrinks with every doubling
    assert without[-1] < 1e-6
    assert all(0.5 < n["with residual"] < 3.0 for n in norms)


def test_layer_norm_matches_torch_and_the_two_mistakes_do_not():
    m = snippet("layer_norm")
    d = m.compare_with_torch()
    assert d["float64"] < 1e-12 and d["float32"] < 1e-5
    v = m.variants()
    assert v["ours (biased var, eps inside sqrt)"].max() < 1e-12
    assert v["unbiased variance"][:2].min() > 1e-2  # wrong on ordinary rows
    outside = v["eps outside the sqrt"]
    assert outside[0] < 1e-4 and outside[2] > 0.1  # harmless on ordinary rows, wrong on flat ones


def test_feed_forward_activations_sizes_and_position_wise():
    m = snippet("feed_forward")
    assert all(d < 1e-12 for d in m.activations_vs_torch().values())
    s = m.paper_sizes()
    E, F = s["E"], s["F"]
    assert (E, F) == (512, 4 * 512)
    assert s["ffn"] == 2 * E * F + F + E and s["attention"] == 4 * E * E + 4 * E
    assert s["ffn"] / s["layer"] > 0.5
    assert all(d < 1e-12 for d in m.position_wise().values())


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_numpy_layers_equal_torch_layers_for_every_combination(kind):
    rows = snippet("layers_vs_torch").table(kind)
    assert len(rows) == 4
    assert all(d < 1e-12 for _, _, d in rows), rows


def test_decoder_output_has_the_target_shape():
    m = snippet("layers_vs_torch")
    assert m.decoder_case(False, "relu")[1] == (m.N, m.T, m.E)


def test_shifted_right_examples_are_consistent():
    data, b = snippet("shifted_right").short_batch()
    for n in range(b["src"].shape[0]):
        src = [t for t in b["src"][n] if t != PAD_ID]
        tgt = [t for t in b["tgt"][n] if t != PAD_ID]
        tgt_in = [t for t in b["tgt_in"][n] if t != PAD_ID]
        tgt_out = [t for t in b["tgt_out"][n] if t != PAD_ID]
        assert tgt[0] == SOS_ID and tgt[-1] == EOS_ID
        assert tgt_in == tgt[:-1] and tgt_out == tgt[1:]  # shifted right by one
        assert tgt_out[:-1] == src[::-1] and src != src[::-1]  # reversal, not a palindrome
    assert (b["src"] == PAD_ID).any()  # one example is padded


def test_changing_later_tokens_leaves_earlier_logits_bit_identical():
    c = snippet("shifted_right").causality_check()
    assert c["positions <= t"] == 0.0
    assert c["positions > t"] > 1e-3
    assert np.isfinite(c["loss"])
