"""Checkpoint files: atomic writes, safe loading, clean errors on damaged files."""

from __future__ import annotations

import datetime
import os
import random

import numpy as np
import pytest
import torch

from transformer_anatomy.training import TrainConfig, atomic_write, checkpoint
from transformer_anatomy.training.checkpoint import (
    CheckpointError,
    load_numpy_checkpoint,
    load_torch_checkpoint,
    numpy_generator_state,
    python_random_state,
    save_numpy_checkpoint,
    save_torch_checkpoint,
    set_numpy_generator_state,
    set_python_random_state,
)

CONFIG = TrainConfig(kind="seq2seq", max_steps=6, batch_size=8, eval_every=3, eval_limit=8)


def _trained(backend, make_model, make_trainer, data, steps=3):
    trainer = make_trainer(backend, make_model(backend, data), data, CONFIG)
    trainer.fit(until_step=steps)
    return trainer


# ---------------------------------------------------------------------------------- torch
def test_torch_checkpoint_loads_with_weights_only(tmp_path, tiny_reversal, make_model, make_trainer):
    trainer = _trained("torch", make_model, make_trainer, tiny_reversal)
    path = trainer.save_checkpoint(tmp_path / "ck.pt")
    obj = torch.load(path, weights_only=True)  # refuses anything but tensors and plain values
    assert obj["step"] == 3 and obj["backend"] == "torch"
    assert set(obj) >= {"model", "optimizer", "scheduler", "rng", "step", "epoch", "best_metric", "config", "history"}
    assert isinstance(obj["rng"]["torch"], torch.Tensor)
    assert isinstance(obj["rng"]["python"]["internal"], list)
    state = trainer.model.state_dict()
    assert all(torch.equal(obj["model"][k], v) for k, v in state.items())


def test_torch_save_refuses_numpy_values(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['x'\].*NumPy"):
        save_torch_checkpoint(tmp_path / "bad.pt", {"x": np.zeros(3)})
    assert not list(tmp_path.iterdir())  # refused before touching the disk


# ---------------------------------------------------------------------------------- numpy
def test_numpy_checkpoint_loads_without_pickle(tmp_path, tiny_reversal, make_model, make_trainer):
    trainer = _trained("numpy", make_model, make_trainer, tiny_reversal)
    path = trainer.save_checkpoint(tmp_path / "ck.npz")
    with np.load(path, allow_pickle=False) as z:  # every entry is a plain array
        files = set(z.files)
        assert z["model/generator.weight"].dtype == np.float32
        assert z[checkpoint.META_KEY].dtype.kind == "U"
    assert "model/transformer.encoder.layers.0.self_attn.in_proj_weight" in files
    assert any(f.startswith("optimizer/state/") and f.endswith("/exp_avg") for f in files)
    obj = load_numpy_checkpoint(path)
    assert obj["step"] == 3 and obj["backend"] == "numpy"
    for k, v in trainer.model.state_dict().items():
        np.testing.assert_array_equal(obj["model"][k], v)


def test_numpy_round_trip_of_plain_values(tmp_path):
    state = {"a": {"b": [1, 2.5, None, True, "s"], "big": 2**100 + 7, "neg": -(2**70)},
             "arr": np.arange(6, dtype=np.int64).reshape(2, 3), "nested": [{"x": np.ones(2)}]}
    obj = load_numpy_checkpoint(save_numpy_checkpoint(tmp_path / "p.npz", state))
    assert obj["a"] == state["a"]
    np.testing.assert_array_equal(obj["arr"], state["arr"])
    np.testing.assert_array_equal(obj["nested"][0]["x"], np.ones(2))


# ------------------------------------------------------------------------ crash during save
@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_crash_during_save_keeps_previous_checkpoint(backend, tmp_path, monkeypatch, tiny_reversal, make_model,
                                                     make_trainer):
    trainer = _trained(backend, make_model, make_trainer, tiny_reversal, steps=2)
    path = tmp_path / f"ck{trainer.checkpoint_ext}"
    trainer.save_checkpoint(path)
    before = path.read_bytes()
    trainer.fit(until_step=3)  # the state moves on

    def crash(obj, f):  # write half a file, then die
        f.write(before[: len(before) // 2])
        raise OSError("disk on fire")

    monkeypatch.setattr(checkpoint, "write_torch" if backend == "torch" else "write_numpy", crash)
    with pytest.raises(OSError, match="disk on fire"):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == before  # previous checkpoint intact
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    loaded = (load_torch_checkpoint if backend == "torch" else load_numpy_checkpoint)(path)
    assert loaded["step"] == 2


def test_keyboard_interrupt_during_save_also_cleans_up(tmp_path, monkeypatch):
    def interrupted(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "write_numpy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_numpy_checkpoint(tmp_path / "x.npz", {"a": np.zeros(2)})
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "missing"])
def test_damaged_file_gives_clean_error_naming_the_path(backend, damage, tmp_path):
    state = {"w": torch.ones(64, 64)} if backend == "torch" else {"w": np.ones((64, 64))}
    save, load = ((save_torch_checkpoint, load_torch_checkpoint) if backend == "torch"
                  else (save_numpy_checkpoint, load_numpy_checkpoint))
    path = save(tmp_path / "ck.bin", state)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match=str(path).replace("\\", "\\\\")):
        load(path)


def test_foreign_files_are_rejected(tmp_path):
    torch.save({"just": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a transformer_anatomy PyTorch checkpoint"):
        load_torch_checkpoint(tmp_path / "plain.pt")
    np.savez(tmp_path / "plain.npz", a=np.zeros(1))
    with pytest.raises(CheckpointError, match="plain.npz"):
        load_numpy_checkpoint(tmp_path / "plain.npz")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"  # a pickled class instance: weights_only refuses to build it
    torch.save({"format": checkpoint.FORMAT, "backend": "torch", "x": datetime.date(2020, 1, 1)}, path)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_torch_checkpoint(path)


# ------------------------------------------------------------------------------ rng states
def test_rng_states_round_trip():
    g = np.random.default_rng(123)
    g.random(5)
    state = numpy_generator_state(g)
    assert "__int_words__" in str(state)  # PCG64's 128-bit ints are split into words
    expected = g.random(4)
    set_numpy_generator_state(g, state)
    np.testing.assert_array_equal(g.random(4), expected)

    random.seed(7)
    saved = python_random_state()
    first = [random.random() for _ in range(3)]
    set_python_random_state(saved)
    assert [random.random() for _ in range(3)] == first


def test_atomic_write_creates_parent_and_replaces(tmp_path):
    target = tmp_path / "deep" / "file.bin"
    checkpoint.atomic_write(target, lambda f: f.write(b"one"))
    checkpoint.atomic_write(target, lambda f: f.write(b"two"))
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    """Results and checkpoints are readable like any file the user writes (not mkstemp's 0600)."""
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "r.json", lambda f: f.write(b"{}"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
