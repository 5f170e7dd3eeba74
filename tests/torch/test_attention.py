"""MultiheadAttention and scaled_dot_product_attention against torch's own.

File names in tests/torch carry a ``torch_`` prefix so they never collide with tests/numpy.
"""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from transformer_anatomy.torch import MultiheadAttention, scaled_dot_product_attention
from transformer_anatomy.torch.masks import generate_square_subsequent_mask, merge_masks

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}
E, H, N, T, S = 16, 4, 3, 5, 7


def make_pair(dtype=torch.float64, batch_first=True, kdim=None, vdim=None, bias=True, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first, dtype=dtype)
    ours = MultiheadAttention(E, H, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first, dtype=dtype)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def attn_mask_of(kind: str, n: int, t: int, s: int, dtype, gen) -> torch.Tensor | None:
    """A random mask of ``kind`` that never blocks key 0 (so no query row is fully masked)."""
    if kind == "none":
        return None
    shape = (t, s) if kind.endswith("2d") else (n * H, t, s)
    blocked = torch.rand(shape, generator=gen) < 0.4
    blocked[..., 0] = False
    if kind.startswith("bool"):
        return blocked
    values = torch.randn(shape, generator=gen, dtype=dtype) * 0.5  # general additive mask
    return values.masked_fill(blocked, float("-inf"))


def kpm_of(kind: str, n: int, s: int, dtype) -> torch.Tensor | None:
    """Right padding of different lengths per batch element; key 0 never padded."""
    if kind == "none":
        return None
    pad = torch.zeros(n, s, dtype=torch.bool)
    for i in range(n):
        if i:
            pad[i, s - i :] = True
    if kind == "bool":
        return pad
    return torch.zeros(n, s, dtype=dtype).masked_fill(pad, float("-inf"))


def to_layout(x, batch_first):
    return x if batch_first else x.transpose(0, 1).contiguous()


# ------------------------------------------------------------------------------------------------
def test_state_dict_keys_shapes_and_seeded_init_equal_nn():
    for kdim, vdim, bias in [(None, None, True), (None, None, False), (6, 10, True), (E, 5, True)]:
        torch.manual_seed(3)
        ref = nn.MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim)
        torch.manual_seed(3)
        ours = MultiheadAttention(E, H, bias=bias, kdim=kdim, vdim=vdim)
        sr, so = ref.state_dict(), ours.state_dict()
        assert list(so) == list(sr)
        for k in sr:  # same registration order and RNG use -> bit-identical init
            assert torch.equal(so[k], sr[k]), k
        assert (ours.in_proj_weight is None) == (ref.in_proj_weight is None)


def test_init_distribution():
    torch.manual_seed(0)
    big = 256
    m = MultiheadAttention(big, 8)
    w = m.in_proj_weight.detach()
    bound = math.sqrt(6.0 / (big + 3 * big))  # xavier_uniform_: fan_in=E, fan_out=3E
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    assert abs(w.mean().item()) < 0.02 * bound
    assert w.var().item() == pytest.approx(bound**2 / 3, rel=0.02)
    assert torch.count_nonzero(m.in_proj_bias) == 0 and torch.count_nonzero(m.out_proj.bias) == 0
    wo = m.out_proj.weight.detach()  # nn.Linear default: kaiming_uniform_(a=√5) -> bound 1/√fan_in
    assert wo.abs().max() <= 1 / math.sqrt(big) and wo.abs().max() > 0.99 / math.sqrt(big)
    sep = MultiheadAttention(big, 8, kdim=64, vdim=32)
    kb = math.sqrt(6.0 / (64 + big))
    assert sep.k_proj_weight.abs().max() <= kb and sep.k_proj_weight.abs().max() > 0.99 * kb


