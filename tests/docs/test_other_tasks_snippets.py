"""The claims of docs/other-tasks.md, checked by importing the page's snippet files."""

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from other_tasks import exercises as ex
from other_tasks import pooling, results, translation
from transformer_anatomy.tasks import make_sentiment_task, words_to_number
from transformer_anatomy.tasks.forecasting import last_value_forecast, mae, make_series, make_windows, seasonal_naive_forecast

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(d_model=16, nhead=2, num_layers=1, dim_feedforward=32, dropout=0.0)


# ---------------------------------------------------------------- translation
FRENCH = {0: "zéro", 16: "seize", 17: "dix sept", 21: "vingt et un", 22: "vingt deux", 61: "soixante et un",
          70: "soixante dix", 71: "soixante et onze", 77: "soixante dix sept", 80: "quatre vingts",
          81: "quatre vingt un", 90: "quatre vingt dix", 91: "quatre vingt onze", 99: "quatre vingt dix neuf",
          100: "cent", 101: "cent un", 200: "deux cents", 201: "deux cent un", 280: "deux cent quatre vingts",
          999: "neuf cent quatre vingt dix neuf"}


@pytest.mark.parametrize("n, words", FRENCH.items())
def test_french_numbers_by_hand(n, words):
    assert " ".join(translation.french(n)) == words


def test_french_pairs_are_distinct_and_english_parses_back():
    pairs = translation.french_pairs()
    assert len({tuple(fr) for _, fr in pairs}) == len(pairs) == 1000
    assert all(words_to_number(en) == n for n, (en, _) in enumerate(pairs))


def test_the_numbers_model_has_one_table_per_vocabulary():
    data, model = translation.build_numbers_translator()
    sd = model.state_dict()
    assert sd["src_tok_emb.weight"].shape[0] == len(data.src_vocab) != len(data.tgt_vocab)
    assert sd["tgt_tok_emb.weight"].shape[0] == sd["generator.weight"].shape[0] == len(data.tgt_vocab)


def test_length_stats_by_hand():
    st = translation.length_stats([2, 4], [1, 4])
    assert st["ratio_mean"] == pytest.approx(0.75) and st["same_length"] == 0.5 and st["tgt_max"] == 4


def test_printers_run(capsys):
    translation.report_numbers()
    translation.report_model_shapes()
    translation.report_french()
    out = capsys.readouterr().out
    assert "V_src" in out and "quatre vingt dix sept" in out


# ---------------------------------------------------------------- pooling
def test_cls_classifier_pools_position_zero_of_the_prepended_sequence():
    torch.manual_seed(0)
    m = pooling.ClsClassifier(10, 2, **SMALL).eval()
    assert m.tok_emb.num_embeddings == 11 and m.cls_id == 10
    ids = torch.tensor([[4, 5, 6, 0], [7, 8, 0, 0]])
    with_cls = torch.cat([torch.full((2, 1), 10), ids], dim=1)
    h, _ = m.encode(with_cls)
    torch.testing.assert_close(m(ids), m.classifier(h[:, 0]))


def test_cls_classifier_ignores_trailing_pads():
    torch.manual_seed(0)
    m = pooling.ClsClassifier(10, 2, **SMALL).eval()
    ids = torch.tensor([[4, 5, 6]])
    torch.testing.assert_close(m(ids), m(torch.tensor([[4, 5, 6, 0, 0]])), rtol=1e-5, atol=1e-6)


def test_cls_classifier_refuses_the_cls_id_as_input():
    m = pooling.ClsClassifier(10, 2, **SMALL)
    with pytest.raises(IndexError, match="token id 10 is out of range for vocabulary size 10"):
        m(torch.tensor([[4, 10]]))


def test_both_poolings_train_with_the_trainer():
    from transformer_anatomy.training import TorchTrainer, TrainConfig

    data = make_sentiment_task(n_train=64, n_valid=32, n_test=32)
    for cls in pooling.POOLINGS.values():
        model = cls(len(data.src_vocab), 2, **SMALL)
        summary = TorchTrainer(model, data, TrainConfig(kind="classification", max_steps=3, batch_size=16)).fit()
        assert summary["step"] == 3


# ---------------------------------------------------------------- exercises
def test_trend_only_mae_matches_the_baselines():
    y = make_series(300, periods=(), amplitudes=(), trend=0.02, noise=0.0)
    x, t = make_windows(y, 48, 12)
    want = ex.trend_only_mae(0.02, 12, 24)
    assert mae(last_value_forecast(x, 12), t) == pytest.approx(want["last_value"])
    assert mae(seasonal_naive_forecast(x, 12, 24), t) == pytest.approx(want["seasonal_naive"])


def test_noise_floor_is_the_gaussian_mean_absolute_deviation():
    eps = np.random.default_rng(0).normal(0.0, 0.4, 200_000)
    assert np.abs(eps).mean() == pytest.approx(ex.noise_floor(0.4), rel=0.01)
    assert ex.noise_floor(1.0) == pytest.approx(math.sqrt(2 / math.pi))


