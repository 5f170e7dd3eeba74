"""Trained models kept (issue 17): save_trained / load_trained round trips, predict's schema per
task kind, the text an example decodes to, unknown and over-long inputs, rejected files, and the
ONNX export against torch (onnxruntime, atol 1e-5) with every attention output."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from transformer_anatomy.errors import CheckpointError
from transformer_anatomy.tasks import make_task
from transformer_anatomy.torch.encoder_models import TransformerClassifier, TransformerQA, TransformerTagger
from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer
from transformer_anatomy.torch.trained import FORMAT, TrainedModel, load_trained, save_trained
from transformer_anatomy.training.evaluation import best_spans

ENC = dict(d_model=16, nhead=2, num_layers=2, dim_feedforward=32, dropout=0.0)
S2S = dict(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=32, dropout=0.0,
           positional="learned", max_len=40, tie_weights=True)
CASES = {  # task -> (model class, kwargs); one per kind
    "reversal": (Seq2SeqTransformer, S2S),
    "sentiment": (TransformerClassifier, ENC),
    "tagging": (TransformerTagger, ENC),
    "qa": (TransformerQA, ENC),
}
KIND = {"reversal": "seq2seq", "sentiment": "classification", "tagging": "tagging", "qa": "qa"}
DATA_KW = {"reversal": dict(min_len=3, max_len=6, num_symbols=6)}


def _model(task, data, seed=0):
    cls, kw = CASES[task]
    torch.manual_seed(seed)
    V = len(data.src_vocab)
    if cls is Seq2SeqTransformer:
        args = (V, len(data.tgt_vocab))
    elif cls is TransformerClassifier:
        args = (V, len(data.label_names))
    elif cls is TransformerTagger:
        args = (V, len(data.tgt_vocab))
    else:
        args = (V,)
    return cls(*args, **kw).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """task -> (data, in-memory model, path of its saved file)."""
    folder = tmp_path_factory.mktemp("trained")
    out = {}
    for task in CASES:
        data = make_task(task, n_train=24, n_valid=4, n_test=6, rng=0, **DATA_KW.get(task, {}))
        model = _model(task, data)
        path = save_trained(folder / f"{task}.pt", model, data, model_kwargs=CASES[task][1])
        out[task] = (data, model, path)
    return out


def _texts(data, n=4):
    return [" ".join(data.src_vocab.decode(row)) for row in data.test["src"][:n]]


def _shape(x):
    """Shape of a nested list (rectangular)."""
    shape = []
    while isinstance(x, list):
        shape.append(len(x))
        x = x[0] if x else None
    return tuple(shape)


# --------------------------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", list(CASES))
def test_file_loads_with_weights_only_and_holds_plain_values(saved, task):
    data, model, path = saved[task]
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == FORMAT and obj["task"] == task and obj["kind"] == KIND[task]
    assert obj["model_class"] == type(model).__name__
    assert obj["src_vocab"]["tokens"] == data.src_vocab.tokens
    assert obj["settings"]["max_src_len"] == data.train["src"].shape[1]

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or type(x) in (bool, int, float, str)

    assert plain({k: v for k, v in obj.items() if k != "state_dict"})
    for k, v in model.state_dict().items():
        assert torch.equal(obj["state_dict"][k], v), k
    assert path.stat().st_size < 2 * 2**20


def test_tied_weights_are_stored_once(saved):
    obj = torch.load(saved["reversal"][2], weights_only=True)
    sd = obj["state_dict"]
    assert sd["generator.weight"].data_ptr() == sd["tgt_tok_emb.weight"].data_ptr()
    assert obj["model_kwargs"]["tie_weights"] is True
    trained = load_trained(saved["reversal"][2])
    assert trained.model.generator.weight is trained.model.tgt_tok_emb.weight


@pytest.mark.parametrize("task", list(CASES))
def test_round_trip_gives_the_same_predictions(saved, task):
    data, model, path = saved[task]
    loaded = load_trained(path, task=task)
    assert loaded.task == task and loaded.kind == KIND[task] and not loaded.model.training
    fresh = TrainedModel.from_model(model, data)
    for text in _texts(data):
        assert loaded.predict(text) == fresh.predict(text)


def test_save_refuses_kwargs_that_do_not_build_the_model(tmp_path, saved):
    data, model, _ = saved["sentiment"]
    with pytest.raises(RuntimeError):
        save_trained(tmp_path / "bad.pt", model, data, model_kwargs={**ENC, "dim_feedforward": 64})
    with pytest.raises(ValueError, match="num_classes"):
        save_trained(tmp_path / "bad.pt", model, data, model_kwargs={**ENC, "num_classes": 5})
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


def test_a_crash_while_saving_leaves_the_previous_file(saved, tmp_path, monkeypatch):
    import transformer_anatomy.training.checkpoint as ckpt

    data, model, _ = saved["sentiment"]
    path = save_trained(tmp_path / "s.pt", model, data, model_kwargs=ENC)
    before = path.read_bytes()

    def crash(obj, f):
        f.write(b"PK half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "write_torch", crash)
    with pytest.raises(KeyboardInterrupt):
        save_trained(path, _model("sentiment", data, seed=1), data, model_kwargs=ENC)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["s.pt"]
    assert load_trained(path).predict("the plot was good")["kind"] == "classification"


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", list(CASES))
def test_predict_schema(saved, task):
    data, _, path = saved[task]
    trained = load_trained(path)
    text = _texts(data, 1)[0]
    out = trained.predict(text)
    json.dumps(out)  # plain JSON values only
    S = len(out["tokens"])
    L, H = 2, 2
    common = {"task", "kind", "tokens", "ids", "unknown", "prediction", "probabilities", "attention"}
    assert common <= set(out) and out["task"] == task and out["kind"] == KIND[task]
    assert out["tokens"] == text.split() and len(out["ids"]) == S and out["unknown"] == []
    assert _shape(out["attention"]["encoder_self"]) == (L, H, S, S)
    np.testing.assert_allclose(np.sum(out["attention"]["encoder_self"], axis=-1), 1.0, atol=1e-6)
    kind = KIND[task]
    if kind == "seq2seq":
        assert set(out) == common | {"output_tokens", "output_ids", "steps", "decoder_tokens"}
        T = len(out["steps"])
        assert 1 <= T <= trained.settings["max_decode_len"] - 1
        assert set(out["attention"]) == {"encoder_self", "decoder_self", "cross"}
        assert _shape(out["attention"]["decoder_self"]) == (1, H, T, T)
        assert _shape(out["attention"]["cross"]) == (1, H, T, S)
        assert out["decoder_tokens"] == ["<sos>"] + out["output_tokens"][:-1]
        assert len(out["probabilities"]) == T == len(out["output_ids"])
        for step, p in zip(out["steps"], out["probabilities"]):
            assert set(step) == {"step", "token", "id", "probability", "top"} and len(step["top"]) == 5
            assert step["top"][0]["id"] == step["id"] and step["probability"] == p
            ps = [c["probability"] for c in step["top"]]
            assert ps == sorted(ps, reverse=True) and sum(ps) <= 1 + 1e-12
        assert out["prediction"] == " ".join(data.tgt_vocab.decode(out["output_ids"]))
    elif kind == "classification":
        assert out["labels"] == list(data.label_names) and out["prediction"] == out["labels"][out["label"]]
        assert len(out["probabilities"]) == 2 and abs(sum(out["probabilities"]) - 1) < 1e-12
        assert out["label"] == int(np.argmax(out["probabilities"]))
    elif kind == "tagging":
        C = len(data.tgt_vocab)
        assert out["labels"] == data.tgt_vocab.tokens and _shape(out["probabilities"]) == (S, C)
        assert out["prediction"] == [out["labels"][int(i)] for i in np.argmax(out["probabilities"], axis=1)]
    else:
        s, e = out["span"]
        assert 0 <= s <= e < S and out["prediction"] == " ".join(out["tokens"][s : e + 1])
        assert _shape(out["probabilities"]) == (2, S)
        np.testing.assert_allclose(np.sum(out["probabilities"], axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("task", list(CASES))
def test_example_text_predicts_what_the_ids_give(saved, task):
    """``" ".join(src_vocab.decode(ids))`` of a test example: the same ids, the model's own answer."""
    data, model, path = saved[task]
    trained = load_trained(path)
    test = data.test
    for i, text in enumerate(_texts(data, 6)):
        n = int(test["src_len"][i])
        src = torch.as_tensor(test["src"][i : i + 1, :n])
        out = trained.predict(text)
        assert out["ids"] == src[0].tolist()
        with torch.no_grad():
            if KIND[task] == "seq2seq":
                ref = model.greedy_decode(src, trained.settings["max_decode_len"], 1, 2)[0, 1:].tolist()
                assert out["output_ids"] == ref[: len(out["output_ids"])]
                assert len(out["output_ids"]) == len(ref) or ref[len(out["output_ids"])] == data.tgt_vocab.pad_id
            elif KIND[task] == "classification":
                logits = model(src)[0]
                assert out["label"] == int(logits.argmax())
                np.testing.assert_allclose(out["probabilities"], torch.softmax(logits, -1), atol=1e-6)
            elif KIND[task] == "tagging":
                assert out["prediction"] == [data.tgt_vocab.idx2word[int(t)] for t in model(src)[0].argmax(-1)]
            else:
                start, end = model(src)
                s, e = best_spans(start.numpy(), end.numpy())
                assert out["span"] == [int(s[0]), int(e[0])]


