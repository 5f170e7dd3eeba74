"""The claims of docs/backprop.md, checked by importing the page's snippet files."""

import functools
import importlib.util
from pathlib import Path

import pytest
import torch

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "backprop"


@functools.cache
def snippet(name):
    """Import docs/snippets/backprop/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"backprop_{name}", SNIPPETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_op_passes_finite_differences_and_autograd():
    rows, ignored = snippet("gradcheck_ops").all_checks()
    ops = {r[0] for r in rows}
    assert ops == {"linear", "softmax", "layer norm", "attention", "embedding", "cross-entropy", "relu", "gelu"}
    for op, name, fd, ag in rows:
        assert fd < 1e-6, (op, name, fd)
        assert ag < 1e-10, (op, name, ag)
    assert ignored == 0.0


def test_naive_embedding_backward_and_float32_finite_differences_fail():
    m = snippet("gradcheck_ops")
    assert m.naive_embedding_error() > 0.1
    assert m.float32_linear_error() > 1e-3


def test_whole_seq2seq_gradient_check_covers_every_parameter():
    m = snippet("gradcheck_model")
    rows, np_loss, t_loss = m.gradient_check()
    ref, _ = m.models()
    assert [r[0] for r in rows] == [k for k, _ in ref.named_parameters()]
    assert abs(np_loss - t_loss) < 1e-12
    assert all(fd < 1e-6 for _, _, fd, _ in rows), rows
    assert all(ag < 1e-10 for _, _, _, ag in rows), rows


def test_numpy_adam_and_adamw_follow_torch_step_for_step():
    diffs = snippet("adam").compare_all()
    assert len(diffs) == 4
    assert all(d < 1e-12 for d in diffs.values()), diffs


def test_adam_l2_and_adamw_decay_differ():
    m = snippet("adam")
    out = m.decay_only_step(lr=0.1, weight_decay=0.01)
    assert out["Adam (L2 in the gradient)"] == pytest.approx(0.9, abs=1e-6)  # a full lr step
    assert out["AdamW (decoupled)"] == pytest.approx(1 - 0.1 * 0.01, abs=1e-15)
    adam = m.run_both("adam", lr=0.01, weight_decay=0.1)[1]
    adamw = m.run_both("adamw", lr=0.01, weight_decay=0.1)[1]
    assert max(float(abs(adam[k] - adamw[k]).max()) for k in adam) > 1e-3


@pytest.mark.parametrize("E,warmup", [(512, 4000), (512, 8000), (64, 4000)])
def test_noam_peaks_at_warmup_with_the_formula_value(E, warmup):
    step, lr, formula = snippet("noam").peak(E, warmup)
    assert step == warmup
    assert lr == pytest.approx(formula, rel=1e-12)


def test_noam_equals_lambda_lr_and_figure_draws_three_curves():
    m = snippet("noam")
    d, steps = m.torch_lambda_lr_diff()
    assert d < 1e-15 and steps > 4000
    fig = m.figure()
    assert len([ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 1]) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)
