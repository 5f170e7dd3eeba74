"""The claims of docs/three-families.md, checked by importing the page's snippet files."""

import numpy as np
import pytest
import torch

from three_families import exercises as ex
from three_families import families as fam
from three_families import objectives as obj
from three_families import params as par
from three_families import summary as summ
from transformer_anatomy.torch.masks import generate_square_subsequent_mask


# ---------------------------------------------------------------------------------- masks
def test_family_masks_are_what_the_page_says():
    m = fam.family_masks()
    _, src, tgt = fam.example()
    S, T = src.shape[1], tgt.shape[1]
    pad_col = src[1] == 0
    assert pad_col.sum() == 1 and pad_col[-1]  # "a dog barked <pad>"
    assert (m["encoder-only: self-attention"] == np.broadcast_to(pad_col, (S, S))).all()  # only the pad column
    causal = np.isinf(generate_square_subsequent_mask(T).numpy())  # torch's own causal mask, True above the diagonal
    assert (m["decoder-only: self-attention"] == causal).all()
    assert (m["enc–dec: decoder self-attention"] == causal).all()
    assert m["enc–dec: cross-attention"].shape == (T, S)
    assert (m["enc–dec: cross-attention"] == np.broadcast_to(pad_col, (T, S))).all()
    assert fam.tokens(tgt[0]) == ["<sos>", "barked", "dog", "a"]


def test_measured_dependence_equals_the_masks_except_the_pad_residual():
    rows, llama_same = fam.compare_measured()
    S = fam.example()[1].shape[1]
    assert rows["encoder-only: self-attention"] == [(S - 1, S - 1)]  # the pad row's own cell: the residual path
    for name in ("decoder-only: self-attention", "enc–dec: decoder self-attention", "enc–dec: cross-attention"):
        assert rows[name] == [], name
    assert llama_same


def test_dependence_is_a_gradient_fact_not_a_threshold():
    """Masked cells have gradient exactly 0; allowed cells clearly non-zero."""
    d = fam.measured()["gpt2"]["transformer.wte"]
    assert d[np.tril_indices(d.shape[0])].all() and not d[np.triu_indices(d.shape[0], 1)].any()


def test_positions_that_see_everything():
    ids = fam.example()[1][:1]
    enc = fam.dependence_on("encoder", ids)["tok_emb"]
    gpt = fam.dependence_on("gpt2", ids)["transformer.wte"]
    assert ex.positions_that_see_everything(enc) == list(range(ids.shape[1]))
    assert ex.positions_that_see_everything(gpt) == [ids.shape[1] - 1]


def test_build_rejects_an_unknown_family():
    with pytest.raises(ValueError, match="family='bert'"):
        fam.build("bert", 10)


def test_mask_figures_render(capsys):
    for svg in (fam.figure_masks(), fam.figure_measured()):
        assert svg.count("<svg") == 1 and "aria-label" in svg and "<figcaption>" in svg
    fam.report_measured()
    out = capsys.readouterr().out
    assert "(<pad>, <pad>)" in out and "cell for cell: True" in out


# ---------------------------------------------------------------------------------- objectives
def test_objectives_counts():
    o = obj.objectives()
    per = obj.predictions_per_sequence()
    assert per["causal LM"] == obj.S - 1
    assert per["seq2seq"] == obj.S // 2 - 1
    assert abs(per["masked LM"] / obj.S - 0.15) < 0.02  # BERT's 15 %
    clm_in, clm_labels = o["causal LM"]
    assert torch.equal(clm_labels[:, :-1], clm_in[:, 1:])  # targets = inputs shifted by one
    (src, tgt_in), tgt_out = o["seq2seq"]
    assert torch.equal(tgt_out[:, :-1], tgt_in[:, 1:])
    mlm_in, labels = o["masked LM"]
    unchosen = labels == obj.IGNORE
    ids = torch.cat([clm_in, clm_labels[:, -1:]], dim=1)
    assert torch.equal(mlm_in[unchosen], ids[unchosen])  # only chosen positions are changed
    assert per["causal LM"] / per["masked LM"] > 5  # "the training-signal advantage"


def test_report_objectives(capsys):
    obj.report_objectives()
    out = capsys.readouterr().out
    assert "| masked LM |" in out and "as many positions with a loss" in out


# ---------------------------------------------------------------------------------- parameters
def test_breakdown_adds_up_to_num_parameters():
    for label, m in par.models().items():
        b = par.breakdown(m)
        assert sum(b.values()) == m.num_parameters() == sum(p.numel() for p in m.parameters()), label
        assert b["token embeddings"] > 0 and b["self-attention"] > 0 and b["feed-forward"] > 0


def test_counts_claims():
    c = par.counts()
    gpt, llama = c["decoder-only (GPT-2-style)"], c["decoder-only (Llama-style)"]
    ed, enc = c["encoder–decoder (2017)"], c["encoder-only (BERT-style)"]
    assert gpt["layer"] == par.encoder_layer_params() == enc["layer"]  # "Layer for layer, GPT-2 is an encoder"
    assert gpt["output head"] == 0  # tied
    assert llama["output head"] == par.V * par.E and llama["positions"] == 0  # untied head, RoPE has no parameters
    assert gpt["positions"] == 512 * par.E  # wpe: n_positions x E
    assert ed["cross-attention"] > 0 and all(c[k]["cross-attention"] == 0 for k in c if k != "encoder–decoder (2017)")
    assert ed["total"] == max(row["total"] for row in c.values())  # "pays for two stacks"
    F = 4 * par.E
    assert ed["layer"] - par.encoder_layer_params() == ex.layer_params(par.E, F, True) - ex.layer_params(par.E, F)