def test_unknown_words_and_stray_specials_become_unk(saved):
    data, _, path = saved["sentiment"]
    trained = load_trained(path)
    out = trained.predict("the zebra was <pad> good <eos>")
    assert out["tokens"] == ["the", "<unk>", "was", "<unk>", "good", "<unk>"]
    assert out["unknown"] == [1, 3, 5] and out["ids"][1] == out["ids"][3] == data.src_vocab.unk_id
    assert trained.predict("the <unk> was good")["unknown"] == []  # a typed <unk> is itself


def test_qa_needs_one_separator(saved):
    data, _, path = saved["qa"]
    trained = load_trained(path)
    text = _texts(data, 1)[0]
    assert "<sep>" in trained.predict(text)["tokens"]
    for bad in (text.replace("<sep>", "and"), text + " <sep> x"):
        with pytest.raises(ValueError, match="<sep> exactly once"):
            trained.predict(bad)


@pytest.mark.parametrize("task", ["reversal", "qa"])
def test_longest_allowed_and_over_long_inputs(saved, task):
    data, _, path = saved[task]
    trained = load_trained(path)
    limit = trained.settings["max_src_len"]
    words = _texts(data, 1)[0].split()
    filler = [w for w in data.src_vocab.tokens if not w.startswith("<")][0]
    longest = (words + [filler] * limit)[:limit]
    assert len(trained.predict(" ".join(longest))["tokens"]) == limit
    with pytest.raises(ValueError, match=rf"{limit + 1} tokens, more than the limit of {limit}"):
        trained.predict(" ".join(longest + [filler]))
    with pytest.raises(ValueError, match="no tokens"):
        trained.predict("   ")
    with pytest.raises(TypeError, match="text must be a str"):
        trained.predict(["a", "b"])


