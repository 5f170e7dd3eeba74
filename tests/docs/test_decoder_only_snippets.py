"""The claims of docs/decoder-only.md, checked by importing the page's snippet files."""

import json
import math

import numpy as np
import pytest

from decoder_only import exercises as ex
from decoder_only import keep_drop as kd
from decoder_only import objective as obj
from decoder_only import results as res
from decoder_only import trace as tr
from transformer_anatomy.tasks.language_model import random_windows


# ---------------------------------------------------------------------------------- keep / drop
def test_keep_drop_counts():
    rows = {ours: (n_ours, theirs, n_theirs) for ours, n_ours, theirs, n_theirs, _ in kd.keep_drop()}
    assert rows["self_attn"][0] == rows["self_attn"][2]  # the same attention parameters
    assert rows["linear1 + linear2"][0] == rows["linear1 + linear2"][2]
    assert rows["norm1 + norm2"][0] == rows["norm1 + norm2"][2]
    assert rows["multihead_attn"][1] is None and rows["norm3"][1] is None
    t = kd.layer_totals()
    assert t["GPT-2 block"] == t["encoder layer"]  # "exactly an encoder layer's parameters"
    assert t["decoder layer"] - t["GPT-2 block"] == rows["multihead_attn"][0] + rows["norm3"][0]
    assert t["decoder layer"] == sum(r[0] for r in rows.values())  # the mapping covers the whole layer
    assert t["GPT-2 block"] == sum(r[2] for r in rows.values())
    assert kd.model_totals()["lm_head tied"]


def test_keep_drop_printers(capsys):
    kd.report_keep_drop()
    kd.notice_keep_drop()
    out = capsys.readouterr().out
    assert "exactly the same" in out and "(tied)" in out and "**whole layer**" in out


# ---------------------------------------------------------------------------------- trace
def test_traced_shapes():
    t = tr.traced()
    V = tr.data().vocab_size
    want = {"transformer.wte": (tr.N, tr.T, tr.E), "transformer.h.0.ln_1": (tr.N, tr.T, tr.E),
            "transformer.h.0.attn.c_attn": (tr.N, tr.T, 3 * tr.E), "transformer.h.0.attn": (tr.N, tr.T, tr.E),
            "transformer.h.0.mlp.c_fc": (tr.N, tr.T, 4 * tr.E), "transformer.h.0": (tr.N, tr.T, tr.E),
            "transformer.h.1": (tr.N, tr.T, tr.E), "transformer.ln_f": (tr.N, tr.T, tr.E),
            "lm_head": (tr.N, tr.T, V)}
    for name, shape in want.items():
        assert tuple(t["torch"][name][1]) == shape, name
        assert tuple(t["numpy"][name][1]) == shape, name
    assert t["logits_shape"] == (tr.N, tr.T, V)
    assert t["diff"] < 1e-12  # the two backends agree to rounding (float64)
    assert tr.hf_logits_diff() < 1e-12  # and HF's GPT2LMHeadModel with the same weights
    assert set(t["torch"]) == set(t["numpy"])  # the same module tree
    for name, (a, b) in tr.shape_differences().items():  # only broadcastable position tables may differ
        assert name == "transformer.wpe" and a[-2:] == b[-2:] == (tr.T, tr.E)
    assert tr.letters((tr.N, tr.T, 3 * tr.E)) == "(N, T, 3E)" and tr.letters((tr.N, tr.T, V)) == "(N, T, V)"


