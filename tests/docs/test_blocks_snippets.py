"""The claims of docs/blocks.md, checked by importing the page's snippet files."""

import numpy as np
import pytest

from transformer_anatomy.tasks import EOS_ID, PAD_ID, SOS_ID


def test_numpy_encoder_layer_equals_torch_post_and_pre_norm(snippet):
    diffs = snippet("blocks", "add_norm").compare_post_pre()
    assert set(diffs) == {"post-norm", "pre-norm"}
    assert all(d < 1e-12 for d in diffs.values()), diffs


def test_post_norm_keeps_the_stream_normalised_and_pre_norm_lets_it_grow(snippet):
    m = snippet("blocks", "add_norm")
    post, pre = m.residual_stream_std(False), m.residual_stream_std(True)
    assert np.allclose(post, 1.0, atol=1e-4)  # LayerNorm last (γ = 1, β = 0): std 1 up to eps
    assert pre[-1] > pre[0] and pre[-1] > 1.2  # grows with depth


def test_identity_path_keeps_the_gradient_and_its_absence_loses_it(snippet):
    m = snippet("blocks", "residual_gradient")
    norms = [m.input_gradient_norms(d) for d in (1, 2, 4, 8, 16)]
    without = [n["without residual"] for n in norms]
    assert all(a > b for a, b in zip(without, without[1:]))  # shrinks with every doubling
    assert without[-1] < 1e-6
    assert all(0.5 < n["with residual"] < 3.0 for n in norms)


def test_layer_norm_matches_torch_and_the_two_mistakes_do_not(snippet):
    m = snippet("blocks", "layer_norm")
    d = m.compare_with_torch()
    assert d["float64"] < 1e-12 and d["float32"] < 1e-5
    v = m.variants()
    assert v["ours (biased var, eps inside sqrt)"].max() < 1e-12
    assert v["unbiased variance"][:2].min() > 1e-2  # wrong on ordinary rows
    outside = v["eps outside the sqrt"]
    assert outside[0] < 1e-4 and outside[2] > 0.1  # harmless on ordinary rows, wrong on flat ones


def test_feed_forward_activations_sizes_and_position_wise(snippet):
    m = snippet("blocks", "feed_forward")
    assert all(d < 1e-12 for d in m.activations_vs_torch().values())
    s = m.paper_sizes()
    E, F = s["E"], s["F"]
    assert (E, F) == (512, 4 * 512)
    assert s["ffn"] == 2 * E * F + F + E and s["attention"] == 4 * E * E + 4 * E
    assert s["ffn"] / s["layer"] > 0.5
    assert all(d < 1e-12 for d in m.position_wise().values())


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_numpy_layers_equal_torch_layers_for_every_combination(snippet, kind):
    rows = snippet("blocks", "layers_vs_torch").table(kind)
    assert len(rows) == 4
    assert all(d < 1e-12 for _, _, d in rows), rows


def test_decoder_output_has_the_target_shape(snippet):
    m = snippet("blocks", "layers_vs_torch")
    assert m.decoder_case(False, "relu")[1] == (m.N, m.T, m.E)


def test_shifted_right_examples_are_consistent(snippet):
    data, b = snippet("blocks", "shifted_right").short_batch()
    for n in range(b["src"].shape[0]):
        src = [t for t in b["src"][n] if t != PAD_ID]
        tgt = [t for t in b["tgt"][n] if t != PAD_ID]
        tgt_in = [t for t in b["tgt_in"][n] if t != PAD_ID]
        tgt_out = [t for t in b["tgt_out"][n] if t != PAD_ID]
        assert tgt[0] == SOS_ID and tgt[-1] == EOS_ID
        assert tgt_in == tgt[:-1] and tgt_out == tgt[1:]  # shifted right by one
        assert tgt_out[:-1] == src[::-1] and src != src[::-1]  # reversal, not a palindrome
    assert (b["src"] == PAD_ID).any()  # one example is padded


def test_changing_later_tokens_leaves_earlier_logits_bit_identical(snippet):
    c = snippet("blocks", "shifted_right").causality_check()
    assert c["positions <= t"] == 0.0
    assert c["positions > t"] > 1e-3
    assert np.isfinite(c["loss"])


