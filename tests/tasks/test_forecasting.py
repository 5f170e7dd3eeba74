"""The synthetic series, its windows, the two baselines and MAE, checked by hand."""

import math

import numpy as np
import pytest

from transformer_anatomy.tasks.forecasting import (
    SERIES_DEFAULTS,
    holdout_windows,
    last_value_forecast,
    mae,
    make_series,
    make_windows,
    seasonal_naive_forecast,
)


def test_same_seed_same_series_other_seed_other_series():
    a, b, c = make_series(300, rng=0), make_series(300, rng=0), make_series(300, rng=1)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == (300,) and a.dtype == np.float64


def test_a_generator_is_accepted_and_consumed():
    g = np.random.default_rng(5)
    assert np.array_equal(make_series(50, rng=np.random.default_rng(5)), make_series(50, rng=g))


def test_noiseless_series_is_the_formula():
    """Without noise the series is level + trend·t + Σ a sin(2πt/p + φ), φ drawn first from the seed."""
    periods, amps = (24.0, 10.0), (1.0, 0.5)
    y = make_series(100, periods, amps, trend=0.01, level=2.0, noise=0.0, rng=3)
    phases = np.random.default_rng(3).uniform(0, 2 * np.pi, size=2)
    t = np.arange(100)
    expected = 2.0 + 0.01 * t + sum(a * np.sin(2 * np.pi * t / p + f) for p, a, f in zip(periods, amps, phases))
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_noise_has_the_requested_spread():
    y = make_series(20_000, periods=(), amplitudes=(), trend=0.0, noise=0.3, rng=0)
    assert abs(y.std() - 0.3) < 5 * 0.3 / math.sqrt(2 * 20_000)
    assert abs(y.mean()) < 5 * 0.3 / math.sqrt(20_000)


def test_defaults_are_the_documented_ones():
    y = make_series(10, **SERIES_DEFAULTS, rng=0)
    assert np.array_equal(y, make_series(10, rng=0))


@pytest.mark.parametrize("kwargs, match", [
    ({"length": 0}, "length"),
    ({"length": 5.0}, "length"),
    ({"periods": (0.0,), "amplitudes": (1.0,)}, r"periods\[0\]"),
    ({"periods": (24.0,), "amplitudes": (1.0, 2.0)}, "same length"),
    ({"noise": -0.1}, "noise"),
    ({"trend": float("nan")}, "trend"),
    ({"rng": -1}, "seed"),
])
def test_bad_series_arguments_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make_series(**{"length": 20, **kwargs})


def test_windows_by_hand():
    x, t = make_windows(np.arange(10.0), context=4, horizon=2, stride=3)
    assert x.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]]
    assert t.tolist() == [[4, 5], [7, 8]]


def test_holdout_windows_keep_training_targets_out_of_the_held_out_part():
    y = np.arange(100.0)  # value = time step, so windows say where they come from
    x_tr, y_tr, x_te, y_te = holdout_windows(y, context=10, horizon=5, n_holdout=20)
    assert y_tr.max() < 80  # every training target is before the cut
    assert x_tr.shape == (100 - 20 - 15 + 1, 10)
    assert y_te.tolist() == [[80, 81, 82, 83, 84], [85, 86, 87, 88, 89], [90, 91, 92, 93, 94], [95, 96, 97, 98, 99]]
    assert x_te[0].tolist() == list(range(70, 80))  # the context just before each origin
    assert np.array_equal(x_te[:, -1] + 1, y_te[:, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"context": 0}, "context"),
    ({"horizon": 0}, "horizon"),
    ({"n_holdout": 3}, "n_holdout"),  # shorter than the horizon
    ({"n_holdout": 95}, "n_holdout"),  # no room for a training window
])
def test_bad_holdout_arguments_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        holdout_windows(np.arange(100.0), **{"context": 10, "horizon": 5, "n_holdout": 20, **kwargs})


@pytest.mark.parametrize("series", [np.zeros((3, 3)), np.array([1.0, np.nan, 2.0]), np.array(["a", "b"])])
def test_bad_series_are_refused(series):
    with pytest.raises(ValueError, match="series"):
        make_windows(series, 1, 1)


def test_windows_longer_than_the_series_are_refused():
    with pytest.raises(ValueError, match="exceeds the series length 5"):
        make_windows(np.arange(5.0), context=4, horizon=2)


def test_last_value_by_hand():
    ctx = np.array([[1.0, 5.0, 2.0], [0.0, 0.0, -3.0]])
    assert last_value_forecast(ctx, 4).tolist() == [[2, 2, 2, 2], [-3, -3, -3, -3]]


def test_seasonal_naive_by_hand():
    ctx = np.array([[9.0, 1.0, 2.0, 3.0]])  # season 3: the last season is 1 2 3
    assert seasonal_naive_forecast(ctx, 7, season=3).tolist() == [[1, 2, 3, 1, 2, 3, 1]]
    assert seasonal_naive_forecast(ctx, 2, season=1).tolist() == last_value_forecast(ctx, 2).tolist()


def test_seasonal_naive_is_exact_on_a_pure_season():
    y = make_series(200, periods=(24.0,), amplitudes=(1.0,), trend=0.0, noise=0.0, rng=0)
    x, t = make_windows(y, 48, 30)
    assert mae(seasonal_naive_forecast(x, 30, 24), t) < 1e-12
    assert mae(last_value_forecast(x, 30), t) > 0.1


@pytest.mark.parametrize("call, match", [
    (lambda: seasonal_naive_forecast(np.zeros((2, 3)), 2, season=4), "season=4"),
    (lambda: seasonal_naive_forecast(np.zeros((2, 3)), 2, season=0), "season"),
    (lambda: last_value_forecast(np.zeros(3), 2), r"shape \(N, C\)"),
    (lambda: last_value_forecast(np.zeros((2, 0)), 2), r"shape \(N, C\)"),
    (lambda: last_value_forecast(np.zeros((2, 3)), 0), "horizon"),
])
def test_bad_baseline_arguments_are_refused(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_mae_by_hand():
    assert mae(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [5.0, 4.0]])) == pytest.approx(0.75)
    assert mae(np.zeros(3), np.zeros(3)) == 0.0


def test_mae_refuses_mismatched_or_empty():
    with pytest.raises(ValueError, match=r"\(3,\) and \(2,\)"):
        mae(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        mae(np.zeros(0), np.zeros(0))


def test_noise_floor_is_the_mae_of_knowing_the_clean_series():
    """E|ε| = σ·√(2/π) for Gaussian noise: the MAE of a forecaster that knows the noiseless series."""
    clean = make_series(50_000, noise=0.0, rng=0)
    noisy = make_series(50_000, noise=0.2, rng=0)  # same phases (drawn first), noise added
    assert mae(clean, noisy) == pytest.approx(0.2 * math.sqrt(2 / math.pi), rel=0.02)