def test_letters_are_unambiguous():
    sizes = [tr.N, tr.T, tr.E, 3 * tr.E, 4 * tr.E, tr.data().vocab_size, tr.E // tr.H, tr.H]
    assert len(set(sizes)) == len(sizes)


def test_head_weights():
    w, diff = tr.weights()
    assert w.shape == (tr.N, tr.H, tr.T, tr.T)
    assert diff < 1e-12  # the recomputed weights reproduce the module's output
    assert np.abs(np.triu(w, k=1)).max() == 0.0
    assert np.allclose(w.sum(-1), 1.0, atol=1e-12)
    uniform = np.tril(np.ones((tr.T, tr.T)) / np.arange(1, tr.T + 1)[:, None])
    assert np.abs(w - uniform).max() < 0.05  # "nearly evenly over what it may see"


def test_trace_printers(capsys):
    tr.report_trace()
    tr.report_trace_all()
    tr.notice_head()
    out = capsys.readouterr().out
    assert "| `lm_head` | `Linear` |" in out and "(N, T, 3E)" in out
    svg = tr.figure_mask_and_head()
    assert svg.count("<svg") == 2 and svg.count("<figcaption>") == 2


# ---------------------------------------------------------------------------------- objective
def test_objective_claims():
    x, y, ok = obj.shifted()
    assert ok and x[1:] == y[:-1]
    r = obj.losses()
    assert r["one_pass"] < 1e-12  # one pass = T prefix passes
    assert abs(r["nats"] - r["nats_numpy"]) < 1e-10
    assert abs(r["nats"] - math.log(r["V"])) < 0.1  # "starts at about ln V"
    assert r["bits"] == pytest.approx(r["nats"] / math.log(2))
    assert r["predictions"] == tr.N * tr.T


def test_objective_printers(capsys):
    obj.report_shift()
    obj.report_loss()
    out = capsys.readouterr().out
    assert "targets[:, :-1] == inputs[:, 1:] for every row: True" in out and "ln V" in out


# ---------------------------------------------------------------------------------- exercises
def test_exercise_units():
    u = ex.units(math.log(107))
    assert u["bits"] == pytest.approx(math.log2(107)) and u["perplexity"] == pytest.approx(107)
    assert "perplexity 107.0" in ex.units_of_uniform()


def test_exercise_inputs_targets_match_the_task():
    data = tr.data()
    windows = random_windows(data.stream("train"), 3, 12, rng=5)
    x, y = ex.inputs_targets(windows)
    bx, by = data.batch("train", batch_size=3, block_size=12, rng=5)
    assert (x == bx).all() and (y == by).all()


def test_exercise_future_influence_is_exactly_zero():
    assert ex.future_influence() == 0.0


def test_exercise_saved_per_layer():
    t = kd.layer_totals()
    assert ex.saved_per_layer(kd.E) == t["decoder layer"] - t["GPT-2 block"]
    share = ex.saved_per_layer(768) / ex.layer_params(768, 3072, cross_attention=True)
    assert 0.24 < share < 0.26  # "about a quarter"


# ---------------------------------------------------------------------------------- results
def test_results_printers_on_the_committed_file(capsys):
    r = res.load()
    if r is None:
        pytest.skip("no docs/results/lm.json")
    res.report_heldout(r)
    res.notice_heldout(r)
    res.report_samples(r)
    res.report_manifest(r)
    out = capsys.readouterr().out
    assert "trigram baseline" in out and "<pre" in out and out.count("bits/char") >= 2
    res.figure_bits(r)
    res.figure_curves(r)
    svg = capsys.readouterr().out
    assert svg.count("<svg") == 2 and "aria-label" in svg


def test_results_claims_on_the_committed_file():
    r = res.load()
    if r is None:
        pytest.skip("no docs/results/lm.json")
    base = res.baseline_bits(r)
    assert list(base)[:4] == ["uniform", "unigram", "bigram", "trigram"]
    assert base["trigram"] < base["bigram"] < base["unigram"] < base["uniform"]  # "the n-gram models are the bar"
    for family in ("gpt2", "llama"):  # "their curves lie on top of each other: ... float32 rounding"
        a, b = r["runs"][f"{family}-numpy"], r["runs"][f"{family}-torch"]
        gap, at = res.curve_gap(a, b)
        assert at is not None and gap < 1e-2, (family, gap, at)
    assert r["best_run"] in r["runs"] and r["samples"]["run"] == r["best_run"]


def test_results_printers_say_when_nothing_was_produced(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(res, "FOLDER", tmp_path)
    assert res.load() is None
    for f in (res.report_heldout, res.notice_heldout, res.figure_bits, res.figure_curves, res.report_samples,
              res.notice_samples, res.report_manifest):
        f()
    assert capsys.readouterr().out.count("lm_study.py") == 7


def test_results_beats_sentence(tmp_path, capsys):
    """The sentence names exactly the baselines the best run beats."""
    r = res.load()
    if r is None:
        pytest.skip("no docs/results/lm.json")
    r = json.loads(json.dumps(r))
    best = r["best_run"]
    r["runs"][best]["test"]["bits_per_char"] = (r["baselines"]["trigram"]["test"]["bits_per_char"]
                                                + r["baselines"]["bigram"]["test"]["bits_per_char"]) / 2
    res.notice_heldout(r)
    out = capsys.readouterr().out
    assert "it beats the uniform, unigram, bigram baselines" in out


def test_results_repeats_and_every_baseline(capsys):
    assert res.repeats("abcabcabc", 3) == 3 and res.repeats("abcdef", 3) == 1 and res.repeats("ab", 3) == 0
    r = res.load()
    if r is None:
        pytest.skip("no docs/results/lm.json")
    res.notice_samples(r)
    assert "greedy" in capsys.readouterr().out
    r = json.loads(json.dumps(r))
    r["runs"][r["best_run"]]["test"]["bits_per_char"] = 0.5  # below every baseline
    res.notice_heldout(r)
    assert "it beats every baseline, the 5-gram included" in capsys.readouterr().out


def test_the_pages_prose_matches_the_committed_results():
    """'greedy decoding of a small model often' loops; 'sampling trades such loops for misspellings'."""
    r = res.load()
    if r is None or r["quick"]:
        pytest.skip("no full study in docs/results")
    reps = {item["name"]: res.repeats(item["text"]) for item in r["samples"]["items"]}
    assert reps["greedy"] > max(v for k, v in reps.items() if k != "greedy"), reps
