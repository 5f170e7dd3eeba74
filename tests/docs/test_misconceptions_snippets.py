"""The misconceptions page's experiments return what the page says about them."""

import importlib
import importlib.util
import math
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2] / "docs" / "snippets"


def load(page, name):
    """``docs/snippets/<page>/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"{page}.{name}")


def test_parameter_shares_match_the_complexity_formulas():
    shares = load("misconceptions", "param_share")
    params = load("complexity", "params")
    totals, enc, dec = shares.shares(**shares.BASE)
    E, F = shares.BASE["E"], shares.BASE["F"]
    assert enc["feed-forward"] == params.ffn_params(E, F) and enc["attention"] == params.attention_params(E)
    assert dec["attention"] == 2 * params.attention_params(E)
    assert sum(totals.values()) == params.seq2seq_params(37000, 37000, E, F, 6, 6)
    assert enc["feed-forward"] > 1.99 * enc["attention"]  # "twice the parameters"
    assert shares.flop_share(32) > 0.5 > shares.flop_share(2048)


def test_our_layer_equals_the_library_layer():
    diffs = load("misconceptions", "library_magic").compare()
    assert diffs["output"] < 1e-12 and diffs["input gradient"] < 1e-12


def test_norm_placement_gradients_finite_and_ordered():
    norms = load("misconceptions", "norm_placement").experiment(num_layers=6)
    for values in norms.values():
        assert len(values) == 6 and all(math.isfinite(v) and v > 0 for v in values)
    post, pre = norms["post-norm"], norms["pre-norm"]
    assert post[-1] > post[0]  # post-norm: larger towards the output
    assert pre[-1] < pre[0]  # pre-norm: smaller towards the output


def test_adam_first_step_moves_every_weight_by_lr():
    warmup = load("misconceptions", "warmup")
    rows, key_bias = warmup.first_step()
    rows = {r[0]: r for r in rows}
    for name in warmup.SHOWN:
        assert rows[name][1] > 0.999, name  # all but entries whose gradient is rounding noise
        assert rows[name][2] > 10 * rows[name][3]  # Adam moves far more than SGD at the same lr
    assert key_bias < 1e-6  # the key bias' gradient is rounding noise


def test_unigram_floor_is_the_entropy_of_the_target_tokens():
    warmup = load("misconceptions", "warmup")
    _, _, tgt_out = warmup.reversal_batch(torch.Generator().manual_seed(0), N=4000)
    counts = torch.bincount(tgt_out.flatten(), minlength=warmup.VOCAB).double()
    p = counts[counts > 0] / counts.sum()
    assert float(-(p * p.log()).sum()) == pytest.approx(warmup.unigram_floor(), abs=0.01)


def test_warmup_experiment_shows_what_the_page_says():
    warmup = load("misconceptions", "warmup")
    curves = warmup.experiment()
    floor = warmup.unigram_floor()
    last = {name: sum(v[-5:]) / 5 for name, v in curves.items()}
    assert all(math.isfinite(v) for v in last.values())
    assert abs(last["lr 1e-2, no warmup"] - floor) < 0.1  # stuck at "ignores the input"
    assert last["lr 1e-2, warmup 15 steps"] < floor - 0.3  # learns
    assert last["lr 1e-3, no warmup"] < floor - 0.3


def test_clipping_under_sgd_and_adam():
    clipping = load("misconceptions", "clipping")
    result = {name: clipping.summary(clipping.updates(opt, clip, lr)) for name, opt, clip, lr in clipping.RUNS}
    assert result["SGD, lr 1e-2"][0] > 100
    assert result["SGD, lr 1e-2, clip 1.0"][0] == pytest.approx(1.0, rel=0.05)
    spike, after = result["Adam, lr 1e-3"]
    assert spike < 10 and after < 0.5  # bounded spike step, long stall afterwards
    assert result["Adam, lr 1e-3, clip 1.0"][1] > 0.9


def test_nan_sources():
    nan = load("misconceptions", "nan_debugging")
    rows, finite_grads = nan.fully_masked_row()
    nan_paths = [k for k, v in rows.items() if torch.isnan(v).any()]
    assert nan_paths == ["nn.MultiheadAttention, need_weights=True (default)", "nn.MultiheadAttention, eval fast path"]
    assert all(torch.equal(v, torch.zeros_like(v)) for k, v in rows.items() if k.startswith("ours"))
    assert finite_grads
    values = nan.mask_values()
    assert torch.isnan(values["all blocked, -inf"]).all()
    assert torch.allclose(values["all blocked, -1e9"], torch.full((3,), 1 / 3))
    f16 = nan.float16_limits()
    assert f16["exp([11.0, 11.1]) in float16"][1] == math.inf and math.isfinite(f16["exp([11.0, 11.1]) in float16"][0])
    assert nan.locate_demo() == "attn"
    assert nan.heisenbug_demo() == (False, True, None)


def test_warmup_experiment_has_one_home():
    warmup = load("misconceptions", "warmup")
    home = load("advanced_training", "warmup")
    assert warmup.experiment.__code__.co_filename == warmup.train.__code__.co_filename
    assert warmup.train.__code__.co_filename.endswith("advanced_training/warmup.py")
    assert warmup.unigram_floor() == home.unigram_floor()
    assert not hasattr(warmup, "_train")  # no second copy of the loop


def test_figure_readings():
    shares = load("misconceptions", "param_share")
    totals, _, _ = shares.shares(**shares.BASE)
    core = sum(v for k, v in totals.items() if k != "embeddings + generator")
    assert totals["attention"] / core < 0.5 < totals["feed-forward"] / core  # "attention is under half"
    warmup = load("misconceptions", "warmup")
    rows, _ = warmup.first_step()
    rows = {r[0]: r for r in rows}
    assert min(rows[n][2] / rows[n][3] for n in warmup.SHOWN) > 10  # "orders of magnitude" on every tensor shown


# ------------------------------------------------------------------------------------------
# the exercises' coded solutions
def test_exercise_ffn_crossover():
    ex = load("misconceptions", "exercises")
    shares = load("misconceptions", "param_share")
    for E, F in ((512, 2048), (64, 256), (32, 64)):
        S = ex.ffn_crossover(E, F)
        assert shares.flop_share(S, E, F) < 0.5 and (S == 1 or shares.flop_share(S - 1, E, F) >= 0.5)


def test_exercise_adam_first_update_equals_torch():
    ex = load("misconceptions", "exercises")
    g = torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * torch.logspace(-9, 2, 50, dtype=torch.float64)
    for lr, betas, eps in ((1e-3, (0.9, 0.999), 1e-8), (1e-2, (0.9, 0.98), 1e-9)):
        theta = torch.nn.Parameter(torch.zeros(50, dtype=torch.float64))
        theta.grad = g.clone()
        torch.optim.Adam([theta], lr=lr, betas=betas, eps=eps).step()
        torch.testing.assert_close(ex.adam_first_update(g, lr, betas, eps), theta.detach(), rtol=1e-12, atol=1e-15)
    assert float(ex.adam_first_update(torch.tensor([1e-3], dtype=torch.float64))[0]) == pytest.approx(-1e-3, rel=1e-4)


def test_exercise_masked_softmax():
    ex = load("misconceptions", "exercises")
    blocked = torch.tensor([[True, True, True], [False, True, False]])
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        scores = torch.tensor([[2.0, 1.0, 0.5], [2.0, 1.0, 0.5]], dtype=dtype)
        p = ex.masked_softmax(scores, blocked)
        assert torch.isfinite(p).all() and torch.allclose(p[0].double(), torch.full((3,), 1 / 3, dtype=torch.float64), atol=1e-3)
        assert p[1, 1] == 0  # a blocked key of an open row gets exactly zero
        ref = torch.softmax(scores[1].double().masked_fill(blocked[1], float("-inf")), -1)
        assert torch.allclose(p[1].double(), ref, atol=1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-12)
    with pytest.raises(RuntimeError):  # the solution's premise: -1e9 does not fit in float16
        torch.zeros(3, dtype=torch.float16).masked_fill(blocked[0], -1e9)


# ------------------------------------------------------------------------------------------
# the self-assessment page (Practice): its figures' readings and its exercises' solutions
def test_self_assessment_figures():
    fig = load("self_assessment", "figures")
    for d in (4, 256):
        raw, scaled, top_raw, top_scaled = fig.score_spread(d)
        assert raw == pytest.approx(d**0.5, rel=0.05) and scaled == pytest.approx(1.0, rel=0.05)
    assert fig.score_spread(1024)[2] > 0.9 > fig.score_spread(1024)[3]  # unscaled rows saturate, scaled do not
    E, F = fig.BASE["E"], fig.BASE["F"]
    lin, quad = fig.layer_flops(2 * E + F, E, F)
    assert lin == quad
    _, tgt_in, tgt_out = load("advanced_training", "warmup").reversal_batch(torch.Generator().manual_seed(0), N=2, L=4)
    assert tgt_in.shape == tgt_out.shape and torch.equal(tgt_in[:, 1:], tgt_out[:, :-1])  # Q24: same length, shifted


def test_self_assessment_exercise_teacher_forcing():
    ex = load("self_assessment", "exercises")
    warmup = load("advanced_training", "warmup")
    src, ref_in, ref_out = warmup.reversal_batch(torch.Generator().manual_seed(3), N=5, L=6)
    tgt_in, tgt_out = ex.teacher_forcing(src.flip(1), warmup.SOS, warmup.EOS)
    assert torch.equal(tgt_in, ref_in) and torch.equal(tgt_out, ref_out)
    assert tgt_in.shape == tgt_out.shape == (5, 7)


def test_self_assessment_exercise_crossover_and_spread():
    ex = load("self_assessment", "exercises")
    for E, F in ((768, 3072), (512, 2048), (64, 256)):
        n = ex.quadratic_crossover(E, F)
        quad, lin = (lambda m: 4 * m * m * E), (lambda m: 8 * m * E * E + 4 * m * E * F)
        assert quad(n) == lin(n) and quad(n + 1) > lin(n + 1) and quad(n - 1) < lin(n - 1)
    for d in (4, 64, 1024):
        assert ex.dot_product_std(d) == pytest.approx(d**0.5, rel=0.03)


# ---- the initial loss, the seed's run, debugging tips, the two beliefs --------------------------
def test_uniform_prediction_costs_exactly_ln_v():
    il = load("misconceptions", "initial_loss")
    for V in (2, 14, 1000):
        assert il.uniform_loss(V) == pytest.approx(math.log(V), abs=1e-12)


def test_spread_logits_cost_ln_v_plus_half_the_variance_and_the_exercise_says_so():
    il = load("misconceptions", "initial_loss")
    ex = load("misconceptions", "exercises")
    for V, s in ((1000, 0.5), (14, 0.5), (1000, 1.0)):
        measured = il.spread_loss(V, s)
        assert measured > math.log(V)  # above the uniform prediction
        assert measured == pytest.approx(ex.expected_initial_loss(V, s), rel=0.01)  # second-order estimate


def test_committed_runs_start_near_ln_v():
    """The page says every committed run's first logged loss is close to ln V of its own classes."""
    il = load("misconceptions", "initial_loss")
    rows = il.committed_runs()
    assert rows, "no task results in docs/results"
    with_classes = [r for r in rows if r[3] is not None]
    assert with_classes
    for file, name, kind, V, lnV, step, loss in with_classes:
        assert lnV == pytest.approx(math.log(V))
        assert 0.8 < loss / lnV < 1.25, (file, name)


def test_claims_readers(tmp_path, capsys):
    claims = load("misconceptions", "claims")
    claims.report_plug_and_play()
    claims.report_rnn(tmp_path)  # an empty folder: says it is missing, quotes nothing
    out = capsys.readouterr().out
    assert "missing" in out and "rnn.json" in out
    assert "not in this build" in out
    assert "pre-training helped" in out  # the pre-training page's verdict, captured into this page's output
    assert claims.captured(print, "x") == "x"
