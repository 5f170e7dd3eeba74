"""The claims of docs/attention.md, checked by importing the page's snippet files."""

import functools
import importlib
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "attention"


@functools.cache
def snippet(name):
    """``docs/snippets/attention/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"attention.{name}")


def test_four_steps_match_numpy_and_torch():
    m = snippet("steps")
    s = m.steps()
    T = len(m.TOKENS)
    assert s["scores"].shape == s["weights"].shape == (T, T)
    np.testing.assert_allclose(s["scaled"], s["scores"] / math.sqrt(m.D))
    np.testing.assert_allclose(s["weights"].sum(axis=1), 1.0, rtol=1e-12)
    c = m.check()
    assert c["numpy_out"] < 1e-12 and c["numpy_weights"] < 1e-12 and c["torch_out"] < 1e-12


@pytest.mark.parametrize("d_k", snippet("dk_scaling").D_KS)
def test_dot_product_variance_grows_with_d_k(d_k):
    v, v_scaled = snippet("dk_scaling").dot_variance(d_k)
    # var of a sample variance of 8000 products: relative std ~ sqrt(2/n) ~ 2% (more for
    # the heavier-tailed small d_k); 10% is > 4 standard deviations.
    assert v == pytest.approx(d_k, rel=0.10)
    assert v_scaled == pytest.approx(1.0, rel=0.10)


def test_unscaled_softmax_saturates_and_loses_gradient():
    m = snippet("dk_scaling")
    rows = {d: m.saturation(d) for d in m.D_KS}
    unscaled_max = [rows[d]["unscaled"]["max_weight"] for d in m.D_KS]
    unscaled_jac = [rows[d]["unscaled"]["jacobian_norm"] for d in m.D_KS]
    assert unscaled_max == sorted(unscaled_max) and unscaled_max[-1] > 0.9  # ever more one-hot
    assert unscaled_jac == sorted(unscaled_jac, reverse=True) and unscaled_jac[-1] < 0.25 * unscaled_jac[0]
    scaled_max = [rows[d]["scaled"]["max_weight"] for d in m.D_KS]
    scaled_jac = [rows[d]["scaled"]["jacobian_norm"] for d in m.D_KS]
    assert max(scaled_max) - min(scaled_max) < 0.05  # the same at every width
    assert max(scaled_jac) - min(scaled_jac) < 0.05


def test_similarity_heatmap_rows():
    m = snippet("heatmap")
    tokens, w = m.similarity_attention()
    the = [i for i, t in enumerate(tokens) if t == "the"]
    assert np.allclose(w.sum(-1), 1.0)
    # no mask: the second "the" splits its weight over all occurrences of "the"
    np.testing.assert_allclose(w[0, 4, the], 1 / len(the), atol=1e-3)
    # causal: only the occurrences at or before it; nothing above the diagonal
    np.testing.assert_allclose(w[1, 4, [0, 4]], 0.5, atol=1e-3)
    assert np.all(np.triu(w[1], k=1) == 0)
    # positions added: each "the" prefers itself
    assert all(np.argmax(w[2, t]) == t for t in the)


def test_masks_bool_equals_float_and_padding_invariance():
    m = snippet("masks")
    for name, d in m.bool_vs_float().items():
        assert d < 1e-12, name
    r = m.padding_invariance()
    assert r["with"] < 1e-12 and r["without"] > 1e-3
    assert np.all(r["weights"][:, r["tokens"].index("<pad>")] == 0)
    b, f = m.causal_forms(4)
    assert np.array_equal(b, np.isneginf(f)) and np.array_equal(b, np.triu(np.ones((4, 4), bool), 1))


EXPECTED_CONVENTIONS = {
    ("ours (NumPy) `scaled_dot_product_attention`", "attn_mask"): "blocked",
    ("ours (PyTorch) `MultiheadAttention`", "attn_mask"): "blocked",
    ("ours (PyTorch) `MultiheadAttention`", "key_padding_mask"): "blocked",
    ("PyTorch `nn.MultiheadAttention`", "attn_mask"): "blocked",
    ("PyTorch `nn.MultiheadAttention`", "key_padding_mask"): "blocked",
    ("PyTorch `F.scaled_dot_product_attention`", "attn_mask"): "attend",
    ("HuggingFace `BertModel`", "attention_mask"): "attend",
    ("Keras `MultiHeadAttention`", "attention_mask"): "attend",
}


def test_mask_convention_table():
    table = snippet("conventions").conventions()
    found = {(r["library"], r["argument"]): r for r in table}
    assert {k: r["meaning"] for k, r in found.items()} == EXPECTED_CONVENTIONS
    for r in table:  # "blocked" means exactly no change, "attend" a clear one
        assert r["moved"] == 0.0 if r["meaning"] == "blocked" else r["moved"] > 1e-4


def test_fully_masked_rows():
    rows = {(r["library"], r["call"]): r for r in snippet("conventions").fully_masked()}
    verdict = {k: r["verdict"] for k, r in rows.items()}
    assert verdict[("PyTorch `nn.MultiheadAttention`", "default (`need_weights=True`)")] == "NaN"
    assert verdict[("PyTorch `F.scaled_dot_product_attention`", "bool `attn_mask`")] == "zeros"
    for call in ("default (`need_weights=True`)", "`need_weights=False`"):
        assert verdict[("ours (PyTorch) `MultiheadAttention`", call)] == "zeros"
    assert verdict[("ours (NumPy) `scaled_dot_product_attention`", "bool `attn_mask`")] == "zeros"
    assert verdict[("HuggingFace `BertModel` (eager)", "`attention_mask` all 0")].startswith("uniform")
    assert verdict[("Keras `MultiHeadAttention`", "default")].startswith("uniform")
    assert verdict[("Keras `MultiHeadAttention`", "`return_attention_scores=True`")] == "zeros"
    grads = snippet("conventions").fully_masked_gradients()
    assert grads == {"PyTorch `nn.MultiheadAttention`": False, "ours (PyTorch) `MultiheadAttention`": True,
                     "ours (NumPy) `scaled_dot_product_attention`": True}


def test_per_head_weights_sliced_from_in_proj_weight():
    m = snippet("multihead")
    mha = m.reference(4, 2)
    heads = m.per_head_weights(mha)
    assert all(W.shape == (4, 2) for ws in heads.values() for W in ws)
    W = mha.in_proj_weight.detach().numpy()
    np.testing.assert_array_equal(heads["W_q"][1], W[2:4].T)
    np.testing.assert_array_equal(heads["W_v"][0], W[8:10].T)


def test_multihead_by_hand_equals_nn_multihead_attention():
    r = snippet("multihead").check_by_hand()
    assert r["out_diff"] < 1e-12 and r["weights_diff"] < 1e-12


def test_numpy_torch_and_nn_multihead_attention_agree():
    for name, (o, w) in snippet("multihead").three_way().items():
        assert o < 1e-10 and w < 1e-10, name


def test_sdpa_equals_explicit():
    for name, d in snippet("sdpa").compare().items():
        assert d < 1e-5, name  # float32 forward tolerance


def test_reports_run(capsys):
    for name, fns in {"steps": ("report_projections", "report_scores", "report_weights", "report_output"),
                      "dk_scaling": ("report_variance",), "masks": ("report_causal", "report_padding"),
                      "multihead": ("report_sizes", "report_by_hand"), "heatmap": ("report_rows",)}.items():
        for fn in fns:
            getattr(snippet(name), fn)()
    out = capsys.readouterr().out
    assert "row sums" in out and "W_q of head 0" in out


def test_figures_render_and_readings_match_their_numbers():
    steps, dk, masks, mh = (snippet(n) for n in ("steps", "dk_scaling", "masks", "multihead"))
    for fig in (steps.figure_scores_weights(), steps.figure_softmax_row(), dk.figure_scaling(),
                masks.figure_masks(), mh.figure_heads(), mh.figure_in_proj()):
        assert fig.startswith('<figure class="ta-figure"><svg') and 'aria-label="' in fig
    r = steps.row_summary(1)
    w = steps.steps()["weights"][1]
    assert r["best_weight"] == w.max() and r["best"] == steps.TOKENS[int(w.argmax())]
    # a score gap g is a weight ratio e^g (softmax): the sentence under the bar chart says so
    second = np.sort(w)[-2]
    assert r["best_weight"] / second == pytest.approx(math.exp(r["best_score_gap"]))
    s = dk.scaling_summary()
    assert s["max_hi"] > 0.9 > s["max_lo"] and s["jac_hi"] < s["jac_lo"] / 4
    assert s["smax_max"] - s["smax_min"] < 0.05
    tokens, causal, padding, both = masks.combined_mask(1)
    assert np.array_equal(both, causal | padding) and both[:, tokens.index("<pad>")].all()
    assert (~both[0]).sum() == 1  # the first query sees only itself
    heads = mh.head_summary()
    r = mh.check_by_hand()
    for h in heads:
        assert h["max"] == r["attn"][h["head"]].max()


def test_heatmap_figure_is_inline_svg(capsys):
    snippet("heatmap").report()
    assert '<figure class="ta-figure"><svg' in capsys.readouterr().out


def test_no_print_options_left_set(capsys):
    before = np.get_printoptions()
    snippet("multihead").report_by_hand()
    assert np.get_printoptions() == before


def test_exercise_softmax_is_shift_invariant():
    ex = snippet("exercises")
    from transformer_anatomy.numpy import softmax
    import torch

    z = np.random.default_rng(1).standard_normal((5, 7))
    a, b = ex.shifted_weights(z, c=123.0)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a, torch.softmax(torch.from_numpy(z), dim=-1).numpy(), rtol=1e-12)
    assert softmax(5 * z, axis=-1).max(-1).mean() > a.max(-1).mean()  # scaling up sharpens


@pytest.mark.parametrize("T", [1, 2, 5, 9])
def test_exercise_causal_mask_equals_torch(T):
    import torch

    ours = snippet("exercises").causal_mask(T)
    ref = torch.nn.Transformer.generate_square_subsequent_mask(T) == float("-inf")
    assert ours.dtype == bool and np.array_equal(ours, ref.numpy())


@pytest.mark.parametrize("E,H", [(512, 8), (512, 16), (64, 4), (6, 3)])
def test_exercise_parameter_count_equals_torch(E, H):
    import torch

    with torch.device("meta"):
        m = torch.nn.MultiheadAttention(E, H)
    n = snippet("exercises").mha_parameter_count(E, H)
    assert n == sum(p.numel() for p in m.parameters()) == 4 * E * E + 4 * E
    # the reader's per-head derivation agrees with the one home of the formulas
    spec = importlib.util.spec_from_file_location("attention_params_home", SNIPPETS.parent / "complexity" / "params.py")
    home = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(home)
    assert n == home.attention_params(E)


def test_float_probe_is_the_home_of_the_notation_and_own_transformer_tables(capsys):
    import torch

    found = snippet("conventions").float_probe()
    assert found.pop("F.scaled_dot_product_attention(attn_mask=)") == "attend"
    assert len(found) == 6 and set(found.values()) == {"blocked"}
    hot, block0, only0 = snippet("conventions").probe_masks()
    assert hot[:, 0].all() and not hot[:, 1:].any()
    assert torch.equal(torch.isinf(block0), hot) and torch.equal(torch.isinf(only0), ~hot)
    snippet("conventions").report_float_probe()
    assert capsys.readouterr().out.count("**may not attend**") == 6



def test_exercise_sdpa_mask_gives_the_key_padding_result():
    import torch
    import torch.nn.functional as F

    from transformer_anatomy.numpy import scaled_dot_product_attention

    pad = np.array([[False, False, True, True, True], [False, False, False, False, True]])
    rng = np.random.default_rng(3)
    q, kv = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 5, 8))
    want, _ = scaled_dot_product_attention(q, kv, kv, key_padding_mask=pad)
    mask = snippet("exercises").sdpa_attend_mask(pad, 3)
    assert mask.shape == (2, 1, 3, 5) and mask.dtype == bool
    got = F.scaled_dot_product_attention(torch.from_numpy(q)[:, None], torch.from_numpy(kv)[:, None],
                                         torch.from_numpy(kv)[:, None], attn_mask=torch.from_numpy(mask.copy()))
    np.testing.assert_allclose(got[:, 0].numpy(), want, rtol=1e-12, atol=1e-12)


# ---- "I like apples": every intermediate of multi-head attention (docs/snippets/attention/apples.py) ----


def test_apples_matches_nn_multihead_attention():
    m = snippet("apples")
    c = m.check()
    assert c["output"] < 1e-12 and c["weights"] < 1e-12  # float64 (TESTING.md: 1e-10 or better)
    assert c["in_proj_weight"] == (3 * m.E, m.E)


def test_apples_intermediates_are_consistent():
    from transformer_anatomy.numpy import sinusoidal_table

    m = snippet("apples")
    r = m.apples()
    T, E, H, D = len(m.TOKENS), m.E, m.H, m.D
    assert (T, E, H, D) == (3, 6, 2, 3)  # the seed's example: three tokens, d_model = 6, two heads
    p = r["params"]
    assert np.array_equal(np.round(p["W_q"] * 10), p["W_q"] * 10)  # one decimal, as printed
    np.testing.assert_allclose(r["x"] - p["embedding"], sinusoidal_table(T, E))
    for h, hd in enumerate(r["heads"]):
        np.testing.assert_allclose(hd["q"], r["x"] @ p["W_q"][:, h * D:(h + 1) * D])
        np.testing.assert_allclose(hd["scaled"], hd["scores"] / math.sqrt(D))
        np.testing.assert_allclose(hd["weights"].sum(-1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(hd["weights"], np.exp(hd["scaled"]) / np.exp(hd["scaled"]).sum(-1, keepdims=True))
        np.testing.assert_allclose(r["concat"][:, h * D:(h + 1) * D], hd["out"])
    np.testing.assert_allclose(r["out"], r["concat"] @ p["W_o"])


def test_apples_matches_our_numpy_multihead_attention():
    from transformer_anatomy.numpy import MultiheadAttention

    m = snippet("apples")
    r = m.apples()
    ref = m.reference(r["params"])
    ours = MultiheadAttention(m.E, m.H, bias=False, batch_first=True, dtype=np.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()}, strict=True)
    ours.eval()
    out, _ = ours.forward(r["x"][None], r["x"][None], r["x"][None])
    np.testing.assert_allclose(out[0], r["out"], rtol=1e-10, atol=1e-10)
