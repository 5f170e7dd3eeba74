"""scripts/lm_study.py: a quick run (seconds), the structure of lm.json, its numbers finite, the
baselines ordered, and the NumPy and PyTorch twins agreeing from the same initial weights."""

import json
import math

import numpy as np
import pytest

from tests.study_helpers import load_study, run_quick_study

RUN_KEYS = {"family", "backend", "class", "model", "num_parameters", "init", "steps", "tokens_seen", "epochs",
            "ms_per_step", "train_seconds", "wall_time_s", "valid", "test", "curve", "samples"}


def script():
    return load_study("lm")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    lm = script()
    return lm, run_quick_study(lm, out), out


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def test_files_and_top_level_schema(study):
    lm, result, out = study
    on_disk = json.loads((out / "lm.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    manifest = json.loads((out / "lm-manifest.json").read_text())
    assert manifest["command"] == "test" and manifest["quick"] is True and "lm.json" in manifest["results"]
    assert {"command", "seed", "quick", "device", "threads", "settings", "data", "vocab", "baselines", "runs",
            "best_run", "samples", "summary", "load_average", "wall_time_s"} <= set(result)
    assert result["settings"]["steps"] == lm.SETTINGS["quick"]["steps"]
    assert result["vocab"][:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert len(result["vocab"]) == result["data"]["vocab_size"]
    splits = result["data"]["splits"]
    assert sum(s["chars"] for s in splits.values()) == result["data"]["chars"]
    assert not set(splits["train"]["topics"]) & set(splits["test"]["topics"])


def test_baselines_are_ordered_and_finite(study):
    _, result, _ = study
    b = result["baselines"]
    for split in ("valid", "test"):
        chain = [b[k][split]["nats_per_char"] for k in ("uniform", "unigram", "bigram", "trigram")]
        assert all(finite(x) for x in chain)
        assert chain == sorted(chain, reverse=True) and len(set(chain)) == 4
        for k in ("unigram", "trigram", "5-gram"):
            assert b[k][split]["bits_per_char"] == pytest.approx(b[k][split]["nats_per_char"] / math.log(2))
    assert b["uniform"]["test"]["nats_per_char"] == pytest.approx(math.log(result["data"]["vocab_size"]))


def test_every_run_has_finite_numbers_curves_and_samples(study):
    lm, result, _ = study
    cfg = lm.SETTINGS["quick"]
    assert set(result["runs"]) == {"gpt2-numpy", "gpt2-torch", "llama-numpy", "llama-torch"}
    for name, r in result["runs"].items():
        assert RUN_KEYS <= set(r), name
        assert r["steps"] == cfg["steps"] and r["tokens_seen"] == cfg["steps"] * cfg["batch_size"] * cfg["block_size"]
        for split in ("valid", "test"):
            assert finite(r[split]["nats_per_char"]) and finite(r[split]["bits_per_char"])
            # it learned something: better than guessing uniformly among the V ids
            assert r[split]["nats_per_char"] < math.log(result["data"]["vocab_size"])
        steps = [p["step"] for p in r["curve"]]
        assert steps == sorted(steps) and steps[-1] == cfg["steps"]
        assert all(finite(p[k]) for p in r["curve"] for k in ("train_loss", "valid_loss", "seconds", "train_seconds"))
        assert r["curve"][-1]["train_loss"] < r["curve"][0]["train_loss"]
        assert finite(r["ms_per_step"]) and r["ms_per_step"] > 0 and r["num_parameters"] > 0
        assert [s["name"] for s in r["samples"]] == [n for n, _ in lm.SAMPLE_SETTINGS]
        assert all(isinstance(s["text"], str) and s["text"] for s in r["samples"])
    best = result["best_run"]
    assert result["runs"][best]["valid"]["nats_per_char"] == min(
        r["valid"]["nats_per_char"] for r in result["runs"].values())
    assert result["samples"]["run"] == best and result["samples"]["items"] == result["runs"][best]["samples"]


def test_numpy_and_torch_twins_agree_from_the_same_weights(study):
    _, result, _ = study
    runs = result["runs"]
    for family in ("gpt2", "llama"):
        n, t = runs[f"{family}-numpy"], runs[f"{family}-torch"]
        assert n["num_parameters"] == t["num_parameters"]
        assert n["model"] == t["model"]
        # same initial weights, same batches, same schedule: float32 rounding apart, the same losses
        np.testing.assert_allclose([p["train_loss"] for p in n["curve"]], [p["train_loss"] for p in t["curve"]],
                                   rtol=1e-4)
        assert n["test"]["nats_per_char"] == pytest.approx(t["test"]["nats_per_char"], rel=1e-4)


def test_schedule_and_sampling_helpers():
    lm = script()
    cfg = {"lr": 1.0, "warmup": 4, "steps": 14, "min_lr_ratio": 0.1}
    lrs = [lm.lr_at(s, cfg) for s in range(cfg["steps"])]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0]
    assert lrs[4] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))  # cosine: never up after warmup
    from transformer_anatomy.tasks.language_model import make_language_model_data

    data = make_language_model_data()
    kwargs = lm.model_kwargs("llama", {"size": {"hidden": 16, "layers": 1, "heads": 2}, "block_size": 8},
                             data.vocab_size)
    run = lm.NumpyRun(lm.build("llama", "numpy", kwargs, seed=0), {"lr": 1e-3, "betas": [0.9, 0.99],
                                                                  "weight_decay": 0.0, "clip": 1.0})
    settings = {"do_sample": True, "temperature": 1.0, "top_p": 0.9}
    a = lm.sample(run, data, "The ", 10, 8, settings, seed=3)  # 3 chunks through an 8-position context
    assert a == lm.sample(run, data, "The ", 10, 8, settings, seed=3)


def test_the_llama_torch_model_is_kept(study):
    from transformer_anatomy.torch.trained import load_trained

    lm, result, out = study
    assert [k for k, r in result["runs"].items() if "trained_model" in r] == ["llama-torch"]
    t = load_trained(out / "models" / "lm.pt", task="lm")
    assert t.kind == "causal_lm" and t.settings["block_size"] == lm.SETTINGS["quick"]["block_size"]
