"""The notation page's snippets: traced shapes equal their formulas, head slices are the module's."""

import importlib.util
from pathlib import Path

import pytest
import torch

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "notation"


def load(name):
    spec = importlib.util.spec_from_file_location(f"snippet_notation_{name}", SNIPPETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trace_shapes():
    return load("trace_shapes")


@pytest.mark.parametrize("config", ["small", "base"])
def test_traced_shapes_equal_the_formulas(trace_shapes, config):
    rows, checks, values = trace_shapes.trace_config(config)
    assert [r[0] for r in rows] == [w for w, _ in trace_shapes.EXPECTED]
    for what, traced, formula, expected in rows:
        assert traced == expected, (what, traced, formula, expected)
    # The re-computed attention (scores -> weights -> heads -> concat -> out_proj) is the module's.
    assert set(checks) == {"enc self-attn", "dec self-attn", "cross-attn"}
    assert max(checks.values()) < 1e-5
    if config == "base":
        assert (values["E"], values["H"], values["F"], values["E/H"]) == (512, 8, 2048, 64)


def test_the_trace_reads_shapes_from_tensors(trace_shapes):
    # Sizes the snippet never mentions: the traced shapes must follow them.
    torch.manual_seed(1)
    model = trace_shapes.Seq2SeqTransformer(11, 29, d_model=24, nhead=3, num_encoder_layers=1,
                                            num_decoder_layers=3, dim_feedforward=40)
    src, tgt = trace_shapes.make_batch(model, 3, 4, 6)
    records, checks, logits = trace_shapes.trace(model, src, tgt)
    values = trace_shapes.letters(model, 3, 4, 6)
    assert values == {"N": 3, "S": 4, "T": 6, "E": 24, "H": 3, "E/H": 8, "F": 40, "V": 29, "1": 1}
    traced = dict(records)
    for what, formula in trace_shapes.EXPECTED:
        assert traced[what] == trace_shapes.expected_shape(formula, values), what
    assert tuple(logits.shape) == (3, 6, 29)
    # The tracer leaves the model as it found it: no hooks, no wrapped methods.
    for m in model.modules():
        assert not m._forward_hooks
        assert "attend" not in vars(m)
    with torch.no_grad():
        assert torch.equal(model(src, tgt), logits)


def test_head_weights_are_slices_of_in_proj_weight():
    hw = load("head_weights")
    slices, mha, diff = hw.check_heads(E=4, H=2)
    assert [tuple(W.shape) for W in slices["W_q"]] == [(4, 2), (4, 2)]
    assert [tuple(W.shape) for W in slices["W_o"]] == [(2, 4), (2, 4)]
    assert diff < 1e-6
    assert sum(p.numel() for p in mha.parameters()) == 4 * 4 * 4 + 4 * 4
    big = hw.MultiheadAttention(512, 8)
    assert tuple(hw.head_slices(big)["W_q"][0].shape) == (512, 64)


def test_mask_conventions_found_by_running():
    found = load("mask_conventions").conventions()
    assert found.pop("F.scaled_dot_product_attention(attn_mask=...)") == "attend"
    assert set(found.values()) == {"blocked"} and len(found) == 4


def test_notation_map_base_sizes_are_torch_defaults():
    sizes = load("notation_map").base_sizes()
    assert sizes == {"d_model": 512, "nhead": 8, "num_encoder_layers": 6, "num_decoder_layers": 6,
                     "dim_feedforward": 2048, "head": 64}
