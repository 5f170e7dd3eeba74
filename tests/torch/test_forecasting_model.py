"""TransformerForecaster: shapes, normalisation, boundaries, and the training loop."""

import numpy as np
import pytest
import torch

from transformer_anatomy.tasks.forecasting import holdout_windows, last_value_forecast, mae, make_series
from transformer_anatomy.torch.forecasting import TransformerForecaster, predict, train_forecaster


def tiny(**kw):
    torch.manual_seed(0)
    return TransformerForecaster(**{"context_len": 12, "horizon": 4, "d_model": 8, "nhead": 2, "num_layers": 1,
                                    "dim_feedforward": 16, **kw})


def test_shape_and_batch_independence():
    m = tiny().eval()
    x = torch.randn(5, 12)
    y = m(x)
    assert y.shape == (5, 4)
    torch.testing.assert_close(m(x[2:3]), y[2:3], rtol=1e-5, atol=1e-6)


def test_instance_normalisation_makes_the_forecast_shift_and_scale_equivariant():
    """f(a·x + b) = a·f(x) + b: the model sees every window at the same level and scale."""
    m = tiny(normalize="instance").double().eval()
    x = torch.randn(3, 12, dtype=torch.float64)
    torch.testing.assert_close(m(3.0 * x + 7.0), 3.0 * m(x) + 7.0, rtol=1e-10, atol=1e-10)


def test_without_normalisation_a_shift_is_not_passed_through():
    m = tiny(normalize="none").double().eval()
    x = torch.randn(3, 12, dtype=torch.float64)
    assert not torch.allclose(m(x + 7.0), m(x) + 7.0, atol=1e-3)


def test_a_constant_context_gives_finite_output():
    m = tiny().eval()
    assert torch.isfinite(m(torch.full((2, 12), 4.0))).all()


def test_parameters_are_the_documented_pieces():
    m = tiny()
    names = {n.split(".")[0] for n, _ in m.named_parameters()}
    assert names == {"value_proj", "encoder", "head"}
    assert m.head.weight.shape == (4, 12 * 8)  # flattened (C, E) -> H


@pytest.mark.parametrize("kwargs, err, match", [
    ({"context_len": 0}, ValueError, "context_len"),
    ({"horizon": 2.0}, TypeError, "horizon"),
    ({"d_model": 10, "nhead": 4}, ValueError, "not divisible"),
    ({"num_layers": 0}, ValueError, "num_layers"),
    ({"dropout": 1.5}, ValueError, "dropout"),
    ({"normalize": "batch"}, ValueError, "normalize"),
])
def test_bad_configs_are_refused(kwargs, err, match):
    with pytest.raises(err, match=match):
        tiny(**kwargs)


@pytest.mark.parametrize("x, err, match", [
    (torch.zeros(2, 11), ValueError, r"\(N, 12\)"),
    (torch.zeros(2, 12, 1), ValueError, r"\(N, 12\)"),
    (torch.zeros(2, 12, dtype=torch.float64), TypeError, "float64"),
    (np.zeros((2, 12), dtype=np.float32), TypeError, "torch.Tensor"),
])
def test_bad_inputs_are_refused(x, err, match):
    with pytest.raises(err, match=match):
        tiny()(x)


def test_training_is_seeded_and_beats_the_last_value_on_a_clean_sine():
    y = make_series(400, periods=(12.0,), amplitudes=(1.0,), trend=0.0, noise=0.0, rng=0)
    x_tr, y_tr, x_te, y_te = holdout_windows(y, 12, 4, n_holdout=40)
    runs = []
    for _ in range(2):
        m = tiny()
        fit = train_forecaster(m, x_tr, y_tr, steps=150, batch_size=32, lr=3e-3, warmup=10, seed=0, log_every=50)
        runs.append((fit["loss"], predict(m, x_te)))
    assert runs[0][0] == runs[1][0]  # same seed -> the same losses
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert [s for s, _ in runs[0][0]] == [1, 50, 100, 150]
    assert runs[0][0][-1][1] < runs[0][0][0][1]
    assert mae(runs[0][1], y_te) < mae(last_value_forecast(x_te, 4), y_te)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps"),
    ({"lr": 0.0}, "lr"),
    ({"y": np.zeros((5, 3))}, "width 4"),
    ({"y": np.zeros((4, 4))}, "same number"),
])
def test_bad_training_arguments_are_refused(kwargs, match):
    args = {"x": np.zeros((5, 12)), "y": np.zeros((5, 4)), **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        train_forecaster(tiny(), **args)


def test_predict_returns_float64_numpy_in_batches():
    m = tiny()
    x = np.random.default_rng(0).standard_normal((7, 12))
    out = predict(m, x, batch_size=3)
    assert out.dtype == np.float64 and out.shape == (7, 4)
    np.testing.assert_allclose(out, predict(m, x, batch_size=100), rtol=1e-6, atol=1e-6)
