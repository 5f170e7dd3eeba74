"""The claims of docs/advanced-training.md, checked by importing the page's snippet files."""

import functools
import importlib.util
import math
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets" / "advanced_training"


@pytest.fixture(autouse=True)
def one_thread():
    """One thread, as the page build uses (tiny ops on a shared machine); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@functools.cache
def snippet(name):
    """Import docs/snippets/advanced_training/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"advanced_training_{name}", SNIPPETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def experiment(name):
    return getattr(snippet("issues"), f"experiment_{name}")()


def test_warmup_is_linear_then_follows_the_schedule():
    m = snippet("warmup")
    rows = m.schedules(lr=1e-3, warmup=100, max_steps=1000, d_model=64)
    i1, i100, i1000 = m.STEPS.index(1), m.STEPS.index(100), m.STEPS.index(1000)
    for name in ("constant", "cosine"):
        assert rows[name][i1] == pytest.approx(1e-3 / 100)  # lr / warmup at step 1
        assert rows[name][i100] == pytest.approx(1e-3)  # peak at the end of warmup
    assert rows["constant"][i1000] == pytest.approx(1e-3)
    assert rows["cosine"][i1000] == pytest.approx(0.0, abs=1e-12)  # cosine decays to min_lr_ratio = 0
    assert rows["noam"][i100] == pytest.approx(64**-0.5 * 100**-0.5)  # the page's peak formula
    assert max(rows["noam"]) == rows["noam"][i100]


def test_label_smoothing_formula_equals_torch():
    m = snippet("label_smoothing")
    for eps in (0.0, 0.1, 0.3):
        ours, theirs = m.compare(eps=eps)
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_label_smoothing_minimum_is_entropy_of_q():
    b = snippet("label_smoothing").best_possible()
    assert b["q_smoothed"] == pytest.approx(b["entropy_of_q"], abs=1e-12)
    assert b["confident_plain"] < 1e-6  # plain CE rewards confidence ...
    assert b["confident_smoothed"] > b["q_smoothed"] + 0.5  # ... smoothed CE punishes it


def test_gradient_accumulation_equivalence_and_the_padding_pitfall():
    r = snippet("accumulation").compare()
    for k in (2, 4, 8):
        assert r[(False, k, "per_token")] < 1e-12 and r[(False, k, "mean/k")] < 1e-12  # no padding: both exact
        assert r[(True, k, "per_token")] < 1e-12  # padding: sum / all tokens is still exact
        assert r[(True, k, "mean/k")] > 1e-4  # the shortcut is not (far beyond float64 rounding)


def test_autocast_dtypes_and_small_difference():
    m = snippet("precision")
    d = m.dtypes_under_autocast()
    assert d["linear output"] == torch.bfloat16 and d["weight"] == torch.float32
    # CPU autocast leaves softmax in its input's dtype (CUDA's lists it as float32); the loss is float32
    assert d["softmax"] == torch.bfloat16 and d["cross_entropy"] == torch.float32
    fmt = m.precision_of_formats()
    assert fmt["bfloat16"][0] == 2**-7 and fmt["float32"][0] == 2**-23
    assert fmt["bfloat16"][1] > 1e38 and fmt["float16"][1] == 65504  # bf16 keeps fp32's range
    diff = m.loss_and_grad_difference()
    assert abs(diff["loss_bf16"] - diff["loss_fp32"]) < 0.05
    assert diff["grad_cosine"] > 0.99 and diff["param_dtype"] == diff["grad_dtype"] == torch.float32


def test_checkpointing_keeps_gradients():
    assert snippet("checkpointing").same_gradients() == 0.0  # the same operations, replayed


def test_ddp_sampler_matches_torch():
    m = snippet("ddp_sampler")
    for epoch in (0, 1):
        shards, agree = m.shards(epoch=epoch)
        assert agree and all(len(s) == 4 for s in shards.values())  # 10 padded to 12, 4 per rank
    assert m.shards(epoch=0)[0] != m.shards(epoch=1)[0]  # set_epoch reshuffles