MASK_KINDS = ["none", "bool2d", "float2d", "bool3d", "float3d"]
KPM_KINDS = ["none", "bool", "float"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("attention", ["self", "cross", "kdim_vdim"])
def test_matches_nn_every_mask_combination(dtype, batch_first, attention):
    """Output and weights (averaged and per head) for every attn_mask x key_padding_mask kind,
    against nn.MultiheadAttention in grad mode (its Python path) and under no_grad (fast path
    where it applies: self-attention, batch_first, eval)."""
    kdim, vdim = (6, 10) if attention == "kdim_vdim" else (None, None)
    ours, ref = make_pair(dtype, batch_first, kdim, vdim)
    ours.eval(), ref.eval()
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(N, T, E, generator=gen, dtype=dtype)
    if attention == "self":
        q = torch.randn(N, S, E, generator=gen, dtype=dtype)
        k = v = q
    elif attention == "cross":
        k = v = torch.randn(N, S, E, generator=gen, dtype=dtype)
    else:
        k = torch.randn(N, S, 6, generator=gen, dtype=dtype)
        v = torch.randn(N, S, 10, generator=gen, dtype=dtype)
    q, k, v = (to_layout(x, batch_first) for x in (q, k, v))
    if attention == "self":
        k = v = q
    elif attention == "cross":
        v = k
    t = q.shape[1] if batch_first else q.shape[0]
    for mk, pk in itertools.product(MASK_KINDS, KPM_KINDS):
        am, kpm = attn_mask_of(mk, N, t, S, dtype, gen), kpm_of(pk, N, S, dtype)
        for need, avg in [(False, True), (True, True), (True, False)]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns on mixed bool/float masks
                o, w = ours(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need, average_attn_weights=avg)
                ro, rw = ref(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need, average_attn_weights=avg)
                with torch.no_grad():
                    fo, _ = ref(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need, average_attn_weights=avg)
            msg = f"mask={mk} kpm={pk} need_weights={need} average={avg}"
            torch.testing.assert_close(o, ro, **TOL[dtype], msg=msg)
            torch.testing.assert_close(o.detach(), fo, **TOL[dtype], msg=msg + " (nn no_grad)")
            if need:
                assert w.shape == rw.shape
                torch.testing.assert_close(w, rw, **TOL[dtype], msg=msg)
            else:
                assert w is None and rw is None


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("attention", ["self", "kdim_vdim"])
def test_gradients_match_nn_float64(need_weights, attention):
    kdim, vdim = (6, 10) if attention == "kdim_vdim" else (None, None)
    ours, ref = make_pair(torch.float64, True, kdim, vdim)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(N, S, E, generator=gen, dtype=torch.float64)
    kx = torch.randn(N, S, kdim or E, generator=gen, dtype=torch.float64)
    vx = torch.randn(N, S, vdim or E, generator=gen, dtype=torch.float64)
    am = attn_mask_of("float3d", N, S, S, torch.float64, gen)
    kpm = kpm_of("bool", N, S, torch.float64)
    w_out = torch.randn(N, S, E, generator=gen, dtype=torch.float64)
    grads = []
    for m in (ours, ref):
        xs = [t.clone().requires_grad_() for t in (x, kx, vx)]
        q, k, v = (xs[0], xs[0], xs[0]) if attention == "self" else xs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out, _ = m(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need_weights)
        (out * w_out).sum().backward()
        grads.append({n: p.grad for n, p in m.named_parameters()} | {f"input{i}": t.grad for i, t in enumerate(xs)})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        if grads[1][name] is None:
            assert grads[0][name] is None, name
            continue
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-10, atol=1e-10, msg=name)


