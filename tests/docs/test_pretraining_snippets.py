"""The claims of docs/pretraining.md, checked by importing the page's snippet files."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformer_anatomy.training import pretraining as P  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SIZE = P.ModelSize(d_model=32, num_layers=2, nhead=2, dim_feedforward=64, max_len=16)


def test_mask_share_is_fifteen_times_eighty_percent(snippet):
    share = snippet("pretraining", "exercises").mask_share(n_blocks=400, S=100)
    assert abs(share - 0.15 * 0.8) < 5 * math.sqrt(0.12 * 0.88 / 40_000)


def test_initial_loss_of_an_untrained_model_is_ln_V(snippet):
    ex = snippet("pretraining", "exercises")
    V = 500
    torch.manual_seed(0)
    mlm = transformers.BertForMaskedLM(P.bert_config(V, SIZE))
    ids = torch.randint(len(P.SPECIALS), V, (32, 16), generator=torch.Generator().manual_seed(0))
    assert P.mlm_evaluate(mlm, ids, V)["loss"] == pytest.approx(ex.initial_loss(V), abs=0.05)


def test_layer_lrs_match_the_library_groups(snippet):
    ex = snippet("pretraining", "exercises")
    clf = transformers.BertForSequenceClassification(P.bert_config(60, SIZE))
    groups = P.discriminative_param_groups(clf, 2e-4, 0.7)
    assert [g["lr"] for g in groups] == pytest.approx(ex.layer_lrs(2e-4, 0.7, SIZE.num_layers))


def test_bert_layer_params_match_huggingface_and_freezing(snippet):
    ex = snippet("pretraining", "exercises")
    clf = transformers.BertForSequenceClassification(P.bert_config(60, SIZE))
    layer = sum(p.numel() for p in clf.bert.encoder.layer[0].parameters())
    assert ex.bert_layer_params(SIZE.d_model, SIZE.dim_feedforward) == layer
    total = P.count_params(clf)
    emb = sum(p.numel() for p in clf.bert.embeddings.parameters())
    assert P.freeze_lower_layers(clf, 1) == total - emb - ex.bert_layer_params(SIZE.d_model, SIZE.dim_feedforward)


def test_masking_demo_follows_the_recipe(snippet):
    tok, blocks, inputs, labels = snippet("pretraining", "results").masking_demo()
    chosen = labels != P.IGNORE
    assert torch.equal(labels[chosen], blocks[chosen])
    share = float(chosen.sum()) / float((blocks >= len(P.SPECIALS)).sum())
    assert abs(share - 0.15) < 0.01


def test_printers_read_a_quick_study(snippet, tmp_path, capsys, monkeypatch):
    """Every printer of the page runs on a study's JSON and prints its numbers."""
    spec = importlib.util.spec_from_file_location("pretraining_study", ROOT / "scripts" / "pretraining_study.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.run_study(tmp_path, quick=True, seed=0, threads=1, progress=False)
    res = snippet("pretraining", "results")
    r = res.load(tmp_path)
    assert r == json.loads((tmp_path / "pretraining.json").read_text())
    for name in ("report_corpus", "report_tokenizer", "notice_pretraining", "report_missing_keys", "report_labels",
                 "verdict", "report_lr", "report_freeze", "report_discriminative", "spread_of_choices",
                 "report_gains", "report_polarity_overlap", "notice_lr", "notice_freeze", "notice_discriminative"):
        getattr(res, name)(r)
    for name in ("figure_pretraining", "figure_labels", "figure_tips"):
        getattr(res, name)(r)
    res.report_manifest(tmp_path)
    out = capsys.readouterr().out
    assert out.count("<svg") == 3
    assert f"ln V = {r['pretraining']['ln_V']:.2f}" in out
    assert "classifier.weight" in out and "--quick" in out


def test_the_pages_prose_matches_the_committed_results(snippet):
    """docs/pretraining.md states in words what the committed study found; a rerun that changes
    it must change the prose too (this test says which sentence)."""
    res = snippet("pretraining", "results")
    r = res.load(ROOT / "docs" / "results")
    if r is None or r["quick"]:
        pytest.skip("no full study in docs/results")
    rows = {(x["init"], x["n_labels"]): x for x in r["labels"]["rows"]}
    spread = max(x["accuracy_max"] - x["accuracy_min"] for x in r["labels"]["rows"])
    diffs = [rows[("pretrained", n)]["accuracy_mean"] - rows[("scratch", n)]["accuracy_mean"]
             for _, n in rows]
    assert all(d <= spread for d in diffs), "'at no label count did our pre-trained model beat ...'"
    lr = r["tips"]["lr"]["rows"]
    by = {(x["init"], x["lr"]): x["accuracy"] for x in lr}
    lrs = {x["lr"] for x in lr}
    assert sum(by[("pretrained", v)] > by[("scratch", v)] for v in lrs) > len(lrs) / 2, "'less sensitive to the lr'"
    frozen = r["tips"]["freeze"]["rows"]
    assert all(x["accuracy"] < frozen[0]["accuracy"] for x in frozen[1:]), "'freezing hurt'"
    decay = r["tips"]["discriminative"]["rows"]
    flat = next(x["accuracy"] for x in decay if x["decay"] == 1.0)
    assert all(x["accuracy"] < flat for x in decay if x["decay"] != 1.0), "'per-layer learning rates hurt'"
    choices = [x["accuracy"] for x in lr if x["init"] == "pretrained"] + [x["accuracy"] for x in frozen + decay]
    assert max(choices) - min(choices) > max(abs(d) for d in diffs), "'the choices moved it more than pre-training'"
    words = res.polarity_words()
    known = [w for w in words if w not in r["coverage"]["missing"]]
    assert len(known) <= len(words) // 4, "'shares almost none of the task's polarity words'"