def test_issue_lr_too_high():
    m = snippet("issues")
    r = experiment("lr_too_high")
    stuck, fine = m.tail(r[1e-1]["loss"]), m.tail(r[1e-2]["loss"])
    assert stuck == pytest.approx(m.unigram_loss(), abs=0.15)  # stuck near guessing token frequencies
    assert fine < 0.3 and r[1e-2]["valid_loss"] < 0.3 and stuck > 5 * fine


def test_issue_exploding_gradients():
    r = experiment("exploding")
    assert max(r[None]["grad_norm"]) > 1e6 or not math.isfinite(r[None]["loss"][-1])
    assert not math.isfinite(r[None]["loss"][-1])
    assert all(math.isfinite(x) for x in r[1.0]["loss"])


def test_issue_slow_convergence():
    r = experiment("slow")
    assert r[True]["loss"][149] > 5 * r[False]["loss"][149]
    assert r[True]["valid_loss"] > 5 * r[False]["valid_loss"]


def test_issue_overfitting():
    m = snippet("issues")
    r = experiment("overfit")
    gap_small = r[32]["valid_loss"] - m.tail(r[32]["loss"])
    gap_big = r[2000]["valid_loss"] - m.tail(r[2000]["loss"])
    assert gap_small > 0.1 and gap_small > 5 * abs(gap_big)


# ------------------------------------------------------------------------------------------
# the benchmark file the page reads, and the prose's claims about it
def test_bench_cpu_results_support_the_prose():
    m = snippet("bench_results")
    r = m.load("cpu")
    assert r is not None, "docs/results/bench-cpu.json is missing: run scripts/bench.py --threads 1"
    assert r["device"] == "cpu" and r["made_by"].startswith("scripts/bench.py")
    for block in r["results"]:
        rows = m.rows(r, block["size"])
        base, bf16, ckpt = rows["ours_fp32"], rows["ours_bf16"], rows["ours_ckpt"]
        assert not (base["error"] or bf16["error"] or ckpt["error"])
        # "on this CPU bf16 autocast is slower than float32 and still saves memory"
        assert bf16["step_s"] > base["step_s"] and bf16["activation_bytes"] < base["activation_bytes"]
        # checkpointing: much less saved memory, slower, at most ~1/3 more FLOPs
        assert ckpt["activation_bytes"] < 0.5 * base["activation_bytes"] and ckpt["step_s"] > base["step_s"]
        assert 1.0 < ckpt["flops_counted_incl_recompute"] / ckpt["flops_per_step"] <= 1.34
        assert base["flops_per_step"] == rows["ours_sdpa_math"]["flops_per_step"] == rows["reference_fp32"]["flops_per_step"]
        assert 0 < base["mfu"] < 1


def test_bench_readers_print(capsys):
    m = snippet("bench_results")
    m.report_table("cpu")
    m.report_compile("cpu")
    m.report_provenance("cuda")
    out = capsys.readouterr().out
    assert "ours_fp32" in out and "reference_fp32" in out
    if m.load("cuda") is None:
        assert "no cuda run has been made" in out


# ------------------------------------------------------------------------------------------
# the figures' readings and the numbers the prose now prints from code
def test_warmup_experiment_lives_here_and_shows_what_the_pages_say():
    m = snippet("warmup")
    curves = m.experiment()
    floor = m.unigram_floor()
    last = {name: sum(v[-5:]) / 5 for name, v in curves.items()}
    assert abs(last["lr 1e-2, no warmup"] - floor) < 0.1  # stuck at "ignores the input"
    assert last["lr 1e-2, warmup 15 steps"] < floor - 0.3 and last["lr 1e-3, no warmup"] < floor - 0.3
    assert [m.warmup_lr(1.0, s, 4) for s in (1, 2, 4, 9)] == [0.25, 0.5, 1.0, 1.0] and m.warmup_lr(1.0, 1, 0) == 1.0


