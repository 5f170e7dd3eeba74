"""The claims of docs/backprop.md, checked by importing the page's snippet files."""

import numpy as np
import pytest
import torch


def test_every_op_passes_finite_differences_and_autograd(snippet):
    rows, ignored = snippet("backprop", "gradcheck_ops").all_checks()
    ops = {r[0] for r in rows}
    assert ops == {"linear", "softmax", "layer norm", "attention", "embedding", "cross-entropy", "relu", "gelu"}
    for op, name, fd, ag in rows:
        assert fd < 1e-6, (op, name, fd)
        assert ag < 1e-10, (op, name, ag)
    assert ignored == 0.0


def test_naive_embedding_backward_and_float32_finite_differences_fail(snippet):
    m = snippet("backprop", "gradcheck_ops")
    assert m.naive_embedding_error() > 0.1
    assert m.float32_linear_error() > 1e-3


def test_whole_seq2seq_gradient_check_covers_every_parameter(snippet):
    m = snippet("backprop", "gradcheck_model")
    rows, np_loss, t_loss = m.gradient_check()
    ref, _ = m.models()
    assert [r[0] for r in rows] == [k for k, _ in ref.named_parameters()]
    assert abs(np_loss - t_loss) < 1e-12
    assert all(fd < 1e-6 for _, _, fd, _ in rows), rows
    assert all(ag < 1e-10 for _, _, _, ag in rows), rows


def test_numpy_adam_and_adamw_follow_torch_step_for_step(snippet):
    diffs = snippet("backprop", "adam").compare_all()
    assert len(diffs) == 4
    assert all(d < 1e-12 for d in diffs.values()), diffs


def test_adam_l2_and_adamw_decay_differ(snippet):
    m = snippet("backprop", "adam")
    out = m.decay_only_step(lr=0.1, weight_decay=0.01)
    assert out["Adam (L2 in the gradient)"] == pytest.approx(0.9, abs=1e-6)  # a full lr step
    assert out["AdamW (decoupled)"] == pytest.approx(1 - 0.1 * 0.01, abs=1e-15)
    adam = m.run_both("adam", lr=0.01, weight_decay=0.1)[1]
    adamw = m.run_both("adamw", lr=0.01, weight_decay=0.1)[1]
    assert max(float(abs(adam[k] - adamw[k]).max()) for k in adam) > 1e-3


@pytest.mark.parametrize("E,warmup", [(512, 4000), (512, 8000), (64, 4000)])
def test_noam_peaks_at_warmup_with_the_formula_value(snippet, E, warmup):
    step, lr, formula = snippet("backprop", "noam").peak(E, warmup)
    assert step == warmup
    assert lr == pytest.approx(formula, rel=1e-12)


def test_noam_equals_lambda_lr_and_figure_draws_three_curves(snippet):
    m = snippet("backprop", "noam")
    d, steps = m.torch_lambda_lr_diff()
    assert d < 1e-15 and steps > 4000
    fig = m.figure()
    assert len([ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 1]) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_graph_shapes_come_from_a_real_attention_run(snippet):
    m = snippet("backprop", "graph")
    s = m.traced_shapes()
    assert s["Q"] == (m.T, m.D) and s["K"] == (m.S, m.D) and s["V"] == (m.S, m.D)
    assert s["P"] == (m.T, m.S) and s["O"] == (m.T, m.D)
    fig = m.figure()
    assert len(fig.axes[0].texts) >= 2 * 6 + 5  # six labelled boxes and five gradient labels


def test_figures_and_sentences_render(snippet, capsys):
    for name in ("graph", "gradcheck_ops", "noam", "adam"):
        snippet("backprop", name).report_figure()
    out = capsys.readouterr().out
    assert out.count('<figure class="ta-figure">') == 4
    snippet("backprop", "gradcheck_ops").report_summary()
    snippet("backprop", "noam").report_reading()
    out = capsys.readouterr().out
    assert out.startswith("Every gradient passes") and "NOT" not in out


def test_adam_loss_curves_ours_equals_torch_and_beats_sgd(snippet):
    c = snippet("backprop", "adam").loss_curves()
    ours, theirs, sgd = c["Adam (ours)"], c["torch.optim.Adam"], c["SGD (θ -= lr·g)"]
    assert np.abs(ours - theirs).max() < 1e-12
    assert ours[-1] - c["minimum"] < 1e-3 * (sgd[-1] - c["minimum"])
    assert all(l >= c["minimum"] - 1e-12 for l in np.concatenate([ours, sgd]))


def test_noam_reading_ratios_are_square_roots(snippet):
    m = snippet("backprop", "noam")
    (E0, w0), (E1, w1), (E2, w2) = m.SETTINGS
    assert m.peak(E0, w0)[1] / m.peak(E1, w1)[1] == pytest.approx((w1 / w0) ** 0.5, rel=1e-12)
    assert m.peak(E2, w2)[1] / m.peak(E0, w0)[1] == pytest.approx((E0 / E2) ** 0.5, rel=1e-12)


def test_exercise_linear_weight_grad_loop_matches_autograd(snippet):
    ex = snippet("backprop", "exercises")
    rng = np.random.default_rng(1)
    x, dy = rng.standard_normal((7, 4)), rng.standard_normal((7, 3))
    W = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    (torch.from_numpy(x) @ W.T * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(ex.linear_weight_grad_loop(x, dy), W.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_exercise_softmax_jacobian_matches_autograd_and_ours(snippet):
    from transformer_anatomy.numpy import softmax, softmax_backward

    ex = snippet("backprop", "exercises")
    rng = np.random.default_rng(2)
    z, dp = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    tz = torch.tensor(z, requires_grad=True)
    (torch.softmax(tz, -1) * torch.from_numpy(dp)).sum().backward()
    p = softmax(z)
    np.testing.assert_allclose(ex.softmax_backward_jacobian(p, dp), tz.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ex.softmax_backward_jacobian(p, dp), softmax_backward(dp, p), rtol=1e-10, atol=1e-12)


def test_exercise_fully_masked_row_gradients_are_zero_and_match_finite_differences(snippet):
    from transformer_anatomy.numpy import numerical_gradient, scaled_dot_product_attention

    ex = snippet("backprop", "exercises")
    r = ex.fully_masked_row_gradients()
    for name, a in r.items():
        assert np.all(a == 0.0), name
    # finite differences agree: the masked row's output does not depend on q, k or v at all
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    mask = np.zeros((3, 4), dtype=bool)
    mask[0] = True
    f = lambda: float(scaled_dot_product_attention(q, k, v, mask)[0][0].sum())
    for a in (q, k, v):
        assert np.abs(numerical_gradient(f, a)).max() < 1e-9


def test_exercise_smoothed_target_is_the_minimum_of_torch_cross_entropy(snippet):
    ex = snippet("backprop", "exercises")
    for C, eps, y in ((6, 0.1, 2), (4, 0.3, 0)):
        t = ex.smoothed_target(y, C, eps)
        assert t.sum() == pytest.approx(1.0, abs=1e-15)
        logits = torch.tensor(np.log(t), requires_grad=True)
        loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([y]), label_smoothing=eps)
        loss.backward()
        assert logits.grad.abs().max() < 1e-12
        assert loss.item() == pytest.approx(float(-(t * np.log(t)).sum()), rel=1e-12)  # the entropy, > 0
        assert loss.item() > 0
