"""The claims of docs/embeddings.md, checked by importing the page's snippet files."""

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "embeddings"


@functools.cache
def snippet(name):
    """Import docs/snippets/embeddings/<name>.py as a module."""
    spec = importlib.util.spec_from_file_location(f"embeddings_{name}", SNIPPETS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vocab_specials_padding_and_unk():
    m = snippet("tokenize")
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


def test_one_hot_matmul_equals_lookup_exactly():
    r = snippet("lookup").one_hot_vs_lookup()
    assert r["numpy_diff"] == 0.0 and r["torch_diff"] == 0.0 and r["torch_vs_numpy"] == 0.0
    assert np.array_equal(r["by_lookup"][0], r["by_lookup"][4])  # "the" twice -> the same row


def test_sqrt_e_scaling_norm_ratios():
    E = 64
    rows = snippet("scaling").norm_ratios(E)
    pe = rows[0]["pe"]
    assert pe == pytest.approx(math.sqrt(E / 2), rel=1e-12)  # each (sin, cos) pair has norm 1
    unscaled, default_scaled, contract = (r["ratio"] for r in rows)
    assert unscaled == pytest.approx(math.sqrt(2), rel=0.05)
    assert default_scaled == pytest.approx(math.sqrt(2 * E), rel=0.05)  # ~11.3: √E too large
    assert contract == pytest.approx(math.sqrt(2), rel=0.05)
    assert default_scaled / contract == pytest.approx(math.sqrt(E), rel=0.02)


def test_model_initialises_small_when_scaling():
    w_std, scaled_std = snippet("scaling").model_embedding_std(64)
    assert w_std == pytest.approx(64 ** -0.5, rel=0.05)
    assert scaled_std == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("scale", [False, True])
def test_embedding_backward_accumulates_repeats_like_autograd(scale):
    m = snippet("backward")
    r = m.compare(scale=scale)
    assert r["max_diff"] < 1e-12
    dy = r["dy"]
    expected = (dy[0, 0] + dy[0, 2] + dy[1, 1]) * (math.sqrt(3) if scale else 1.0)  # id 4 at three places
    np.testing.assert_allclose(r["ours"][4], expected, rtol=1e-12, atol=1e-12)
    assert r["naive_diff"] > 0.1  # dW[ids] += dy loses repeated ids
    assert np.all(r["ours"][[1, 2, 3, 7]] == 0)


def test_sinusoidal_numpy_equals_torch():
    assert snippet("positional").numpy_vs_torch() < 1e-12


def test_pe_dot_product_depends_only_on_offset():
    m = snippet("positional")
    for r in m.offset_dot_products(64):
        assert r["spread"] < 1e-9
        assert r["min"] == pytest.approx(r["closed"], abs=1e-9)
    assert m.offset_dot_products(64)[0]["closed"] == pytest.approx(32.0)  # k = 0: E/2
    assert m.rotation_check(64) < 1e-10


def test_heatmap_is_an_inline_svg(capsys):
    snippet("positional").report_heatmap(L=8, E=8)
    assert "data:image/svg+xml;base64," in capsys.readouterr().out


def test_learned_vs_sinusoidal_usage():
    u = snippet("learned").usage()
    E, L = snippet("learned").E, snippet("learned").MAX_LEN
    assert u["params"] == (0, L * E)
    assert u["state_dict"] == ([], ["weight"])
    assert u["is_x_plus_table"] == (True, True)


def test_beyond_max_len():
    m = snippet("learned")
    errors, table, diff = m.too_long()
    assert set(errors) == {"PositionalEncoding", "LearnedPositionalEmbedding", "nn.Embedding(max_len, E)(arange(L))"}
    assert "exceeds max_len" in errors["PositionalEncoding"] and errors["PositionalEncoding"].startswith("ValueError")
    assert errors["nn.Embedding(max_len, E)(arange(L))"].startswith("IndexError")
    assert diff == 0.0 and table.shape == (m.MAX_LEN + 8, m.E)
    assert torch.isfinite(table).all()


def test_reports_run(capsys):
    snippet("tokenize").report_vocab()
    snippet("tokenize").report_batch()
    snippet("lookup").report()
    snippet("scaling").report()
    snippet("backward").report()
    snippet("positional").report_offsets()
    snippet("positional").report_numpy_vs_torch()
    snippet("learned").report()
    snippet("learned").report_too_long()
    out = capsys.readouterr().out
    assert "<unk>" in out and "max |ours - torch autograd|" in out and "IndexError" in out