# --------------------------------------------------------------------------------------------
# rejected files
# --------------------------------------------------------------------------------------------
def test_file_of_another_task_is_refused(saved):
    path = saved["sentiment"][2]
    with pytest.raises(CheckpointError, match=rf"{path}.*task 'sentiment', not 'qa'"):
        load_trained(path, task="qa")


def test_corrupted_truncated_and_foreign_files_are_refused(saved, tmp_path):
    raw = saved["tagging"][2].read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(raw[: len(raw) // 2])
    corrupt = tmp_path / "corrupt.pt"
    with zipfile.ZipFile(saved["tagging"][2]) as z:  # flip a byte inside the tensor data
        info = next(i for i in z.infolist() if "/data/" in i.filename and i.file_size > 64)
    data = bytearray(raw)
    h = info.header_offset  # local header: name and extra field lengths at bytes 26 and 28
    at = h + 30 + int.from_bytes(data[h + 26 : h + 28], "little") + int.from_bytes(data[h + 28 : h + 30], "little") + 10
    data[at] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    other = tmp_path / "other.pt"
    torch.save({"format": "something-else", "state_dict": {}}, other)
    for path in (truncated, corrupt, garbage, other, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError, match=str(path)):
            load_trained(path)


def test_training_checkpoint_is_not_a_trained_model(saved, tmp_path):
    from transformer_anatomy.training.checkpoint import save_torch_checkpoint

    path = save_torch_checkpoint(tmp_path / "ckpt.pt", {"model": saved["sentiment"][1].state_dict()})
    with pytest.raises(CheckpointError, match=rf"{path} is not a trained-model file"):
        load_trained(path)


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", list(CASES))
def test_onnx_export_equals_torch_with_attention(saved, task, tmp_path):
    pytest.importorskip("onnxruntime")
    from transformer_anatomy.torch.onnx_export import GRAPHS, check_onnx, export_onnx

    data, _, path = saved[task]
    trained = load_trained(path)
    paths = export_onnx(trained, tmp_path)
    texts = _texts(data, 3) + [" ".join(["zzz"] * 2 + _texts(data, 1)[0].split()[2:])]  # with <unk>
    assert check_onnx(trained, paths, texts) <= 1e-5
    card = json.loads(paths["card"].read_text())
    assert card["task"] == task and card["kind"] == KIND[task] and card["src_vocab"] == data.src_vocab.tokens
    assert card["max_src_len"] == trained.settings["max_src_len"] and card["specials"]["<unk>"] == 3
    assert {g: v["outputs"] for g, v in card["graphs"].items()} == {g: o for g, (_, o) in GRAPHS[KIND[task]].items()}
    assert all((tmp_path / v["file"]).is_file() for v in card["graphs"].values())


@pytest.mark.parametrize("task", ["reversal", "tagging"])
def test_onnx_run_as_the_browser_does_reproduces_predict(saved, task, tmp_path):
    """Greedy decoding / the head on onnxruntime's outputs alone gives predict's JSON (1e-5)."""
    ort = pytest.importorskip("onnxruntime")
    from transformer_anatomy.torch.onnx_export import export_onnx

    data, _, path = saved[task]
    trained = load_trained(path)
    paths = export_onnx(trained, tmp_path)
    run = {g: ort.InferenceSession(str(p)) for g, p in paths.items() if g != "card"}
    for text in _texts(data, 3):
        out = trained.predict(text)
        ids = np.array([out["ids"]], dtype=np.int64)
        if task == "tagging":
            logits, attn = run["model"].run(None, {"ids": ids})
            np.testing.assert_allclose(attn[0], out["attention"]["encoder_self"], atol=1e-5)
            p = np.exp(logits[0] - logits[0].max(-1, keepdims=True))
            np.testing.assert_allclose(p / p.sum(-1, keepdims=True), out["probabilities"], atol=1e-5)
            continue
        memory, enc = run["encoder"].run(None, {"src_ids": ids})
        np.testing.assert_allclose(enc[0], out["attention"]["encoder_self"], atol=1e-5)
        ys = [1]
        for step in out["steps"]:
            logits, dec, cross = run["decoder"].run(None, {"memory": memory, "tgt_ids": np.array([ys])})
            p = np.exp(logits[0] - logits[0].max())
            p /= p.sum()
            top = np.argsort(-p, kind="stable")[:5]
            assert [c["id"] for c in step["top"]] == top.tolist()
            np.testing.assert_allclose([c["probability"] for c in step["top"]], p[top], atol=1e-5)
            ys.append(int(top[0]))
        np.testing.assert_allclose(dec[0], out["attention"]["decoder_self"], atol=1e-5)
        np.testing.assert_allclose(cross[0], out["attention"]["cross"], atol=1e-5)
        assert ys[1:] == out["output_ids"]


# --------------------------------------------------------------------------------------------
# the character language model (kind "causal_lm"): Llama- and GPT-2-style
# --------------------------------------------------------------------------------------------
LM_DOCS = {"a": "the cat sat on the mat.\n", "b": "a dog ran to the cat.\n", "c": "the mat is red.\n",
           "d": "on the red mat the dog sat.\n", "e": "a cat is on it.\n"}
LM_KW = {
    "llama": dict(hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=16),
    "gpt2": dict(n_embd=16, n_layer=2, n_head=2, n_positions=16, n_inner=32),
}
LM_NEW = 6  # max_new_tokens: prompts of up to 16 - 6 = 10 characters


def _lm_data():
    from transformer_anatomy.tasks.language_model import make_language_model_data

    return make_language_model_data(docs=LM_DOCS, fractions=(0.6, 0.2, 0.2))


def _lm(family, vocab_size, dtype=torch.float32, seed=0):
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel
    from transformer_anatomy.torch.llama import LlamaForCausalLM

    cls = LlamaForCausalLM if family == "llama" else GPT2LMHeadModel
    torch.manual_seed(seed)
    m = cls(vocab_size, **LM_KW[family], dtype=dtype)
    with torch.no_grad():  # larger weights than the 0.02 init: decisive argmaxes, varied attention
        for name, p in m.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.3)
    return m.eval()


@pytest.fixture(scope="module")
def lm_saved(tmp_path_factory):
    """family -> (data, in-memory model, path of its saved file)."""
    folder = tmp_path_factory.mktemp("lm")
    data = _lm_data()
    out = {}
    for family in LM_KW:
        m = _lm(family, data.vocab_size)
        path = save_trained(folder / f"lm-{family}.pt", m, data, model_kwargs=LM_KW[family], max_new_tokens=LM_NEW)
        out[family] = (data, m, path)
    return out


@pytest.mark.parametrize("family", list(LM_KW))
def test_lm_file_round_trip(lm_saved, family):
    data, m, path = lm_saved[family]
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == FORMAT and obj["task"] == "lm" and obj["kind"] == "causal_lm"
    assert obj["model_class"] == type(m).__name__ and obj["src_vocab"]["tokens"] == data.vocab.tokens
    assert obj["src_vocab"]["tokenizer"] == "char" and obj["tgt_vocab"] is None and obj["label_names"] is None
    s = obj["settings"]
    assert (s["block_size"], s["max_new_tokens"], s["max_src_len"], s["top_k"]) == (16, LM_NEW, 16 - LM_NEW, 5)
    trained = load_trained(path, task="lm")
    assert trained.kind == "causal_lm" and not trained.model.training
    for text in ("the ca", "a", "on the mat"):
        assert trained.predict(text) == TrainedModel.from_model(m, data, max_new_tokens=LM_NEW).predict(text)


@pytest.mark.parametrize("family", list(LM_KW))
def test_lm_predict_is_greedy_over_full_passes(lm_saved, family):
    """predict's continuation is a hand loop of argmax(model(ids)[0, -1]), its shapes as documented."""
    data, m, path = lm_saved[family]
    trained = load_trained(path)
    L = LM_KW[family].get("num_hidden_layers", LM_KW[family].get("n_layer"))
    H = LM_KW[family].get("num_attention_heads", LM_KW[family].get("n_head"))
    for text in ("the ", "a dog ran", "x"):
        out = trained.predict(text)
        ids = [data.vocab.word2idx.get(c, data.vocab.unk_id) for c in text]
        assert out["ids"] == ids and out["tokens"] == [data.vocab.idx2word[i] for i in ids]
        seq, probs = list(ids), []
        with torch.no_grad():
            for _ in range(LM_NEW):
                logits = trained.model(torch.tensor([seq]))[0, -1]
                p = torch.softmax(logits.double(), -1)
                seq.append(int(logits.argmax()))
                probs.append(float(p[seq[-1]]))
                step = out["steps"][len(seq) - len(ids) - 1]
                assert [c["id"] for c in step["top"]] == torch.argsort(-p, stable=True)[:5].tolist()
        assert out["output_ids"] == seq[len(ids):] and len(out["output_ids"]) == LM_NEW
        assert out["prediction"] == "".join(data.vocab.idx2word[i] for i in seq[len(ids):])
        assert out["probabilities"] == pytest.approx(probs, abs=1e-12)
        assert [s["probability"] for s in out["steps"]] == out["probabilities"]
        T = len(ids) + LM_NEW - 1
        assert out["attention_tokens"] == [data.vocab.idx2word[i] for i in seq[:-1]]
        assert sorted(out["attention"]) == ["self"] and _shape(out["attention"]["self"]) == (L, H, T, T)
        w = np.array(out["attention"]["self"])
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
        assert np.all(np.triu(w, 1) == 0.0)  # causal: no weight on a later character
        assert out["unknown"] == ([0] if text == "x" and "x" not in data.vocab.word2idx else [])


@pytest.mark.parametrize("family", list(LM_KW))
def test_recorded_weights_reproduce_the_attention_output(family):
    """Float64: each attention module's recorded weights @ its own values, projected, equal the
    module's SDPA output (1e-10), and the recorded pass gives the model's logits."""
    from transformer_anatomy.torch.trained import record_attention

    data = _lm_data()
    m = _lm(family, data.vocab_size, dtype=torch.float64)
    ids = torch.tensor([[4, 5, 6, 7, 5, 4, 8]])
    calls = {}
    mods = {n: a for n, a in m.named_modules() if type(a).__name__ in ("LlamaAttention", "GPT2Attention")}
    hooks = [a.register_forward_pre_hook(lambda mod, args, kw, n=n: calls.__setitem__(n, (args, kw)), with_kwargs=True)
             for n, a in mods.items()]
    with torch.no_grad():
        ref = m(ids)
        with record_attention(m) as rec:
            got = m(ids)
    for h in hooks:
        h.remove()
    assert torch.allclose(got, ref, atol=1e-10, rtol=0)
    assert sorted(rec) == sorted(mods) and len(rec) == 2
    with torch.no_grad():
        for n, a in mods.items():
            args, kw = calls[n]
            x = args[0]
            N, T, _ = x.shape
            sdpa = type(a).forward(a, *args, **kw)  # the module's own forward (SDPA)
            w = rec[n]  # (N, H, T, T)
            if family == "llama":
                v = a.v_proj(x).view(N, T, a.num_key_value_heads, a.head_dim).transpose(1, 2)
                v = v.repeat_interleave(a.num_heads // a.num_key_value_heads, dim=1)
                out = a.o_proj((w @ v).transpose(1, 2).reshape(N, T, -1))
            else:
                v = a.c_attn(x).split(a.n_embd, dim=-1)[2].view(N, T, a.n_head, a.head_dim).transpose(1, 2)
                out = a.c_proj((w @ v).transpose(1, 2).reshape(N, T, -1))
            assert torch.allclose(out, sdpa, atol=1e-10, rtol=0), n
            assert torch.allclose(w.sum(-1), torch.ones(()).double(), atol=1e-12)


def test_lm_bad_prompts_and_settings(lm_saved, tmp_path):
    data, m, path = lm_saved["llama"]
    trained = load_trained(path)
    limit = 16 - LM_NEW
    assert len(trained.predict("t" * limit)["attention_tokens"]) == limit + LM_NEW - 1  # longest allowed
    with pytest.raises(ValueError, match=rf"prompt has {limit + 1} characters, more than the limit of {limit}"):
        trained.predict("t" * (limit + 1))
    with pytest.raises(ValueError, match="no tokens"):
        trained.predict("")
    with pytest.raises(TypeError, match="str"):
        trained.predict(["t"])
    out = trained.predict("€ the")
    assert out["tokens"][0] == "<unk>" and out["ids"][0] == data.vocab.unk_id and out["unknown"] == [0]
    with pytest.raises(CheckpointError, match="holds the model of task 'lm', not 'reversal'"):
        load_trained(path, task="reversal")
    for bad in (0, 16, 2.5, True):
        with pytest.raises(ValueError, match="max_new_tokens"):
            save_trained(tmp_path / "x.pt", m, data, model_kwargs=LM_KW["llama"], max_new_tokens=bad)
    with pytest.raises(ValueError, match="LanguageModelData"):
        save_trained(tmp_path / "y.pt", m, make_task("sentiment", n_train=8, n_valid=2, n_test=2, rng=0),
                     model_kwargs=LM_KW["llama"])


@pytest.mark.parametrize("family", list(LM_KW))
def test_lm_onnx_equals_torch_and_runs_as_the_browser_does(lm_saved, family, tmp_path):
    """One graph ids (1, T) -> logits (1, T, V), attention (L, H, T, T), T dynamic: check_onnx
    (every greedy step, 1e-5), then greedy decoding on onnxruntime's outputs alone gives predict's."""
    ort = pytest.importorskip("onnxruntime")
    from transformer_anatomy.torch.onnx_export import check_onnx, export_onnx

    data, _, path = lm_saved[family]
    trained = load_trained(path)
    paths = export_onnx(trained, tmp_path)
    assert sorted(paths) == ["card", "model"]
    assert check_onnx(trained, paths, ["t", "the cat", "€ on the m"]) <= 1e-5
    card = json.loads(paths["card"].read_text())
    assert card["kind"] == "causal_lm" and card["tokenizer"] == "char" and card["src_vocab"] == data.vocab.tokens
    assert (card["block_size"], card["max_new_tokens"], card["max_src_len"]) == (16, LM_NEW, 16 - LM_NEW)
    assert card["graphs"]["model"]["outputs"] == ["logits", "attention"]
    sess = ort.InferenceSession(str(paths["model"]))
    for text in ("a", "the mat", "t" * (16 - LM_NEW)):
        out = trained.predict(text)
        seq = list(out["ids"])
        for step in out["steps"]:
            logits, attn = sess.run(None, {"ids": np.array([seq], dtype=np.int64)})
            assert logits.shape == (1, len(seq), data.vocab_size)
            z = logits[0, -1].astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            assert int(np.argmax(z)) == step["id"]
            np.testing.assert_allclose(step["probability"], p[step["id"]], atol=1e-5)
            seq.append(step["id"])
        np.testing.assert_allclose(attn, out["attention"]["self"], atol=1e-5)
        assert seq[len(out["ids"]):] == out["output_ids"]