def test_max_pool_classifier_is_pad_invariant_and_is_a_max():
    torch.manual_seed(0)
    m = ex.MaxPoolClassifier(10, 2, **SMALL).eval()
    ids = torch.tensor([[4, 5, 6]])
    torch.testing.assert_close(m(ids), m(torch.tensor([[4, 5, 6, 0, 0]])), rtol=1e-5, atol=1e-6)
    h, _ = m.encode(ids)
    torch.testing.assert_close(m(ids), m.classifier(h.max(dim=1).values))
    assert torch.isfinite(m(torch.zeros(1, 3, dtype=torch.long))).all()


def test_shared_vocabulary_covers_both_languages():
    pairs = translation.french_pairs()
    v = ex.shared_vocabulary(pairs)
    en = translation.vocab_of([p[0] for p in pairs])
    fr = translation.vocab_of([p[1] for p in pairs])
    assert len(v) == 4 + len(set(en) | set(fr))
    assert all(v.word2idx.get(w) is not None for w in en + fr)


# ---------------------------------------------------------------- the study
def _study():
    spec = importlib.util.spec_from_file_location("other_tasks_study", ROOT / "scripts" / "other_tasks_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_study_writes_what_the_page_reads(tmp_path, capsys):
    r = _study().run_study(tmp_path, quick=True, seed=0, threads=1, progress=False)
    assert r == json.loads((tmp_path / "other_tasks.json").read_text())
    for name in ("other_tasks-forecast.png", "other_tasks-pooling.png", "other_tasks-manifest.json"):
        assert (tmp_path / name).stat().st_size > 0
    manifest = json.loads((tmp_path / "other_tasks-manifest.json").read_text())
    assert manifest["quick"] is True and set(manifest["results"]) >= {"other_tasks.json", "other_tasks-forecast.png"}

    f = r["forecast"]
    s = f["settings"]
    assert len(f["series"]) == f["length"] and f["holdout_start"] == f["length"] - s["n_holdout"]
    n_pred = f["n_test_windows"] * s["horizon"]
    for b in f["baselines"].values():
        assert len(b["forecast"]) == n_pred and b["mae"] >= 0
    assert {run["normalize"] for run in f["runs"]} == set(s["normalize"])
    truth = np.asarray(f["series"][f["holdout_start"]: f["holdout_start"] + n_pred])
    for run in f["runs"]:  # each stored MAE is the MAE of the stored forecast
        assert run["mae"] == pytest.approx(mae(np.asarray(run["forecast"]), truth))
    assert f["baselines"]["last_value"]["mae"] == pytest.approx(
        mae(np.asarray(f["baselines"]["last_value"]["forecast"]), truth))
    assert f["noise_floor"] == pytest.approx(ex.noise_floor(s["series"]["noise"]))

    p = r["pooling"]
    assert set(p["summary"]) == {"mean", "cls"}
    for pooling_name, sm in p["summary"].items():
        rows = [x for x in p["rows"] if x["pooling"] == pooling_name]
        assert [x["seed"] for x in rows] == p["settings"]["seeds"]
        assert sm["accuracy_mean"] == pytest.approx(np.mean([x["test_accuracy"] for x in rows]))
        assert all(0.0 <= a <= 1.0 for a in sm["accuracies"])
    cls_params = next(x["params"] for x in p["rows"] if x["pooling"] == "cls")
    mean_params = next(x["params"] for x in p["rows"] if x["pooling"] == "mean")
    assert cls_params - mean_params == p["settings"]["model"]["d_model"]  # one more embedding row

    for name in ("report_forecast", "notice_forecast", "figure_forecast", "report_pooling", "notice_pooling",
                 "figure_pooling"):
        getattr(results, name)(r)
    results.report_manifest(tmp_path)
    out = capsys.readouterr().out
    assert "<svg" in out and "MAE" in out and "not yet produced" not in out


def test_printers_say_missing_without_results(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(results, "FOLDER", tmp_path)  # an empty results folder
    for name in ("report_forecast", "notice_forecast", "figure_forecast", "report_pooling", "notice_pooling",
                 "figure_pooling", "report_manifest"):
        getattr(results, name)()
    assert capsys.readouterr().out.count("not yet produced") == 7


def test_committed_results_are_a_full_run_and_consistent():
    r = results.load(ROOT / "docs" / "results")
    if r is None:
        pytest.skip("docs/results/other_tasks.json not produced yet")
    assert r["quick"] is False
    f = r["forecast"]
    n_pred = f["n_test_windows"] * f["settings"]["horizon"]
    truth = np.asarray(f["series"][f["holdout_start"]: f["holdout_start"] + n_pred])
    for run in f["runs"]:
        assert run["mae"] == pytest.approx(mae(np.asarray(run["forecast"]), truth))
    for name, b in f["baselines"].items():
        assert b["mae"] == pytest.approx(mae(np.asarray(b["forecast"]), truth)), name
    # the series is the generator's, from the recorded settings and seed
    np.testing.assert_allclose(make_series(**f["settings"]["series"], rng=r["seed"]), np.asarray(f["series"]), rtol=0, atol=1e-12)
