"""Scaled dot-product attention and multi-head attention vs torch (every mask combination) and
vs finite differences; fully masked rows; mask validation."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)  # NumPy float64 vs torch float64 (TESTING.md)
F32_TOL = dict(rtol=1e-5, atol=1e-5)  # float32 forward


def t(a, dtype=torch.float64, grad=False):
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype == bool:
        return torch.tensor(a)
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def random_masks(rng, N, H, T, S, kind_attn, kind_kpm):
    """An attn_mask of ``kind_attn`` and a key padding mask of ``kind_kpm`` that never block
    key 0, so every query keeps at least one key (PyTorch would give NaN otherwise)."""
    attn = None
    if kind_attn != "none":
        dim, typ = kind_attn.split("-")
        shape = (T, S) if dim == "2d" else (N * H, T, S)
        blocked = rng.random(shape) < 0.4
        blocked[..., 0] = False
        if typ == "bool":
            attn = blocked
        else:
            attn = np.where(blocked, -np.inf, rng.standard_normal(shape))
    kpm = None
    if kind_kpm != "none":
        blocked = np.zeros((N, S), dtype=bool)
        blocked[0, -2:] = True
        blocked[-1, 1] = True
        kpm = blocked if kind_kpm == "bool" else np.where(blocked, -np.inf, 0.0)
    return attn, kpm


ATTN_KINDS = ["none", "2d-bool", "2d-float", "3d-bool", "3d-float"]
KPM_KINDS = ["none", "bool", "float"]


# -- scaled dot-product attention ----------------------------------------------------------
@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal"])
def test_sdpa_fd_and_torch(mask_kind, rng, gradcheck):
    N, T, S, D = 2, 4, 5, 3
    q, k, v = rng.standard_normal((N, T, D)), rng.standard_normal((N, S, D)), rng.standard_normal((N, S, D))
    mask, causal = None, mask_kind == "causal"
    if mask_kind == "bool":
        mask = rng.random((T, S)) < 0.4
        mask[:, 0] = False
    elif mask_kind == "float":
        mask = rng.standard_normal((T, S))
    out, w, cache = tn.scaled_dot_product_attention(q, k, v, mask, is_causal=causal, return_cache=True)
    G = rng.standard_normal(out.shape)
    dq, dk, dv = tn.scaled_dot_product_attention_backward(G, cache)

    def loss():
        return float(np.sum(tn.scaled_dot_product_attention(q, k, v, mask, is_causal=causal)[0] * G))

    for x, dx, name in ((q, dq, "q"), (k, dk, "k"), (v, dv, "v")):
        gradcheck.fd(loss, x, dx, rng, name=name)

    qt, kt, vt = t(q, grad=True), t(k, grad=True), t(v, grad=True)
    tmask = None if mask is None else (~t(mask) if mask.dtype == bool else t(mask))  # torch: True = attend
    if causal:
        tmask = ~torch.triu(torch.ones(T, S, dtype=torch.bool), 1)
    ref = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=tmask)
    ref.backward(torch.tensor(G))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TORCH_TOL)
    for ours, x in ((dq, qt), (dk, kt), (dv, vt)):
        np.testing.assert_allclose(ours, x.grad.numpy(), **TORCH_TOL)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-14)


def test_sdpa_bool_and_float_masks_agree(rng):
    q, k, v = (rng.standard_normal((2, 3, 4, 5)) for _ in range(3))
    blocked = rng.random((4, 4)) < 0.5
    blocked[:, 0] = False
    a, wa = tn.scaled_dot_product_attention(q, k, v, blocked)
    b, wb = tn.scaled_dot_product_attention(q, k, v, np.where(blocked, -np.inf, 0.0))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(wa[..., blocked], 0.0)


def test_sdpa_dropout_backward_fd(rng, gradcheck):
    q, k, v = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    out, _, cache = tn.scaled_dot_product_attention(q, k, v, dropout_p=0.3, rng=np.random.default_rng(5),
                                                    return_cache=True)
    G = rng.standard_normal(out.shape)
    dq, dk, dv = tn.scaled_dot_product_attention_backward(G, cache)

    def loss():  # the same dropout mask every time: a fresh generator with the same seed
        o, _ = tn.scaled_dot_product_attention(q, k, v, dropout_p=0.3, rng=np.random.default_rng(5))
        return float(np.sum(o * G))

    for x, dx, name in ((q, dq, "q"), (k, dk, "k"), (v, dv, "v")):
        gradcheck.fd(loss, x, dx, rng, name=name)


def test_sdpa_fully_masked_row_is_zero_with_zero_gradients(rng):
    q, k, v = (rng.standard_normal((1, 3, 4)) for _ in range(3))
    mask = np.zeros((3, 3), dtype=bool)
    mask[1] = True  # query 1 may attend to nothing
    out, w, cache = tn.scaled_dot_product_attention(q, k, v, mask, return_cache=True)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(w))
    np.testing.assert_array_equal(out[0, 1], 0.0)
    np.testing.assert_array_equal(w[0, 1], 0.0)
    dq, dk, dv = tn.scaled_dot_product_attention_backward(np.ones_like(out), cache)
    assert all(np.all(np.isfinite(g)) for g in (dq, dk, dv))
    np.testing.assert_array_equal(dq[0, 1], 0.0)
    # torch 2.13's F.scaled_dot_product_attention agrees (zeros, finite gradients);
    # nn.MultiheadAttention with need_weights=True gives NaN (next test)
    qt, kt, vt = t(q, grad=True), t(k, grad=True), t(v, grad=True)
    ref = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, attn_mask=~t(mask))
    ref.backward(torch.ones_like(ref))
    np.testing.assert_allclose(out, ref.detach().numpy(), **TORCH_TOL)
    for ours, x in ((dq, qt), (dk, kt), (dv, vt)):
        np.testing.assert_allclose(ours, x.grad.numpy(), **TORCH_TOL)


# -- MultiheadAttention vs nn.MultiheadAttention -------------------------------------------
def _mha_pair(E=8, H=2, kdim=None, vdim=None, batch_first=True, bias=True, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.MultiheadAttention(E, H, kdim=kdim, vdim=vdim, batch_first=batch_first, bias=bias,
                                      dtype=dtype)
    with torch.no_grad():
        for p in ref.parameters():  # non-zero biases so they are tested
            if p.ndim == 1:
                p.normal_()
    return ref, tn.from_torch(ref)


@pytest.mark.parametrize("kind_attn,kind_kpm", list(itertools.product(ATTN_KINDS, KPM_KINDS)))
@pytest.mark.parametrize("mode", ["self", "cross_kv", "cross_sep"])
def test_mha_matches_torch_every_mask(kind_attn, kind_kpm, mode, rng):
    N, T, S, E, H = 3, 4, 5, 8, 2
    if mode == "self":
        S = T
    ref, ours = _mha_pair(E, H)
    ref.eval()
    ours.eval()
    attn, kpm = random_masks(rng, N, H, T, S, kind_attn, kind_kpm)
    q = rng.standard_normal((N, T, E))
    k = q if mode == "self" else rng.standard_normal((N, S, E))
    v = k if mode in ("self", "cross_kv") else rng.standard_normal((N, S, E))
    qt = t(q, grad=True)
    kt = qt if mode == "self" else t(k, grad=True)
    vt = kt if mode in ("self", "cross_kv") else t(v, grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mixed bool/float masks are deprecated in torch
        for avg in (True, False):
            ro, rw = ref(qt, kt, vt, key_padding_mask=t(kpm), attn_mask=t(attn), average_attn_weights=avg)
            oo, ow = ours.forward(q, k, v, key_padding_mask=kpm, attn_mask=attn, average_attn_weights=avg)
            np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
            np.testing.assert_allclose(ow, rw.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    dq, dk, dv = ours.backward(G)
    np.testing.assert_allclose(dq, qt.grad.numpy(), **TORCH_TOL)  # total gradient for self-attention
    if mode == "self":
        assert dk is None and dv is None
    elif mode == "cross_kv":
        assert dv is None
        np.testing.assert_allclose(dk, kt.grad.numpy(), **TORCH_TOL)
    else:
        np.testing.assert_allclose(dk, kt.grad.numpy(), **TORCH_TOL)
        np.testing.assert_allclose(dv, vt.grad.numpy(), **TORCH_TOL)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), **TORCH_TOL, err_msg=name)


@pytest.mark.parametrize("kdim,vdim", [(5, 8), (6, 7)])
def test_mha_kdim_vdim_matches_torch(kdim, vdim, rng):
    N, T, S, E = 2, 3, 4, 8
    ref, ours = _mha_pair(E, 2, kdim=kdim, vdim=vdim)
    assert set(ours.params) == {n for n, _ in ref.named_parameters()}
    assert "in_proj_weight" not in ours.params and ours.params["k_proj_weight"].shape == (E, kdim)
    q, k, v = rng.standard_normal((N, T, E)), rng.standard_normal((N, S, kdim)), rng.standard_normal((N, S, vdim))
    attn, kpm = random_masks(rng, N, 2, T, S, "2d-bool", "bool")
    qt, kt, vt = t(q, grad=True), t(k, grad=True), t(v, grad=True)
    ro, rw = ref(qt, kt, vt, key_padding_mask=t(kpm), attn_mask=t(attn))
    oo, ow = ours.forward(q, k, v, key_padding_mask=kpm, attn_mask=attn)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(ow, rw.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    for ours_g, x in zip(ours.backward(G), (qt, kt, vt)):
        np.testing.assert_allclose(ours_g, x.grad.numpy(), **TORCH_TOL)
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[name], p.grad.numpy(), **TORCH_TOL, err_msg=name)


@pytest.mark.parametrize("layout", ["seq_first", "unbatched", "no_bias"])
def test_mha_layouts_match_torch(layout, rng):
    T, E, N = 4, 8, 2
    ref, ours = _mha_pair(E, 2, batch_first=layout != "seq_first", bias=layout != "no_bias")
    shape = (T, N, E) if layout == "seq_first" else ((T, E) if layout == "unbatched" else (N, T, E))
    x = rng.standard_normal(shape)
    kpm = np.zeros(T, dtype=bool) if layout == "unbatched" else np.zeros((N, T), dtype=bool)
    kpm[..., -1] = True
    xt = t(x, grad=True)
    ro, rw = ref(xt, xt, xt, key_padding_mask=t(kpm))
    oo, ow = ours.forward(x, x, x, key_padding_mask=kpm)
    np.testing.assert_allclose(oo, ro.detach().numpy(), **TORCH_TOL)
    np.testing.assert_allclose(ow, rw.detach().numpy(), **TORCH_TOL)
    G = rng.standard_normal(oo.shape)
    ro.backward(torch.tensor(G))
    np.testing.assert_allclose(ours.backward(G)[0], xt.grad.numpy(), **TORCH_TOL)


def test_mha_float32_forward(rng):
    ref, ours = _mha_pair(16, 4, dtype=torch.float32)
    assert ours.in_proj_weight.dtype == np.float32
    x = rng.standard_normal((3, 6, 16)).astype(np.float32)
    attn, kpm = random_masks(rng, 3, 4, 6, 6, "3d-float", "float")
    attn, kpm = attn.astype(np.float32), kpm.astype(np.float32)
    ro, rw = ref(t(x, torch.float32), t(x, torch.float32), t(x, torch.float32),
                 key_padding_mask=t(kpm, torch.float32), attn_mask=t(attn, torch.float32),
                 average_attn_weights=False)
    oo, ow = ours.forward(x, x, x, key_padding_mask=kpm, attn_mask=attn, average_attn_weights=False)
    assert oo.dtype == np.float32
    np.testing.assert_allclose(oo, ro.detach().numpy(), **F32_TOL)
    np.testing.assert_allclose(ow, rw.detach().numpy(), **F32_TOL)


@pytest.mark.parametrize("mode", ["self", "cross_kv", "cross_sep", "kdim"])
def test_mha_fd_with_dropout(mode, rng, gradcheck):
    E, H, N, T, S = 6, 2, 2, 3, 4
    kdim = 5 if mode == "kdim" else None
    m = tn.MultiheadAttention(E, H, dropout=0.2, kdim=kdim, vdim=kdim, dtype=np.float64, rng=0, batch_first=True)
    for p in m.params.values():
        p[...] = rng.standard_normal(p.shape) * 0.5
    q = rng.standard_normal((N, T, E))
    k = q if mode == "self" else rng.standard_normal((N, S, kdim or E))
    v = k if mode in ("self", "cross_kv") else rng.standard_normal((N, S, kdim or E))
    mask = rng.random((T, k.shape[1])) < 0.3
    mask[:, 0] = False

    def fwd():
        m.rng = np.random.default_rng(3)  # same dropout mask on every call
        return m.forward(q, k, v, attn_mask=mask)[0]

    def bwd(G):
        dq, dk, dv = m.backward(G)
        return {"q": dq, "k": dk, "v": dv}

    inputs = {"q": q} if mode == "self" else ({"q": q, "k": k} if mode == "cross_kv" else {"q": q, "k": k, "v": v})
    gradcheck.module(m, fwd, inputs, bwd, rng)


def test_mha_fully_masked_row_finite_and_rest_matches_torch(rng):
    ref, ours = _mha_pair(8, 2)
    x = rng.standard_normal((2, 4, 8))
    kpm = np.zeros((2, 4), dtype=bool)
    kpm[0] = True  # batch 0: every key is padding
    out, w = ours.forward(x, x, x, key_padding_mask=kpm)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(w))
    np.testing.assert_allclose(out[0], np.broadcast_to(ours.out_proj.bias, (4, 8)), rtol=1e-14)
    dx, _, _ = ours.backward(np.ones_like(out))
    assert np.all(np.isfinite(dx)) and all(np.all(np.isfinite(g)) for g in ours.grads.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ro, _ = ref(t(x), t(x), t(x), key_padding_mask=t(kpm))
    assert torch.isnan(ro[0]).all()  # PyTorch: NaN
    np.testing.assert_allclose(out[1], ro[1].detach().numpy(), **TORCH_TOL)


def test_mha_need_weights_false_and_causal_flag(rng):
    m = tn.MultiheadAttention(8, 2, dtype=np.float64, rng=0, batch_first=True)
    x = rng.standard_normal((2, 5, 8))
    out, w = m.forward(x, x, x, need_weights=False)
    assert w is None
    a, _ = m.forward(x, x, x, is_causal=True)
    b, _ = m.forward(x, x, x, attn_mask=tn.generate_square_subsequent_mask(5))
    np.testing.assert_array_equal(a, b)


# -- masks and validation ------------------------------------------------------------------
def test_generate_square_subsequent_mask_matches_torch():
    ours = tn.generate_square_subsequent_mask(5)
    ref = torch.nn.Transformer.generate_square_subsequent_mask(5)
    np.testing.assert_array_equal(ours, ref.numpy())
    np.testing.assert_array_equal(tn.generate_square_subsequent_mask(5, bool), np.isinf(ours))
    np.testing.assert_array_equal(tn.make_key_padding_mask(np.array([[3, 0, 0]]), 0), [[False, True, True]])


@pytest.mark.parametrize(
    "attn_shape,kpm_shape,match",
    [
        ((5, 4), None, r"attn_mask: expected \(T, S\) = \(4, 5\) or \(N\*H, T, S\) = \(6, 4, 5\), got \(5, 4\)"),
        ((3, 4, 5), None, r"expected .* got \(3, 4, 5\)"),
        ((4,), None, r"got \(4,\)"),
        (None, (3, 4), r"key_padding_mask: expected \(N, S\) = \(3, 5\), got \(3, 4\)"),
    ],
)
def test_mask_shape_errors_name_expected_and_actual(attn_shape, kpm_shape, match, rng):
    m = tn.MultiheadAttention(4, 2, batch_first=True)
    q, kv = rng.standard_normal((3, 4, 4)).astype(np.float32), rng.standard_normal((3, 5, 4)).astype(np.float32)
    attn = None if attn_shape is None else np.zeros(attn_shape, dtype=bool)
    kpm = None if kpm_shape is None else np.zeros(kpm_shape, dtype=bool)
    with pytest.raises(ValueError, match=match):
        m.forward(q, kv, kv, key_padding_mask=kpm, attn_mask=attn)


def test_head_and_size_validation():
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by nhead=3"):
        tn.MultiheadAttention(10, 3, batch_first=True)
    with pytest.raises(ValueError, match="nhead"):
        tn.MultiheadAttention(8, 0, batch_first=True)
    with pytest.raises(ValueError, match="d_model"):
        tn.MultiheadAttention(-8, 2, batch_first=True)
    with pytest.raises(ValueError, match="dropout"):
        tn.MultiheadAttention(8, 2, dropout=1.5, batch_first=True)
    with pytest.raises(TypeError, match="bool .* or float"):
        tn.to_additive_mask(np.zeros((2, 2), dtype=np.int64), np.float64)
    m = tn.MultiheadAttention(8, 2, batch_first=True)
    with pytest.raises(ValueError, match="embed_dim=8"):
        x = np.zeros((2, 3, 6), np.float32)
        m.forward(x, x, x)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_key_padding_and_3d_masks_match_mha_convention(kind, rng):
    """The functional form takes a (N, S) key padding mask and (N*H, T, S) masks with heads
    folded into the batch axis, exactly as nn.MultiheadAttention merges them."""
    N, H, T, S, D = 2, 3, 4, 5, 2
    q, k, v = rng.standard_normal((N, H, T, D)), rng.standard_normal((N, H, S, D)), rng.standard_normal((N, H, S, D))
    pad = np.zeros((N, S), dtype=bool)
    pad[0, -2:] = True
    kpm = pad if kind == "bool" else np.where(pad, -np.inf, 0.0)
    out, w = tn.scaled_dot_product_attention(q, k, v, key_padding_mask=kpm)
    np.testing.assert_array_equal(w[0, :, :, -2:], 0.0)
    ref = torch.nn.functional.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=t(~pad[:, None, None, :]))
    np.testing.assert_allclose(out, ref.numpy(), **TORCH_TOL)
    # heads folded into the batch: (N*H, T, D) with a (N*H, T, S) mask
    blocked = rng.random((N * H, T, S)) < 0.4
    blocked[..., 0] = False
    folded, _ = tn.scaled_dot_product_attention(q.reshape(N * H, T, D), k.reshape(N * H, S, D),
                                                v.reshape(N * H, S, D), blocked)
    unfolded, _ = tn.scaled_dot_product_attention(q, k, v, blocked.reshape(N, H, T, S))
    np.testing.assert_allclose(folded.reshape(N, H, T, D), unfolded, rtol=1e-15, atol=1e-15)
