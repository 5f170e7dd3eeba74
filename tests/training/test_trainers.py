"""The training loops: determinism, exact resume, exact gradient accumulation, overfitting,
encoder-only tasks, schedules. Tiny models; CPU; one torch thread (see conftest)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_anatomy.tasks import make_qa_task, make_sentiment_task, make_tagging_task
from transformer_anatomy.tasks.vocab import EOS_ID, PAD_ID, SOS_ID
from transformer_anatomy.training import LRSchedule, NumpyTrainer, TorchTrainer, TrainConfig

BACKENDS = ["torch", "numpy"]


def _params(trainer):
    if trainer.backend == "torch":
        return {k: v.detach().cpu().numpy().copy() for k, v in trainer.model.state_dict().items()}
    return trainer.model.state_dict()


def _assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ---------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_gives_bit_identical_metrics(backend, tiny_reversal, make_model, make_trainer):
    cfg = TrainConfig(kind="seq2seq", max_steps=8, batch_size=8, eval_every=4, log_every=2)
    runs = []
    for _ in range(2):
        trainer = make_trainer(backend, make_model(backend, tiny_reversal, seed=3), tiny_reversal, cfg)
        trainer.fit()
        runs.append((trainer.history, _params(trainer)))
    assert runs[0][0] == runs[1][0]  # every loss and metric, exactly
    _assert_same_params(runs[0][1], runs[1][1])
    assert len(runs[0][0]["eval"]) == 2 and len(runs[0][0]["train"]) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_different_data_seed_changes_the_run(backend, tiny_reversal, make_model, make_trainer):
    losses = []
    for seed in (0, 1):
        cfg = TrainConfig(kind="seq2seq", max_steps=4, batch_size=8, eval_every=4, log_every=1, seed=seed)
        trainer = make_trainer(backend, make_model(backend, tiny_reversal, seed=3), tiny_reversal, cfg)
        trainer.fit()
        losses.append([r["loss"] for r in trainer.history["train"]])
    assert losses[0][0] != losses[1][0]


# --------------------------------------------------------------------------------- resume
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("interrupt_at", [5, 6])
def test_resume_equals_uninterrupted(backend, interrupt_at, tmp_path, tiny_reversal, make_model, make_trainer):
    """Stop mid-epoch (40 examples, micro-batches of 8, 2 per step: epochs of 3 steps) and
    mid-logging window, save, rebuild everything from scratch, load, finish: identical."""
    cfg = TrainConfig(kind="seq2seq", max_steps=10, batch_size=8, accumulate=2, eval_every=4, log_every=3,
                      label_smoothing=0.1, plateau_factor=0.5, plateau_patience=0)
    straight = make_trainer(backend, make_model(backend, tiny_reversal, seed=5), tiny_reversal, cfg)
    straight.fit()

    first = make_trainer(backend, make_model(backend, tiny_reversal, seed=5), tiny_reversal, cfg)
    first.fit(until_step=interrupt_at)
    path = first.save_checkpoint(tmp_path / f"mid{first.checkpoint_ext}")
    if backend == "torch":
        torch.manual_seed(999)  # the global generator moves on; the checkpoint must restore it
        torch.rand(10)
    second = make_trainer(backend, make_model(backend, tiny_reversal, seed=77), tiny_reversal, cfg)
    second.load_checkpoint(path)
    assert second.step == interrupt_at
    second.fit()

    assert second.history == straight.history
    _assert_same_params(_params(second), _params(straight))
    assert second.best_metric == straight.best_metric and second.step == straight.step == 10
    assert second.schedule.state_dict() == straight.schedule.state_dict()


@pytest.mark.parametrize("backend", BACKENDS)
def test_checkpoint_dir_writes_last_and_best(backend, tmp_path, tiny_reversal, make_model, make_trainer):
    cfg = TrainConfig(kind="seq2seq", max_steps=4, batch_size=8, eval_every=2)
    events = []
    trainer = make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, cfg,
                           callback=events.append, checkpoint_dir=tmp_path / "ck")
    trainer.fit()
    ext = trainer.checkpoint_ext
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == sorted([f"best{ext}", f"last{ext}"])
    kinds = [e["event"] for e in events]
    assert kinds.count("step") == 4 and kinds.count("eval") == 2 and kinds.count("checkpoint") >= 3


def test_resume_refuses_a_different_config(tmp_path, tiny_reversal, make_model, make_trainer):
    cfg = TrainConfig(kind="seq2seq", max_steps=2, batch_size=8, eval_every=2)
    trainer = make_trainer("numpy", make_model("numpy", tiny_reversal), tiny_reversal, cfg)
    trainer.fit()
    path = trainer.save_checkpoint(tmp_path / "a.npz")
    other = make_trainer("numpy", make_model("numpy", tiny_reversal), tiny_reversal, cfg.replace(lr=5e-4))
    with pytest.raises(ValueError, match=r"different config: \['lr'\]"):
        other.load_checkpoint(path)


def test_library_is_silent_and_writes_nothing(tmp_path, monkeypatch, capsys, tiny_reversal, make_model, make_trainer):
    monkeypatch.chdir(tmp_path)
    for backend in BACKENDS:
        cfg = TrainConfig(kind="seq2seq", max_steps=2, batch_size=8, eval_every=1)
        make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, cfg).fit()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ gradient accumulation
def _captured_grads(trainer):
    """Wrap the optimizer step to record the (clipped) gradients it receives."""
    seen = []
    if trainer.backend == "torch":
        params = list(trainer.model.parameters())
        step = trainer.optimizer.step

        def wrapped(*a, **k):
            seen.append([p.grad.detach().numpy().copy() for p in params])
            return step(*a, **k)

        trainer.optimizer.step = wrapped
    else:
        step = trainer.optimizer.step

        def wrapped(grads):
            seen.append([grads[k].copy() for k in sorted(grads)])
            return step(grads)

        trainer.optimizer.step = wrapped
    return seen


@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulated_micro_batches_equal_one_big_batch(backend, tiny_reversal, make_model, make_trainer):
    """4 micro-batches of 8 == 1 batch of 32 (same examples: the epoch order depends on the
    seed only). float64, no dropout: gradients agree to rtol 1e-10 / atol 1e-13; the padded
    widths of the micro-batches differ, so only rounding separates them."""
    base = dict(kind="seq2seq", max_steps=3, eval_every=100, label_smoothing=0.1, clip_norm=None)
    results = []
    for bs, acc in ((8, 4), (32, 1)):
        model = make_model(backend, tiny_reversal, seed=11, dropout=0.0, float64=True)
        trainer = make_trainer(backend, model, tiny_reversal, TrainConfig(batch_size=bs, accumulate=acc, **base))
        seen = _captured_grads(trainer)
        trainer.fit(until_step=1)
        results.append((seen[0], trainer.history, _params(trainer)))
    (g_small, _, p_small), (g_big, _, p_big) = results
    assert len(g_small) == len(g_big)
    for a, b in zip(g_small, g_big):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    for k in p_small:
        np.testing.assert_allclose(p_small[k], p_big[k], rtol=1e-10, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clipping_bounds_the_gradient_norm(backend, tiny_reversal, make_model, make_trainer):
    cfg = TrainConfig(kind="seq2seq", max_steps=1, batch_size=16, clip_norm=1e-3, eval_every=100)
    trainer = make_trainer(backend, make_model(backend, tiny_reversal, dropout=0.0, float64=True), tiny_reversal, cfg)
    seen = _captured_grads(trainer)
    trainer.fit()
    total = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in seen[0]))
    assert total == pytest.approx(1e-3, rel=1e-4)


# ------------------------------------------------------------------------------ overfitting
@pytest.mark.parametrize("backend", BACKENDS)
def test_tiny_batch_overfits_to_near_zero_loss(backend, make_model, make_trainer):
    from transformer_anatomy.tasks import make_reversal_task

    data = make_reversal_task(n_train=8, n_valid=8, n_test=8, min_len=4, max_len=4, num_symbols=6, rng=0)
    cfg = TrainConfig(kind="seq2seq", max_steps=150, batch_size=8, lr=3e-3, schedule="constant", warmup=10,
                      eval_every=150, eval_split="train", log_every=10)
    trainer = make_trainer(backend, make_model(backend, data, dropout=0.0), data, cfg)
    trainer.fit()
    metrics = trainer.history["eval"][-1]["metrics"]
    assert trainer.history["train"][-1]["loss"] < 0.02
    assert metrics["loss"] < 0.02 and metrics["exact_match"] == 1.0


# -------------------------------------------------------------------- encoder-only models
def _encoder_model(backend, kind, data):
    size = dict(d_model=16, nhead=2, num_layers=1, dim_feedforward=32, dropout=0.0)
    V = len(data.src_vocab)
    if backend == "torch":
        import transformer_anatomy.torch as lib

        torch.manual_seed(0)
        extra = {}
    else:
        import transformer_anatomy.numpy as lib

        extra = {"rng": 0}
    if kind == "classification":
        return lib.TransformerClassifier(V, len(data.label_names), **size, **extra)
    if kind == "tagging":
        return lib.TransformerTagger(V, len(data.tgt_vocab), **size, **extra)
    return lib.TransformerQA(V, **size, **extra)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["classification", "tagging", "qa"])
def test_encoder_only_kinds_train_and_resume(backend, kind, tmp_path, make_trainer):
    make = {"classification": make_sentiment_task, "tagging": make_tagging_task, "qa": make_qa_task}[kind]
    data = make(n_train=48, n_valid=16, n_test=16, rng=0)
    cfg = TrainConfig(kind=kind, max_steps=6, batch_size=16, lr=3e-3, warmup=2, eval_every=3, log_every=1)
    straight = make_trainer(backend, _encoder_model(backend, kind, data), data, cfg)
    straight.fit()
    first = make_trainer(backend, _encoder_model(backend, kind, data), data, cfg)
    first.fit(until_step=4)
    path = first.save_checkpoint(tmp_path / f"x{first.checkpoint_ext}")
    second = make_trainer(backend, _encoder_model(backend, kind, data), data, cfg)
    second.load_checkpoint(path)
    second.fit()
    assert second.history == straight.history
    metrics = straight.history["eval"][-1]["metrics"]
    assert {"classification": {"loss", "accuracy"}, "tagging": {"loss", "token_accuracy", "sentence_accuracy"},
            "qa": {"loss", "exact_match", "f1"}}[kind] <= set(metrics)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["classification", "tagging", "qa"])
def test_encoder_only_kinds_overfit_a_tiny_set(backend, kind, make_trainer):
    make = {"classification": make_sentiment_task, "tagging": make_tagging_task, "qa": make_qa_task}[kind]
    data = make(n_train=16, n_valid=4, n_test=4, rng=0)
    cfg = TrainConfig(kind=kind, max_steps=60, batch_size=16, lr=3e-3, schedule="constant", warmup=5,
                      eval_every=60, eval_split="train", log_every=5)
    trainer = make_trainer(backend, _encoder_model(backend, kind, data), data, cfg)
    trainer.fit()
    losses = [r["loss"] for r in trainer.history["train"]]
    assert losses[-1] < 0.2 * losses[0]
    assert trainer.best_metric >= 0.9


def test_torch_and_numpy_agree_on_evaluation_of_the_same_weights(tiny_reversal, make_model):
    """A torch model and its NumPy conversion score identically (the metrics are computed in
    NumPy from each backend's logits and decoded ids)."""
    from transformer_anatomy.numpy import from_torch

    tmodel = make_model("torch", tiny_reversal, float64=True)
    nmodel = from_torch(tmodel)
    cfg = TrainConfig(kind="seq2seq", max_steps=1, batch_size=8)
    a = TorchTrainer(tmodel, tiny_reversal, cfg).evaluate("test")
    b = NumpyTrainer(nmodel, tiny_reversal, cfg).evaluate("test")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------- schedules
def test_cosine_schedule_shape():
    s = LRSchedule(TrainConfig(lr=1e-3, warmup=10, max_steps=110, schedule="cosine", min_lr_ratio=0.1), 64)
    assert s(1) == pytest.approx(1e-4) and s(10) == pytest.approx(1e-3)
    assert s(60) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert s(110) == pytest.approx(1e-4)


def test_noam_schedule_matches_the_paper_formula():
    s = LRSchedule(TrainConfig(schedule="noam", warmup=4000, noam_factor=2.0), 512)
    for step in (1, 100, 4000, 10_000):
        assert s(step) == pytest.approx(2.0 * 512**-0.5 * min(step**-0.5, step * 4000**-1.5))


def test_plateau_cuts_the_learning_rate():
    s = LRSchedule(TrainConfig(schedule="constant", warmup=0, lr=1.0, plateau_factor=0.5, plateau_patience=1), 64)
    cuts = [s.on_eval(m) for m in (0.5, 0.6, 0.6, 0.6, 0.7, 0.7)]
    assert cuts == [False, False, False, True, False, False]
    assert s(5) == 0.5


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="accumulate"):
        TrainConfig(accumulate=0)
    with pytest.raises(ValueError, match="kind"):
        TrainConfig(kind="regression")
    assert TrainConfig.from_dict(TrainConfig(lr=0.5).to_dict()) == TrainConfig(lr=0.5)


