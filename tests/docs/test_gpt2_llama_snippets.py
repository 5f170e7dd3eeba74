"""The claims of docs/gpt2-llama.md, checked by importing the page's snippet files
(docs/snippets/gpt2_llama/): every piece against HuggingFace and finite differences, the RoPE
relative property, the KV-cache memory computed = measured, the whole models = HF."""

import functools
import importlib

import numpy as np
import pytest


@functools.cache
def snippet(name):
    """``docs/snippets/gpt2_llama/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"gpt2_llama.{name}")


FD = 1e-6  # finite differences in float64, h = 1e-6 (TESTING.md)


def test_anatomy_table_read_from_hf():
    p = snippet("anatomy").pieces()
    assert p["normalisation"][0].startswith("LayerNorm") and p["normalisation"][1].startswith("LlamaRMSNorm")
    assert p["biases"] == ("yes", "no")
    assert p["output head"][0] == "tied to `wte`"
    assert "NewGELUActivation" in p["feed-forward"][0] and "SiLUActivation" in p["feed-forward"][1]
    assert "2 key/value heads" in p["attention"][1]


def test_rms_norm_equals_hf_and_its_backward_finite_differences():
    m = snippet("rmsnorm")
    r = m.versus_hf()
    assert r["float32 output"] < 1e-5
    assert max(r["float64 output"], r["float64 dx"], r["float64 dweight"]) < 1e-12
    assert 1e-12 < r["float64, HF as is"] < 1e-5  # HF's float32 upcast, shown on the page
    assert max(m.rms_norm_gradcheck().values()) < FD


def test_rms_norm_keeps_the_centre_layer_norm_removes_it():
    r = snippet("rmsnorm").shift_and_scale()
    ln, rms = r["LayerNorm"], r["RMSNorm"]
    assert abs(ln["mean of output"]) < 1e-12 and abs(rms["mean of output"]) > 0.1
    assert ln["shift x by 5"] < 1e-12 and rms["shift x by 5"] > 0.1
    assert ln["scale x by 3"] < 1e-4 and rms["scale x by 3"] < 1e-4  # up to eps


def test_rope_score_depends_only_on_the_offset():
    m = snippet("rope")
    r = m.relative_property()
    assert r["max_spread"] < 1e-12 and r["s_range"] > 1.0
    spread = m.spread_per_offset(r["s"])
    assert len(spread) == 2 * r["s"].shape[0] - 1


def test_rope_equals_hf_and_backward_finite_differences():
    m = snippet("rope")
    assert max(m.versus_hf().values()) < 1e-5
    assert max(m.rope_gradcheck().values()) < FD
    assert m.gpt2_position_table() == {"n_positions": 1024, "n_embd": 768, "parameters": 786432}
    errors = m.past_the_table()
    assert errors["ours"].startswith("ValueError") and "n_positions=8" in errors["ours"]
    assert errors["HF"].startswith("IndexError")


def test_interleaved_rope_is_halves_rope_up_to_a_permutation():
    r = snippet("rope").interleaved_vs_halves()
    assert r["vectors"] < 1e-12 and r["permuted"] < 1e-12
    assert r["unpermuted"] > 0.1
    assert snippet("rope").converter_permutation()


def test_gelu_new_and_swiglu_equal_hf_and_backward_finite_differences():
    m = snippet("swiglu")
    g = m.gelu_versus_hf()
    assert g["gelu_new"] < 1e-12 and 1e-4 < g["exact"] < 1e-3
    assert max(m.swiglu_versus_hf().values()) < 1e-12
    assert max(m.gpt2_mlp_versus_hf().values()) < 1e-12
    assert max(m.swiglu_gradcheck().values()) < FD


def test_swiglu_width_keeps_the_parameter_count():
    m = snippet("swiglu")
    for E in (768, 4096):
        p = m.mlp_parameters(E)
        assert p["swiglu"] == 3 * E * p["F"] and p["gelu_mlp"] == 8 * E * E + 5 * E
        assert abs(p["swiglu"] / p["gelu_mlp"] - 1) < 1e-3
    assert m.llama_intermediate_size(4096) == 11008  # Llama-7B's published intermediate_size
    e = m.silu_extremes()
    assert e["min"] == pytest.approx(-0.27846, abs=1e-5) and e["max_slope"] == pytest.approx(1.0998, abs=1e-4)


def test_gqa_with_hk_equal_h_is_mha_and_grouped_equals_repeat_kv():
    m = snippet("gqa")
    for Hk, d in m.versus_mha().items():
        assert d["repeat_kv"] < 1e-12 and d["enable_gqa"] < 1e-12, Hk
    assert max(m.gqa_gradcheck().values()) < FD


def test_kv_cache_bytes_per_token_computed_equals_measured():
    m = snippet("gqa")
    rows = m.measured()
    assert [r["Hk"] for r in rows] == [4, 2, 1]
    for r in rows:
        assert r["measured"] == r["computed"] == 2 * 2 * r["Hk"] * 16 * 4
        assert r["same_as_generate"] and r["length"] == 5 + 11
    assert rows[0]["parameters"] > rows[1]["parameters"] > rows[2]["parameters"]
    pub = m.published()
    assert pub["Llama-2-7B"]["per_token"] == 512 * 2**10 and pub["Llama-3-8B"]["sequence"] == 2**30


def test_whole_models_equal_hf_logits_and_every_gradient():
    from transformers import GPT2LMHeadModel, LlamaForCausalLM

    m = snippet("whole")
    c = m.comparison()
    for family in ("GPT-2", "Llama"):
        assert c[(family, "float64")]["logits"] < 1e-10 and c[(family, "float64")]["grad"] < 1e-10
        assert c[(family, "float32")]["logits"] < 1e-5 and c[(family, "float32")]["grad"] < 1e-4
    assert 1e-14 < m.rope_buffer_effect() < 1e-6  # float32-made RoPE frequencies show
    assert c[("GPT-2", "float64")]["n"] == len(list(GPT2LMHeadModel(snippet("hf_ref").gpt2_config()).named_parameters()))
    assert c[("Llama", "float64")]["n"] == len(list(LlamaForCausalLM(snippet("hf_ref").llama_config()).named_parameters()))


def test_parameter_counts_formula_ours_and_hf_agree():
    m = snippet("whole")
    for name, (formula, ours, hf) in m.counts().items():
        assert formula == ours == hf, name
    b = m.block_counts()
    assert b["Llama layer, Hk = 2"] < b["Llama layer, Hk = H"]
    assert abs(b["Llama layer, Hk = H"] / b["GPT-2 block"] - 1) < 0.05  # close in size at equal width
    assert m.gpt2_parameters(**m.GPT2_SMALL) == 124_439_808  # GPT-2 small
    assert m.llama_parameters(**m.LLAMA2_7B) == 6_738_415_616  # Llama-2-7B


def test_exercise_gqa_savings():
    s = snippet("exercises").gqa_savings()
    assert s["parameters"] == 8_030_261_248  # Llama-3-8B's published size
    assert s["cache_gib"] == 1.0 and s["cache_gib_mha"] == 4.0 and s["cache_saving"] == 0.75
    assert 0 < s["parameter_saving"] < 0.1


def test_exercise_position_shift():
    d = snippet("exercises").position_shift()
    assert d["Llama"] < 1e-10 and d["GPT-2"] > 1e-2


def test_exercise_mean_pool_kv():
    r = snippet("exercises").mean_pool_check()
    assert r["same_at_H"] < 1e-12 and r["finite"]
    assert r["parameters"][4] > r["parameters"][2] > r["parameters"][1]


@pytest.mark.parametrize("module, name", [("rope", "figure_frequencies"), ("rope", "figure_scores"),
                                          ("swiglu", "figure_activations"), ("gqa", "figure_kv_memory")])
def test_figures_have_alt_text_and_caption(module, name):
    svg = getattr(snippet(module), name)()
    assert svg.startswith('<figure class="ta-figure"><svg role="img" aria-label="')
    assert "<figcaption>" in svg and "currentColor" in svg


def test_show_lines_fails_loudly_on_a_missing_anchor():
    from transformer_anatomy.numpy.causal_lm import causal_attention

    with pytest.raises(ValueError, match="not found"):
        snippet("hf_ref").show_lines(causal_attention, "no such line", "out =")
