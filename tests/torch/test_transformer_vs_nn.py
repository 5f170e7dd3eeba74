"""Our Transformer against torch.nn.Transformer with the same (loaded, strict) state_dict.

nn.Transformer has two code paths: the ordinary Python one (training, or whenever gradients are
recorded) and, in eval mode under ``torch.no_grad()``, an inference "fast path": fused encoder
layers and native MHA, and with a ``src_key_padding_mask`` a nested-tensor encoder that returns
zeros at padded positions (before the final norm). Every comparison below runs against the
Python path and, where the fast path applies, against it with the fast path on and off.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings

import pytest
import torch
from torch import nn

from transformer_anatomy.torch import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

# nn's nested-tensor fast path warns (once per process) that nested tensors are a prototype.
pytestmark = pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}
E, H, FF, N, S, T = 16, 4, 32, 3, 7, 5


def make_pair(dtype=torch.float64, seed=0, **kw):
    cfg = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=FF, dropout=0.1, dtype=dtype)
    cfg.update(kw)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn warns that nested tensors need batch_first
        ref = nn.Transformer(**cfg)
    ours = Transformer(**cfg)
    ours.load_state_dict(ref.state_dict(), strict=True)
    for p in ref.parameters():  # make biases and norms non-trivial so they are tested too
        with torch.no_grad():
            p.add_(torch.randn(p.shape, dtype=p.dtype) * 0.1)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours.eval(), ref.eval()


def square_mask(kind, n, t, s, dtype, gen, additive=True):
    """Random mask of ``kind`` ('none', 'bool2d', 'float2d', 'bool3d', 'float3d', 'causal');
    key 0 is never blocked, so no query row is fully masked (nn gives NaN there). Float masks
    are general additive masks (random finite values, -inf where blocked), or only 0 / -inf
    with ``additive=False``."""
    if kind == "none":
        return None
    if kind == "causal":
        return nn.Transformer.generate_square_subsequent_mask(t, dtype=dtype)
    shape = (t, s) if kind.endswith("2d") else (n * H, t, s)
    blocked = torch.rand(shape, generator=gen) < 0.4
    blocked[..., 0] = False
    if kind.startswith("bool"):
        return blocked
    values = torch.randn(shape, generator=gen, dtype=dtype) * 0.5 if additive else torch.zeros(shape, dtype=dtype)
    return values.masked_fill(blocked, float("-inf"))


def right_padding(kind, n, s, dtype):
    """Right padding (batch element i has i pads); position 0 is never padding."""
    if kind == "none":
        return None
    pad = torch.zeros(n, s, dtype=torch.bool)
    for i in range(1, n):
        pad[i, s - i :] = True
    return pad if kind == "bool" else torch.zeros(n, s, dtype=dtype).masked_fill(pad, float("-inf"))


def inputs(dtype, batch_first, gen):
    src = torch.randn(N, S, E, generator=gen, dtype=dtype)
    tgt = torch.randn(N, T, E, generator=gen, dtype=dtype)
    if not batch_first:
        src, tgt = src.transpose(0, 1).contiguous(), tgt.transpose(0, 1).contiguous()
    return src, tgt


@contextlib.contextmanager
def fastpath(enabled: bool):
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(old)


def run_both(ours, ref, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mixed bool/float masks: torch's deprecation warning
        return ours(*args, **kwargs), ref(*args, **kwargs)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("src_kind", ["none", "bool2d", "float2d", "bool3d", "float3d"])
def test_every_mask_combination_float64(src_kind):
    """src_mask x tgt_mask x memory_mask, each None / bool / float, 2-D / 3-D, and key padding
    masks (None / bool / float), against nn.Transformer's Python path. One layer each: every
    layer applies the masks the same way (stacks are covered by the config tests below)."""
    ours, ref = make_pair(torch.float64, batch_first=True, num_encoder_layers=1, num_decoder_layers=1)
    kinds = ["none", "bool2d", "float2d", "bool3d", "float3d"]
    gen = torch.Generator().manual_seed(kinds.index(src_kind))  # the same inputs in every process
    src, tgt = inputs(torch.float64, True, gen)
    for tgt_kind, mem_kind, pad_kind in itertools.product(kinds + ["causal"], kinds, ["none", "bool", "float"]):
        kw = dict(
            src_mask=square_mask(src_kind, N, S, S, torch.float64, gen),
            tgt_mask=square_mask(tgt_kind, N, T, T, torch.float64, gen),
            memory_mask=square_mask(mem_kind, N, T, S, torch.float64, gen),
            src_key_padding_mask=right_padding(pad_kind, N, S, torch.float64),
            tgt_key_padding_mask=right_padding(pad_kind, N, T, torch.float64),
            memory_key_padding_mask=right_padding(pad_kind, N, S, torch.float64),
        )
        o, r = run_both(ours, ref, (src, tgt), kw)
        torch.testing.assert_close(o, r, **TOL[torch.float64], msg=f"src={src_kind} tgt={tgt_kind} mem={mem_kind} pad={pad_kind}")


MASK_SETS = {
    "none": dict(),
    "causal+padding": dict(tgt_mask="causal", pad="bool"),
    "bool2d+float3d+padding": dict(src_mask="bool2d", tgt_mask="float3d", memory_mask="bool2d", pad="bool"),
    "float2d+bool3d+floatpad": dict(src_mask="float2d", tgt_mask="bool3d", memory_mask="float3d", pad="float"),
}


def build_masks(spec, dtype, gen, memory_pad_is_src_pad=True):
    """Masks for the config grid. The float src_mask holds only 0 / -inf: nn's encoder fast
    path reads float masks as boolean (see test_nn_fast_path_reads_float_src_mask_as_bool)."""
    kw = dict(
        src_mask=square_mask(spec.get("src_mask", "none"), N, S, S, dtype, gen, additive=False),
        tgt_mask=square_mask(spec.get("tgt_mask", "none"), N, T, T, dtype, gen),
        memory_mask=square_mask(spec.get("memory_mask", "none"), N, T, S, dtype, gen),
        src_key_padding_mask=right_padding(spec.get("pad", "none"), N, S, dtype),
        tgt_key_padding_mask=right_padding(spec.get("pad", "none"), N, T, dtype),
    )
    kw["memory_key_padding_mask"] = kw["src_key_padding_mask"] if memory_pad_is_src_pad else None
    return kw


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_configs_match_nn_python_path_and_fast_path(norm_first, batch_first, activation, dtype):
    ours, ref = make_pair(dtype, batch_first=batch_first, norm_first=norm_first, activation=activation)
    gen = torch.Generator().manual_seed(7)
    src, tgt = inputs(dtype, batch_first, gen)
    for name, spec in MASK_SETS.items():
        kw = build_masks(spec, dtype, gen)
        o, r = run_both(ours, ref, (src, tgt), kw)  # grad mode: nn's Python path
        torch.testing.assert_close(o, r, **TOL[dtype], msg=f"{name}: python path")
        for enabled in (True, False):
            with torch.no_grad(), fastpath(enabled):
                o2, r2 = run_both(ours, ref, (src, tgt), kw)
            torch.testing.assert_close(o2, r2, **TOL[dtype], msg=f"{name}: no_grad, fastpath={enabled}")
            torch.testing.assert_close(o2, o.detach(), rtol=0, atol=0)  # ours has one path only


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("norm_first", [False, True])
def test_gradients_match_nn_float64(norm_first, batch_first, activation):
    ours, ref = make_pair(torch.float64, batch_first=batch_first, norm_first=norm_first, activation=activation)
    ours.train(), ref.train()
    for m in (ours, ref):  # dropout off, so train mode is deterministic
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.p = 0.0
            if hasattr(mod, "dropout") and isinstance(mod.dropout, float):
                mod.dropout = 0.0
    gen = torch.Generator().manual_seed(8)
    src, tgt = inputs(torch.float64, batch_first, gen)
    weight = torch.randn(tgt.shape, generator=gen, dtype=torch.float64)
    for name, spec in MASK_SETS.items():
        kw = build_masks(spec, torch.float64, gen)
        grads = []
        for m in (ours, ref):
            m.zero_grad(set_to_none=True)
            s, t = src.clone().requires_grad_(), tgt.clone().requires_grad_()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = m(s, t, **kw)
            (out * weight).sum().backward()
            grads.append({n: p.grad for n, p in m.named_parameters()} | {"src": s.grad, "tgt": t.grad})
        assert grads[0].keys() == grads[1].keys()
        for k in grads[0]:
            torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-10, atol=1e-10, msg=f"{name}: {k}")


def test_fast_path_zeros_padded_encoder_positions_real_positions_agree():
    """nn's nested-tensor encoder (eval, no_grad, batch_first, src_key_padding_mask) returns
    zeros at padded positions before the final norm, so ``encoder.norm(0)`` = its bias; ours
    computes those positions normally. Real positions agree; padded ones do not."""
    ours, ref = make_pair(torch.float32, batch_first=True)
    gen = torch.Generator().manual_seed(9)
    src, _ = inputs(torch.float32, True, gen)
    pad = right_padding("bool", N, S, torch.float32)
    with torch.no_grad():
        mo = ours.encoder(src, src_key_padding_mask=pad)
        mr = ref.encoder(src, src_key_padding_mask=pad)
        with fastpath(False):
            mr_slow = ref.encoder(src, src_key_padding_mask=pad)
    real = ~pad
    torch.testing.assert_close(mo[real], mr[real], **TOL[torch.float32])
    torch.testing.assert_close(mo, mr_slow, **TOL[torch.float32])
    bias = ref.encoder.norm.bias.expand(int(pad.sum()), E)
    torch.testing.assert_close(mr[pad], bias, rtol=0, atol=0)  # nn fast path: norm(0) = bias
    assert not torch.allclose(mo[pad], bias)
    # Consequence: without a memory_key_padding_mask the decoder would read those rows, so
    # full outputs differ unless memory_key_padding_mask = src_key_padding_mask (tested above).


def test_nn_fast_path_reads_float_src_mask_as_bool():
    """Found while testing: nn.TransformerEncoderLayer's inference fast path (eval, no_grad,
    batch_first) treats a float ``src_mask`` as boolean (non-zero = blocked) instead of adding
    it, so a general additive mask gives other numbers than nn's own Python path (NaN when a
    whole row is non-zero). nn.MultiheadAttention's fast path adds it correctly. Ours always
    adds float masks, like nn's Python path."""
    torch.manual_seed(0)
    kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=True)
    ref = nn.TransformerEncoderLayer(E, H, **kw).eval()
    ours = TransformerEncoderLayer(E, H, **kw).eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(N, S, E)
    additive = torch.zeros(S, S)
    additive[2, 3] = 0.5
    as_bool = additive != 0
    with torch.no_grad():
        fast = ref(x, src_mask=additive)
        with fastpath(False):
            python = ref(x, src_mask=additive)
        ours_out = ours(x, src_mask=additive)
    torch.testing.assert_close(ours_out, python, **TOL[torch.float32])
    assert not torch.allclose(fast, python, atol=1e-3)
    torch.testing.assert_close(fast, ours(x, src_mask=as_bool).detach(), **TOL[torch.float32])


