"""The claims of docs/embeddings.md, checked by importing the page's snippet files."""

import math

import numpy as np
import pytest
import torch


def test_vocab_specials_padding_and_unk(snippet):
    m = snippet("embeddings", "tokenize")
    vocab, seqs, ids, lengths = m.build()
    assert vocab.tokens[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert vocab.word2idx["the"] == 4  # the most frequent word gets the first ordinary id
    assert all(s[0] == vocab.sos_id and s[-1] == vocab.eos_id for s in seqs)
    assert ids.shape == (len(m.BATCH), max(map(len, seqs)))  # padded to the longest
    assert lengths.tolist() == [len(s) for s in seqs]
    for row, n in zip(ids, lengths):
        assert np.all(row[n:] == vocab.pad_id) and np.all(row[:n] != vocab.pad_id)
    bird = m.BATCH[2].split().index("bird") + 1  # +1 for <sos>
    assert ids[2, bird] == vocab.unk_id
    assert vocab.decode(ids[1]) == m.BATCH[1].split()


def test_one_hot_matmul_equals_lookup_exactly(snippet):
    r = snippet("embeddings", "lookup").one_hot_vs_lookup()
    assert r["numpy_diff"] == 0.0 and r["torch_diff"] == 0.0 and r["torch_vs_numpy"] == 0.0
    assert np.array_equal(r["by_lookup"][0], r["by_lookup"][4])  # "the" twice -> the same row


def test_sqrt_e_scaling_norm_ratios(snippet):
    E = 64
    rows = snippet("embeddings", "scaling").norm_ratios(E)
    pe = rows[0]["pe"]
    assert pe == pytest.approx(math.sqrt(E / 2), rel=1e-12)  # each (sin, cos) pair has norm 1
    unscaled, default_scaled, contract = (r["ratio"] for r in rows)
    assert unscaled == pytest.approx(math.sqrt(2), rel=0.05)
    assert default_scaled == pytest.approx(math.sqrt(2 * E), rel=0.05)  # ~11.3: √E too large
    assert contract == pytest.approx(math.sqrt(2), rel=0.05)
    assert default_scaled / contract == pytest.approx(math.sqrt(E), rel=0.02)


def test_model_initialises_small_when_scaling(snippet):
    w_std, scaled_std = snippet("embeddings", "scaling").model_embedding_std(64)
    assert w_std == pytest.approx(64 ** -0.5, rel=0.05)
    assert scaled_std == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("scale", [False, True])
def test_embedding_backward_accumulates_repeats_like_autograd(snippet, scale):
    m = snippet("embeddings", "backward")
    r = m.compare(scale=scale)
    assert r["max_diff"] < 1e-12
    dy = r["dy"]
    expected = (dy[0, 0] + dy[0, 2] + dy[1, 1]) * (math.sqrt(3) if scale else 1.0)  # id 4 at three places
    np.testing.assert_allclose(r["ours"][4], expected, rtol=1e-12, atol=1e-12)
    assert r["naive_diff"] > 0.1  # dW[ids] += dy loses repeated ids
    assert np.all(r["ours"][[1, 2, 3, 7]] == 0)


def test_sinusoidal_numpy_equals_torch(snippet):
    assert snippet("embeddings", "positional").numpy_vs_torch() < 1e-12


def test_pe_dot_product_depends_only_on_offset(snippet):
    m = snippet("embeddings", "positional")
    for r in m.offset_dot_products(64):
        assert r["spread"] < 1e-9
        assert r["min"] == pytest.approx(r["closed"], abs=1e-9)
    assert m.offset_dot_products(64)[0]["closed"] == pytest.approx(32.0)  # k = 0: E/2
    assert m.rotation_check(64) < 1e-10


def test_heatmap_is_an_inline_svg(snippet, capsys):
    snippet("embeddings", "positional").report_heatmap(L=8, E=8)
    out = capsys.readouterr().out
    assert out.startswith('<figure class="ta-figure"><svg') and 'aria-label="Heatmap' in out


def test_learned_vs_sinusoidal_usage(snippet):
    u = snippet("embeddings", "learned").usage()
    E, L = snippet("embeddings", "learned").E, snippet("embeddings", "learned").MAX_LEN
    assert u["params"] == (0, L * E)
    assert u["state_dict"] == ([], ["weight"])
    assert u["is_x_plus_table"] == (True, True)


def test_beyond_max_len(snippet):
    m = snippet("embeddings", "learned")
    errors, table, diff = m.too_long()
    assert set(errors) == {"PositionalEncoding", "LearnedPositionalEmbedding", "nn.Embedding(max_len, E)(arange(L))"}
    assert "exceeds max_len" in errors["PositionalEncoding"] and errors["PositionalEncoding"].startswith("ValueError")
    assert errors["nn.Embedding(max_len, E)(arange(L))"].startswith("IndexError")
    assert diff == 0.0 and table.shape == (m.MAX_LEN + 8, m.E)
    assert torch.isfinite(table).all()


def test_reports_run(snippet, capsys):
    snippet("embeddings", "tokenize").report_vocab()
    snippet("embeddings", "tokenize").report_batch()
    snippet("embeddings", "lookup").report()
    snippet("embeddings", "scaling").report()
    snippet("embeddings", "backward").report()
    snippet("embeddings", "positional").report_offsets()
    snippet("embeddings", "positional").report_numpy_vs_torch()
    snippet("embeddings", "learned").report()
    snippet("embeddings", "learned").report_too_long()
    out = capsys.readouterr().out
    assert "<unk>" in out and "max |ours - torch autograd|" in out and "IndexError" in out


def test_padding_figure_counts_the_pads(snippet):
    m = snippet("embeddings", "tokenize")
    vocab, seqs, ids, lengths = m.build()
    _, info = m.padding_figure()
    assert (info["N"], info["L"]) == ids.shape
    assert info["pads"] == int((ids == vocab.pad_id).sum()) == ids.size - sum(map(len, seqs))


def test_tied_measurement_matches_the_init_formulas(snippet):
    # nn.Linear's default init is U(-1/√E, 1/√E): std 1/√(3E), so logits of unit inputs have std 1/√3,
    # its rows have norm 1/√3 and PE rows √(E/2): ratio √(2/3)/√E unscaled, √(2/3) after × √E.
    E = 64
    t = snippet("embeddings", "scaling").tied_measurement(E)
    assert t["logit_std"] == pytest.approx(3 ** -0.5, rel=0.05)
    assert t["pe_norm"] == pytest.approx(math.sqrt(E / 2), rel=1e-6)
    assert t["ratio_scaled"] == pytest.approx(math.sqrt(2 / 3), rel=0.05)
    assert t["ratio_unscaled"] == pytest.approx(math.sqrt(2 / 3) / math.sqrt(E), rel=0.05)
    assert t["logit_std_if_N01"] == pytest.approx(math.sqrt(E), rel=0.05)


def test_scaling_figure_norms(snippet):
    E = 64
    _, norms = snippet("embeddings", "scaling").scaling_figure(E)
    assert norms["PE"] == pytest.approx(math.sqrt(E / 2), rel=1e-9)
    assert norms["W ~ N(0, 1/E), no scaling"] == pytest.approx(1.0, rel=0.05)
    assert norms["W ~ N(0, 1/E), × √E"] == pytest.approx(math.sqrt(E), rel=0.05)
    assert norms["W ~ N(0, 1), × √E"] == pytest.approx(E, rel=0.05)


def test_offset_figure_band_has_no_width(snippet):
    _, spread, err = snippet("embeddings", "positional").offsets_figure(64)
    assert spread < 1e-9 and err < 1e-9


def test_wavelengths_are_two_pi_over_the_frequencies(snippet):
    w = snippet("embeddings", "positional").wavelengths(64)
    assert w[0] == pytest.approx(2 * math.pi)
    assert w[-1] == pytest.approx(2 * math.pi * 10000 ** (62 / 64))
    assert np.all(np.diff(w) > 0)


def test_similarity_figure_readings(snippet):
    m = snippet("embeddings", "learned")
    sims = m.similarities()
    sin = sims["sinusoidal"]
    # cos similarity of the sinusoidal rows depends on the offset only (rows all have norm √(E/2))
    assert np.allclose(np.diag(sin, 1), np.diag(sin, 1)[0], atol=1e-12)
    _, stats = m.similarity_figure()
    (s_near, _), (l_near, l_far) = stats.values()
    assert s_near > 0.9
    assert abs(l_near) < 0.2 and abs(l_far) < 0.1


def test_lookup_figure_one_hot_has_one_one_per_row(snippet):
    _, r = snippet("embeddings", "lookup").lookup_figure()
    assert np.array_equal(r["one_hot"].sum(axis=1), np.ones(len(r["ids"])))
    assert np.array_equal(r["one_hot"].argmax(axis=1), r["ids"])


def test_exercise_mask_from_lengths(snippet):
    ex = snippet("embeddings", "exercises")
    vocab, seqs, ids, lengths = snippet("embeddings", "tokenize").build()
    from transformer_anatomy.numpy import make_key_padding_mask
    assert np.array_equal(ex.mask_from_lengths(lengths, ids.shape[1]), make_key_padding_mask(ids, vocab.pad_id))
    assert ex.mask_from_lengths([0, 3], 3).tolist() == [[True] * 3, [False] * 3]


@pytest.mark.parametrize("E", [64, 256])
def test_exercise_predicted_ratio_matches_measurement(snippet, E):
    ex = snippet("embeddings", "exercises")
    for r in snippet("embeddings", "scaling").norm_ratios(E):
        assert ex.predicted_ratio(r["std"], r["mult"]) == pytest.approx(r["ratio"], rel=0.03)


def test_exercise_shift_rotates_to_later_rows(snippet):
    ex = snippet("embeddings", "exercises")
    from transformer_anatomy.numpy import sinusoidal_table
    pe = sinusoidal_table(200, 32)
    for p, k in ((0, 1), (3, 17), (50, 120), (199, 0)):
        np.testing.assert_allclose(ex.shift(pe[p], k), pe[p + k], atol=1e-12)
    assert not np.allclose(ex.shift(pe[5], 1), pe[5])


def test_exercise_permutation_equivariance(snippet):
    ex = snippet("embeddings", "exercises")
    assert ex.permutation_gap(positions=False) < 1e-5
    assert ex.permutation_gap(positions=True) > 0.1


def test_figures_and_notices_run(snippet, capsys):
    snippet("embeddings", "tokenize").report_padding_figure()
    snippet("embeddings", "tokenize").notice_padding()
    snippet("embeddings", "lookup").report_lookup_figure()
    snippet("embeddings", "lookup").notice_lookup()
    snippet("embeddings", "scaling").report_tied()
    snippet("embeddings", "scaling").notice_tied()
    snippet("embeddings", "scaling").report_scaling_figure()
    snippet("embeddings", "positional").report_curves()
    snippet("embeddings", "positional").notice_curves()
    snippet("embeddings", "positional").report_offsets_figure()
    snippet("embeddings", "positional").notice_offsets()
    snippet("embeddings", "learned").report_similarity_figure()
    snippet("embeddings", "learned").notice_similarity()
    out = capsys.readouterr().out
    assert out.count('<figure class="ta-figure">') == 6
    assert "-0.00" not in out


def test_reports_leave_print_options_alone(snippet):
    before = np.get_printoptions()
    snippet("embeddings", "lookup").report()
    snippet("embeddings", "backward").report()
    assert np.get_printoptions() == before
