"""The claims of docs/data-flow.md, checked by importing the page's snippet file."""

import pytest


@pytest.mark.parametrize("task", ["classification", "tagging", "qa", "generation"])
def test_numpy_and_torch_trace_the_same_shapes_and_loss(snippet, task):
    c = snippet("data_flow", "shapes").compare(task)
    assert c["same_shapes"]
    assert c["loss_diff"] < 1e-5
    rows = c["torch"]["rows"]
    for name, r in rows.items():  # the gradient of an activation has the activation's shape
        assert r["grad"] == r["out"], name


def test_head_shapes(snippet):
    m = snippet("data_flow", "shapes")
    cls = m.trace_torch("classification")["rows"]
    N, S, E = cls["encoder.norm"]["out"]
    assert cls["classifier"]["in"] == ((N, E),) and cls["classifier"]["in_grad"] == ((N, E),)
    tag = m.trace_torch("tagging")["rows"]
    assert tag["tagger"]["out"][:2] == tag["tok_emb"]["in"][0]
    qa = m.trace_torch("qa")
    assert qa["rows"]["qa_outputs"]["out"] == (*qa["rows"]["tok_emb"]["in"][0], 2)
    gen = m.trace_torch("generation")
    b = gen["batch"]
    assert gen["rows"]["transformer.decoder.layers.0"]["in"] == (
        (*b["tgt_in"].shape, E), (*b["src"].shape, E))


def test_mean_pool_ignores_pads(snippet):
    r = snippet("data_flow", "shapes").mean_pool()
    assert (r["pooled"] - r["used"]).abs().max().item() < 1e-6
    assert (r["naive"] - r["used"]).abs().max().item() > 1e-3  # the batch is padded


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_greedy_prefix_grows_by_one(snippet, backend):
    r = snippet("data_flow", "shapes").greedy_trace(backend=backend)
    ts = [h[1] for h, _ in r["steps"]]
    assert ts == list(range(1, len(ts) + 1))
    assert r["ys"].shape[1] == len(ts) + 1


def test_pooled_qa_head_cannot_point(snippet):
    r = snippet("data_flow", "shapes").qa_heads()
    assert r["start"].shape == r["end"].shape == (r["batch"]["src"].shape[0], r["S"])
    assert r["pooled"].shape[1] == 2 and r["error"] is not None
    assert (r["start"][r["pad"]] < -1e3).all()


def test_mermaid_is_generated_from_the_trace(snippet):
    m = snippet("data_flow", "shapes")
    t = m.trace_torch("classification")
    text = m.mermaid(t, m.INPUTS["classification"][0](t["batch"]), "logits", "loss")
    assert text.startswith("```mermaid\nflowchart TD") and m.fmt(t["rows"]["tok_emb"]["out"]) in text
    assert "mean over non-pad positions" in text


def _fake_result(tmp_path, task, backend, value, baseline_value):
    import json

    run = {"model": {"class": "TransformerQA", "num_params": 1234, "config": {"d_model": 8}},
           "headline": {"metric": "exact_match", "split": "test", "value": value, "baseline": "first_candidate",
                        "baseline_value": baseline_value},
           "test_metrics": {"loss": 0.1, "exact_match": value, "f1": 0.95},
           "summary": {"step": 40, "best_step": 30, "best_metric": value, "train_time_s": 12.0},
           "history": {"eval": [{"step": 10, "metrics": {"exact_match": 0.3}},
                                {"step": 20, "metrics": {"exact_match": 0.8}}]}}
    result = {"runs": {"encoder_qa": run}, "data": {"params": {"extra_fact_prob": 0.0}},
              "command": "python scripts/reproduce.py --task qa"}
    (tmp_path / f"{task}-{backend}.json").write_text(json.dumps(result))