def test_unbatched_input_matches_nn():
    ours, ref = make_pair(torch.float64, batch_first=True)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(S, E, generator=gen, dtype=torch.float64)
    kpm = torch.zeros(S, dtype=torch.bool)
    kpm[-2:] = True
    am3 = attn_mask_of("bool3d", 1, S, S, torch.float64, gen)  # (H, S, S) when unbatched
    for am in (None, am3):
        o, w = ours(x, x, x, key_padding_mask=kpm, attn_mask=am, average_attn_weights=False)
        ro, rw = ref(x, x, x, key_padding_mask=kpm, attn_mask=am, average_attn_weights=False)
        assert o.shape == (S, E) and w.shape == (H, S, S)
        torch.testing.assert_close(o, ro, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(w, rw, rtol=1e-10, atol=1e-10)


def test_is_causal_equals_explicit_causal_mask_and_nn():
    ours, ref = make_pair(torch.float64)
    x = torch.randn(N, S, E, dtype=torch.float64)
    causal = generate_square_subsequent_mask(S, dtype=torch.float64)
    expected = ref(x, x, x, attn_mask=causal, need_weights=False)[0]
    for need in (False, True):
        torch.testing.assert_close(ours(x, x, x, is_causal=True, need_weights=need)[0], expected, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(
            ours(x, x, x, attn_mask=causal, is_causal=True, need_weights=need)[0], expected, rtol=1e-10, atol=1e-10
        )


def test_sdpa_and_explicit_paths_agree_with_dropout_off_and_weights_sum_to_one():
    ours, _ = make_pair(torch.float64)
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(N, S, E, generator=gen, dtype=torch.float64)
    am = attn_mask_of("bool2d", N, S, S, torch.float64, gen)
    kpm = kpm_of("bool", N, S, torch.float64)
    fast, _ = ours(x, x, x, key_padding_mask=kpm, attn_mask=am, need_weights=False)
    slow, w = ours(x, x, x, key_padding_mask=kpm, attn_mask=am, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w.sum(-1), torch.ones(N, H, S, dtype=torch.float64), rtol=1e-12, atol=1e-12)
    assert (w[am.expand(N, H, S, S)] == 0).all()  # blocked positions get exactly zero weight
    assert (w.masked_select(kpm.view(N, 1, 1, S).expand(N, H, S, S)) == 0).all()


def test_bool_and_float_masks_give_the_same_output():
    ours, _ = make_pair(torch.float64)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(N, S, E, generator=gen, dtype=torch.float64)
    blocked = attn_mask_of("bool3d", N, S, S, torch.float64, gen)
    as_float = torch.zeros(blocked.shape, dtype=torch.float64).masked_fill(blocked, float("-inf"))
    pad = kpm_of("bool", N, S, torch.float64)
    pad_float = kpm_of("float", N, S, torch.float64)
    for need in (False, True):
        a = ours(x, x, x, attn_mask=blocked, key_padding_mask=pad, need_weights=need)[0]
        b = ours(x, x, x, attn_mask=as_float, key_padding_mask=pad_float, need_weights=need)[0]
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("form", ["bool", "float", "kpm"])
def test_fully_masked_rows_give_zeros_and_finite_gradients(need_weights, form):
    ours, ref = make_pair(torch.float64)
    x = torch.randn(2, S, E, dtype=torch.float64, requires_grad=True)
    blocked = torch.zeros(S, S, dtype=torch.bool)
    blocked[1] = True  # query 1 may attend to nothing
    kpm = None
    if form == "kpm":
        blocked, kpm = None, torch.zeros(2, S, dtype=torch.bool)
        kpm[1] = True  # batch element 1: every key is padding
    mask = blocked
    if form == "float":
        mask = torch.zeros(S, S, dtype=torch.float64).masked_fill(blocked, float("-inf"))
    out, w = ours(x, x, x, attn_mask=mask, key_padding_mask=kpm, need_weights=need_weights)
    dead = (slice(None), 1) if form != "kpm" else (1, slice(None))
    assert torch.isfinite(out).all()
    # out_proj(0) = out_proj.bias, which is zero after init
    torch.testing.assert_close(out[dead], torch.zeros_like(out[dead]), rtol=0, atol=0)
    if need_weights:
        assert (w[dead] == 0).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in ours.parameters())
    # What nn.MultiheadAttention does there (documented on the attention page): NaN when it
    # computes the weights.
    if need_weights:
        ref_out, _ = ref(x, x, x, attn_mask=mask, key_padding_mask=kpm, need_weights=True)
        assert torch.isnan(ref_out[dead]).all()


def naive_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """An SDPA kernel that returns NaN for fully masked rows, as some CUDA kernels did
    (pytorch issues 103963, 110213). Torch 2.13's CPU kernels return zeros there."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if is_causal:
        attn_mask = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).tril()
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return torch.softmax(scores, -1) @ v


@pytest.mark.parametrize("form", ["bool", "float"])
def test_fully_masked_rows_guard_does_not_rely_on_the_kernel(monkeypatch, form):
    ours, _ = make_pair(torch.float64)
    x = torch.randn(2, S, E, dtype=torch.float64, requires_grad=True)
    blocked = torch.zeros(S, S, dtype=torch.bool)
    blocked[1] = True
    mask = blocked if form == "bool" else torch.zeros(S, S, dtype=torch.float64).masked_fill(blocked, float("-inf"))
    monkeypatch.setattr(F, "scaled_dot_product_attention", naive_sdpa)
    out, _ = ours(x, x, x, attn_mask=mask, need_weights=False)
    assert torch.isfinite(out).all() and (out[:, 1] == 0).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    reference, _ = ours(x, x, x, attn_mask=mask, need_weights=True)  # explicit path
    torch.testing.assert_close(out, reference, rtol=1e-12, atol=1e-12)


def test_scaled_dot_product_attention_function_matches_torch_sdpa():
    gen = torch.Generator().manual_seed(7)
    q = torch.randn(2, 3, T, 8, generator=gen, dtype=torch.float64)
    k = torch.randn(2, 3, S, 8, generator=gen, dtype=torch.float64)
    v = torch.randn(2, 3, S, 5, generator=gen, dtype=torch.float64)
    blocked = torch.rand(2, 1, T, S, generator=gen) < 0.3
    blocked[..., 0] = False
    out, w = scaled_dot_product_attention(q, k, v, attn_mask=blocked)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=~blocked)  # torch: True = attend
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w @ v, out, rtol=1e-12, atol=1e-12)
    out_c, _ = scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out_c, F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-12, atol=1e-12)
    scaled, _ = scaled_dot_product_attention(q, k, v, scale=0.3)
    torch.testing.assert_close(scaled, F.scaled_dot_product_attention(q, k, v, scale=0.3), rtol=1e-12, atol=1e-12)


def test_dropout_in_attention_training_is_seeded_and_off_in_eval():
    ours, _ = make_pair(torch.float64, dropout=0.5)
    x = torch.randn(N, S, E, dtype=torch.float64)
    ours.train()
    for need in (False, True):
        torch.manual_seed(11)
        a = ours(x, x, x, need_weights=need)[0]
        torch.manual_seed(11)
        b = ours(x, x, x, need_weights=need)[0]
        torch.manual_seed(12)
        c = ours(x, x, x, need_weights=need)[0]
        assert torch.equal(a, b) and not torch.allclose(a, c)
    ours.eval()
    torch.testing.assert_close(ours(x, x, x)[0], ours(x, x, x, need_weights=False)[0], rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 6), cut=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_causality_property(t, cut, seed):
    """Changing inputs after position i leaves causal outputs at positions <= i unchanged."""
    cut = min(cut, t - 1)
    torch.manual_seed(seed)
    m = MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, t, 8, dtype=torch.float64)
    y = x.clone()
    y[:, cut + 1 :] = torch.randn_like(y[:, cut + 1 :])
    a = m(x, x, x, is_causal=True, need_weights=False)[0]
    b = m(y, y, y, is_causal=True, need_weights=False)[0]
    torch.testing.assert_close(a[:, : cut + 1], b[:, : cut + 1], rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(s=st.integers(1, 6), extra=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_padding_invariance_property(s, extra, seed):
    """Appending masked pad keys leaves every real query's output unchanged."""
    torch.manual_seed(seed)
    m = MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, s, 8, dtype=torch.float64)
    padded = torch.cat([x, torch.randn(2, extra, 8, dtype=torch.float64) * 10], dim=1)
    kpm = torch.zeros(2, s + extra, dtype=torch.bool)
    kpm[:, s:] = True
    a = m(x, x, x)[0]
    b = m(padded, padded, padded, key_padding_mask=kpm)[0][:, :s]
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
def test_config_errors():
    with pytest.raises(ValueError, match=r"embed_dim=10 is not divisible by num_heads=4"):
        MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match=r"num_heads=0"):
        MultiheadAttention(8, 0)
    with pytest.raises(ValueError, match=r"num_heads=-2"):
        MultiheadAttention(8, -2)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\]"):
            MultiheadAttention(8, 2, dropout=p)


