"""CrossEntropyLoss vs torch.nn.CrossEntropyLoss (label smoothing, class weights, ignore_index,
every reduction), gradients vs torch.autograd and finite differences."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)
C = 5


@pytest.mark.parametrize(
    "eps,weighted,ignore,reduction",
    list(itertools.product([0.0, 0.1], [False, True], ["default", "pad0"], ["mean", "sum", "none"])),
)
def test_cross_entropy_matches_torch(eps, weighted, ignore, reduction, rng, gradcheck):
    logits = rng.standard_normal((3, 4, C)) * 2
    targets = rng.integers(0, C, size=(3, 4))
    kw = dict(label_smoothing=eps, reduction=reduction)
    if ignore == "pad0":
        kw["ignore_index"] = 0
        targets[0, :2] = 0  # some positions ignored
        targets[1, 0] = 3
    w = rng.random(C) + 0.5 if weighted else None
    ours = tn.CrossEntropyLoss(weight=w, **kw)
    ref = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w), **kw)
    lt = torch.tensor(logits, requires_grad=True)
    # torch wants the class axis second: (N, C, T)
    want = ref(lt.permute(0, 2, 1), torch.tensor(targets))
    got = ours.forward(logits, targets)
    np.testing.assert_allclose(got, want.detach().numpy(), **TORCH_TOL)
    up = rng.standard_normal(targets.shape) if reduction == "none" else 1.7
    want.backward(torch.tensor(up) if reduction == "none" else torch.tensor(up, dtype=torch.float64))
    d = ours.backward(up)
    np.testing.assert_allclose(d, lt.grad.numpy(), **TORCH_TOL)
    if ignore == "pad0":
        np.testing.assert_array_equal(d[0, :2], 0.0)  # ignored positions get zero gradient

    def loss() -> float:
        return float(np.sum(ours.forward(logits, targets) * up))

    gradcheck.fd(loss, logits, d, rng, max_entries=60, name="logits")


def test_cross_entropy_all_ignored_gives_zero_not_nan(rng):
    logits = rng.standard_normal((2, 3, C))
    targets = np.full((2, 3), -100)
    ce = tn.CrossEntropyLoss(label_smoothing=0.1)
    assert ce.forward(logits, targets) == 0.0
    np.testing.assert_array_equal(ce.backward(), 0.0)
    ref = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.tensor(logits).permute(0, 2, 1), torch.tensor(targets))
    assert torch.isnan(ref)  # documented difference


def test_cross_entropy_float32_and_extreme_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    ce = tn.CrossEntropyLoss(label_smoothing=0.1)
    loss = ce.forward(logits, np.array([0]))
    assert np.isfinite(loss) and loss.dtype == np.float32
    ref = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(torch.tensor(logits), torch.tensor([0]))
    assert float(loss) == pytest.approx(ref.item(), rel=1e-6)
    assert np.all(np.isfinite(ce.backward()))


def test_cross_entropy_errors(rng):
    ce = tn.CrossEntropyLoss()
    with pytest.raises(IndexError, match=f"target 7 is out of range for {C} classes"):
        ce.forward(rng.standard_normal((2, C)), np.array([1, 7]))
    with pytest.raises(ValueError, match="targets: expected shape"):
        ce.forward(rng.standard_normal((2, C)), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="reduction"):
        tn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing=1.5"):
        tn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight: expected shape"):
        tn.CrossEntropyLoss(weight=np.ones(3)).forward(rng.standard_normal((2, C)), np.array([0, 1]))