def test_trained_table_reads_the_result_files(snippet, tmp_path, capsys):
    m = snippet("data_flow", "trained")
    _fake_result(tmp_path, "qa", "torch", 0.987, 0.42)
    rows = m.trained_rows("qa", tmp_path)
    assert [(r["backend"], r["value"], r["baseline_value"], r["others"]) for r in rows] == [
        ("torch", 0.987, 0.42, {"loss": 0.1, "f1": 0.95})]
    assert m.first_step_above("qa", "torch", 0.42, tmp_path) == 20
    assert m.first_step_above("qa", "torch", 0.9, tmp_path) is None
    m.report_trained("qa", tmp_path)
    out = capsys.readouterr().out
    assert "exact match **0.987**, f1 0.950" in out and "first_candidate 0.420" in out and "extra_fact_prob=0.0" in out
    m.report_trained("sentiment", tmp_path)  # nothing produced yet: says so, with the command
    assert "run `python scripts/reproduce.py --task sentiment`" in capsys.readouterr().out


def test_exercise_masked_mean_matches_the_classifier_input(snippet):
    import numpy as np

    r = snippet("data_flow", "shapes").mean_pool()
    h = r["h"].numpy()
    got = snippet("data_flow", "exercises").masked_mean(h, r["batch"]["src_len"])
    np.testing.assert_allclose(got, r["used"].numpy(), rtol=1e-5, atol=1e-6)


def test_exercise_head_params_match_torch_linear(snippet):
    import torch

    for E, C in [(32, 2), (64, 7)]:
        assert snippet("data_flow", "exercises").head_params(E, C) == sum(p.numel() for p in torch.nn.Linear(E, C).parameters())
    model = snippet("data_flow", "shapes").task_spec("qa")[1]
    assert snippet("data_flow", "exercises").head_params(model.d_model, 2) == sum(p.numel() for p in model.qa_outputs.parameters())


def test_exercise_best_span_matches_the_trainer(snippet):
    import numpy as np

    from transformer_anatomy.training.evaluation import best_spans

    rng = np.random.default_rng(0)
    start, end = rng.normal(size=(20, 12)), rng.normal(size=(20, 12))
    s, e = best_spans(start, end, max_answer_len=4)
    for i in range(20):
        assert snippet("data_flow", "exercises").best_span(start[i], end[i], max_len=4) == (int(s[i]), int(e[i]))


def _fake_reading(tmp_path, task="reversal"):
    import json

    layer = "transformer.decoder.layers.1.multihead_attn"
    stat = {"definition": "d", "chance": 0.1, "layers": {layer: {
        "per_head": [0.97, 0.5], "examples": 10, "correct": {"per_head": [0.98, 0.5], "examples": 9},
        "wrong": {"per_head": [0.4, 0.3], "examples": 1}, "figure_example": [0.99, 0.5]}}}
    reading = {"split": "test", "examples": 10, "correct": 9, "wrong": 1, "attention": "cross-attention",
               "layers": [layer], "figure_example": 3, "figure_layer": layer, "statistics": {"mirror": stat}}
    run = {"model": {"class": "Seq2SeqTransformer"}, "attention_reading": reading}
    (tmp_path / f"{task}-torch.json").write_text(json.dumps({"runs": {"encoder_decoder": run}}))


def test_reading_lines_quote_the_result_file(snippet, tmp_path, capsys):
    _fake_reading(tmp_path)
    lines = snippet("data_flow", "trained").reading_lines("reversal", "torch", results=tmp_path)
    assert lines == ["- mass on the mirrored source position, heads 0–1: **0.97, 0.50** (chance 0.10: 2 of 2 heads above it); "
                     "over 10 test examples; on the ✗ ones 0.40, 0.30."]
    snippet("data_flow", "trained").report_attention("reversal", results=tmp_path)
    out = capsys.readouterr().out
    assert "test example 3" in out and "9 ✓, 1 ✗" in out


def test_attention_readings_of_the_real_results_are_shares(snippet):
    from math import isfinite

    m = snippet("data_flow", "trained")
    seen = 0
    for task in ("reversal", "sentiment", "tagging", "numbers", "qa"):
        a = m.attention_reading(task, "torch")
        if not a:
            continue
        seen += 1
        assert a["figure_layer"] in a["layers"] and a["correct"] + a["wrong"] == a["examples"]
        for st in a["statistics"].values():
            for layer in a["layers"]:
                vals = [v for v in st["layers"][layer]["per_head"] if v is not None]
                assert vals and all(isfinite(v) and -1e-9 <= v <= 1 + 1e-9 for v in vals)
    if not seen:
        pytest.skip("docs/results has no attention_reading yet (rerun scripts/reproduce.py)")