def test_input_errors_name_the_shapes():
    m = MultiheadAttention(E, H, batch_first=True)
    x = torch.randn(N, S, E)
    with pytest.raises(ValueError, match=r"expected \(T, S\) or \(N\*H, T, S\) = \(7, 7\) or \(12, 7, 7\), got \(7, 6\)"):
        m(x, x, x, attn_mask=torch.zeros(S, S - 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"got \(3, 7, 7\)"):
        m(x, x, x, attn_mask=torch.zeros(N, S, S, dtype=torch.bool))  # N instead of N*H
    with pytest.raises(ValueError, match=r"got \(3, 7, 7\)"):  # the is_causal hint path checks too
        m(x, x, x, attn_mask=torch.zeros(N, S, S), is_causal=True, need_weights=False)
    with pytest.raises(ValueError, match=r"key_padding_mask: expected \(N, S\) = \(3, 7\), got \(3, 6\)"):
        m(x, x, x, key_padding_mask=torch.zeros(N, S - 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"query: expected feature size 16, got 15"):
        m(torch.randn(N, S, E - 1), x, x)
    with pytest.raises(ValueError, match=r"batch sizes differ"):
        m(x, torch.randn(N + 1, S, E), torch.randn(N + 1, S, E))
    with pytest.raises(TypeError, match=r"attn_mask must be bool"):
        m(x, x, x, attn_mask=torch.zeros(S, S, dtype=torch.long))


def test_merge_masks_returns_bool_when_all_bool_and_float_otherwise():
    a = torch.tensor([[False, True], [False, False]])
    kpm = torch.tensor([[False, True]])
    merged = merge_masks(a, kpm, False, 1, 1, 2, 2, torch.float32, torch.device("cpu"))
    assert merged.dtype == torch.bool and merged.shape == (1, 1, 2, 2)
    assert merged.tolist() == [[[[False, True], [False, True]]]]
    merged_f = merge_masks(a.float(), kpm, False, 1, 1, 2, 2, torch.float32, torch.device("cpu"))
    assert merged_f.dtype == torch.float32
    assert torch.isneginf(merged_f).tolist() == [[[[False, True], [False, True]]]]
    assert merge_masks(None, None, False, 1, 1, 2, 2, torch.float32, torch.device("cpu")) is None


@pytest.mark.parametrize("dtype_kind", ["bool", "float"])
def test_is_causal_adds_to_a_given_mask_like_numpy(dtype_kind):
    """``is_causal=True`` with an ``attn_mask``: both apply (the NumPy function's meaning)."""
    import numpy as np

    from transformer_anatomy.numpy import scaled_dot_product_attention as np_sdpa

    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    blocked = torch.rand(5, 5, generator=g) < 0.3
    blocked.fill_diagonal_(False)  # every row keeps a key, so no row is fully masked
    mask = blocked if dtype_kind == "bool" else torch.zeros(5, 5, dtype=torch.float64).masked_fill(blocked, -1e9)
    causal = torch.ones(5, 5, dtype=torch.bool).triu_(1)
    both = blocked | causal
    out, w = scaled_dot_product_attention(q, k, v, mask, is_causal=True)
    want, want_w = scaled_dot_product_attention(q, k, v, both)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    assert bool((w[..., causal] == 0).all())  # nothing from the future
    np_out, np_w = np_sdpa(q.numpy(), k.numpy(), v.numpy(), mask.numpy(), is_causal=True)
    np.testing.assert_allclose(out.numpy(), np_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), np_w, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(out, scaled_dot_product_attention(q, k, v, mask)[0])  # causality changed it
