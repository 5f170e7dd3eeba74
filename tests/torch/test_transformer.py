"""Our Transformer on its own: dropout and modes, fully masked rows, validation errors,
state_dict errors, layout equivalences and invariances."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from transformer_anatomy.torch import (
    StateDictError,
    Transformer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
    make_key_padding_mask,
)

E, H, FF, N, S, T = 16, 4, 32, 3, 7, 5


def small(**kw):
    cfg = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF, dtype=torch.float64)
    cfg.update(kw)
    torch.manual_seed(0)
    return Transformer(**cfg)


def data(seed=0, n=N, s=S, t=T):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, s, E, generator=g, dtype=torch.float64), torch.randn(n, t, E, generator=g, dtype=torch.float64)


# ------------------------------------------------------------------------------------------------
def test_dropout_zero_train_equals_eval_and_nn_train():
    m = small(dropout=0.0, batch_first=True)
    src, tgt = data()
    mask = generate_square_subsequent_mask(T, dtype=torch.float64)
    train_out = m.train()(src, tgt, tgt_mask=mask)
    eval_out = m.eval()(src, tgt, tgt_mask=mask)
    torch.testing.assert_close(train_out, eval_out, rtol=0, atol=0)
    torch.manual_seed(0)
    ref = nn.Transformer(E, H, 2, 2, FF, dropout=0.0, batch_first=True, dtype=torch.float64).train()
    m.load_state_dict(ref.state_dict())
    torch.testing.assert_close(m.train()(src, tgt, tgt_mask=mask), ref(src, tgt, tgt_mask=mask), rtol=1e-10, atol=1e-10)


def test_dropout_same_seed_is_deterministic_and_eval_ignores_it():
    m = small(dropout=0.3, batch_first=True).train()
    src, tgt = data()
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[1, -2:] = True
    outs = []
    for seed in (5, 5, 6):
        torch.manual_seed(seed)
        outs.append(m(src, tgt, tgt_is_causal=True, src_key_padding_mask=pad, memory_key_padding_mask=pad))
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])
    m.eval()
    torch.manual_seed(1)
    a = m(src, tgt)
    torch.manual_seed(2)
    assert torch.equal(a, m(src, tgt))


def test_fully_masked_rows_are_finite_with_finite_gradients():
    m = small(batch_first=True, dropout=0.0)
    src, tgt = data()
    src.requires_grad_(), tgt.requires_grad_()
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[2] = True  # batch element 2: the whole source is padding
    tgt_mask = torch.zeros(T, T, dtype=torch.bool)
    tgt_mask[3] = True  # target position 3 may see nothing
    out = m(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=pad, memory_key_padding_mask=pad)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(src.grad).all() and torch.isfinite(tgt.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    assert (src.grad[2] == 0).all()  # nothing attends to a fully padded source


def test_batch_first_and_seq_first_agree_up_to_transpose():
    a, b = small(batch_first=True).eval(), small(batch_first=False).eval()
    b.load_state_dict(a.state_dict())
    src, tgt = data()
    pad = torch.zeros(N, S, dtype=torch.bool)
    pad[0, -3:] = True
    kw = dict(tgt_is_causal=True, src_key_padding_mask=pad, memory_key_padding_mask=pad)
    out_a = a(src, tgt, **kw)
    out_b = b(src.transpose(0, 1), tgt.transpose(0, 1), **kw)
    torch.testing.assert_close(out_a, out_b.transpose(0, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n,s,t", [(1, 1, 1), (3, 3, 3), (2, 1, 4), (4, 4, 1)])
def test_edge_sizes(n, s, t):
    """Sequence length 1, batch size equal to sequence length."""
    m = small(batch_first=True).eval()
    src, tgt = data(n=n, s=s, t=t)
    out = m(src, tgt, tgt_mask=generate_square_subsequent_mask(t, dtype=torch.float64))
    assert out.shape == (n, t, E) and torch.isfinite(out).all()


def test_decoder_is_causal():
    m = small(batch_first=True).eval()
    src, tgt = data()
    tgt2 = tgt.clone()
    tgt2[:, 3:] += 1.0
    mask = generate_square_subsequent_mask(T, dtype=torch.float64)
    a, b = m(src, tgt, tgt_mask=mask), m(src, tgt2, tgt_mask=mask)
    torch.testing.assert_close(a[:, :3], b[:, :3], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(a[:, 3:], b[:, 3:])


@settings(max_examples=15, deadline=None)
@given(perm_seed=st.integers(0, 10_000), s=st.integers(2, 6))
def test_encoder_without_positions_is_permutation_equivariant(perm_seed, s):
    torch.manual_seed(0)
    enc = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True, dtype=torch.float64), 2).eval()
    g = torch.Generator().manual_seed(perm_seed)
    x = torch.randn(2, s, 8, generator=g, dtype=torch.float64)
    perm = torch.randperm(s, generator=g)
    torch.testing.assert_close(enc(x)[:, perm], enc(x[:, perm]), rtol=1e-12, atol=1e-12)


def test_masks_helpers_match_torch():
    for sz in (1, 4):
        assert torch.equal(generate_square_subsequent_mask(sz), nn.Transformer.generate_square_subsequent_mask(sz))
        assert torch.equal(Transformer.generate_square_subsequent_mask(sz, dtype=torch.float64),
                           nn.Transformer.generate_square_subsequent_mask(sz, dtype=torch.float64))
    ids = torch.tensor([[5, 3, 0, 0], [1, 0, 2, 0]])
    expected = torch.tensor([[False, False, True, True], [False, True, False, True]])
    assert torch.equal(make_key_padding_mask(ids, 0), expected)
    assert torch.equal(Transformer.make_key_padding_mask(ids, 0), expected)


def test_causal_mask_is_detected_and_matches_bool_form():
    m = small(batch_first=True).eval()
    src, tgt = data()
    float_mask = generate_square_subsequent_mask(T, dtype=torch.float64)
    bool_mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    ref = m(src, tgt, tgt_mask=float_mask, tgt_is_causal=False)  # mask added, no detection
    for kw in (dict(tgt_mask=float_mask), dict(tgt_mask=bool_mask), dict(tgt_is_causal=True)):
        torch.testing.assert_close(m(src, tgt, **kw), ref, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
def test_config_errors():
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by nhead=4"):
        Transformer(d_model=10, nhead=4)
    with pytest.raises(ValueError, match=r"nhead must be a positive integer, got nhead=0"):
        Transformer(d_model=8, nhead=0)
    with pytest.raises(ValueError, match=r"nhead=-1"):
        TransformerEncoderLayer(8, -1)
    for p in (-0.01, 1.01):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\], got"):
            Transformer(d_model=8, nhead=2, dropout=p)
    with pytest.raises(ValueError, match=r"activation must be 'relu', 'gelu' or a callable, got 'swish'"):
        Transformer(d_model=8, nhead=2, activation="swish")


def test_input_errors():
    m = small(batch_first=True)
    src, tgt = data()
    with pytest.raises(ValueError, match=r"batch size of src \(3\) and tgt \(2\) must be equal"):
        m(src, tgt[:2])
    with pytest.raises(ValueError, match=r"src: feature size 15 != d_model=16"):
        m(src[..., :15], tgt)
    with pytest.raises(ValueError, match=r"tgt: feature size 17 != d_model=16"):
        m(src, torch.randn(N, T, 17, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"both be batched or both unbatched"):
        m(src, tgt[0])
    with pytest.raises(ValueError, match=r"expected \(T, S\) or \(N\*H, T, S\) = \(5, 5\) or \(12, 5, 5\), got \(5, 4\)"):
        m(src, tgt, tgt_mask=torch.zeros(T, T - 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"expected \(T, S\) or \(N\*H, T, S\) = \(7, 7\) or \(12, 7, 7\), got \(3, 7, 7\)"):
        m(src, tgt, src_mask=torch.zeros(N, S, S, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"key_padding_mask: expected \(N, S\) = \(3, 7\), got \(3, 5\)"):
        m(src, tgt, src_key_padding_mask=torch.zeros(N, T, dtype=torch.bool))
    seq_first = small(batch_first=False)
    with pytest.raises(ValueError, match=r"batch size of src \(3\) and tgt \(2\)"):
        seq_first(src.transpose(0, 1), tgt[:2].transpose(0, 1))


def test_load_state_dict_errors_list_the_keys():
    m = small()
    sd = m.state_dict()
    bad = dict(sd)
    del bad["encoder.layers.0.linear1.weight"]
    bad["encoder.layers.0.extra.weight"] = torch.zeros(2)
    bad["decoder.norm.weight"] = torch.zeros(E + 1)
    with pytest.raises(StateDictError) as err:
        m.load_state_dict(bad)
    msg = str(err.value)
    assert "state_dict does not fit Transformer" in msg
    assert "missing keys (in the model, not in the state_dict): ['encoder.layers.0.linear1.weight']" in msg
    assert "unexpected keys (in the state_dict, not in the model): ['encoder.layers.0.extra.weight']" in msg
    assert "decoder.norm.weight: model (16,) vs state_dict (17,)" in msg
    assert isinstance(err.value, RuntimeError)  # torch code catching RuntimeError still works
    with pytest.raises(StateDictError, match="mis-sized") as err:  # strict=False still refuses shapes
        m.load_state_dict(bad, strict=False)
    assert "missing" not in str(err.value)
    del bad["decoder.norm.weight"]
    result = m.load_state_dict(bad, strict=False)
    assert "encoder.layers.0.linear1.weight" in result.missing_keys
    # and a correct nn.Transformer state_dict loads strictly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nn.Transformer(E, H, 2, 2, FF, dtype=torch.float64)
    m.load_state_dict(ref.state_dict(), strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_decoder_layer = nn.Transformer(E, H, 2, 1, FF).state_dict()
    with pytest.raises(StateDictError, match=r"missing keys .*'decoder.layers.1.norm3.bias'"):
        Transformer(E, H, 2, 2, FF).load_state_dict(one_decoder_layer)


def test_custom_encoder_and_nn_layers_in_our_stacks():
    """custom_encoder / custom_decoder accept nn's modules, and our stacks accept nn's layers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn_layer = nn.TransformerEncoderLayer(E, H, FF, 0.0, batch_first=True, dtype=torch.float64)
        nn_enc = nn.TransformerEncoder(nn_layer, 2, nn.LayerNorm(E, dtype=torch.float64))
    ours_enc = TransformerEncoder(nn_layer, 2, nn.LayerNorm(E, dtype=torch.float64))
    ours_enc.load_state_dict(nn_enc.state_dict(), strict=True)
    src, tgt = data()
    causal = generate_square_subsequent_mask(S, dtype=torch.float64)
    torch.testing.assert_close(ours_enc(src, mask=causal), nn_enc(src, mask=causal), rtol=1e-10, atol=1e-10)
    m = small(batch_first=True, custom_encoder=nn_enc, dropout=0.0).eval()
    ref = small(batch_first=True, dropout=0.0).eval()
    ref.encoder.load_state_dict(nn_enc.state_dict(), strict=True)
    ref.decoder.load_state_dict(m.decoder.state_dict(), strict=True)
    torch.testing.assert_close(m(src, tgt, tgt_is_causal=True), ref(src, tgt, tgt_is_causal=True), rtol=1e-10, atol=1e-10)
