"""The claims of docs/data-flow.md, checked by importing the page's snippet file."""

import functools
import importlib.util
from pathlib import Path

import pytest

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "data_flow"


@functools.cache
def shapes():
    """Import docs/snippets/data_flow/shapes.py as a module."""
    spec = importlib.util.spec_from_file_location("data_flow_shapes", SNIPPETS / "shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("task", ["classification", "tagging", "qa", "generation"])
def test_numpy_and_torch_trace_the_same_shapes_and_loss(task):
    c = shapes().compare(task)
    assert c["same_shapes"]
    assert c["loss_diff"] < 1e-5
    rows = c["torch"]["rows"]
    for name, r in rows.items():  # the gradient of an activation has the activation's shape
        assert r["grad"] == r["out"], name


def test_head_shapes():
    m = shapes()
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


def test_mean_pool_ignores_pads():
    r = shapes().mean_pool()
    assert (r["pooled"] - r["used"]).abs().max().item() < 1e-6
    assert (r["naive"] - r["used"]).abs().max().item() > 1e-3  # the batch is padded


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_greedy_prefix_grows_by_one(backend):
    r = shapes().greedy_trace(backend=backend)
    ts = [h[1] for h, _ in r["steps"]]
    assert ts == list(range(1, len(ts) + 1))
    assert r["ys"].shape[1] == len(ts) + 1


def test_pooled_qa_head_cannot_point():
    r = shapes().qa_heads()
    assert r["start"].shape == r["end"].shape == (r["batch"]["src"].shape[0], r["S"])
    assert r["pooled"].shape[1] == 2 and r["error"] is not None
    assert (r["start"][r["pad"]] < -1e3).all()


def test_mermaid_is_generated_from_the_trace():
    m = shapes()
    t = m.trace_torch("classification")
    text = m.mermaid(t, m.INPUTS["classification"][0](t["batch"]), "logits", "loss")
    assert text.startswith("```mermaid\nflowchart TD") and m.fmt(t["rows"]["tok_emb"]["out"]) in text
    assert "mean over non-pad positions" in text
