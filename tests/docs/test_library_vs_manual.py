"""The library-call-vs-manual page's claims, checked where the page gets them from."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "library_vs_manual"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, SNIPPETS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def more():
    return _load("more_comparisons")


def test_softmax_examples_match_torch():
    rows = _load("softmax_compare").compare_softmax()
    assert len(rows) == 3 and all(r["max_diff"] < 1e-15 for r in rows)


def test_naive_softmax_overflows_where_ours_does_not():
    mod = _load("softmax_naive")
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(mod.naive_softmax(np.array([1000.0, 0.0, -1000.0]))).any()


def test_layernorm_examples(more):
    rows = more.layernorm_examples()
    assert [r["name"] for r in rows] == ["plain row", "offset 1e6", "nearly constant"]
    assert all(r["max_diff"] < 1e-9 for r in rows)
    # LayerNorm removes a constant shift: the first two rows give the same output.
    np.testing.assert_allclose(rows[0]["ours"], rows[1]["ours"], atol=1e-9)


def test_attention_and_layers_match_torch(more):
    r = more.single_head_attention()
    assert max(r["diff_sdpa"], r["diff_mha_out"], r["diff_mha_weights"]) < 1e-12
    np.testing.assert_allclose(r["weights"].sum(-1), 1.0, atol=1e-12)
    m = more.multi_head_attention()
    assert m["shape_weights"] == (2, 4, 5, 5) and max(m["diff_out"], m["diff_weights"]) < 1e-12
    f = more.feed_forward()
    assert f["diff"] < 1e-12 and f["diff_position_alone"] < 1e-12
    assert all(row["diff"] < 1e-10 for row in more.encoder_layer())


def test_temperature_figure_draws():
    fig = _load("softmax_temperature").temperature_figure()
    assert len(fig.axes[0].patches) == 15  # 5 logits x 3 temperatures
