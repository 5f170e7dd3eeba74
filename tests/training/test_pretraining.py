"""Pre-training and fine-tuning (transformer_anatomy.training.pretraining, scripts/pretraining_study.py).

Checked against things no one here wrote: BERT's masking proportions (Devlin et al. 2018,
§3.1), HuggingFace's ``from_pretrained`` (its missing keys and the encoder it loads), and
``ln V`` as the loss of an untrained model.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from transformer_anatomy.training import pretraining as P

ROOT = Path(__file__).resolve().parents[2]
transformers = pytest.importorskip("transformers")


def load_script():
    spec = importlib.util.spec_from_file_location("pretraining_study", ROOT / "scripts" / "pretraining_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus():
    docs = P.load_corpus()
    train, held = P.split_corpus(docs, 0.1, seed=0)
    tok = P.WordTokenizer.build([docs[n] for n in train])
    return docs, train, held, tok


# ------------------------------------------------------------------------------------------
# Masking: 15 % chosen; of those 80 % [MASK], 10 % random, 10 % unchanged
# ------------------------------------------------------------------------------------------
def test_masking_statistics_follow_bert():
    V = 1000
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(len(P.SPECIALS), V, (400, 500), generator=gen)
    ids[:, 0], ids[:, -1], ids[:5] = P.CLS_ID, P.SEP_ID, P.PAD_ID  # specials are never chosen
    inputs, labels = P.mask_tokens(ids, V, gen)
    ordinary = ids >= len(P.SPECIALS)
    chosen = labels != P.IGNORE
    n_ord, n_chosen = int(ordinary.sum()), int(chosen.sum())

    def close(share, p, n):  # within 5 binomial standard deviations
        assert abs(share - p) < 5 * math.sqrt(p * (1 - p) / n), (share, p)

    assert not (chosen & ~ordinary).any()
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions are untouched
    close(n_chosen / n_ord, 0.15, n_ord)
    masked = chosen & (inputs == P.MASK_ID)
    changed = chosen & (inputs != P.MASK_ID) & (inputs != ids)
    kept = chosen & (inputs == ids)
    p_same = 1 / (V - len(P.SPECIALS))  # a random token may draw the original
    close(int(masked.sum()) / n_chosen, 0.8, n_chosen)
    close(int(changed.sum()) / n_chosen, 0.1 * (1 - p_same), n_chosen)
    close(int(kept.sum()) / n_chosen, 0.1 + 0.1 * p_same, n_chosen)
    assert int(inputs[changed].min()) >= len(P.SPECIALS)  # random replacements are ordinary tokens


def test_masking_is_reproducible_with_a_generator():
    ids = torch.randint(5, 50, (8, 16), generator=torch.Generator().manual_seed(1))
    a = P.mask_tokens(ids, 50, torch.Generator().manual_seed(3))
    b = P.mask_tokens(ids, 50, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------
# Corpus and tokenizer
# ------------------------------------------------------------------------------------------
def test_heldout_split_is_disjoint_and_deterministic(corpus):
    docs, train, held, _ = corpus
    assert set(train).isdisjoint(held)
    assert set(train) | set(held) == set(docs)
    held_chars = sum(len(docs[n]) for n in held)
    assert held_chars >= 0.1 * sum(map(len, docs.values()))
    assert P.split_corpus(docs, 0.1, seed=0) == (train, held)
    assert P.split_corpus(docs, 0.1, seed=1) != (train, held)
    with pytest.raises(ValueError, match="heldout_fraction"):
        P.split_corpus(docs, 1.5)


def test_tokenizer_round_trip_unk_and_add_tokens(corpus):
    docs, train, _, tok = corpus
    assert tok.idx2word[: len(P.SPECIALS)] == list(P.SPECIALS)
    text = docs[train[0]][:2000]
    known = [w for w in P.split_words(text) if w in tok.word2idx]
    assert tok.decode(tok.encode(" ".join(known))) == known  # round trip of in-vocabulary text
    ids = tok.encode(known, special=True)
    assert ids[0] == P.CLS_ID and ids[-1] == P.SEP_ID
    assert tok.encode(["zzzunseen"]) == [P.UNK_ID]
    t2 = P.WordTokenizer(tok.idx2word[len(P.SPECIALS):])
    assert t2.add_tokens(["zzzunseen", "zzzunseen", "the"]) == 1
    assert t2.encode(["zzzunseen"]) == [len(tok)]


def test_coverage_and_blocks(corpus):
    docs, train, _, tok = corpus
    cov = P.coverage(tok, [["the", "movie", "was", "not", "good"], ["the", "plot"]])
    assert cov["missing"] == sorted(w for w in {"movie", "good", "plot"} if w not in tok.word2idx)
    assert cov["token_coverage"] == pytest.approx(1 - sum(w in cov["missing"] for w in
                                                          ["the", "movie", "was", "not", "good", "the", "plot"]) / 7)
    blocks = P.mlm_blocks(tok, [docs[n] for n in train[:3]], 16)
    assert blocks.shape[1] == 16
    assert (blocks[:, 0] == P.CLS_ID).all() and (blocks[:, -1] == P.SEP_ID).all()
    assert (blocks[:, 1:-1] != P.PAD_ID).all()


# ------------------------------------------------------------------------------------------
# HuggingFace: from_pretrained + a new head
# ------------------------------------------------------------------------------------------
SIZE = P.ModelSize(d_model=32, num_layers=2, nhead=2, dim_feedforward=64, max_len=16)


def test_from_pretrained_missing_keys_are_the_new_head_and_encoder_is_ours(tmp_path):
    torch.manual_seed(0)
    mlm = transformers.BertForMaskedLM(P.bert_config(100, SIZE))
    with torch.no_grad():  # make the weights ours, not the initialiser's
        for p in mlm.parameters():
            p.add_(0.01 * torch.randn_like(p))
    mlm.save_pretrained(tmp_path)
    clf, missing = P.classifier_from_pretrained(tmp_path, num_labels=3)
    # MLM never trains BERT's pooler (NSP did), so the pooler is new too, with the classifier
    assert missing == ["bert.pooler.dense.bias", "bert.pooler.dense.weight", "classifier.bias", "classifier.weight"]
    assert clf.classifier.out_features == 3
    ids = torch.randint(5, 100, (4, 12))
    ids[1, 8:] = P.PAD_ID
    att = (ids != P.PAD_ID).long()
    mlm.eval(), clf.eval()
    ours = mlm.bert(input_ids=ids, attention_mask=att).last_hidden_state
    theirs = clf.bert(input_ids=ids, attention_mask=att).last_hidden_state
    torch.testing.assert_close(theirs, ours, rtol=0, atol=0)
    # a larger vocabulary (the task's new words) keeps the pre-trained rows
    big, _ = P.classifier_from_pretrained(tmp_path, num_labels=2, vocab_size=110)
    emb = big.bert.embeddings.word_embeddings.weight
    assert emb.shape == (110, SIZE.d_model)
    torch.testing.assert_close(emb[:100], mlm.bert.embeddings.word_embeddings.weight, rtol=0, atol=0)


def test_untrained_mlm_loss_is_ln_V(corpus):
    docs, train, held, tok = corpus
    torch.manual_seed(0)
    mlm = transformers.BertForMaskedLM(P.bert_config(len(tok), SIZE))
    blocks = P.mlm_blocks(tok, [docs[n] for n in held], SIZE.max_len)[:32]
    r = P.mlm_evaluate(mlm, blocks, len(tok))
    assert r["loss"] == pytest.approx(P.initial_loss_check(len(tok)), abs=0.1)


def test_freezing_and_discriminative_learning_rates():
    torch.manual_seed(0)
    clf = transformers.BertForSequenceClassification(P.bert_config(60, SIZE, num_labels=2))
    total = P.count_params(clf)
    emb = sum(p.numel() for p in clf.bert.embeddings.parameters())
    layer = sum(p.numel() for p in clf.bert.encoder.layer[0].parameters())
    assert P.freeze_lower_layers(clf, 0) == total
    assert P.freeze_lower_layers(clf, 1) == total - emb - layer
    with pytest.raises(ValueError, match="k must be"):
        P.freeze_lower_layers(clf, 3)
    groups = P.discriminative_param_groups(clf, 1e-3, 0.5)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3 * 0.25, 1e-3 * 0.5, 1e-3, 1e-3])
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(clf.parameters()))  # a partition of the parameters
    with pytest.raises(ValueError, match="decay"):
        P.discriminative_param_groups(clf, 1e-3, 0.0)


def test_finetune_leaves_frozen_layers_unchanged():
    torch.manual_seed(0)
    clf = transformers.BertForSequenceClassification(P.bert_config(60, SIZE, num_labels=2))
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    ids = torch.randint(5, 60, (16, 10))
    y = torch.randint(0, 2, (16,))
    r = P.finetune(clf, ids, y, ids, y, steps=3, batch_size=8, freeze=1, lr=1e-2)
    after = clf.state_dict()
    for k in before:
        moved = not torch.equal(before[k], after[k])
        lower = k.startswith("bert.embeddings.") or k.startswith("bert.encoder.layer.0.")
        if lower:
            assert not moved, k
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert 0.0 <= r["accuracy"] <= 1.0


# ------------------------------------------------------------------------------------------
# The study script
# ------------------------------------------------------------------------------------------
def test_quick_study_writes_results_figures_and_manifest(tmp_path):
    script = load_script()
    assert script.main(["--quick", "--threads", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "pretraining.json").read_text())
    for name in ("pretraining-loss.png", "pretraining-labels.png", "pretraining-tips.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r["quick"] is True and r["seed"] == 0
    assert set(r["corpus"]["heldout_topics"]).isdisjoint(set(P.load_corpus()) - set(r["corpus"]["heldout_topics"]))
    assert r["from_pretrained"]["missing_keys"][-2:] == ["classifier.bias", "classifier.weight"]
    assert len(r["pretraining"]["train_loss"]) == r["settings"]["pretrain_steps"]
    assert {row["init"] for row in r["labels"]["rows"]} == {"pretrained", "scratch"}
    assert [row["frozen_layers"] for row in r["tips"]["freeze"]["rows"]] == [0, 1, 2]
    assert r["coverage"]["missing"] and 0 < r["coverage"]["token_coverage"] < 1
    m = json.loads((tmp_path / "pretraining-manifest.json").read_text())
    for key in ("command", "seed", "device", "versions", "git", "started", "finished", "wall_time_s", "results"):
        assert key in m, key
    assert "--quick" in m["command"] and "transformers" in m["versions"]
    assert "pretraining.json" in m["results"]


@pytest.mark.parametrize("argv, name", [(["--threads", "0"], "--threads"), (["--seed", "x"], "--seed"),
                                        (["--seed", "-1"], "--seed")])
def test_argument_errors_exit_2_naming_the_argument(argv, name, capsys):
    script = load_script()
    with pytest.raises(SystemExit) as exc:
        script.main(argv)
    assert exc.value.code == 2
    assert name in capsys.readouterr().err
