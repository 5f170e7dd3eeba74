"""The claims of docs/internals-huggingface.md, checked by importing the page's snippet files (no download)."""

import pytest
import torch


def test_bert_base_parameter_count_by_formula_and_by_numel(snippet):
    m = snippet("internals_huggingface", "bert_parameters")
    from transformers import BertConfig

    config = BertConfig()
    model = m.bert_base_on_meta(config)
    rows = m.count_by_part(model, config)
    total = sum(p.numel() for p in model.parameters())
    for r in rows:
        assert r["by_formula"] == r["by_numel"], r["part"]
    assert sum(r["by_numel"] for r in rows) == total  # the parts cover every parameter exactly once
    assert total == 109_482_240
    assert any("12 x BertLayer" in line for line in m.compact_tree(model))


def test_formula_holds_for_another_config(snippet):
    m = snippet("internals_huggingface", "bert_parameters")
    from transformers import BertConfig

    config = BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=3, num_attention_heads=3,
                        intermediate_size=20, max_position_embeddings=16, type_vocab_size=3)
    model = m.bert_base_on_meta(config)
    rows = m.count_by_part(model, config)
    assert all(r["by_formula"] == r["by_numel"] for r in rows)
    assert sum(r["by_formula"] for r in rows) == sum(p.numel() for p in model.parameters())


def test_from_pretrained_round_trip_and_by_hand(snippet):
    d = snippet("internals_huggingface", "from_pretrained_steps").steps_demo()
    assert set(d["files"]) == {"config.json", "model.safetensors"}
    assert d["info"] == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert d["devices"].get("meta", 0) > 0  # built on the meta device first
    assert d["training"] is False
    assert list(d["random_draws"].values()) == [False, True, True]  # only missing keys are initialised
    assert d["by_hand_missing"] == [] and d["by_hand_unexpected"] == []
    assert d["loaded_vs_original"] == 0.0 and d["by_hand_vs_loaded"] == 0.0


def test_missing_and_unexpected_keys(snippet):
    cases, tied = snippet("internals_huggingface", "from_pretrained_steps").key_cases()
    head = cases["BertForSequenceClassification <- BertModel checkpoint"]
    assert head["missing_keys"] == ["classifier.bias", "classifier.weight"] and head["unexpected_keys"] == []
    mlm = cases["BertModel <- BertForMaskedLM checkpoint"]
    assert mlm["missing_keys"] == ["pooler.dense.bias", "pooler.dense.weight"]
    assert mlm["unexpected_keys"] and all(k.startswith("cls.predictions.") for k in mlm["unexpected_keys"])
    edited = cases["BertModel <- one key dropped, one key added"]
    assert edited["missing_keys"] == ["encoder.layer.1.output.dense.bias"]
    assert edited["unexpected_keys"] == ["encoder.layer.0.extra.weight"]
    renamed = cases["BertModel <- LayerNorm.gamma/beta names"]
    assert renamed["missing_keys"] == [] and renamed["unexpected_keys"] == []
    assert renamed["LayerNorm weights equal to the file's gamma"]
    assert tied["decoder weight stored in the file"] is False
    assert tied["decoder.weight is word_embeddings.weight after loading"] is True


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_our_encoder_reproduces_bert(snippet, impl, dtype, tol):
    d = snippet("internals_huggingface", "bert_vs_ours").compare(impl, dtype)
    assert d["real"] < tol and d["all"] < tol


def test_our_encoder_reproduces_a_deeper_bert_with_other_sizes(snippet):
    m = snippet("internals_huggingface", "bert_vs_ours")
    from transformers import BertModel

    torch.manual_seed(1)
    bert = BertModel(m.small_config(hidden_size=24, num_attention_heads=6, num_hidden_layers=3,
                                    intermediate_size=40)).eval()
    ours = m.ours_from_bert(bert)
    ids, mask, types = m.example_batch()
    with torch.no_grad():
        ref = bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        out = ours(m.bert_embeddings(bert, ids, types), src_key_padding_mask=mask == 0)
    assert (out - ref).abs().max().item() < 1e-5


