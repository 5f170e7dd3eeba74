"""Figures and tables of training runs (viz/plots.py): they return objects, write nothing."""

from __future__ import annotations

import numpy as np
import pytest

from transformer_anatomy.viz import (
    capture_attention,
    plot_attention,
    plot_positional_encoding,
    plot_training_curves,
    prediction_table_html,
    prediction_table_markdown,
)


def test_curves_overlay_runs():
    history = {"train": [{"step": s, "loss": 1.0 / s} for s in range(1, 11)],
               "eval": [{"step": 5, "metrics": {"loss": 0.3, "exact_match": 0.5}},
                        {"step": 10, "metrics": {"loss": 0.1, "exact_match": 1.0}}]}
    fig = plot_training_curves({"NumPy": history, "PyTorch": history}, "exact_match", title="t")
    loss_ax, metric_ax = fig.axes[:2]
    assert len(loss_ax.lines) == 4 and len(metric_ax.lines) == 2
    assert list(metric_ax.lines[0].get_ydata()) == [0.5, 1.0]


def tiny_seq2seq(backend, vocab_size):
    """A one-layer Seq2SeqTransformer with two heads, in either backend."""
    size = dict(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
    if backend == "torch":
        import torch

        from transformer_anatomy.torch import Seq2SeqTransformer

        torch.manual_seed(0)
        return Seq2SeqTransformer(vocab_size, vocab_size, **size)
    from transformer_anatomy.numpy import Seq2SeqTransformer

    return Seq2SeqTransformer(vocab_size, vocab_size, rng=0, **size)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_attention_of_a_model_rows_sum_to_one(backend):
    from transformer_anatomy.tasks import make_reversal_task

    data = make_reversal_task(n_train=4, n_valid=4, n_test=4, min_len=3, max_len=6, num_symbols=6, rng=1)
    model = tiny_seq2seq(backend, len(data.src_vocab))
    model.train()
    src, tgt = data.test["src"][:1, :4], data.test["tgt_in"][:1, :5]
    weights = capture_attention(model, src, tgt)
    assert model.training  # mode restored
    cross = weights["transformer.decoder.layers.0.multihead_attn"]
    assert cross.shape == (1, 2, 5, 4)
    np.testing.assert_allclose(cross.sum(-1), 1.0, rtol=1e-5)
    causal = weights["transformer.decoder.layers.0.self_attn"][0, 0]
    assert np.all(np.triu(causal, k=1) == 0)  # no query looks at a later position
    assert "forward" not in vars(model.transformer.decoder.layers[0].multihead_attn)  # unpatched
    fig = plot_attention(cross[0], list("<abcd"), list("wxyz"), title="cross")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3  # 2 heads + colorbar


def test_attention_plot_checks_labels():
    with pytest.raises(ValueError, match="query"):
        plot_attention(np.zeros((2, 3)), ["a"], ["x", "y", "z"])


def test_positional_encoding_heatmap():
    from transformer_anatomy.numpy import sinusoidal_table

    fig = plot_positional_encoding(sinusoidal_table(20, 16))
    assert fig.axes[0].images[0].get_array().shape == (20, 16)


def test_prediction_tables():
    rows = [{"input": "a|b", "target": "b a", "prediction": "b a", "correct": True},
            {"input": "<x>", "target": "x", "prediction": "y", "correct": False}]
    md = prediction_table_markdown(rows)
    assert md.splitlines()[2] == "| a\\|b | b a | b a | ✓ |" and md.splitlines()[3].endswith("| ✗ |")
    html = prediction_table_html(rows)
    assert "&lt;x&gt;" in html and '<td class="ok">✓</td>' in html and '<td class="bad">✗</td>' in html
