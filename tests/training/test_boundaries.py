"""Bad inputs at the training boundary (issue 14): checkpoint files (corrupt, truncated, stale
temporaries, unwritable folders), trainers, TrainConfig and reproduce.py's arguments."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from transformer_anatomy.tasks import make_reversal_task
from transformer_anatomy.training import TrainConfig, checkpoint
from transformer_anatomy.training.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    clean_stale_temporaries,
    load_numpy_checkpoint,
    load_torch_checkpoint,
    save_numpy_checkpoint,
    save_torch_checkpoint,
)
from transformer_anatomy.training.cli import ArgumentError, validate_reproduce_args

CONFIG = TrainConfig(kind="seq2seq", max_steps=4, batch_size=8, eval_every=2, eval_limit=8)


# ------------------------------------------------------------------ defect 1: corrupt torch checkpoint
def test_changed_byte_inside_a_tensor_is_caught(tmp_path):
    p = save_torch_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(1000)})
    b = bytearray(p.read_bytes())
    b[b.find(b"\0" * 4000) + 100] = 0x7F
    p.write_bytes(bytes(b))
    with pytest.raises(CheckpointError, match=r"c\.pt is corrupt: the CRC of '.*data/0' does not match"):
        load_torch_checkpoint(p)


def test_changed_byte_in_the_pickle_is_caught(tmp_path):
    p = save_torch_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(10), "name": "abcdefgh"})
    b = bytearray(p.read_bytes())
    i = b.find(b"abcdefgh")
    b[i] = ord("x")
    p.write_bytes(bytes(b))
    with pytest.raises(CheckpointError, match=r"corrupt"):
        load_torch_checkpoint(p)


LOADER_CASES = [
    ("torch-empty-file", "torch", lambda p: p.write_bytes(b""), r"cannot read checkpoint"),
    ("torch-truncated", "torch", lambda p: p.write_bytes(save_torch_checkpoint(p, {"w": torch.ones(50)}).read_bytes()[:200]), r"cannot read checkpoint"),
    ("torch-text-file", "torch", lambda p: p.write_text("hello"), r"cannot read checkpoint"),
    ("torch-a-numpy-checkpoint", "torch", lambda p: save_numpy_checkpoint(p, {"w": np.ones(3)}), r"cannot read checkpoint|not a transformer_anatomy PyTorch checkpoint"),
    ("torch-missing", "torch", None, r"checkpoint not found"),
    ("numpy-empty-file", "numpy", lambda p: p.write_bytes(b""), r"cannot read checkpoint"),
    ("numpy-a-torch-checkpoint", "numpy", lambda p: save_torch_checkpoint(p, {"w": torch.ones(3)}), r"cannot read checkpoint|not a transformer_anatomy NumPy checkpoint"),
    ("numpy-missing", "numpy", None, r"checkpoint not found"),
]


@pytest.mark.parametrize("backend,make,match", [c[1:] for c in LOADER_CASES], ids=[c[0] for c in LOADER_CASES])
def test_loaders_refuse_bad_files(tmp_path, backend, make, match):
    p = tmp_path / "ck.bin"
    if make is not None:
        make(p)
    load = load_torch_checkpoint if backend == "torch" else load_numpy_checkpoint
    with pytest.raises(CheckpointError, match=match):
        load(p)


def test_loading_a_folder_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_torch_checkpoint(tmp_path)


# ------------------------------------------------------------------ defect 6: stale temporaries
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("action", ["save-torch", "load-torch", "save-numpy", "load-numpy"])
def test_save_or_load_removes_stale_temporaries_of_our_naming(tmp_path, action):
    backend = action.split("-")[1]
    target = tmp_path / ("last.pt" if backend == "torch" else "last.npz")
    save = save_torch_checkpoint if backend == "torch" else save_numpy_checkpoint
    value = torch.ones(3) if backend == "torch" else np.ones(3)
    save(target, {"w": value})
    host = checkpoint._host()
    stale = tmp_path / f".last.pt.ta-{host}-{_dead_pid()}-k1l2m3n4.tmp"
    live = tmp_path / f".last.pt.ta-{host}-{os.getppid()}-a1b2c3d4.tmp"  # a process that exists
    mine = tmp_path / f".best.pt.ta-{host}-{os.getpid()}-zzzz9999.tmp"  # maybe being written now
    foreign = tmp_path / ".notes.txt.tmp"  # not ours: never touched
    user = tmp_path / "results.tmp"
    for f in (stale, live, mine, foreign, user):
        f.write_bytes(b"x" * 10)
    if action.startswith("save"):
        save(target, {"w": value})
    else:
        (load_torch_checkpoint if backend == "torch" else load_numpy_checkpoint)(target)
    assert not stale.exists()
    assert live.exists() and mine.exists() and foreign.exists() and user.exists()


def test_temporaries_from_another_host_are_removed_only_when_old(tmp_path):
    young = tmp_path / ".last.pt.ta-otherhost-12345-aaaa1111.tmp"
    old = tmp_path / ".last.pt.ta-otherhost-12346-bbbb2222.tmp"
    young.write_bytes(b"x")
    old.write_bytes(b"x")
    t = os.path.getmtime(old) - checkpoint.STALE_TMP_SECONDS - 60
    os.utime(old, (t, t))
    assert clean_stale_temporaries(tmp_path) == [old]
    assert young.exists()


def test_a_killed_save_leaves_no_temporary_after_the_next_save(tmp_path):
    target = tmp_path / "c.pt"
    code = (
        "import os, torch\n"
        "from transformer_anatomy.training import checkpoint\n"
        "def die(obj, f):\n"
        "    f.write(b'half a file'); f.flush(); os._exit(9)\n"
        "checkpoint.write_torch = die\n"
        f"checkpoint.save_torch_checkpoint({str(target)!r}, {{'w': torch.ones(3)}})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the killed save left one
    save_torch_checkpoint(target, {"w": torch.ones(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


# ------------------------------------------------------------------ defect 9: write errors
def test_write_under_a_file_is_a_checkpoint_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*f/c\.pt") as err:
        save_torch_checkpoint(tmp_path / "f" / "c.pt", {"w": torch.ones(1)})
    assert isinstance(err.value, OSError)  # still an OSError for code that catches those


def test_failing_writer_is_a_checkpoint_error(tmp_path, monkeypatch):
    def full(arrays, f):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_numpy", full)
    with pytest.raises(CheckpointWriteError, match=r"cannot write checkpoint .*c\.npz: No space left on device"):
        save_numpy_checkpoint(tmp_path / "c.npz", {"w": np.ones(1)})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def data():
    return make_reversal_task(n_train=40, n_valid=16, n_test=16, min_len=3, max_len=6, num_symbols=6, rng=1)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
@pytest.mark.parametrize("where", ["a-file", "under-a-file", "read-only"])
def test_unwritable_checkpoint_dir_fails_at_start_up(tmp_path, monkeypatch, make_model, make_trainer, data, backend, where):
    f = tmp_path / "file"
    f.write_text("x")
    folder = {"a-file": f, "under-a-file": f / "ck", "read-only": tmp_path / "ro" / "ck"}[where]
    if where == "read-only":
        (tmp_path / "ro").mkdir()
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).startswith(str(tmp_path / "ro")) else real(p, mode, **kw))
    with pytest.raises(CheckpointError, match=r"cannot write checkpoints into"):
        make_trainer(backend, make_model(backend, data), data, CONFIG, checkpoint_dir=folder)


# ------------------------------------------------------------------ defect 8: trainers
@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_load_checkpoint_built_on_other_task_data_is_refused(tmp_path, make_model, make_trainer, data, backend):
    trainer = make_trainer(backend, make_model(backend, data), data, CONFIG)
    path = trainer.save_checkpoint(tmp_path / ("c.pt" if backend == "torch" else "c.npz"))
    other = make_reversal_task(n_train=48, n_valid=16, n_test=16, min_len=3, max_len=6, num_symbols=6, rng=1)
    fresh = make_trainer(backend, make_model(backend, other), other, CONFIG)
    with pytest.raises(CheckpointError, match=r"different task data: \['n_train'\]"):
        fresh.load_checkpoint(path)
    fresh.load_checkpoint(path, strict_config=False)  # the escape hatch still loads it


CONFIG_CASES = [
    ("lr-inf", dict(lr=float("inf")), r"invalid TrainConfig\.lr: inf \(expected a finite number > 0\)"),
    ("lr-nan", dict(lr=float("nan")), r"TrainConfig\.lr: nan"),
    ("lr-string", dict(lr="0.001"), r"TrainConfig\.lr: '0\.001'"),
    ("seed-2**64", dict(seed=2**64), r"TrainConfig\.seed: 18446744073709551616 \(expected an integer in \[0, 2\*\*63 - 1\]\)"),
    ("seed-negative", dict(seed=-1), r"TrainConfig\.seed: -1"),
    ("seed-float", dict(seed=1.0), r"TrainConfig\.seed: 1\.0"),
    ("betas-one", dict(betas=(0.9,)), r"TrainConfig\.betas: \(0\.9,\) \(expected two numbers"),
    ("betas-three", dict(betas=(0.9, 0.99, 0.999)), r"TrainConfig\.betas"),
    ("betas-string", dict(betas="ab"), r"TrainConfig\.betas: 'ab'"),
    ("betas-one-is-1", dict(betas=(0.9, 1.0)), r"TrainConfig\.betas: \(0\.9, 1\.0\)"),
    ("eps-inf", dict(eps=float("inf")), r"TrainConfig\.eps: inf"),
    ("clip-norm-nan", dict(clip_norm=float("nan")), r"TrainConfig\.clip_norm: nan"),
    ("weight-decay-negative", dict(weight_decay=-0.1), r"TrainConfig\.weight_decay: -0\.1"),
    ("target-metric-inf", dict(target_metric=float("inf")), r"TrainConfig\.target_metric: inf"),
    ("amp-int", dict(amp=1), r"TrainConfig\.amp: 1 \(expected True or False\)"),
    ("target-patience-zero", dict(target_patience=0), r"TrainConfig\.target_patience: 0 \(expected an integer >= 1\)"),
    ("eval-decoding-string", dict(eval_decoding="no"), r"TrainConfig\.eval_decoding: 'no' \(expected True or False\)"),
    ("device-none", dict(device=None), r"TrainConfig\.device: None"),
    ("batch-size-bool", dict(batch_size=True), r"TrainConfig\.batch_size: True"),
]


@pytest.mark.parametrize("kw,match", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_train_config_refuses(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_train_config_largest_seed_is_accepted_by_torch_and_numpy():
    cfg = TrainConfig(seed=2**63 - 1)
    torch.manual_seed(cfg.seed)
    np.random.default_rng(cfg.seed)


# ------------------------------------------------------------------ defect 10: reproduce.py arguments
def _ns(tmp_path, **kw):
    return argparse.Namespace(**({"seed": 0, "threads": None, "out": str(tmp_path / "out")} | kw))


CLI_CASES = [
    ("seed-negative", dict(seed=-1), r"^--seed -1: expected an integer in \[0, 2\*\*63 - 1\]$"),
    ("seed-2**64", dict(seed=2**64), r"^--seed 18446744073709551616: expected"),
    ("threads-zero", dict(threads=0), r"^--threads 0: expected an integer >= 1$"),
    ("out-a-file", dict(out="FILE"), r"^--out .*FILE: is a file; expected a folder$"),
    ("out-under-a-file", dict(out="FILE/sub"), r"^--out .*FILE/sub: is under a file \(.*FILE\); expected a folder$"),
    ("out-empty", dict(out=""), r"^--out '': expected a folder path$"),
]


@pytest.mark.parametrize("kw,match", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_reproduce_arguments_refused_in_one_line(tmp_path, kw, match):
    (tmp_path / "FILE").write_text("x")
    if "out" in kw and kw["out"]:
        kw = dict(kw, out=str(tmp_path / kw["out"]))
    with pytest.raises(ArgumentError, match=match) as err:
        validate_reproduce_args(_ns(tmp_path, **kw))
    assert "\n" not in str(err.value) and isinstance(err.value, ValueError)
    assert not (tmp_path / "out").exists()  # nothing written


def test_reproduce_unwritable_out_is_refused(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(ro) else real(p, mode, **kw))
    with pytest.raises(ArgumentError, match=r"^--out .*ro/results: .*ro is not writable$"):
        validate_reproduce_args(_ns(tmp_path, out=str(ro / "results")))


def test_reproduce_good_arguments_pass(tmp_path):
    validate_reproduce_args(_ns(tmp_path, seed=2**63 - 1, threads=2))
    assert not (tmp_path / "out").exists()


def test_temporaries_of_the_earlier_naming_go_when_old(tmp_path):
    old = tmp_path / ".last.pt.ab12cd_3.tmp"  # what a killed save wrote before the writer was named
    young = tmp_path / ".best.npz.zz99yy88.tmp"
    other = tmp_path / ".notes.txt.ab12cd34.tmp"  # not a checkpoint's temporary: kept, however old
    for f in (old, young, other):
        f.write_bytes(b"x")
    t = os.path.getmtime(old) - checkpoint.STALE_TMP_SECONDS - 60
    os.utime(old, (t, t))
    os.utime(other, (t, t))
    assert clean_stale_temporaries(tmp_path) == [old]
    assert young.exists() and other.exists()


@pytest.mark.parametrize("seed,cls", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), (True, TypeError)],
                         ids=["negative", "2**64", "float", "bool"])
def test_seed_everything_refuses_before_seeding_anything(seed, cls):
    from transformer_anatomy.training import seed_everything

    before = np.random.get_state()[1].copy()
    with pytest.raises(cls, match=r"seed must be an integer in \[0, 2\*\*63 - 1\], got seed="):
        seed_everything(seed)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_model_too_small_for_the_task_is_refused_at_start_up(backend, make_trainer, data):
    V = len(data.src_vocab)
    if backend == "torch":
        from transformer_anatomy.torch import Seq2SeqTransformer

        small = Seq2SeqTransformer(V - 2, V, 16, 2, 1, 1, 32)
    else:
        from transformer_anatomy.numpy import Seq2SeqTransformer

        small = Seq2SeqTransformer(V - 2, V, 16, 2, 1, 1, 32)
    with pytest.raises(ValueError, match=rf"the model has src_vocab_size={V - 2} but task 'reversal' has src ids up to"):
        make_trainer(backend, small, data, CONFIG)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_classifier_with_too_few_classes_is_refused_at_start_up(backend, make_trainer):
    from transformer_anatomy.tasks import make_sentiment_task

    sent = make_sentiment_task(n_train=24, n_valid=8, n_test=8, rng=0)
    V, C = len(sent.src_vocab), len(sent.label_names)
    if backend == "torch":
        from transformer_anatomy.torch import TransformerClassifier
    else:
        from transformer_anatomy.numpy import TransformerClassifier
    model = TransformerClassifier(V, C - 1, 16, 2, 1, 32)
    cfg = TrainConfig(kind="classification", max_steps=2, batch_size=8)
    with pytest.raises(ValueError, match=rf"num_classes={C - 1} but task 'sentiment' has label ids up to {C - 1}"):
        make_trainer(backend, model, sent, cfg)