def test_attention_mask_forms(snippet):
    m = snippet("internals_huggingface", "attention_mask")
    attention_mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    built = m.masks_bert_builds(attention_mask)
    assert torch.equal(built["eager"], m.additive_mask(attention_mask).expand_as(built["eager"]))
    assert built["sdpa"].dtype == torch.bool
    assert torch.equal(built["sdpa"][:, 0, 0], attention_mask.bool())
    assert m.masks_bert_builds(torch.ones(2, 3, dtype=torch.long)) == {"eager": None, "sdpa": None}
    with_mask, without = m.padding_invariance()
    assert with_mask < 1e-5 and without > 1e-4


def test_wordpiece_tokenizer(snippet):
    m = snippet("internals_huggingface", "tokenization")
    corpus = m.make_corpus(n_numbers=100, n_reviews=100)
    tok = m.train_wordpiece(corpus, 200)
    vocab = tok.get_vocab()
    assert [vocab[s] for s in m.SPECIALS] == [0, 1, 2, 3, 4]
    assert "##b" not in vocab and tok.encode("unbelievably", add_special_tokens=False).tokens == ["[UNK]"]
    pieces = tok.encode("fourteenth", add_special_tokens=False).tokens
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
    assert tok.decode(tok.encode("fourteenth").ids) == "fourteenth"
    pair = tok.encode("seventy seven", "thousand")
    assert pair.tokens[0] == "[CLS]" and pair.tokens.count("[SEP]") == 2
    first_sep = pair.tokens.index("[SEP]")
    assert set(pair.type_ids[: first_sep + 1]) == {0} and set(pair.type_ids[first_sep + 1:]) == {1}
    assert m.tokens_per_word(m.train_wordpiece(corpus, 60), corpus) > m.tokens_per_word(tok, corpus)


def test_a_prepared_4d_mask_is_used_as_given(snippet):
    d = snippet("internals_huggingface", "attention_mask").four_d_demo()
    assert d["passed through"] is True  # create_bidirectional_mask returns the very tensor it was given
    for impl in ("sdpa", "eager"):
        r = d[impl]
        assert r["2-D vs equivalent 4-D"] < 1e-6
        assert r["causal 4-D: earlier positions after changing later tokens"] < 1e-6  # BERT made causal
        assert r["causal 4-D: the changed positions"] > 1e-2
    assert d["sdpa"]["bool 4-D (True = attend) vs the additive causal mask"] < 1e-6
    assert d["eager"]["bool 4-D (True = attend) vs the additive causal mask"] > 1e-4  # eager adds the bools


def test_bert_shares_and_mask_figure(snippet):
    rows = snippet("internals_huggingface", "bert_parameters").shares()
    assert abs(sum(share for _, _, share in rows) - 1) < 1e-12
    assert sum(n for _, n, _ in rows) == 109_482_240
    fig, built = snippet("internals_huggingface", "attention_mask").mask_figure(torch.tensor([[1, 1, 1], [1, 0, 0]]))
    assert len(fig.axes) == 3 and built["sdpa"].shape == (2, 1, 3, 3)


def test_exercise_extended_mask_equals_what_bert_builds(snippet):
    ex, m = snippet("internals_huggingface", "exercises"), snippet("internals_huggingface", "attention_mask")
    for attention_mask in (torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]), torch.tensor([[1, 0, 1], [0, 1, 1]])):
        built = m.masks_bert_builds(attention_mask)["eager"]
        assert torch.equal(ex.extended_mask(attention_mask), built)


def test_exercise_key_padding_mask_gives_bert_outputs_with_our_encoder(snippet):
    ex, m = snippet("internals_huggingface", "exercises"), snippet("internals_huggingface", "bert_vs_ours")
    from transformers import BertModel

    torch.manual_seed(0)
    bert = BertModel(m.small_config()).eval()
    ours = m.ours_from_bert(bert)
    ids, mask, types = m.example_batch()
    with torch.no_grad():
        ref = bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        out = ours(m.bert_embeddings(bert, ids, types), src_key_padding_mask=ex.to_key_padding_mask(mask))
        wrong = ours(m.bert_embeddings(bert, ids, types), src_key_padding_mask=mask.bool())
    real = mask.bool()
    assert (out - ref)[real].abs().max().item() < 1e-5
    assert (wrong - ref)[real].abs().max().item() > 1e-3