def test_numpy_trainer_refuses_beam_search(tiny_reversal, make_model):
    with pytest.raises(ValueError, match="greedily"):
        NumpyTrainer(make_model("numpy", tiny_reversal), tiny_reversal, TrainConfig(decoding="beam"))


def test_beam_decoding_in_the_torch_trainer(tiny_reversal, make_model):
    cfg = TrainConfig(kind="seq2seq", max_steps=1, batch_size=8, decoding="beam", beam_size=3)
    trainer = TorchTrainer(make_model("torch", tiny_reversal), tiny_reversal, cfg)
    metrics = trainer.evaluate("test")
    assert 0.0 <= metrics["exact_match"] <= 1.0
    decoded = trainer.predict("test")["decoded"]  # what the metrics were computed from
    src = torch.from_numpy(tiny_reversal.split("test")["src"])
    L = trainer.max_decode_len("test")
    with torch.no_grad():
        beam = trainer.model.beam_search(src, 3, L, SOS_ID, EOS_ID).numpy()
    np.testing.assert_array_equal(decoded[:, : beam.shape[1]], beam)  # the trainer really used the beam
    assert (decoded[:, beam.shape[1]:] == PAD_ID).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_epoch_end_evaluation_and_data_order(backend, tiny_reversal, make_model, make_trainer):
    """eval_every=0 evaluates when an epoch ends (40 examples / 8 = 5 steps per epoch), and
    every epoch visits each training example exactly once."""
    cfg = TrainConfig(kind="seq2seq", max_steps=10, batch_size=8, eval_every=0, eval_limit=4)
    trainer = make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, cfg)
    seen = []
    for epoch in (0, 1):
        rows = np.concatenate([b["src"][:, :1] for b in trainer._epoch_batches(epoch)])
        seen.append(rows[:, 0])
    assert len(seen[0]) == 40 and not np.array_equal(seen[0], seen[1])  # reshuffled
    assert sorted(seen[0]) == sorted(seen[1]) == sorted(tiny_reversal.train["src"][:, 0])
    trainer.fit()
    assert [r["step"] for r in trainer.history["eval"]] == [5, 10]
    assert [r["epoch"] for r in trainer.history["eval"]] == [1, 2]


