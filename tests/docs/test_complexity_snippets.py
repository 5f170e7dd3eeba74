"""The complexity page's claims: analytic FLOPs == FlopCounterMode, memory and parameter formulas
== measurement, and the crossover arithmetic."""

import importlib
import importlib.util
from pathlib import Path

import pytest

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "complexity"


def load(name):
    """``docs/snippets/complexity/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"complexity.{name}")


@pytest.fixture(scope="module")
def flops():
    return load("flops")


def test_analytic_flops_equal_flop_counter_exactly(flops):
    rows = flops.layer_comparison(N=2, S=12, T=9, E=32, H=4, F=80)
    assert len(rows) == 9
    for layer, part, analytic, math_backend, fused in rows:
        assert analytic == math_backend, (layer, part)  # matmul FLOPs: exact, tolerance 0
        if "scores" in part:
            # The page says the fused CPU kernel is counted as zero by this PyTorch.
            assert fused == 0, f"FlopCounterMode now counts {part} under the fused kernel: update the page"
        else:
            assert fused == analytic


def test_backward_is_twice_forward_when_the_input_needs_grad(flops):
    N, S, E, H, F = 2, 12, 32, 4, 80
    fwd, bwd = flops.backward_ratio(True, N, S, E, H, F)
    assert fwd == sum(flops.encoder_layer_flops(N, S, E, F).values())
    assert bwd == 2 * fwd
    fwd, bwd = flops.backward_ratio(False, N, S, E, H, F)
    assert bwd == 2 * fwd - 6 * N * S * E * E  # no dX for the first (fused QKV) projection


def test_whole_model_flops(flops):
    m = flops.model_flops(N=2, S=6, T=5, V=50)
    assert m["forward"] == m["analytic"]
    assert m["backward"] == 2 * m["forward"]


def test_per_token_rule(flops):
    per_token, two_params = flops.per_token(E=512, F=2048, S=128)
    assert per_token == two_params + 4 * 128 * 512


def test_activation_memory_formula_is_exact():
    memory = load("memory")
    for S, attention, measured, analytic, attn, nhs2 in memory.comparison(N=2, E=32, H=4, F=80, lengths=(12, 28)):
        assert measured == analytic, (S, attention)
        assert attn == (nhs2 if attention == "explicit" else 0)


def test_parameter_formulas_equal_numel():
    params = load("params")
    for name, formula, counted in params.seq2seq_rows():
        assert formula == counted, name
    total, core = params.paper_base()
    assert core == 44_140_544 and total == core + 37000 * 512


def test_bert_formula_equals_huggingface_bert_model():
    pytest.importorskip("transformers")
    parts, counted, cfg = load("params").bert_check()
    assert sum(parts.values()) == counted == 109_482_240


def test_crossover_arithmetic_and_measurement_shape():
    timing = load("timing")
    assert timing.crossover_analytic(64, 256) == 384
    assert timing.crossover_analytic(512, 2048) == 3072
    # Core share 0.25 at n=100 and 0.75 at n=400 (core/rest 1/3 -> 3): halfway in log space is 200.
    rows = [(100, 1.0, 0.25), (400, 1.0, 0.75)]
    assert timing.crossover_measured(rows) == pytest.approx(200.0)
    assert timing.crossover_measured([(10, 1.0, 0.1)]) is None
    measured = timing.measure(lengths=(16, 32), rounds=1)
    assert [r[0] for r in measured] == [16, 32]
    assert all(t_layer > 0 and t_core > 0 for _, t_layer, t_core in measured)


def test_exercise_crossover_matches_timing_snippet_and_flop_formula():
    ex, flops = load("exercises"), load("flops")
    for E, F in ((64, 256), (768, 3072), (48, 80)):
        n = ex.crossover_length(E, F)
        assert n == load("timing").crossover_analytic(E, F)
        parts = flops.encoder_layer_flops(1, n, E, F)
        quad = parts.pop("scores + weighted sum")
        assert quad == sum(parts.values())  # at n the quadratic part equals the rest exactly


def test_exercise_attention_weights_bytes_equal_the_saved_square_tensors():
    ex, memory = load("exercises"), load("memory")
    N, E, H, F = 2, 32, 4, 80
    for S in (12, 28):
        _, square = memory.measure_layer(N, S, E, H, F, attention="explicit")
        assert ex.attention_weights_bytes(N, H, S) == square


def test_exercise_training_step_flops_equal_flop_counter(flops):
    ex = load("exercises")
    N, S, E, H, F = 2, 12, 32, 4, 80
    fwd, bwd = flops.backward_ratio(True, N, S, E, H, F)
    assert ex.training_step_flops(N, S, E, F) == fwd + bwd


def test_flops_vs_length_formula_equals_counter(flops):
    rows = flops.flops_vs_length(lengths=(8, 24), E=16, H=2, F=40)
    for S, lin, quad, m_lin, m_quad in rows:
        assert (lin, quad) == (m_lin, m_quad), S
    assert len(flops.flops_figure(rows, 16, 40).axes) == 1


def test_adam_training_memory_is_four_copies_of_the_weights():
    """The formula (weights, gradients, m, v) equals the tensors of a real AdamW step, byte for byte."""
    tm = load("training_memory")
    measured, n = tm.measured_adam_bytes(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=64, vocab_size=100, max_position_embeddings=32)
    formula = tm.training_bytes(n)
    for part, nbytes in formula.items():
        assert measured[part] == nbytes == 4 * n, part
    assert measured["step counters"] > 0


def test_bert_base_weights_are_about_440_mb():
    """The seed's "~440 MB (float32)" is BertForPreTraining's parameter count times 4 bytes."""
    tm = load("training_memory")
    counts = tm.bert_base_counts()
    params = load("params")
    assert counts["BertModel"] == params.bert_params()
    assert counts["BertForPreTraining"] > counts["BertModel"]
    assert round(tm.training_bytes(counts["BertForPreTraining"])["weights"] / 1e7) == 44  # 440 MB, to 10 MB
