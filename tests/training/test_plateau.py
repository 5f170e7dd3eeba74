"""ReduceLROnPlateau: our plain-Python scheduler against torch.optim.lr_scheduler.ReduceLROnPlateau,
and the trainers' use of it (``TrainConfig.plateau_*``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_anatomy.training import LRSchedule, NumpyTrainer, TorchTrainer, TrainConfig
from transformer_anatomy.training.schedules import ReduceLROnPlateau, make_plateau

SETTINGS = [
    dict(mode="min", factor=0.5, patience=2, threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0),
    dict(mode="min", factor=0.1, patience=0, threshold=0.05, threshold_mode="abs", cooldown=2, min_lr=1e-3),
    dict(mode="max", factor=0.3, patience=1, threshold=0.01, threshold_mode="rel", cooldown=1, min_lr=0.0),
    dict(mode="max", factor=0.0, patience=3, threshold=0.0, threshold_mode="abs", cooldown=0, min_lr=2e-4),
    dict(mode="min", factor=0.9, patience=1, threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.05),
]


def metric_sequences():
    rng = np.random.default_rng(0)
    noisy = np.exp(-np.arange(60) / 20) + 0.05 * rng.standard_normal(60)  # a noisy decaying loss
    stairs = np.repeat([0.9, 0.7, 0.7001, 0.5, 0.5], 8)  # flat stretches, a tiny (sub-threshold) change
    negative = -np.abs(rng.standard_normal(40))  # rel thresholds with negative values (torch's formula)
    return {"noisy": noisy.tolist(), "stairs": stairs.tolist(), "negative": negative.tolist(),
            "with_nan": [1.0, 0.9, float("nan"), 0.95, 0.8, float("nan"), float("nan"), 0.85]}


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: f"{s['mode']}-{s['threshold_mode']}-cd{s['cooldown']}")
@pytest.mark.parametrize("name", list(metric_sequences()))
def test_equals_torch_on_a_sequence_of_metrics(settings, name):
    metrics = metric_sequences()[name]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **settings)
    ours = ReduceLROnPlateau(0.1, **settings)
    cuts = 0
    for m in metrics:
        before = opt.param_groups[0]["lr"]
        ref.step(m)
        cut = ours.step(m)
        assert cut == (opt.param_groups[0]["lr"] != before)
        cuts += cut
        assert ours.lr == opt.param_groups[0]["lr"]  # exactly: the same float operations
        assert (ours.best == ref.best) or (math.isinf(ours.best) and math.isinf(ref.best))
        assert (ours.num_bad_epochs, ours.cooldown_counter, ours.last_epoch) == \
            (ref.num_bad_epochs, ref.cooldown_counter, ref.last_epoch)
    if name == "stairs":
        assert cuts >= 1  # the sequences do exercise the cut


def test_state_dict_round_trip_continues_identically():
    metrics = metric_sequences()["noisy"]
    a = ReduceLROnPlateau(1.0, factor=0.5, patience=1, cooldown=1)
    for m in metrics[:20]:
        a.step(m)
    b = ReduceLROnPlateau(1.0, factor=0.5, patience=1, cooldown=1)
    b.load_state_dict(a.state_dict())
    assert [a.step(m) for m in metrics[20:]] == [b.step(m) for m in metrics[20:]]
    assert a.state_dict() == b.state_dict()
    fresh = ReduceLROnPlateau(1.0).state_dict()
    assert fresh["best"] is None  # no inf goes into a checkpoint


@pytest.mark.parametrize("kwargs, name", [
    (dict(lr=0.0), "lr"), (dict(factor=1.0), "factor"), (dict(factor=-0.1), "factor"),
    (dict(patience=-1), "patience"), (dict(patience=1.5), "patience"), (dict(threshold=-1e-3), "threshold"),
    (dict(cooldown=-2), "cooldown"), (dict(min_lr=-1.0), "min_lr"), (dict(mode="up"), "mode"),
    (dict(threshold_mode="pct"), "threshold_mode"),
])
def test_bad_arguments_are_refused_by_name(kwargs, name):
    args = dict(lr=1.0) | kwargs
    with pytest.raises((ValueError, TypeError), match=rf"\b{name}="):
        ReduceLROnPlateau(**args)


def test_a_bad_metric_is_refused():
    with pytest.raises(TypeError, match="metric="):
        ReduceLROnPlateau(1.0).step("0.5")


@pytest.mark.parametrize("field, value", [("plateau_metric", "accuracy"), ("plateau_threshold", -1.0),
                                          ("plateau_threshold_mode", "pct"), ("plateau_cooldown", -1),
                                          ("plateau_min_lr", float("nan"))])
def test_config_refuses_bad_plateau_fields(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_lr_schedule_constant_equals_torch_after_warmup():
    """schedule="constant" + plateau: the trainer's lr is torch's scheduler's lr (to rounding)."""
    cfg = TrainConfig(schedule="constant", warmup=0, lr=3e-3, plateau_factor=0.5, plateau_patience=1,
                      plateau_metric="loss", plateau_cooldown=1, plateau_min_lr=4e-4)
    sched = LRSchedule(cfg, d_model=64)
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, cooldown=1,
                                                     min_lr=4e-4)
    for m in metric_sequences()["stairs"]:
        sched.on_eval(m)
        ref.step(m)
        assert sched(1000) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert sched(1000) == pytest.approx(4e-4, rel=1e-12)  # the floor was reached


def test_plateau_off_by_default_and_mode_from_the_metric():
    assert make_plateau(TrainConfig()) is None
    assert LRSchedule(TrainConfig(), 64).on_eval(0.1) is False
    assert make_plateau(TrainConfig(plateau_factor=0.5)).mode == "max"
    assert make_plateau(TrainConfig(plateau_factor=0.5, plateau_metric="loss")).mode == "min"


def test_old_checkpoint_schedule_state_loads():
    """A schedule state written before the plateau had its own (scale, best, bad_evals)."""
    s = LRSchedule(TrainConfig(schedule="constant", warmup=0, lr=1.0, plateau_factor=0.5, plateau_patience=1), 64)
    s.load_state_dict({"scale": 0.5, "best": 0.7, "bad_evals": 1})
    assert s(3) == 0.5 and s.plateau.best == 0.7 and s.plateau.num_bad_epochs == 1
    assert s.on_eval(0.6) is True and s(3) == 0.25


@pytest.mark.parametrize("cls", [TorchTrainer, NumpyTrainer], ids=["torch", "numpy"])
def test_trainer_cuts_on_the_eval_loss_as_torch_would(cls, tiny_reversal, make_model):
    """Replay the run's evaluation losses through torch's scheduler: the lr of each step matches."""
    backend = "torch" if cls is TorchTrainer else "numpy"
    cfg = TrainConfig(kind="seq2seq", max_steps=24, batch_size=8, eval_every=2, log_every=1, lr=3e-2,
                      schedule="constant", warmup=0, plateau_factor=0.5, plateau_patience=0,
                      plateau_metric="loss", plateau_threshold=0.0)
    trainer = cls(make_model(backend, tiny_reversal, seed=2), tiny_reversal, cfg)
    trainer.fit()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=0, threshold=0.0)
    lr_of_step = {r["step"]: r["lr"] for r in trainer.history["train"]}
    for ev in trainer.history["eval"]:
        ref.step(ev["metrics"]["loss"])
        nxt = ev["step"] + 1
        if nxt in lr_of_step:
            assert lr_of_step[nxt] == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
    assert len({round(v, 12) for v in lr_of_step.values()}) >= 2  # at least one cut happened
