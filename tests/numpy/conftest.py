"""Shared helpers for the NumPy backend tests: gradient checks against finite differences and
against torch.autograd (float64), with the tolerances of ``TESTING.md``."""

from __future__ import annotations

import numpy as np
import pytest

from transformer_anatomy.numpy import max_relative_error, numerical_gradient

FD_TOL = 1e-6  # finite differences, float64, central, h = 1e-6
TORCH_TOL = dict(rtol=1e-10, atol=1e-10)  # NumPy float64 vs torch float64
F32_TOL = dict(rtol=1e-5, atol=1e-5)  # float32 forward


class GradCheck:
    """Check a module's backward against central differences of ``sum(forward() * G)``."""

    @staticmethod
    def fd(loss, x: np.ndarray, analytic: np.ndarray, rng: np.random.Generator,
           max_entries: int = 40, name: str = "", allow_zero: bool = False) -> float:
        """Compare ``analytic`` with central differences on (a random subset of) ``x``."""
        if x.size <= max_entries:
            idx = list(np.ndindex(*x.shape))
        else:
            flat = rng.choice(x.size, size=max_entries, replace=False)
            idx = [np.unravel_index(i, x.shape) for i in flat]
        numeric = numerical_gradient(loss, x, h=1e-6, indices=idx)
        a = np.array([analytic[i] for i in idx])
        n = np.array([numeric[i] for i in idx])
        err = max_relative_error(a, n)
        assert err < FD_TOL, f"{name}: max relative error {err:.2e} >= {FD_TOL}"
        if not allow_zero:  # the check is not vacuous: the gradient is not all zero here
            assert np.abs(n).max() > 1e-8, f"{name}: numerical gradient is zero on the checked entries"
        return err

    @staticmethod
    def module(module, forward, inputs: dict[str, np.ndarray], backward_to_inputs, rng,
               max_entries: int = 40, params: bool = True) -> None:
        """``forward()`` -> output (reads ``inputs``); ``backward_to_inputs(G)`` -> dict of
        input gradients. Checks every input and every parameter of ``module``."""
        out = forward()
        G = rng.standard_normal(np.shape(out))
        d_inputs = backward_to_inputs(G)
        grads = {k: g.copy() for k, g in module.grads.items()} if params else {}

        def loss() -> float:
            return float(np.sum(forward() * G))

        for name, x in inputs.items():
            GradCheck.fd(loss, x, d_inputs[name], rng, max_entries, name)
        for name, p in (module.params.items() if params else []):
            GradCheck.fd(loss, p, grads[name], rng, max_entries, name)


@pytest.fixture
def gradcheck() -> type[GradCheck]:
    return GradCheck


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _torch_single_thread():
    """The reference computations are tiny: one torch thread is ~10x faster than two on the
    shared 2-core machines (no spinning thread pool competing with the other xdist worker)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
