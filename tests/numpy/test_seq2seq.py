"""Seq2SeqTransformer (``numpy/seq2seq.py``): keys and outputs vs the PyTorch version
(``transformer_anatomy.torch``), gradients vs torch.autograd and finite differences (every
parameter tensor), greedy decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn
import transformer_anatomy.torch as tt

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)  # NumPy float64 vs torch float64 (TESTING.md)
F32_TOL = dict(rtol=1e-5, atol=1e-5)
PAD = 0
SMALL = dict(d_model=8, nhead=2, dim_feedforward=12)


def ids(rng, N, L, V, pad_tail=0):
    x = rng.integers(1, V, size=(N, L))
    if pad_tail:
        x[0, -pad_tail:] = PAD
    return x


def torch_seq2seq(seed=0, dtype=torch.float64, **kw):
    torch.manual_seed(seed)
    cfg = dict(SMALL, num_encoder_layers=2, num_decoder_layers=2, dropout=0.0, pad_id=PAD)
    cfg.update(kw)
    return tt.Seq2SeqTransformer(7, 9, **cfg).to(dtype)


# -- Seq2SeqTransformer --------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw",
    [dict(), dict(positional="learned"), dict(tie_weights=True), dict(norm_first=True, activation="gelu"),
     dict(scale_embedding=False, positional="learned", tie_weights=True)],
    ids=["default", "learned", "tied", "prenorm_gelu", "unscaled_learned_tied"],
)
def test_seq2seq_matches_torch(kw, rng):
    ref = torch_seq2seq(**kw)
    ours = tn.from_torch(ref)
    assert isinstance(ours, tn.Seq2SeqTransformer)
    assert list(ours.state_dict()) == list(ref.state_dict())  # same keys, same order
    src, tgt, y = ids(rng, 3, 6, 7, pad_tail=2), ids(rng, 3, 5, 9, pad_tail=1), ids(rng, 3, 5, 9, pad_tail=1)
    ref.train()  # dropout is 0: train mode avoids torch's inference fast path
    logits_t = ref(torch.tensor(src), torch.tensor(tgt))
    loss_t = torch.nn.functional.cross_entropy(logits_t.reshape(-1, 9), torch.tensor(y).reshape(-1),
                                               ignore_index=PAD, label_smoothing=0.1)
    loss_t.backward()
    ours.train()
    logits = ours.forward(src, tgt)
    ce = tn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    loss = ce(logits, y)
    ours.backward(ce.backward())
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), **TORCH_TOL)
    assert loss == pytest.approx(loss_t.item(), rel=1e-12)
    named = dict(ref.named_parameters())  # deduplicated, like ours.params
    assert set(ours.params) == set(named)
    for k, p in named.items():
        np.testing.assert_allclose(ours.grads[k], p.grad.numpy(), **TORCH_TOL, err_msg=k)


def test_seq2seq_float32_eval_matches_torch(rng):
    ref = torch_seq2seq(dtype=torch.float32, dropout=0.1).eval()
    ours = tn.from_torch(ref)
    assert ours.dtype == np.float32 and not ours.training
    src, tgt = ids(rng, 4, 6, 7, pad_tail=2), ids(rng, 4, 5, 9)
    with torch.no_grad():
        want = ref(torch.tensor(src), torch.tensor(tgt)).numpy()
    got = ours.forward(src, tgt)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, **F32_TOL)


@pytest.mark.parametrize("kw", [dict(positional="sinusoidal"), dict(positional="learned", tie_weights=True,
                                                                      norm_first=True)])
def test_seq2seq_fd_every_parameter(kw, rng, gradcheck):
    m = tn.Seq2SeqTransformer(6, 7, d_model=4, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                              dim_feedforward=6, dropout=0.2, max_len=8, dtype=np.float64, rng=0, **kw)
    for name, p in m.params.items():
        if p.ndim == 1:
            p[...] += rng.standard_normal(p.shape) * 0.3
    src, tgt, y = ids(rng, 2, 4, 6, pad_tail=1), ids(rng, 2, 3, 7, pad_tail=1), ids(rng, 2, 3, 7, pad_tail=1)
    ce = tn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=0.1)
    state = m.rng.bit_generator.state

    def loss() -> float:
        m.rng.bit_generator.state = state  # the same dropout masks on every call
        return float(ce(m.forward(src, tgt), y))

    loss()
    m.backward(ce.backward())
    grads = {k: g.copy() for k, g in m.grads.items()}
    assert set(grads) == set(m.params)
    for name, p in m.params.items():
        gradcheck.fd(loss, p, grads[name], rng, max_entries=6, name=name,
                     allow_zero=name.endswith("tok_emb.weight") or name.endswith("pos_emb.weight"))


def test_seq2seq_keys_follow_contract():
    m = tn.Seq2SeqTransformer(7, 9, **SMALL, positional="learned")
    keys = list(m.state_dict())
    assert keys[:4] == ["src_tok_emb.weight", "tgt_tok_emb.weight", "src_pos_emb.weight", "tgt_pos_emb.weight"]
    assert keys[-2:] == ["generator.weight", "generator.bias"]
    assert "transformer.encoder.norm.weight" in keys and "transformer.decoder.norm.bias" in keys
    assert m.state_dict()["generator.weight"].shape == (9, 8)
    s = tn.Seq2SeqTransformer(7, 9, **SMALL)
    assert not any("pos_emb" in k for k in s.state_dict())
    # N(0, 1/E) embedding init with scale_embedding, N(0, 1) without
    big = tn.Seq2SeqTransformer(500, 500, d_model=64, nhead=4, rng=0)
    assert big.src_tok_emb.weight.std() == pytest.approx(64**-0.5, rel=0.05)
    unscaled = tn.Seq2SeqTransformer(500, 500, d_model=64, nhead=4, scale_embedding=False, rng=0)
    assert unscaled.src_tok_emb.weight.std() == pytest.approx(1.0, rel=0.05)


def test_tied_weights_share_one_array():
    m = tn.Seq2SeqTransformer(7, 7, **SMALL, tie_weights=True)
    assert m.generator.weight is m.tgt_tok_emb.weight
    assert "generator.weight" not in m.params and "generator.weight" in m.state_dict()
    m.to(np.float64)
    assert m.generator.weight is m.tgt_tok_emb.weight and m.generator.weight.dtype == np.float64


def test_greedy_decode_matches_torch(rng):
    ref = torch_seq2seq(seed=3).eval()
    ours = tn.from_torch(ref)
    src = ids(rng, 4, 6, 7, pad_tail=2)
    want = ref.greedy_decode(torch.tensor(src), max_len=8, sos_id=1, eos_id=2, use_cache=False).numpy()
    ours.train()  # greedy decoding turns dropout off by itself and restores the mode
    got = ours.greedy_decode(src, max_len=8, sos_id=1, eos_id=2)
    assert ours.training
    np.testing.assert_array_equal(got, want)
    assert got.shape[1] <= 8 and np.all(got[:, 0] == 1)


def test_seq2seq_input_errors(rng):
    m = tn.Seq2SeqTransformer(7, 9, **SMALL)
    with pytest.raises(tn.TokenIdError, match="token id 7 is out of range for vocabulary size 7"):
        m.forward(np.array([[1, 7]]), np.array([[1, 2]]))
    with pytest.raises(IndexError, match="token id 12 is out of range for vocabulary size 9"):
        m.forward(np.array([[1, 2]]), np.array([[1, 12]]))
    with pytest.raises(ValueError, match="same N"):
        m.forward(np.ones((2, 3), int), np.ones((3, 3), int))
    with pytest.raises(ValueError, match="positional"):
        tn.Seq2SeqTransformer(7, 9, **SMALL, positional="rotary")
    with pytest.raises(ValueError, match="sequence length 9 exceeds max_len=8"):
        tn.Seq2SeqTransformer(7, 9, **SMALL, max_len=8).forward(np.ones((1, 9), int), np.ones((1, 2), int))
