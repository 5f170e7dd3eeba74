"""scripts/debugging_study.py and scripts/seed003_study.py: their measurements against brute force, the
structure and invariants of their JSON (quick runs, seconds), and the page readers on that JSON."""

import importlib
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snippet(page, name):
    """``docs/snippets/<page>/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"{page}.{name}")


@pytest.fixture(scope="module")
def debugging(tmp_path_factory):
    out = tmp_path_factory.mktemp("debugging")
    study = script("debugging_study")
    n = torch.get_num_threads()
    try:
        result = study.run_study(out, quick=True, seed=0, threads=1, progress=False, command=["test"])
    finally:
        torch.set_num_threads(n)
    return study, result, out


@pytest.fixture(scope="module")
def seed003(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed003")
    study = script("seed003_study")
    n = torch.get_num_threads()
    try:
        result = study.run_study(out, quick=True, seed=0, threads=1, progress=False, command=["test"])
    finally:
        torch.set_num_threads(n)
    return study, result, out


# ---- debugging_study --------------------------------------------------------------------------
def test_dead_units_equal_brute_force_on_a_layer():
    from transformer_anatomy.torch import TransformerEncoderLayer

    study = script("debugging_study")
    torch.manual_seed(0)

    class Wrap(torch.nn.Module):  # a model whose only layer is one encoder layer over embeddings
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 16)
            self.layer = TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

        def forward(self, ids):
            return self.layer(self.emb(ids), src_key_padding_mask=ids == 0)

    model = Wrap()
    with torch.no_grad():
        model.layer.linear1.bias[:5] = -100.0  # five units that can never fire
    ids = torch.randint(1, 10, (6, 7))
    ids[:, 5:] = 0  # padding: not counted
    got = study.dead_relu_units(model, [((ids.numpy(),), {"encoder": ids.numpy() != 0})])["layer"]
    seen = []
    handle = model.layer.linear1.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    model.eval()
    with torch.no_grad():
        model(ids)
    handle.remove()
    h = seen[0][ids != 0]  # (real positions, F): linear1's output where the input is not padding
    assert got["dead"] == int((~(h > 0).any(0)).sum()) >= 5
    assert got["units"] == 32
    assert got["active_share"] == pytest.approx(float((h > 0).double().mean()), abs=1e-9)


def test_spearman_and_pca():
    study = script("debugging_study")
    assert study.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert study.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    from transformer_anatomy.tasks import Vocab

    words = {"a": 1, "b": 2, "c": 3, "d": 4}
    vocab = Vocab(list(words))
    W = np.zeros((len(vocab), 3))
    for w, v in words.items():
        W[vocab.word2idx[w]] = [v, 0.1 * (-1) ** v, 0.0]  # magnitude along the first axis
    p = study.embedding_pca(W, vocab, words)
    assert abs(p["spearman_all"][0]) == pytest.approx(1.0)
    assert sum(p["explained_variance_ratio"]) == pytest.approx(1.0)  # rank 2: two components hold it all


def test_debugging_json_structure(debugging):
    study, result, out = debugging
    for name in ("debugging.json", "debugging-manifest.json", "debugging-relu.png", "debugging-entropy.png",
                 "debugging-pca.png"):
        assert (out / name).exists(), name
    on_disk = json.loads((out / "debugging.json").read_text())
    assert on_disk["command"] == "test" and set(on_disk["tasks"]) == set(study.TASKS)
    for task, t in on_disk["tasks"].items():
        assert t["ln_V"] == pytest.approx(math.log(t["V_tgt"]))
        for which in ("initial", "trained"):
            m = t[which]
            assert m["dead_relu"] and m["attention_entropy"]
            for d in m["dead_relu"].values():
                assert 0 <= d["dead"] <= d["units"] and 0 <= d["active_share"] <= 1
            for e in m["attention_entropy"].values():
                assert all(0 <= x <= 1 + 1e-9 for x in e["entropy_normalized"])
                assert all(x >= 0 for x in e["entropy"])
    pca = on_disk["tasks"]["numbers"]["trained"]["embedding_pca"]
    assert len(pca["words"]) == len(pca["coords"]) == len(study.NUMBER_WORDS)
    assert all(-1 <= x <= 1 for x in pca["spearman_all"] + pca["spearman_units"])
    assert 0 < sum(pca["explained_variance_ratio"]) <= 1


def test_debugging_readers(debugging, capsys):
    _, _, out = debugging
    tips = snippet("misconceptions", "debugging_tips")
    r = tips.load(out)
    for report in (tips.report_setup, tips.report_dead, tips.report_entropy, tips.report_entropy_summary,
                   tips.report_pca, tips.report_pca_verdict, tips.report_groups):
        report(r)
    tips.report_manifest(out)
    printed = capsys.readouterr().out
    assert "numbers" in printed and "reversal" in printed and "Spearman" in printed
    assert tips.short("transformer.decoder.layers.1.multihead_attn") == "decoder 1 multihead_attn"
    assert 0 <= tips.best_rank_correlation(r) <= 1


# ---- seed003_study ----------------------------------------------------------------------------
def test_seed003_data_has_the_seeds_vocabulary():
    study = script("seed003_study")
    for kind in study.DATASETS:
        data = study.make_data(kind, 8, 4, 5, seed=0)
        assert len(data.src_vocab) == len(data.tgt_vocab) == study.V == study.SEED_CLAIM["V"]
        tr = data.split("train")
        body = tr["tgt_out"][:, :5]  # the target tokens before <eos>
        if kind == "reversal":
            assert np.array_equal(body, tr["src"][:, ::-1])
        else:
            assert not np.array_equal(body, tr["src"][:, ::-1])


def test_seed003_json_structure(seed003):
    study, result, out = seed003
    for name in ("seed003.json", "seed003-manifest.json", "seed003-loss.png"):
        assert (out / name).exists(), name
    r = json.loads((out / "seed003.json").read_text())
    assert r["ln_V"] == pytest.approx(math.log(1000))
    assert [x["data"] for x in r["runs"]] == list(study.DATASETS)
    for run in r["runs"]:
        assert len(run["epochs"]) == r["settings"]["epochs"]
        assert run["steps"] == r["settings"]["epochs"] * run["steps_per_epoch"]
        assert run["initial_logit_variance"] > 0
        assert run["ln_V_plus_half_variance"] == pytest.approx(r["ln_V"] + run["initial_logit_variance"] / 2)
        assert all(math.isfinite(e["train_loss"]) and math.isfinite(e["valid_loss"]) for e in run["epochs"])


def test_seed003_readers(seed003, capsys):
    _, r, out = seed003
    s3 = snippet("misconceptions", "seed003")
    loaded = s3.load(out)
    s3.report_setting(loaded)
    s3.report_runs(loaded)
    s3.verdict(loaded)
    printed = capsys.readouterr().out
    assert "random" in printed and "reversal" in printed and str(r["seed_claim"]["after_50_epochs"]) in printed


def test_pca_readings_against_hand_cases():
    tips = snippet("misconceptions", "debugging_tips")
    # two tight groups far apart: every nearest neighbour is of the same kind
    coords = [[0, 0], [0.1, 0], [0.2, 0], [10, 10], [10.1, 10], [10.2, 10]]
    values = [1, 2, 3, 20, 30, 40]
    share, chance = tips.same_group_neighbours(coords, values)
    assert share == 1.0 and chance == pytest.approx(2 * 3 * 2 / (6 * 5))
    assert [tips.word_group(v) for v in (0, 9, 10, 19, 20, 90, 100, 1000)] == \
        ["unit", "unit", "teen", "teen", "tens", "tens", "scale", "scale"]
    wide, narrow = tips.chance_rank_correlation(9, trials=500), tips.chance_rank_correlation(30, trials=500)
    assert 0 < narrow < wide < 1  # more words: chance orderings correlate less


def test_extreme_layers_are_the_min_and_max(debugging):
    _, _, out = debugging
    tips = snippet("misconceptions", "debugging_tips")
    r = tips.load(out)
    rows = tips.entropy_rows(r)
    for task, ((sharp, s_mean), (flat, f_mean)) in tips.extreme_layers(r).items():
        means = [sum(e) / len(e) for t, _, _, e in rows if t == task]
        assert s_mean == pytest.approx(min(means)) and f_mean == pytest.approx(max(means))


def test_seed003_eos_floor_is_what_a_model_knowing_only_eos_scores(seed003):
    """The floor the page quotes: right <eos>, uniform over the ordinary tokens elsewhere."""
    study, r, out = seed003
    s3 = snippet("misconceptions", "seed003")
    floor, share = s3.eos_floor(r)
    data = study.make_data("random", 4, 16, r["settings"]["length"], seed=0)
    valid = data.split("valid")
    real = valid["tgt_out"] != 0
    eos = valid["tgt_out"] == data.tgt_vocab.eos_id
    assert eos.sum() == len(valid["tgt_out"]) and real.sum() == len(valid["tgt_out"]) * (r["settings"]["length"] + 1)
    per_token = np.where(eos, 0.0, math.log(study.V - 4))[real]  # the loss of that model, token by token
    assert floor == pytest.approx(per_token.mean())
    assert share == pytest.approx(eos[real].mean())
