"""What every task promises: determinism from a seed, disjoint splits, padding and lengths,
the teacher-forcing shift, batches, describe(), errors that name the bad value, no side effects."""

import json
import subprocess
import sys

import numpy as np
import pytest

from transformer_anatomy.tasks import FIELD_DOCS, TASKS, TaskData, make_task

SMALL = {"n_train": 300, "n_valid": 60, "n_test": 60}
SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module", params=sorted(TASKS))
def task(request):
    return request.param, make_task(request.param, rng=11, **SMALL)


def _rows(arrays):
    """Each example of a split as a hashable key (its src row, and its tgt/answer when present)."""
    keys = [arrays["src"]]
    keys += [arrays[f] for f in ("tgt", "start", "end") if f in arrays]
    n = len(arrays["src"])
    return {tuple(np.concatenate([k[i].reshape(-1) for k in keys]).tolist()) for i in range(n)}


def test_same_seed_same_arrays_different_seed_different(task):
    name, data = task
    again = make_task(name, rng=11, **SMALL)
    other = make_task(name, rng=12, **SMALL)
    for split in SPLITS:
        for f, a in data.split(split).items():
            assert np.array_equal(a, again.split(split)[f]), (name, split, f)
    assert not np.array_equal(data.train["src"], other.train["src"])
    assert data.src_vocab.word2idx == again.src_vocab.word2idx


def test_generator_object_is_accepted_and_advanced(task):
    name, _ = task
    g = np.random.default_rng(5)
    a = make_task(name, rng=g, **SMALL)
    b = make_task(name, rng=g, **SMALL)  # the same generator continues: new data
    assert not np.array_equal(a.train["src"][:50], b.train["src"][:50])
    c = make_task(name, rng=np.random.default_rng(5), **SMALL)
    assert np.array_equal(a.train["src"], c.train["src"])


def test_sizes_and_splits_are_disjoint(task):
    name, data = task
    for split in SPLITS:
        assert data.size(split) == SMALL[f"n_{split}"]
        assert len(_rows(data.split(split))) == data.size(split)  # examples unique within a split
    train, valid, test = (_rows(data.split(s)) for s in SPLITS)
    assert not train & valid and not train & test and not valid & test


def test_padding_lengths_and_dtypes(task):
    name, data = task
    widths = {f: a.shape[1:] for f, a in data.train.items()}
    for split in SPLITS:
        arrays = data.split(split)
        assert set(arrays) <= set(FIELD_DOCS)
        for f, a in arrays.items():
            assert a.dtype == np.int64 and a.shape[1:] == widths[f]  # one width per field for all splits
        src, n = arrays["src"], arrays["src_len"]
        assert np.all(n >= 1)
        positions = np.arange(src.shape[1])[None, :]  # (1, S)
        assert np.all((src != 0) == (positions < n[:, None]))  # pad exactly after src_len
        assert src.shape[1] == max(int(data.split(s)["src_len"].max()) for s in SPLITS)
        if "tags" in arrays:
            assert np.array_equal(arrays["tags"] != 0, src != 0)


def test_teacher_forcing_shift(task):
    name, data = task
    if "tgt" not in data.train:
        pytest.skip("no output sequence")
    for split in SPLITS:
        a = data.split(split)
        tgt, tin, tout, m = a["tgt"], a["tgt_in"], a["tgt_out"], a["tgt_len"]
        assert tgt.shape[1] == tin.shape[1] + 1 == tout.shape[1] + 1
        assert np.all(tin[:, 0] == data.tgt_vocab.sos_id)
        assert np.all(tout[np.arange(len(m)), m - 1] == data.tgt_vocab.eos_id)
        for i in range(len(m)):
            k = int(m[i])
            assert tin[i, :k].tolist() == tgt[i, :k].tolist()
            assert tout[i, :k].tolist() == tgt[i, 1 : k + 1].tolist()
            assert np.all(tin[i, k:] == 0) and np.all(tout[i, k:] == 0)


def test_batches_cover_the_split_once_and_trim(task):
    name, data = task
    batches = list(data.batches("train", 64, rng=0))
    assert [len(b["src"]) for b in batches] == [64] * 4 + [300 - 256]
    for b in batches:
        assert set(b) == set(data.train)
        assert b["src"].shape[1] == int(b["src_len"].max())  # padded to the batch's longest
        if "tgt_in" in b:
            assert b["tgt_in"].shape[1] == int(b["tgt_len"].max()) == b["tgt_out"].shape[1]
        if "start" in b:
            assert np.all(b["end"] < b["src_len"])
    seen = np.concatenate([b["src_len"] for b in batches])
    assert sorted(seen.tolist()) == sorted(data.train["src_len"].tolist())
    first = next(data.batches("train", 64, rng=0))
    assert all(np.array_equal(first[f], batches[0][f]) for f in first)  # same seed, same order
    fixed = next(data.batches("train", 10, shuffle=False, trim=False))
    assert np.array_equal(fixed["src"], data.train["src"][:10])
    assert len(list(data.batches("valid", 50, shuffle=False, drop_last=True))) == 1


def test_describe_is_json_ready_and_example_decodes(task):
    name, data = task
    d = data.describe()
    json.dumps(d)
    assert d["name"] == name and d["sizes"] == {"train": 300, "valid": 60, "test": 60}
    assert d["src_vocab_size"] == len(data.src_vocab)
    assert set(d["fields"]) == set(data.train)
    ex = data.example("test", -1)
    assert isinstance(ex["src"], list) and all(isinstance(t, str) for t in ex["src"])
    assert len(ex["src"]) == ex["src_len"]


def test_bad_inputs_name_the_value(task):
    name, data = task
    with pytest.raises(KeyError, match="'dev'"):
        data.split("dev")
    with pytest.raises(KeyError, match="'dev'"):
        next(data.batches("dev", 4, rng=0))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        next(data.batches("train", 0, rng=0))
    with pytest.raises(ValueError, match="needs rng"):
        next(data.batches("train", 4))
    with pytest.raises(IndexError, match="300"):
        data.example("train", 300)
    with pytest.raises(ValueError, match="n_train must be >= 0, got -5"):
        make_task(name, n_train=-5)
    with pytest.raises(ValueError, match="n_test must be >= 0, got -1"):
        make_task(name, n_test=-1)
    with pytest.raises(TypeError, match="'seven'"):
        make_task(name, n_valid="seven")
    with pytest.raises(ValueError, match="seed must be non-negative, got -3"):
        make_task(name, rng=-3)


def test_unknown_task_and_kind_are_named():
    with pytest.raises(ValueError, match="'parsing'"):
        make_task("parsing")
    with pytest.raises(ValueError, match="'regression'"):
        TaskData("x", "regression", {s: {} for s in SPLITS}, src_vocab=None)


def test_empty_splits_are_allowed():
    data = make_task("reversal", n_train=5, n_valid=0, n_test=0)
    assert data.valid["src"].shape == (0, 10) and list(data.batches("valid", 4, rng=0)) == []


def test_library_is_numpy_only_and_silent():
    code = (
        "import sys, io, contextlib\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):\n"
        "    import transformer_anatomy.tasks as T\n"
        "    for name in T.TASKS: T.make_task(name, n_train=20, n_valid=5, n_test=5)\n"
        "assert 'torch' not in sys.modules, 'tasks imported torch'\n"
        "assert buf.getvalue() == '', buf.getvalue()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("module", ["vocab", "numbers", "sentiment", "tagging", "qa", "metrics"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"transformer_anatomy.tasks.{module}"))
    assert result.failed == 0