def test_post_norm_output_std_is_one_only_with_the_initial_gamma_and_beta(snippet):
    r = snippet("blocks", "add_norm").post_norm_std_with_affine(gamma=2.0, beta=0.5)
    assert r["initial: γ = 1, β = 0"] == pytest.approx(1.0, abs=1e-4)
    assert r["γ = 2, β = 0.5"] == pytest.approx(2.0, abs=1e-4)  # a constant γ multiplies the spread
    assert abs(r["random γ, β"] - 1.0) > 1e-2


def test_depth_figure_and_its_reading(snippet):
    m = snippet("blocks", "add_norm")
    assert m.figure_depth().startswith('<figure class="ta-figure"><svg')
    r = m.depth_summary()
    assert r["post_std"][1] - r["post_std"][0] < 1e-3 and r["pre_std"][1] > r["pre_std"][0]
    assert r["pre_grad"][1] < r["pre_grad"][0]  # the pre-norm top layers receive less
    g_post = m.stream_gradient_norms(False, depth=2)
    assert len(g_post) == 2 and all(np.isfinite(g_post))


def test_blocks_figures_render_and_readings(snippet):
    ln, ffn, rg, sr = (snippet("blocks", n) for n in ("layer_norm", "feed_forward", "residual_gradient", "shifted_right"))
    for fig in (ln.figure_distributions(), ffn.figure_hidden(), rg.figure(), sr.figure_shifted()):
        assert fig.startswith('<figure class="ta-figure"><svg') and 'aria-label="' in fig
    x, y, before, after = ln.distribution_rows()
    assert len({round(m) for m, _ in before}) == 3  # three different means before
    assert all(abs(m) < 1e-3 and s == pytest.approx(1.0, abs=1e-4) for m, s in after)
    r = ffn.hidden_activations()
    assert 0.3 < r["relu_zero"] < 0.7 and r["relu_zero"] == pytest.approx((r["pre"] <= 0).mean())
    assert -0.1701 < r["gelu_min"] < 0  # GELU's minimum is about -0.170
    s = sr.shifted_summary()
    assert s["shifted"]


def test_exercise_layer_norm_equals_torch(snippet):
    import torch
    import torch.nn.functional as F

    ex = snippet("blocks", "exercises")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal((3, 16)), 1.0 + 1e-3 * rng.standard_normal((1, 16))])
    g, b = rng.standard_normal(16), rng.standard_normal(16)
    want = F.layer_norm(torch.from_numpy(x), (16,), torch.from_numpy(g), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(ex.layer_norm(x, g, b), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("g,b", [(2.0, 3.0), (-0.5, 1.0), (1.0, 0.0)])
def test_exercise_output_row_std_is_abs_gamma(snippet, g, b):
    import torch

    x = np.random.default_rng(1).standard_normal((4, 16)) * 5 + 7
    ln = torch.nn.LayerNorm(16, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.fill_(g)
        ln.bias.fill_(b)
        want = ln(torch.from_numpy(x)).std(dim=-1, unbiased=False).numpy()
    got = snippet("blocks", "exercises").output_row_std(x, g, b)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(got, abs(g), rtol=1e-4)


def test_exercise_shift_right_equals_the_data_generator(snippet):
    from transformer_anatomy.tasks import REVERSAL_PRESETS, make_reversal_task

    train = make_reversal_task(n_train=32, n_valid=1, n_test=1, rng=0, **REVERSAL_PRESETS["variable"]).train
    S = train["src"].shape[1]
    tgt_in, tgt_out = snippet("blocks", "exercises").shift_right(train["tgt"][:, 1:S + 1], train["src_len"],
                                                       SOS_ID, EOS_ID, PAD_ID)
    np.testing.assert_array_equal(tgt_in, train["tgt_in"])
    np.testing.assert_array_equal(tgt_out, train["tgt_out"])


@pytest.mark.parametrize("E,F", [(512, 2048), (16, 64), (8, 8)])
def test_exercise_ffn_parameter_count_equals_torch(snippet, E, F):
    import torch

    with torch.device("meta"):
        layer = torch.nn.TransformerEncoderLayer(E, 2 if E % 2 == 0 else 1, F)
    want = sum(p.numel() for n, p in layer.named_parameters() if n.startswith(("linear1", "linear2")))
    assert snippet("blocks", "exercises").ffn_parameter_count(E, F) == want
