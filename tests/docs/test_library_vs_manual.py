"""The library-call-vs-manual page's claims, checked where the page gets them from."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def more(snippet):
    return snippet("library_vs_manual", "more_comparisons")


def test_softmax_examples_match_torch(snippet):
    rows = snippet("library_vs_manual", "softmax_compare").compare_softmax()
    assert len(rows) == 3 and all(r["max_diff"] < 1e-15 for r in rows)


def test_naive_softmax_overflows_where_ours_does_not(snippet):
    mod = snippet("library_vs_manual", "softmax_naive")
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


def test_temperature_figure_draws(snippet):
    fig = snippet("library_vs_manual", "softmax_temperature").temperature_figure()
    assert len(fig.axes[0].patches) == 15  # 5 logits x 3 temperatures


@pytest.fixture(scope="module")
def trace(snippet):
    return snippet("library_vs_manual", "trace")


def test_layer_norm_trace_matches_native_layer_norm(trace):
    rows = trace.layer_norm_side_by_side()
    for r in rows:
        assert max(r["max_diff"].values()) < 1e-12, r["name"]
    np.testing.assert_allclose(rows[0]["ours"]["var"], 1.25)  # [1, 2, 3, 4]: biased variance 5/4
    np.testing.assert_allclose(rows[0]["ours"]["xhat"], rows[1]["ours"]["xhat"], atol=1e-9)


def test_attention_trace_matches_multihead_attention(trace):
    ours, lib = trace.attention_side_by_side()
    assert set(ours) == {"Q", "K", "V", "scores", "weights", "out"}
    for k in ours:
        assert trace._diff(ours[k], lib[k]) < 1e-12, k
    np.testing.assert_allclose(ours["weights"].sum(-1), 1.0)
    assert len(trace.attention_figure(ours).axes) >= 5


def test_ffn_trace_matches_hooks(trace):
    ours, lib = trace.ffn_side_by_side()
    for k in ("hidden", "relu", "out"):
        assert trace._diff(ours[k], lib[k]) < 1e-12, k
    assert (ours["relu"] >= 0).all() and (ours["relu"] == 0).any()


def test_encoder_trace_matches_hooks(trace):
    ours, lib, d_out = trace.encoder_side_by_side()
    assert list(ours) == list(lib)
    for k in ours:
        assert trace._diff(ours[k], lib[k]) < 1e-12, k
    assert d_out < 1e-12
    rms = np.sqrt((ours["norm1"] ** 2).mean(-1))
    np.testing.assert_allclose(rms, 1.0, atol=1e-4)  # what the figure reading says: γ = 1, β = 0 at init


def test_temperature_curves_tend_to_argmax_and_uniform(snippet):
    mod = snippet("library_vs_manual", "softmax_temperature")
    _, taus, probs = mod.temperature_curves(taus=[0.01, 1000.0])
    assert probs[0, 0] > 0.999 and np.allclose(probs[1], 1 / len(mod.LOGITS), atol=1e-3)


def test_exercise_log_softmax_matches_torch(snippet):
    import torch

    ex = snippet("library_vs_manual", "exercises")
    for x in (np.array([2.0, 1.0, 0.1]), np.array([1000.0, 0.0, -1000.0]), np.random.default_rng(0).normal(size=(3, 7)) * 30):
        np.testing.assert_allclose(ex.log_softmax_stable(x), torch.log_softmax(torch.from_numpy(x), -1).numpy(), atol=1e-12)


def test_exercise_pre_norm_layer_matches_module(snippet):
    import torch

    ex = snippet("library_vs_manual", "exercises")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, norm_first=True, dtype=torch.float64).eval()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(ex.pre_norm_layer(layer, x), layer(x), rtol=1e-12, atol=1e-12)