def test_label_smoothing_target_figure_numbers():
    m = snippet("label_smoothing")
    one_hot, q = m.targets(0.1, 5)
    assert float(q.sum()) == pytest.approx(1.0) and float(q[0]) == pytest.approx(0.92) and float(q[1]) == pytest.approx(0.02)
    assert float(one_hot.sum()) == 1.0


def test_rounding_error_of_formats():
    import numpy as np

    m = snippet("precision")
    inside = np.logspace(-30, 30, 200) * 1.37
    assert m.rounding_error(inside, torch.bfloat16).max() <= 2**-8 + 1e-12  # half of bf16's eps, everywhere
    assert m.rounding_error(inside, torch.float32).max() <= 2**-24 + 1e-15
    assert m.rounding_error(np.array([1e5, 1e-9]), torch.float16).tolist() == [1.0, 1.0]  # overflow, underflow


def test_issue_constants_are_the_models():
    m = snippet("issues")
    model = m.make_model()
    assert model.d_model == m.E and len(model.transformer.encoder.layers) == m.LAYERS
    data, _ = m.make_data(n_train=16)
    assert data.train["src"].shape[1] == m.LENGTH


def test_ddp_prose_reads_the_scripts_default():
    m = snippet("ddp_sampler")
    assert m.cli_default("ddp_check.py", "--global-batch") == 32  # what tests/training/test_ddp.py passes
    with pytest.raises(KeyError):
        m.cli_default("ddp_check.py", "--no-such-option")


def test_checkpointing_uses_the_library_switch():
    from transformer_anatomy.training import enable_gradient_checkpointing

    assert snippet("checkpointing").enable_gradient_checkpointing is enable_gradient_checkpointing


# ------------------------------------------------------------------------------------------
# the exercises' coded solutions
def test_exercise_noam_peak_is_the_schedules_maximum():
    from transformer_anatomy.training import LRSchedule, TrainConfig

    ex = snippet("exercises")
    for E, warmup in ((512, 4000), (64, 100), (32, 7)):
        sched = LRSchedule(TrainConfig(schedule="noam", warmup=warmup, max_steps=4 * warmup), E)
        lrs = [sched(s) for s in range(1, 3 * warmup)]
        assert ex.noam_peak(E, warmup) == pytest.approx(max(lrs), rel=1e-12)
        assert lrs.index(max(lrs)) + 1 == warmup


def test_exercise_smoothed_minimum_equals_torch_at_q():
    from torch import nn

    ex = snippet("exercises")
    for eps, V in ((0.1, 5), (0.1, 37000), (0.3, 10), (0.0, 4)):
        q = torch.full((V,), eps / V, dtype=torch.float64)
        q[2] += 1 - eps
        loss = nn.CrossEntropyLoss(label_smoothing=eps)(q.log()[None], torch.tensor([2]))
        assert ex.smoothed_minimum(eps, V) == pytest.approx(float(loss), abs=1e-10)
        assert ex.smoothed_minimum(eps, V) == pytest.approx(snippet("label_smoothing").best_possible(eps, V)["entropy_of_q"]
                                                           if eps > 0 else 0.0, abs=1e-12)


def test_exercise_first_inexact_integer():
    ex = snippet("exercises")
    assert {d: ex.first_inexact_integer(d) for d in (torch.bfloat16, torch.float16, torch.float32)} == {
        torch.bfloat16: 257, torch.float16: 2049, torch.float32: 2**24 + 1}
    for d in (torch.bfloat16, torch.float16):
        n = ex.first_inexact_integer(d)
        exact = torch.arange(1, n, dtype=torch.float64)
        assert torch.equal(exact.to(d).double(), exact)  # everything below is exact
        assert torch.tensor(float(n), dtype=torch.float64).to(d).item() != n
