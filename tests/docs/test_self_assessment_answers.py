"""The measurements behind the self-assessment answers (docs/snippets/self_assessment/answers.py)."""

import json

import pytest

from self_assessment import answers as A


def test_positions_break_permutation_equivariance():
    r = A.permutation_check()
    assert sorted(r["permutation"]) == list(range(len(r["permutation"]))) and r["permutation"] != sorted(r["permutation"])
    assert r["without positions"] < 1e-12  # float64: the same rows, shuffled
    assert r["with positions"] > 1e-3


def test_causal_layer_never_sees_the_future_and_an_encoder_does():
    r = A.future_leak()
    assert r["causal"] < 1e-12 and r["encoder"] > 1e-6


def test_residual_keeps_the_gradient():
    g = A.residual_gradient(depth=8)
    assert 0.1 < g["with residual"] < 10.0  # of the order of the gradient at the top (norm 1)
    assert g["without residual"] < 1e-3 * g["with residual"]


def test_layer_norm_removes_shift_and_scale():
    x, y = A.layer_norm_rows()
    assert not (x[0] == x[1]).all()
    assert (y[0] - y[1]).abs().max().item() < 1e-5  # up to eps = 1e-5 under the square root
    assert y.mean(-1).abs().max().item() < 1e-12
    assert (y.std(-1, unbiased=False) - 1).abs().max().item() < 1e-5


def test_inside_model_call_runs_embeddings_layers_then_pooler():
    calls, last, pooled = A.inside_model_call()
    names = [n for n, _ in calls]
    assert names[0].startswith("embeddings.") and names[-1] == "pooler"
    assert names.index("embeddings.LayerNorm") < names.index("encoder.layer.0.attention.self")
    assert names.index("encoder.layer.0.output") < names.index("encoder.layer.1.attention.self")
    assert last == (1, 5, 16) and pooled == (1, 16)
    assert dict(calls)["encoder.layer.0.intermediate"] == (1, 5, 32)  # the feed-forward width


def test_gpt2_is_causal_and_bert_is_not():
    moved, layers = A.bert_vs_gpt()
    assert moved["GPT2Model"] < 1e-6 and moved["BertModel"] > 1e-5
    assert layers == {"BertModel": "BertLayer", "GPT2Model": "GPT2Block"}


def test_finetune_numbers_read_the_extremes(tmp_path, capsys):
    assert A.finetune_numbers(tmp_path) is None
    A.report_finetune(tmp_path)
    assert "reproduce.py --task pretraining" in capsys.readouterr().out
    rows = [{"init": i, "n_labels": n, "accuracy_mean": a} for i, n, a in
            (("pretrained", 50, 0.6), ("scratch", 50, 0.5), ("pretrained", 200, 0.7), ("scratch", 200, 0.65),
             ("pretrained", 800, 0.8), ("scratch", 800, 0.9))]
    (tmp_path / "pretraining.json").write_text(json.dumps(
        {"labels": {"rows": rows, "majority": 0.52}, "from_pretrained": {"missing_keys": ["classifier.weight"]}}))
    f = A.finetune_numbers(tmp_path)
    assert f["rows"] == [(50, 0.6, 0.5), (800, 0.8, 0.9)] and f["majority"] == pytest.approx(0.52)
    A.report_finetune(tmp_path)
    out = capsys.readouterr().out
    assert "classifier.weight" in out and "800 labels: pre-trained 0.800, from scratch 0.900  (pre-trained -0.100)" in out
