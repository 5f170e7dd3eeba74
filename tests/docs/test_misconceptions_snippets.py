"""The misconceptions page's experiments return what the page says about them."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2] / "docs" / "snippets"


def load(page, name):
    spec = importlib.util.spec_from_file_location(f"snippet_{page}_{name}", ROOT / page / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
