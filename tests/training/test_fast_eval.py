"""Evaluation without decoding (``eval_decoding=False``) and the target held for several evaluations.

``teacher_forced_exact_match`` claims to equal greedy decoding's exact match; these tests hold it
to that on partly trained models of both backends (where some rows are right and some wrong),
and check that ``target_patience`` stops a run only after the target held, keeping those weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from transformer_anatomy.tasks import make_reversal_task
from transformer_anatomy.training import TrainConfig
from transformer_anatomy.training.evaluation import teacher_forced_exact_match


@pytest.fixture(scope="module")
def reversal():
    return make_reversal_task(n_train=200, n_valid=64, n_test=64, min_len=2, max_len=4, num_symbols=4, rng=3)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_teacher_forced_exact_match_equals_greedy(backend, reversal, make_model, make_trainer):
    model = make_model(backend, reversal, dropout=0.0)
    cfg = TrainConfig(max_steps=150, batch_size=32, lr=5e-3, warmup=5, eval_every=1000, log_every=5)
    trainer = make_trainer(backend, model, reversal, cfg)
    seen = set()
    for until in (0, 50, 100, 150):
        trainer.fit(until_step=until) if until else None
        greedy = trainer.evaluate("valid")  # decodes
        fast = trainer.evaluate("valid", decode=False)  # one teacher-forced pass
        assert fast["exact_match"] == greedy["exact_match"]
        assert fast["loss"] == greedy["loss"] and fast["token_accuracy"] == greedy["token_accuracy"]
        assert "decoded_token_accuracy" in greedy and "decoded_token_accuracy" not in fast
        seen.add(greedy["exact_match"])
    assert any(0.0 < v < 1.0 for v in seen), f"the test needs partly right models, saw {sorted(seen)}"


def test_teacher_forced_exact_match_counts_eos_and_ignores_pad():
    tgt = np.array([[5, 2, 0], [5, 4, 2], [6, 2, 0]])
    pred = np.array([[5, 2, 7], [5, 4, 3], [6, 6, 0]])  # right (pad ignored); no <eos>; wrong <eos>
    assert teacher_forced_exact_match(np.eye(8)[pred], tgt) == pytest.approx(1 / 3)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_eval_decoding_false_skips_decoding_inside_fit(backend, reversal, make_model, make_trainer, monkeypatch):
    trainer = make_trainer(backend, make_model(backend, reversal), reversal,
                           TrainConfig(max_steps=4, batch_size=16, eval_every=2, eval_decoding=False))
    calls = []
    monkeypatch.setattr(trainer, "_decode", lambda *a, **k: calls.append(1))
    trainer.fit()
    assert calls == [] and len(trainer.history["eval"]) == 2
    assert set(trainer.history["eval"][0]["metrics"]) == {"loss", "token_accuracy", "exact_match"}


def _scripted(trainer, values, monkeypatch):
    """Make the trainer's evaluations return ``values`` in turn (its weights still train)."""
    it = iter(values)
    monkeypatch.setattr(trainer, "evaluate", lambda *a, **k: {"loss": 1.0, "exact_match": next(it)})


@pytest.mark.parametrize("patience,stop,steps_to_target", [(1, 2, 2), (2, 5, 5), (3, 6, 6)])
def test_target_patience_stops_after_the_target_held(patience, stop, steps_to_target, reversal, make_model,
                                                     make_trainer, monkeypatch):
    cfg = TrainConfig(max_steps=8, batch_size=16, eval_every=1, target_metric=1.0, target_patience=patience)
    trainer = make_trainer("torch", make_model("torch", reversal), reversal, cfg)
    _scripted(trainer, [0.5, 1.0, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0], monkeypatch)
    summary = trainer.fit()
    assert trainer.step == stop and trainer.stopped_early
    assert summary["steps_to_target"] == steps_to_target and summary["time_to_target_s"] is not None
    assert trainer.best_step == stop  # at the target, a tie keeps the later weights: those that held it
    assert summary["median_step_ms"] > 0 and len(trainer.step_times) == stop


def test_without_a_target_ties_keep_the_first_best(reversal, make_model, make_trainer, monkeypatch):
    cfg = TrainConfig(max_steps=4, batch_size=16, eval_every=1)
    trainer = make_trainer("torch", make_model("torch", reversal), reversal, cfg)
    _scripted(trainer, [0.5, 0.7, 0.7, 0.6], monkeypatch)
    trainer.fit()
    assert trainer.best_step == 2 and not trainer.stopped_early


def test_patience_streak_survives_a_checkpoint(tmp_path, reversal, make_model, make_trainer, monkeypatch):
    """The streak is read from the history, which checkpoints keep: a resumed run stops where the whole one does."""
    cfg = TrainConfig(max_steps=8, batch_size=16, eval_every=1, target_metric=1.0, target_patience=3)
    first = make_trainer("torch", make_model("torch", reversal), reversal, cfg)
    _scripted(first, [0.5, 1.0, 1.0], monkeypatch)
    first.fit(until_step=3)
    path = first.save_checkpoint(tmp_path / "c.pt")
    second = make_trainer("torch", make_model("torch", reversal), reversal, cfg)
    second.load_checkpoint(path)
    _scripted(second, [1.0, 1.0], monkeypatch)
    summary = second.fit()
    assert second.step == 4 and summary["steps_to_target"] == 4