def test_params_printers(capsys):
    par.report_counts()
    par.notice_counts()
    assert "the same count" in capsys.readouterr().out
    svg = par.figure_counts()
    assert "<svg" in svg and "aria-label" in svg


# ---------------------------------------------------------------------------------- tasks
def test_task_rows_read_the_results():
    rows = {r["task"]: r for r in obj.task_rows()}
    expected = {"sentiment": "TransformerClassifier", "tagging": "TransformerTagger", "qa": "TransformerQA",
                "reversal": "Seq2SeqTransformer", "numbers": "Seq2SeqTransformer",
                "tagging as seq2seq": "Seq2SeqTransformer"}
    for task, cls in expected.items():
        if rows[task]["model"] != "—":
            assert rows[task]["model"] == cls, task
            fam_of = "encoder–decoder" if cls == "Seq2SeqTransformer" else "encoder-only"
            assert rows[task]["family"] == fam_of


def test_tagging_pair_and_printers(capsys, tmp_path):
    pair = obj.tagging_pair()
    if pair is not None:
        assert pair["encoder"][1] < pair["encoder-decoder"][1]  # fewer parameters for the per-token head
        assert pair["encoder-decoder"][0] > 0.5  # "the table shows that it works"
    obj.report_tasks()
    obj.notice_tagging()
    out = capsys.readouterr().out
    assert "| language model | decoder-only |" in out
    obj.report_tasks(results=tmp_path)  # nothing produced: placeholders, no exception
    obj.notice_tagging(results=tmp_path)
    out = capsys.readouterr().out
    assert "not yet produced" in out


def test_lm_summary_reads_the_lm_results():
    lm = obj.load_lm()
    if lm is None:
        pytest.skip("no lm.json")
    best = min(run["test"]["bits_per_char"] for run in lm["runs"].values())
    assert f"{best:.2f} bits/char" in obj.lm_summary(lm)


# ---------------------------------------------------------------------------------- exercises
@pytest.mark.parametrize("E", [16, 64])
def test_exercise_layer_params_against_our_modules(E):
    from transformer_anatomy.torch import Seq2SeqTransformer
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel

    s2s = Seq2SeqTransformer(11, 11, d_model=E, nhead=2, dim_feedforward=4 * E)
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert ex.layer_params(E, 4 * E) == count(s2s.transformer.encoder.layers[0])
    assert ex.layer_params(E, 4 * E, cross_attention=True) == count(s2s.transformer.decoder.layers[0])
    gpt = GPT2LMHeadModel(11, n_embd=E, n_layer=1, n_head=2)
    assert ex.layer_params(E, 4 * E) == count(gpt.transformer.h[0])


def test_exercise_cross_attention_share():
    for E in (64, 768, 4096):
        share = ex.cross_attention_share(E)
        assert 1 / 3 < share < 0.34  # "just over one third"
    assert ex.cross_attention_share(768) < ex.cross_attention_share(64)


# ---------------------------------------------------------------------------------- heads, summary
def test_heads():
    h = par.heads()
    V = par.V
    assert h["classification"]["out"] == (1, par.C) and h["tagging"]["out"] == (1, 4, 5)
    assert h["extractive QA"]["out"] == ((1, 4), (1, 4))
    for row in ("language model (GPT-2)", "language model (Llama)", "seq2seq"):
        assert h[row]["out"] == (1, 4, V) and h[row]["weight"] == (V, par.E)
    assert h["language model (GPT-2)"]["tied"] and h["language model (GPT-2)"]["own"] == 0
    assert not h["language model (Llama)"]["tied"] and h["language model (Llama)"]["own"] == V * par.E
    c = par.counts()  # "the heads are tiny next to the layers below them"
    assert all(x["own"] < c["encoder-only (BERT-style)"]["layer"] for x in h.values())


def test_summary_entries_come_from_the_measurements(capsys):
    kinds = summ.measured_kinds()
    assert kinds["encoder-only"] == "bidirectional"
    assert kinds["decoder-only"] == kinds["decoder-only (Llama)"] == "causal"
    assert kinds["encoder–decoder"] == "bidirectional over the source, causal over the target"
    rows = summ.summary()
    assert [r["params"] for r in rows] == [par.counts()[k]["total"] for k in
                                           ("encoder-only (BERT-style)", "decoder-only (GPT-2-style)",
                                            "encoder–decoder (2017)")]
    assert any(t.startswith("language model") for t in rows[1]["tasks"])
    summ.report_summary()
    assert capsys.readouterr().out.count("\n|") >= 4
    assert summ.mask_kind(np.ones((3, 3), bool)) == "bidirectional"
    assert summ.mask_kind(np.eye(3, dtype=bool)) == "other"
