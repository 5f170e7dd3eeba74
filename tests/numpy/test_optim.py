"""Adam/AdamW vs torch.optim step for step, clip_grad_norm_ vs torch, the Noam schedule,
optimizer checkpoints, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)


def _params(rng):
    return {"w": rng.standard_normal((4, 3)), "b": rng.standard_normal(3), "e": rng.standard_normal((2, 2, 2))}


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
@pytest.mark.parametrize("wd,amsgrad", [(0.0, False), (0.1, False), (0.05, True), (0.0, True)])
def test_adam_matches_torch_25_steps(cls, wd, amsgrad, rng):
    params = _params(rng)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    kw = dict(lr=3e-2, betas=(0.8, 0.95), eps=1e-7, weight_decay=wd, amsgrad=amsgrad)
    ours = getattr(tn, cls)(params, **kw)
    ref = getattr(torch.optim, cls)(list(tparams.values()), **kw)
    for step in range(25):
        grads = {k: rng.standard_normal(v.shape) * (0.1 if step % 3 else 2.0) for k, v in params.items()}
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k])
        ref.step()
        ours.step(grads)
        for k in params:
            np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), **TORCH_TOL,
                                       err_msg=f"{k} at step {step + 1}")


def test_adam_defaults_match_torch():
    p = {"w": np.zeros(2)}
    a, aw = tn.Adam(p), tn.AdamW(p)
    ta, taw = torch.optim.Adam([torch.zeros(2)]), torch.optim.AdamW([torch.zeros(2)])
    for ours, ref in ((a, ta), (aw, taw)):
        g = ref.param_groups[0]
        assert (ours.lr, ours.betas, ours.eps, ours.weight_decay, ours.amsgrad) == (
            g["lr"], g["betas"], g["eps"], g["weight_decay"], g["amsgrad"])


def test_adam_updates_module_params_in_place(rng):
    lin = tn.Linear(3, 2, dtype=np.float64, rng=0)
    before = lin.weight.copy()
    opt = tn.Adam(lin.params, lr=0.1)
    lin.forward(rng.standard_normal((4, 3)))
    lin.backward(np.ones((4, 2)))
    opt.step(lin.grads)
    assert not np.array_equal(lin.weight, before)  # the module sees the update


def test_adam_checkpoint_resume_equals_straight_run(rng):
    grads = [{k: rng.standard_normal(v.shape) for k, v in _params(np.random.default_rng(0)).items()}
             for _ in range(10)]
    straight = _params(np.random.default_rng(0))
    opt = tn.AdamW(straight, lr=0.01, amsgrad=True)
    for g in grads:
        opt.step(g)
    resumed = _params(np.random.default_rng(0))
    opt1 = tn.AdamW(resumed, lr=0.01, amsgrad=True)
    for g in grads[:4]:
        opt1.step(g)
    saved_params = {k: v.copy() for k, v in resumed.items()}
    saved = opt1.state_dict()
    fresh = {k: v.copy() for k, v in saved_params.items()}
    opt2 = tn.AdamW(fresh, lr=0.01, amsgrad=True)
    opt2.load_state_dict(saved)
    for g in grads[4:]:
        opt2.step(g)
    for k in straight:
        np.testing.assert_array_equal(fresh[k], straight[k])
    with pytest.raises(tn.StateDictError, match="missing keys"):
        tn.Adam({"other": np.zeros(1)}).load_state_dict(saved)


@pytest.mark.parametrize(
    "kw,match",
    [(dict(lr=-1.0), "lr=-1.0"), (dict(eps=-1e-8), "eps=-1e-08"), (dict(betas=(1.0, 0.999)), r"betas\[0\]=1.0"),
     (dict(betas=(0.9, -0.1)), r"betas\[1\]=-0.1"), (dict(weight_decay=-0.1), "weight_decay=-0.1")],
)
def test_optimizer_validation_names_value(kw, match):
    for cls in (tn.Adam, tn.AdamW):
        with pytest.raises(ValueError, match=match):
            cls({"w": np.zeros(2)}, **kw)


@pytest.mark.parametrize("max_norm,norm_type", [(0.5, 2.0), (100.0, 2.0), (0.3, math.inf), (1.0, 1.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type, rng):
    grads = {k: v * 3 for k, v in _params(rng).items()}
    tp = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in grads.values()]
    for p, g in zip(tp, grads.values()):
        p.grad = torch.tensor(g)
    want = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    got = tn.clip_grad_norm_(grads, max_norm, norm_type=norm_type)
    assert got == pytest.approx(want.item(), rel=1e-12)
    for p, g in zip(tp, grads.values()):
        np.testing.assert_allclose(g, p.grad.numpy(), **TORCH_TOL)
    with pytest.raises(ValueError, match="max_norm"):
        tn.clip_grad_norm_(grads, -1.0)


def test_noam_schedule():
    s = tn.NoamSchedule(d_model=64, warmup=100, factor=2.0)
    assert s(0) == s(1) and s(0) > 0  # step 0 guarded
    assert s(50) == pytest.approx(2.0 * 64**-0.5 * 50 * 100**-1.5)  # linear warmup
    assert s(400) == pytest.approx(2.0 * 64**-0.5 * 400**-0.5)  # 1/sqrt decay
    peak = max(range(1, 1000), key=s)
    assert peak == 100 and s(100) == pytest.approx(2.0 / math.sqrt(64 * 100))
    for kw in (dict(d_model=0, warmup=10), dict(d_model=8, warmup=0), dict(d_model=8, warmup=10, factor=-1.0)):
        with pytest.raises(ValueError):
            tn.NoamSchedule(**kw)
