"""The claims of docs/advanced-training.md, checked by importing the page's snippet files."""

import functools
import importlib
import importlib.util
import math
from pathlib import Path

import numpy as np
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
    """``docs/snippets/advanced_training/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"advanced_training.{name}")


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


# ---- efficiency: length bucketing and the sliding-window mask ----------------------------------
def test_sliding_window_mask_convention_and_reference():
    m = snippet("efficiency")
    L, w = 9, 2
    mask = m.sliding_window_mask(L, w)
    assert mask.shape == (L, L) and mask.dtype == torch.bool
    ref = torch.tensor([[abs(i - j) > w for j in range(L)] for i in range(L)])
    assert torch.equal(mask, ref)
    assert not mask.diagonal().any()  # every query sees itself: no fully masked row
    assert torch.equal(mask, mask.T)
    assert not m.sliding_window_mask(L, L - 1).any()  # a window as wide as the sequence blocks nothing
    assert m.sliding_window_mask(0, 3).shape == (0, 0)
    for bad in (dict(L=-1, window=1), dict(L=4, window=-2)):
        name = next(iter(k for k, v in bad.items() if v < 0))
        with pytest.raises(ValueError, match=name):
            m.sliding_window_mask(**bad)
    with pytest.raises(TypeError, match="window"):
        m.sliding_window_mask(4, 1.5)
    import numpy as np

    import transformer_anatomy.numpy as tn

    for L, w in ((9, 2), (5, 0), (1, 3)):  # the NumPy twin is the same mask
        np.testing.assert_array_equal(tn.sliding_window_mask(L, w), m.sliding_window_mask(L, w).numpy())
    with pytest.raises(ValueError, match="window"):
        tn.sliding_window_mask(4, -1)


def test_sliding_window_output_ignores_keys_outside_the_window():
    """With the mask, changing the tokens farther than w from query i leaves output i unchanged."""
    from transformer_anatomy.torch import MultiheadAttention

    m = snippet("efficiency")
    torch.manual_seed(0)
    L, w, E = 12, 2, 8
    mha = MultiheadAttention(E, 2, batch_first=True).double()
    x = torch.randn(1, L, E, dtype=torch.float64)
    i = 5
    y = x.clone()
    far = [j for j in range(L) if abs(i - j) > w]
    y[0, far] = torch.randn(len(far), E, dtype=torch.float64)
    mask = m.sliding_window_mask(L, w)
    out_x, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
    out_y, _ = mha(y, y, y, attn_mask=mask, need_weights=False)
    torch.testing.assert_close(out_x[0, i], out_y[0, i], rtol=1e-10, atol=1e-10)
    out_n, _ = mha(y, y, y, need_weights=False)  # without the mask the far tokens do matter
    assert (out_n[0, i] - out_x[0, i]).abs().max() > 1e-6


def test_skipped_tiles_are_the_fully_masked_ones():
    m = snippet("efficiency")
    for L, w, b in ((24, 3, 8), (50, 5, 7), (16, 0, 4)):
        mask = m.sliding_window_mask(L, w)
        nb = -(-L // b)
        brute = sum(bool(mask[r * b:(r + 1) * b, c * b:(c + 1) * b].all()) for r in range(nb) for c in range(nb))
        assert m.skipped_block_share(L, w, b) == pytest.approx(brute / nb ** 2, abs=1e-12)
    # tiles of one entry: the skipped share is the masked share
    assert m.skipped_block_share(20, 3, 1) == pytest.approx(m.sliding_window_mask(20, 3).double().mean().item())
    rows = m.sliding_rows(lengths=(256, 1024), window=32, block=32)
    (_, a1, s1, d1, f1), (_, a2, s2, d2, f2) = rows
    assert a2 < a1 and s2 > s1 and f1 < d1 and f2 < d2  # the longer the sequence, the more is skipped
    assert d1 == m.attention_flops(1, 256, 64) == 4 * 256 * 256 * 64


def test_bucketing_keeps_every_example_once_and_pads_less():
    m = snippet("efficiency")
    src, lengths, _ = m.qa_lengths(n=400)
    random = m.random_batches(lengths, 16, 0)
    pooled = m.bucketed_batches(lengths, 16, 0, pool=4)
    whole = m.bucketed_batches(lengths, 16, 0)
    for plan in (random, pooled, whole):
        assert sorted(np.concatenate(plan).tolist()) == list(range(len(lengths)))
        assert all(1 <= len(b) <= 16 for b in plan)
    shares = [m.padding_share(lengths, p) for p in (random, pooled, whole)]
    assert shares[0] > shares[1] >= shares[2] >= 0
    # the share equals the pad ids counted in the actual trimmed batches
    for plan in (random, whole):
        pads = total = 0
        for b in plan:
            batch = src[b][:, :lengths[b].max()]
            pads += int((batch == 0).sum())
            total += batch.size
        assert m.padding_share(lengths, plan) == pytest.approx(pads / total, abs=1e-12)
