"""Unit tests of the NumPy softmax shown on the first page (library call vs manual)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from transformer_anatomy.numpy import log_softmax, softmax

finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 7)), elements=finite))
def test_rows_sum_to_one_and_are_probabilities(x):
    p = softmax(x, axis=-1)
    assert np.all(p >= 0) and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 9), elements=st.floats(-50, 50)), st.floats(-1e3, 1e3))
def test_shift_invariance(x, c):
    np.testing.assert_allclose(softmax(x + c), softmax(x), rtol=1e-9, atol=1e-12)


def test_extreme_logits_stay_finite_and_exact():
    p = softmax(np.array([1000.0, 0.0, -1000.0]))
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(p, [1.0, 0.0, 0.0])
    lp = log_softmax(np.array([1000.0, 0.0, -1000.0]))
    np.testing.assert_allclose(lp, [0.0, -1000.0, -2000.0])


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_equals_torch(dtype, tol, axis):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 5, 4)) * 10).astype(dtype)
    ours = softmax(x, axis=axis)
    assert ours.dtype == dtype
    ref = torch.softmax(torch.from_numpy(x), dim=axis).numpy()
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(
        log_softmax(x, axis=axis), torch.log_softmax(torch.from_numpy(x), dim=axis).numpy(),
        rtol=tol, atol=tol * 10,
    )


def test_integer_input_is_promoted():
    np.testing.assert_allclose(softmax(np.array([1, 1])), [0.5, 0.5])
