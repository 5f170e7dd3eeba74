"""Time-series forecasting: a seeded synthetic series, (context, horizon) windows, two baselines, MAE.

The series is a sum of sines plus a linear trend plus Gaussian noise, generated from a seed
(nothing is downloaded)::

    y[t] = level + trend · t + Σ_k amplitude_k · sin(2π t / period_k + phase_k) + noise[t]

with the phases drawn from the seed and ``noise[t] ~ N(0, noise²)``. A forecaster sees the
last ``context`` values and predicts the next ``horizon``. The end of the series is held
out: :func:`holdout_windows` cuts every training window from before the held-out part and
every test window's *targets* from inside it (their contexts may reach back into the
training part, as a forecast made at the split point would).

Two baselines any forecaster must beat:

- :func:`last_value_forecast` ("naive"): repeat the last observed value;
- :func:`seasonal_naive_forecast`: repeat the last full season, ``ŷ[t + h] = y[t + h - m·k]``
  with the smallest ``k`` that points into the context (Hyndman and Athanasopoulos,
  *Forecasting: Principles and Practice*, §5.2).

Page: ``docs/other-tasks.md`` (extending to other tasks). Model:
``transformer_anatomy.torch.forecasting.TransformerForecaster``.

Examples:
    >>> import numpy as np
    >>> y = make_series(200, rng=0)
    >>> y.shape
    (200,)
    >>> bool(np.array_equal(y, make_series(200, rng=0)))
    True
    >>> x_tr, y_tr, x_te, y_te = holdout_windows(y, context=48, horizon=12, n_holdout=24)
    >>> x_tr.shape, y_tr.shape, x_te.shape, y_te.shape
    ((117, 48), (117, 12), (2, 48), (2, 12))
    >>> last_value_forecast(np.array([[1.0, 2.0, 3.0]]), horizon=2).tolist()
    [[3.0, 3.0]]
    >>> seasonal_naive_forecast(np.array([[1.0, 2.0, 3.0, 4.0]]), horizon=3, season=2).tolist()
    [[3.0, 4.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transformer_anatomy.errors import check_int, check_number, check_positive_int

from .task_data import as_generator

__all__ = [
    "SERIES_DEFAULTS", "holdout_windows", "last_value_forecast", "make_series", "make_windows", "mae",
    "seasonal_naive_forecast",
]

# --8<-- [start:defaults]
SERIES_DEFAULTS = {
    "periods": (24.0, 10.0),  # a "daily" cycle of 24 steps and a faster one that 24 does not repeat
    "amplitudes": (1.0, 0.5),  # one amplitude per period
    "trend": 0.004,  # added per step: 0.4 over 100 steps
    "level": 0.0,  # y at t = 0, before the sines and noise
    "noise": 0.1,  # standard deviation of the Gaussian noise
}
# --8<-- [end:defaults]


def make_series(
    length: int = 1200,
    periods: Sequence[float] = SERIES_DEFAULTS["periods"],
    amplitudes: Sequence[float] = SERIES_DEFAULTS["amplitudes"],
    trend: float = SERIES_DEFAULTS["trend"],
    level: float = SERIES_DEFAULTS["level"],
    noise: float = SERIES_DEFAULTS["noise"],
    rng: int | np.random.Generator = 0,
) -> np.ndarray:
    """A sum of sines with a linear trend and Gaussian noise, the same for the same seed.

    Args:
        length: number of time steps ``L``.
        periods: the sines' periods, in steps (each > 0).
        amplitudes: one amplitude per period.
        trend: slope added per step.
        level: value at ``t = 0`` before sines and noise.
        noise: standard deviation of the noise (>= 0).
        rng: a seed or a ``np.random.Generator`` (phases, then noise, are drawn from it).

    Returns:
        float64 array of shape ``(L,)``.

    Shape:
        -> ``(L,)``

    Examples:
        >>> y = make_series(5, periods=(4.0,), amplitudes=(0.0,), trend=1.0, noise=0.0)
        >>> y.tolist()
        [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    length = check_positive_int("length", length)
    periods = [check_number(f"periods[{i}]", p, 0.0, min_open=True) for i, p in enumerate(periods)]
    amplitudes = [check_number(f"amplitudes[{i}]", a) for i, a in enumerate(amplitudes)]
    if len(periods) != len(amplitudes):
        raise ValueError(f"periods and amplitudes must have the same length, got {len(periods)} periods "
                         f"and {len(amplitudes)} amplitudes")
    trend, level = check_number("trend", trend), check_number("level", level)
    noise = check_number("noise", noise, 0.0)
    # --8<-- [start:make_series]
    gen = as_generator(rng)
    t = np.arange(length, dtype=np.float64)
    phases = gen.uniform(0.0, 2.0 * np.pi, size=len(periods))
    y = level + trend * t
    for period, amp, phase in zip(periods, amplitudes, phases):
        y = y + amp * np.sin(2.0 * np.pi * t / period + phase)
    return y + noise * gen.standard_normal(length)
    # --8<-- [end:make_series]


def _check_series(series: np.ndarray) -> np.ndarray:
    y = np.asarray(series)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise ValueError(f"series must be a 1-D array of real numbers, got shape {y.shape} and dtype {y.dtype}")
    y = y.astype(np.float64)
    if not np.all(np.isfinite(y)):
        raise ValueError("series must be finite (it holds NaN or inf)")
    return y


# --8<-- [start:windows]
def make_windows(series: np.ndarray, context: int, horizon: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``series`` into (context, horizon) pairs: ``x = y[s : s + C]``, ``target = y[s + C : s + C + H]``.

    Window ``i`` starts at ``s = i · stride``; every window lies wholly inside the series.

    Shape:
        series: ``(L,)`` -> x: ``(N, C)``, target: ``(N, H)`` with ``N = (L - C - H) // stride + 1``.

    Examples:
        >>> x, t = make_windows(np.arange(6.0), context=3, horizon=2)
        >>> x.tolist(), t.tolist()
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    y = _check_series(series)
    context, horizon = check_positive_int("context", context), check_positive_int("horizon", horizon)
    stride = check_positive_int("stride", stride)
    if context + horizon > len(y):
        raise ValueError(f"context + horizon = {context + horizon} exceeds the series length {len(y)}")
    starts = np.arange(0, len(y) - context - horizon + 1, stride)
    idx = starts[:, None] + np.arange(context + horizon)[None, :]  # (N, C + H)
    w = y[idx]
    return w[:, :context], w[:, context:]
# --8<-- [end:windows]


# --8<-- [start:holdout]
def holdout_windows(series: np.ndarray, context: int, horizon: int, n_holdout: int,
                    stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training windows from before the last ``n_holdout`` steps; test windows whose targets lie in them.

    Training windows: :func:`make_windows` of ``series[:L - n_holdout]`` (``stride``). Test
    windows: forecast origins ``L - n_holdout, L - n_holdout + H, ...`` (back to back, no
    overlap), each with the ``C`` values before it as context, so that every held-out value
    is predicted exactly once when ``H`` divides ``n_holdout``.

    Shape:
        series: ``(L,)`` -> x_train: ``(N, C)``, y_train: ``(N, H)``, x_test: ``(M, C)``,
        y_test: ``(M, H)`` with ``M = n_holdout // H``.
    """
    y = _check_series(series)
    context, horizon = check_positive_int("context", context), check_positive_int("horizon", horizon)
    n_holdout = check_int("n_holdout", n_holdout, horizon)
    if n_holdout + context > len(y) or len(y) - n_holdout < context + horizon:
        raise ValueError(f"n_holdout={n_holdout} leaves no training window of context + horizon = "
                         f"{context + horizon} in a series of length {len(y)}")
    cut = len(y) - n_holdout
    x_train, y_train = make_windows(y[:cut], context, horizon, stride)
    origins = np.arange(cut, len(y) - horizon + 1, horizon)  # (M,)
    x_test = y[origins[:, None] - context + np.arange(context)[None, :]]  # (M, C)
    y_test = y[origins[:, None] + np.arange(horizon)[None, :]]  # (M, H)
    return x_train, y_train, x_test, y_test
# --8<-- [end:holdout]


def _check_context(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"context must have shape (N, C) with C >= 1, got shape {x.shape}")
    return x


# --8<-- [start:baselines]
def last_value_forecast(context: np.ndarray, horizon: int) -> np.ndarray:
    """Naive forecast: every future value is the last observed one.

    Shape:
        context: ``(N, C)`` -> ``(N, H)``.
    """
    x = _check_context(context)
    horizon = check_positive_int("horizon", horizon)
    return np.repeat(x[:, -1:], horizon, axis=1)


def seasonal_naive_forecast(context: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Seasonal naive forecast: ``ŷ[C + h] = x[C + h - m·k]``, ``k = ⌊h / m⌋ + 1`` (``h`` from 0).

    Repeats the last ``m = season`` observed values as often as the horizon needs.

    Shape:
        context: ``(N, C)`` with ``C >= m`` -> ``(N, H)``.
    """
    x = _check_context(context)
    horizon, season = check_positive_int("horizon", horizon), check_positive_int("season", season)
    if season > x.shape[1]:
        raise ValueError(f"season={season} is longer than the context ({x.shape[1]} steps)")
    h = np.arange(horizon)
    return x[:, x.shape[1] - season + h % season]  # (N, C) -> (N, H)
# --8<-- [end:baselines]


# --8<-- [start:mae]
def mae(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error over every entry: ``mean |ŷ - y|``.

    Shape:
        prediction, target: the same shape (any) -> float.

    Examples:
        >>> mae(np.array([1.0, 2.0]), np.array([2.0, 4.0]))
        1.5
    """
    p, t = np.asarray(prediction, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction and target must have the same shape, got {p.shape} and {t.shape}")
    if p.size == 0:
        raise ValueError("mae of empty arrays is undefined")
    return float(np.mean(np.abs(p - t)))
# --8<-- [end:mae]