def test_custom_activation_bias_false_and_unbatched_match_nn():
    ours, ref = make_pair(torch.float64, activation=torch.tanh, bias=False, batch_first=True)
    assert all(not n.endswith("bias") for n in ours.state_dict())
    gen = torch.Generator().manual_seed(10)
    src, tgt = inputs(torch.float64, True, gen)
    mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    o, r = run_both(ours, ref, (src, tgt), dict(tgt_mask=mask))
    torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-10)
    o, r = run_both(ours, ref, (src[0], tgt[0]), dict(tgt_mask=mask, src_key_padding_mask=torch.zeros(S, dtype=torch.bool)))
    assert o.shape == (T, E)
    torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-10)


def test_layer_and_stack_classes_match_nn():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(N, S, E, generator=gen, dtype=torch.float64)
    y = torch.randn(N, T, E, generator=gen, dtype=torch.float64)
    pad = right_padding("bool", N, S, torch.float64)
    for norm_first in (False, True):
        kw = dict(dim_feedforward=FF, dropout=0.0, batch_first=True, norm_first=norm_first, dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pairs = [
                (TransformerEncoderLayer(E, H, **kw), nn.TransformerEncoderLayer(E, H, **kw)),
                (TransformerDecoderLayer(E, H, **kw), nn.TransformerDecoderLayer(E, H, **kw)),
                (TransformerEncoder(TransformerEncoderLayer(E, H, **kw), 2, nn.LayerNorm(E, dtype=torch.float64)),
                 nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, **kw), 2, nn.LayerNorm(E, dtype=torch.float64))),
                (TransformerDecoder(TransformerDecoderLayer(E, H, **kw), 2),
                 nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, **kw), 2)),
            ]
        for ours, ref in pairs:
            ours.load_state_dict(ref.state_dict(), strict=True)
            if isinstance(ref, (nn.TransformerEncoderLayer, nn.TransformerEncoder)):
                args, kws = (x,), dict(src_key_padding_mask=pad)
            else:
                args, kws = (y, x), dict(memory_key_padding_mask=pad, tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64))
            torch.testing.assert_close(ours(*args, **kws), ref(*args, **kws), rtol=1e-10, atol=1e-10, msg=type(ref).__name__)