def test_use_best_weights_restores_the_best_evaluation(tiny_reversal, make_model, make_trainer):
    cfg = TrainConfig(kind="seq2seq", max_steps=6, batch_size=8, eval_every=2, lr=3e-3)
    trainer = make_trainer("numpy", make_model("numpy", tiny_reversal), tiny_reversal, cfg)
    trainer.fit()
    assert trainer.use_best_weights()
    best = trainer.history["eval"][[r["step"] for r in trainer.history["eval"]].index(trainer.best_step)]
    assert trainer.evaluate(cfg.eval_split)["loss"] == pytest.approx(best["metrics"]["loss"], rel=1e-12)


def test_no_autocast_on_cpu(tiny_reversal, make_model):
    trainer = TorchTrainer(make_model("torch", tiny_reversal), tiny_reversal, TrainConfig(amp=True))
    assert trainer.use_amp is False  # bf16 autocast is for CUDA only: CPU runs stay bit-reproducible


@pytest.mark.parametrize("kind", ["classification", "tagging", "qa"])
def test_prediction_rows_mark_right_and_wrong(kind):
    """evaluation.prediction_rows: perfect outputs are all correct, shuffled ones show their mistakes."""
    from transformer_anatomy.training.evaluation import prediction_rows

    make = {"classification": make_sentiment_task, "tagging": make_tagging_task, "qa": make_qa_task}[kind]
    data = make(n_train=40, n_valid=8, n_test=12, rng=0)
    test = data.split("test")
    if kind == "classification":
        perfect = {"logits": np.eye(len(data.label_names))[test["label"]]}
        wrong = {"logits": np.eye(len(data.label_names))[1 - test["label"]]}
    elif kind == "tagging":
        perfect = {"logits": np.eye(len(data.tgt_vocab))[test["tags"]]}
        wrong = {"logits": np.eye(len(data.tgt_vocab))[np.zeros_like(test["tags"])]}
    else:
        S = test["src"].shape[1]
        perfect = {"start_logits": 10 * np.eye(S)[test["start"]], "end_logits": 10 * np.eye(S)[test["end"]]}
        wrong = {"start_logits": 10 * np.eye(S)[test["end"] + 1], "end_logits": 10 * np.eye(S)[test["end"] + 1]}
    rows = prediction_rows(kind, data, perfect, "test", n_first=3, n_wrong=4)
    assert len(rows) == 3 and all(r["correct"] and r["target"] == r["prediction"] for r in rows)
    assert rows[0]["input"] == " ".join(data.src_vocab.idx2word[int(t)] for t in test["src"][0][: test["src_len"][0]])
    rows = prediction_rows(kind, data, wrong, "test", n_first=3, n_wrong=4)
    assert len(rows) == 3 + 4 and not any(r["correct"] for r in rows[3:])


def test_prediction_rows_of_decoded_sequences(tiny_reversal):
    from transformer_anatomy.training.evaluation import prediction_rows

    test = tiny_reversal.split("test")
    decoded = np.concatenate([np.full((len(test["src"]), 1), SOS_ID), test["tgt_out"]], axis=1)  # <sos> + target
    rows = prediction_rows("seq2seq", tiny_reversal, {"decoded": decoded}, "test", n_first=5)
    assert len(rows) == 5 and all(r["correct"] for r in rows)
    assert rows[0]["target"] == " ".join(tiny_reversal.tgt_vocab.decode(test["tgt_out"][0]))
