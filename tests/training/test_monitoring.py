"""The trainers' monitoring: the history as a JSON-lines log file, TensorBoard event files."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from transformer_anatomy.training import TrainConfig

BACKENDS = ["numpy", "torch"]


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_times(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


def as_history(records):
    """The log's records back into the trainer's history format."""
    strip = lambda r: {k: v for k, v in r.items() if k not in ("kind", "time_s")}  # noqa: E731
    return {"train": [strip(r) for r in records if r["kind"] == "train"],
            "eval": [strip(r) for r in records if r["kind"] == "eval"]}


CFG = TrainConfig(kind="seq2seq", max_steps=8, batch_size=8, eval_every=3, log_every=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_log_file_is_the_history_as_json_lines(backend, tmp_path, tiny_reversal, make_model, make_trainer):
    log = tmp_path / "logs" / "run.jsonl"  # the folder is created at the first record
    trainer = make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, CFG, log_file=log)
    assert not log.exists()  # nothing is written before training
    trainer.fit()
    records = read_log(log)
    assert as_history(records) == trainer.history
    assert [(r["kind"], r["step"]) for r in records] == [
        ("train", 2), ("eval", 3), ("train", 4), ("train", 6), ("eval", 6), ("train", 8), ("eval", 8)]
    times = [r["time_s"] for r in records]
    assert all(isinstance(t, float) for t in times) and times == sorted(times)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_record_is_on_disk_when_the_callback_hears_of_it(backend, tmp_path, tiny_reversal, make_model,
                                                              make_trainer):
    log = tmp_path / "run.jsonl"
    seen = []

    def callback(event):
        if event["event"] == "eval":
            seen.append((event["step"], read_log(log)[-1]))

    make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, CFG, callback=callback,
                 log_file=log).fit()
    assert [s for s, _ in seen] == [3, 6, 8]
    assert all(last["kind"] == "eval" and last["step"] == s for s, last in seen)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resumed_log_equals_uninterrupted_log(backend, tmp_path, tiny_reversal, make_model, make_trainer):
    """Interrupted at step 5 (a training record at 4 and an evaluation at 3 already logged), the
    checkpoint written, a new trainer with a new log file resumes: the same records."""
    straight_log = tmp_path / "straight.jsonl"
    make_trainer(backend, make_model(backend, tiny_reversal, seed=4), tiny_reversal, CFG,
                 log_file=straight_log).fit()

    first = make_trainer(backend, make_model(backend, tiny_reversal, seed=4), tiny_reversal, CFG,
                         log_file=tmp_path / "first.jsonl")
    first.fit(until_step=5)
    ckpt = first.save_checkpoint(tmp_path / f"mid{first.checkpoint_ext}")
    for log in (tmp_path / "first.jsonl", tmp_path / "second.jsonl"):  # same file continued, or a new one
        second = make_trainer(backend, make_model(backend, tiny_reversal, seed=9), tiny_reversal, CFG, log_file=log)
        second.load_checkpoint(ckpt)
        second.fit()
        records = read_log(log)
        assert without_times(records) == without_times(read_log(straight_log))
        assert [r["time_s"] is None for r in records] == [r["step"] <= 5 for r in records]  # replayed records


def test_a_log_file_that_cannot_be_written_is_refused_at_start(tmp_path, tiny_reversal, make_model, make_trainer):
    (tmp_path / "file").write_text("x")
    model = make_model("numpy", tiny_reversal)
    with pytest.raises(OSError, match="log_file=.*cannot hold files"):
        make_trainer("numpy", model, tiny_reversal, CFG, log_file=tmp_path / "file" / "run.jsonl")
    with pytest.raises(IsADirectoryError, match="log_file=.*is a folder"):
        make_trainer("numpy", model, tiny_reversal, CFG, log_file=tmp_path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensorboard_missing_names_the_option(backend, monkeypatch, tmp_path, tiny_reversal, make_model,
                                              make_trainer):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"tensorboard_dir needs the tensorboard package.*\[tensorboard\]"):
        make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, CFG, tensorboard_dir=tmp_path / "tb")
    assert not (tmp_path / "tb").exists()


def read_scalars(folder):
    """{tag: [(step, value), ...]} from every event file in ``folder`` (tensorboard's own reader)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    out = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                value = v.simple_value if v.HasField("simple_value") else float(
                    torch.tensor(list(v.tensor.float_val)).item())
                out.setdefault(v.tag, []).append((event.step, value))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensorboard_event_files_hold_the_history(backend, tmp_path, tiny_reversal, make_model, make_trainer):
    pytest.importorskip("tensorboard", reason="the optional [tensorboard] extra is not installed")
    tb = tmp_path / "tb"
    trainer = make_trainer(backend, make_model(backend, tiny_reversal), tiny_reversal, CFG, tensorboard_dir=tb)
    trainer.fit()
    scalars = read_scalars(tb)
    assert [s for s, _ in scalars["train/loss"]] == [r["step"] for r in trainer.history["train"]]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([r["loss"] for r in trainer.history["train"]],
                                                                  rel=1e-6)  # stored as float32
    ev = trainer.history["eval"]
    assert {t for t in scalars if t.startswith("eval/")} == {f"eval/{k}" for k in ev[0]["metrics"]}
    assert [v for _, v in scalars["eval/exact_match"]] == pytest.approx([r["metrics"]["exact_match"] for r in ev])
    assert trainer._tb_writer is None  # closed at the end of fit()
