"""Encoder and decoder layers, their stacks, and the encoder–decoder ``Transformer``.

State-dict compatible with ``torch.nn.TransformerEncoderLayer``, ``TransformerDecoderLayer``,
``TransformerEncoder``, ``TransformerDecoder`` and ``Transformer``: same parameter keys, same
post-norm / pre-norm (``norm_first``) arithmetic, same mask conventions. Defaults as
``torch.nn`` (``batch_first=False``: ``(L, N, E)``); a query whose keys are all masked always gives zeros and
finite gradients (torch 2.13's layers agree on their autograd path, which calls
``F.scaled_dot_product_attention``, but its inference fast path returns NaN there).

Page: ``docs/blocks.md`` (layers) and ``docs/backprop.md`` (their backward passes).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from .activation import make_activation
from .attention import MultiheadAttention, check_heads
from .dropout import Dropout, check_dropout
from .init import xavier_uniform_matrices_
from .linear import Linear
from .masks import generate_square_subsequent_mask as _square_subsequent_mask
from .module import Module, check_dtype, check_positive, make_rng
from .normalization import LayerNorm


class LayerCache(NamedTuple):
    """What the backward of an encoder or decoder layer needs besides its sub-modules' caches.

    Examples:
        >>> LayerCache(unbatched=False)
        LayerCache(unbatched=False)
    """

    unbatched: bool  # the input was (L, E)


class ModuleList(Module):
    """Sub-modules registered under the keys ``"0"``, ``"1"``, ... (as ``torch.nn.ModuleList``).

    Shape:
        a container: no forward of its own.

    Examples:
        >>> from transformer_anatomy.numpy import Linear
        >>> layers = ModuleList([Linear(2, 2), Linear(2, 2)])
        >>> len(layers), sorted(layers.params)[:2]
        (2, ['0.bias', '0.weight'])
    """

    def __init__(self, modules: list[Module]) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(list(self._modules.values()))


class _Layout:
    """Bring inputs to batch-first ``(N, L, E)`` and outputs back (batch_first / unbatched)."""

    batch_first: bool

    def _in(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 2:  # unbatched (L, E) -> (1, L, E)
            return x[None]
        return x if self.batch_first else x.swapaxes(0, 1)  # (L, N, E) -> (N, L, E)

    def _out(self, y: np.ndarray, unbatched: bool) -> np.ndarray:
        if unbatched:
            return y[0]
        return y if self.batch_first else y.swapaxes(0, 1)  # (N, L, E) -> (L, N, E)


def _kpm(mask: Any, unbatched: bool) -> Any:
    if mask is not None and unbatched:
        return np.asarray(mask)[None]  # (S,) -> (1, S)
    return mask


# --8<-- [start:sublayer_connection]
# --8<-- [start:sublayer_forward]
def sublayer_forward(x: np.ndarray, sublayer: Callable[[np.ndarray], np.ndarray], norm: LayerNorm,
                     norm_first: bool) -> np.ndarray:
    """Residual connection and LayerNorm around ``sublayer``, in either arrangement.

    Post-norm (the paper): ``norm(x + sublayer(x))``; pre-norm: ``x + sublayer(norm(x))``.

    Shape:
        x: ``(N, L, E)`` -> ``(N, L, E)``.

    Examples:
        >>> from transformer_anatomy.numpy import LayerNorm
        >>> x = np.arange(6.0).reshape(1, 2, 3)
        >>> y = sublayer_forward(x, lambda h: 0 * h, LayerNorm(3, dtype=np.float64), norm_first=True)
        >>> bool((y == x).all())  # a zero sublayer leaves the pre-norm residual stream alone
        True
    """
    if norm_first:
        return x + sublayer(norm(x))
    return norm(x + sublayer(x))
# --8<-- [end:sublayer_forward]


# --8<-- [start:sublayer_backward]
def sublayer_backward(dy: np.ndarray, sublayer_backward: Callable[[np.ndarray], np.ndarray],
                      norm: LayerNorm, norm_first: bool) -> np.ndarray:
    """The backward of :func:`sublayer_forward`: the gradient flows through the residual
    path and through ``sublayer_backward`` (and the norm, where it sits on that path).

    Shape:
        dy: ``(N, L, E)`` -> dx: ``(N, L, E)``.

    Examples:
        >>> from transformer_anatomy.numpy import LayerNorm
        >>> norm, x = LayerNorm(3, dtype=np.float64), np.arange(6.0).reshape(1, 2, 3)
        >>> y = sublayer_forward(x, lambda h: 0 * h, norm, norm_first=True)
        >>> dy = np.ones((1, 2, 3))
        >>> dx = sublayer_backward(dy, lambda d: 0 * d, norm, norm_first=True)
        >>> bool((dx == dy).all())  # the residual path carries dy unchanged
        True
    """
    if norm_first:  # x + f(norm(x))
        return dy + norm.backward(sublayer_backward(dy))
    d = norm.backward(dy)  # norm(x + f(x))
    return d + sublayer_backward(d)
# --8<-- [end:sublayer_backward]
# --8<-- [end:sublayer_connection]


def _check_layer_args(d_model: int, nhead: int, dim_feedforward: int, dropout: float, dtype: Any,
                      rng: Any) -> tuple[float, np.dtype, np.random.Generator]:
    """The constructor checks of both layers; returns ``(dropout, dtype, rng)``."""
    check_heads(d_model, nhead)
    check_positive("dim_feedforward", dim_feedforward)
    return check_dropout(dropout), check_dtype(dtype), make_rng(rng)


class _LayerBlocks(_Layout):
    """The constructor and the sub-layers shared by the encoder and the decoder layer (one
    signature, ``torch.nn.TransformerEncoderLayer``'s), each sub-layer's forward beside its
    backward.

    ``_ff_out`` names the dropout after the feed-forward block (``dropout2`` in the encoder
    layer, ``dropout3`` in the decoder layer, as in ``torch.nn``).
    """

    _ff_out: str  # the name of the dropout after the feed-forward block
    _cross: bool  # a decoder layer: cross-attention (multihead_attn), a third norm and dropout

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        p, dt, rng = _check_layer_args(d_model, nhead, dim_feedforward, dropout, dtype, rng)
        self._build_blocks(d_model, nhead, dim_feedforward, p, activation, layer_norm_eps, batch_first,
                           norm_first, bias, dt, rng, cross=self._cross)

    def _sa(self, x: np.ndarray, mask: Any, kpm: Any, is_causal: bool) -> np.ndarray:
        out, _ = self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False,
                                attn_mask=mask, is_causal=is_causal)
        return self.dropout1(out)

    def _sa_backward(self, dy: np.ndarray) -> np.ndarray:
        dx, _, _ = self.self_attn.backward(self.dropout1.backward(dy))  # self-attention: total dx
        return dx

    # --8<-- [start:feed_forward]
    def _ff(self, x: np.ndarray) -> np.ndarray:
        # FF(x) = linear2(dropout(activation(linear1(x)))): (N, L, E) -> (N, L, F) -> (N, L, E)
        return getattr(self, self._ff_out)(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _ff_backward(self, dy: np.ndarray) -> np.ndarray:
        d = self.linear2.backward(getattr(self, self._ff_out).backward(dy))  # (N, L, E) -> (N, L, F)
        return self.linear1.backward(self.activation.backward(self.dropout.backward(d)))  # -> (N, L, E)
    # --8<-- [end:feed_forward]

    def _build_blocks(self, d_model: int, nhead: int, dim_feedforward: int, p: float, activation: Any,
                      layer_norm_eps: float, batch_first: bool, norm_first: bool, bias: bool,
                      dt: np.dtype, rng: np.random.Generator, cross: bool) -> None:
        """Create the sub-modules in ``torch.nn``'s order (same state_dict order)."""
        self.batch_first, self.norm_first = bool(batch_first), bool(norm_first)
        # the layer brings its inputs to (N, L, E) itself (_Layout), so its attention is batch-first
        attn = dict(batch_first=True, dtype=dt, rng=rng)
        self.self_attn = MultiheadAttention(d_model, nhead, p, bias, **attn)
        if cross:
            self.multihead_attn = MultiheadAttention(d_model, nhead, p, bias, **attn)
        self.linear1 = Linear(d_model, dim_feedforward, bias, dtype=dt, rng=rng)
        self.dropout = Dropout(p, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias, dtype=dt, rng=rng)
        for i in range(1, 4 if cross else 3):
            setattr(self, f"norm{i}", LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dt))
        for i in range(1, 4 if cross else 3):
            setattr(self, f"dropout{i}", Dropout(p, rng=rng))
        self.activation = make_activation(activation)


class TransformerEncoderLayer(_LayerBlocks, Module):
    """Self-attention and feed-forward, each wrapped in a residual connection and LayerNorm.

    ``norm_first=False`` (post-norm, the paper): ``x = norm1(x + SA(x))``,
    ``x = norm2(x + FF(x))``. ``norm_first=True`` (pre-norm): ``x = x + SA(norm1(x))``,
    ``x = x + FF(norm2(x))``. ``FF(x) = linear2(dropout(activation(linear1(x))))``.

    Args:
        d_model: ``E``. nhead: ``H`` (must divide ``E``). dim_feedforward: ``F``.
        dropout: probability for every dropout in the layer (attention weights included).
        activation: ``"relu"`` or ``"gelu"`` (or a module). layer_norm_eps: LayerNorm eps.
        batch_first: ``(N, S, E)`` if True, ``(S, N, E)`` if False (the default, as PyTorch).
        norm_first: pre-norm if True. bias: biases in linear layers and LayerNorms.
        dtype: float32 (default) or float64. rng: generator or seed (weights and dropout).

    Shape:
        src: ``(S, N, E)`` (``(N, S, E)`` with ``batch_first``, or unbatched ``(S, E)``);
        src_mask: ``(S, S)`` or ``(N*H, S, S)``; src_key_padding_mask: ``(N, S)`` -> like src.
        backward: dout like the output -> dsrc like src.

    Examples:
        >>> layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, rng=0)
        >>> x = np.random.default_rng(0).normal(size=(2, 5, 8))
        >>> y = layer(x, is_causal=True)
        >>> layer.backward(np.ones_like(y)).shape
        (2, 5, 8)
    """

    _ff_out, _cross = "dropout2", False

    # --8<-- [start:encoder_layer]
    # --8<-- [start:encoder_layer_forward]
    def forward(
        self,
        src: np.ndarray,
        src_mask: np.ndarray | None = None,
        src_key_padding_mask: np.ndarray | None = None,
        is_causal: bool = False,
    ) -> np.ndarray:
        src = self._input("src", src)  # cast to the model's dtype, or TypeError naming both
        unbatched = src.ndim == 2
        x = self._in(src)  # (N, S, E)
        kpm = _kpm(src_key_padding_mask, unbatched)
        sa = lambda h: self._sa(h, src_mask, kpm, is_causal)  # noqa: E731
        # sublayer_forward: post-norm norm(x + f(x)) (the paper), or pre-norm x + f(norm(x))
        x = sublayer_forward(x, sa, self.norm1, self.norm_first)  # self-attention sub-layer
        x = sublayer_forward(x, self._ff, self.norm2, self.norm_first)  # feed-forward sub-layer
        return self._forwarded(self._out(x, unbatched), cache=LayerCache(unbatched))
    # --8<-- [end:encoder_layer_forward]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Gradient with respect to ``src``; fills the gradients of every sub-module.

        Shape:
            dout: like the output -> dsrc: like ``src``.
        """
        d = self._in(self._grad_input("dout", dout))
        c: LayerCache = self._cached()
        # in reverse order; at each residual y = x + f(...) the gradient goes through f and around it
        d = sublayer_backward(d, self._ff_backward, self.norm2, self.norm_first)
        d = sublayer_backward(d, self._sa_backward, self.norm1, self.norm_first)
        return self._out(d, c.unbatched)
    # --8<-- [end:encoder_layer]


class TransformerDecoderLayer(_LayerBlocks, Module):
    """Masked self-attention, cross-attention over the encoder output, and feed-forward.

    Post-norm: ``x = norm1(x + SA(x))``, ``x = norm2(x + MHA(x, memory))``,
    ``x = norm3(x + FF(x))``; pre-norm applies each norm to the sub-layer input instead.

    Args: as :class:`TransformerEncoderLayer`.

    Shape:
        tgt: ``(T, N, E)``, memory: ``(S, N, E)`` (``(N, ·, E)`` with ``batch_first``);
        tgt_mask: ``(T, T)`` or ``(N*H, T, T)``; memory_mask: ``(T, S)`` or ``(N*H, T, S)``;
        tgt_key_padding_mask: ``(N, T)``; memory_key_padding_mask: ``(N, S)`` -> like tgt.
        backward: dout like the output -> dtgt like tgt, dmemory like memory.

    Examples:
        >>> layer = TransformerDecoderLayer(8, 2, 16, dropout=0.0, rng=0)  # (L, N, E) by default
        >>> rng = np.random.default_rng(0)
        >>> y = layer(rng.normal(size=(4, 2, 8)), rng.normal(size=(6, 2, 8)), tgt_is_causal=True)
        >>> dtgt, dmemory = layer.backward(np.ones_like(y))
        >>> dtgt.shape, dmemory.shape
        ((4, 2, 8), (6, 2, 8))
    """

    _ff_out, _cross = "dropout3", True

    def _mha(self, x: np.ndarray, mem: np.ndarray, mask: Any, kpm: Any, is_causal: bool) -> np.ndarray:
        out, _ = self.multihead_attn(x, mem, mem, key_padding_mask=kpm, need_weights=False,
                                     attn_mask=mask, is_causal=is_causal)
        return self.dropout2(out)

    def _mha_backward(self, dy: np.ndarray) -> np.ndarray:
        """Gradient for the queries; the one for ``memory`` (key is value) is kept in
        ``self._dmemory`` for :meth:`backward`."""
        dx, dmem, _ = self.multihead_attn.backward(self.dropout2.backward(dy))  # key is value
        self._dmemory = dmem
        return dx

    # --8<-- [start:decoder_layer]
    # --8<-- [start:decoder_layer_forward]
    def forward(
        self,
        tgt: np.ndarray,
        memory: np.ndarray,
        tgt_mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        tgt_key_padding_mask: np.ndarray | None = None,
        memory_key_padding_mask: np.ndarray | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> np.ndarray:
        tgt, memory = self._input("tgt", tgt), self._input("memory", memory)
        unbatched = tgt.ndim == 2
        x, mem = self._in(tgt), self._in(memory)  # (N, T, E), (N, S, E)
        tkpm = _kpm(tgt_key_padding_mask, unbatched)
        mkpm = _kpm(memory_key_padding_mask, unbatched)
        sa = lambda h: self._sa(h, tgt_mask, tkpm, tgt_is_causal)  # noqa: E731
        ca = lambda h: self._mha(h, mem, memory_mask, mkpm, memory_is_causal)  # noqa: E731
        # sublayer_forward: post-norm norm(x + f(x)) (the paper), or pre-norm x + f(norm(x))
        x = sublayer_forward(x, sa, self.norm1, self.norm_first)  # masked self-attention
        x = sublayer_forward(x, ca, self.norm2, self.norm_first)  # cross-attention
        x = sublayer_forward(x, self._ff, self.norm3, self.norm_first)  # feed-forward
        return self._forwarded(self._out(x, unbatched), cache=LayerCache(unbatched))
    # --8<-- [end:decoder_layer_forward]

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients with respect to ``tgt`` and ``memory``.

        Shape:
            dout: like the output -> dtgt: like ``tgt``, dmemory: like ``memory``.
        """
        d = self._in(self._grad_input("dout", dout))
        c: LayerCache = self._cached()
        d = sublayer_backward(d, self._ff_backward, self.norm3, self.norm_first)
        d = sublayer_backward(d, self._mha_backward, self.norm2, self.norm_first)
        d = sublayer_backward(d, self._sa_backward, self.norm1, self.norm_first)
        return self._out(d, c.unbatched), self._out(self._dmemory, c.unbatched)
    # --8<-- [end:decoder_layer]


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` and an optional final norm.

    As ``torch.nn.TransformerEncoder(encoder_layer, num_layers, norm)``: the layers are deep
    copies (same initial weights; :class:`Transformer` re-initialises them). Keys
    ``layers.0.*``, ..., ``norm.*``.

    Shape:
        src: ``(N, S, E)`` (layout of the layers); mask: ``(S, S)`` or ``(N*H, S, S)``;
        src_key_padding_mask: ``(N, S)`` -> ``(N, S, E)``.
        backward: dout ``(N, S, E)`` -> dsrc ``(N, S, E)``.

    Examples:
        >>> layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, rng=0)
        >>> enc = TransformerEncoder(layer, num_layers=2, norm=LayerNorm(8))
        >>> y = enc(np.ones((2, 3, 8)))
        >>> enc.backward(np.ones_like(y)).shape, sorted(enc.params)[0]
        ((2, 3, 8), 'layers.0.linear1.bias')
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: LayerNorm | None = None, enable_nested_tensor: bool = False,
                 mask_check: bool = True) -> None:
        # enable_nested_tensor and mask_check: accepted as torch.nn.TransformerEncoder does, and
        # ignored (no nested tensors here; masks are always checked)
        super().__init__()
        check_positive("num_layers", num_layers)
        self.layers = ModuleList([encoder_layer.clone() for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: np.ndarray, mask: np.ndarray | None = None,
                src_key_padding_mask: np.ndarray | None = None, is_causal: bool | None = None) -> np.ndarray:
        """``is_causal=None`` (torch's default) means False here: a mask is used as given."""
        x = self._input("src", src)
        for layer in self.layers:
            x = layer(x, mask, src_key_padding_mask, bool(is_causal))
        if self.norm is not None:
            x = self.norm(x)
        return self._forwarded(x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Shape: dout ``(N, S, E)`` -> dsrc ``(N, S, E)``."""
        dout = self._grad_input("dout", dout)
        d = self.norm.backward(dout) if self.norm is not None else dout
        for layer in reversed(list(self.layers)):
            d = layer.backward(d)
        return d


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer`` and an optional final norm.

    Every layer attends to the same ``memory``, so ``dmemory`` is the sum over layers.

    Shape:
        tgt: ``(N, T, E)``, memory: ``(N, S, E)`` -> ``(N, T, E)``.
        backward: dout ``(N, T, E)`` -> dtgt ``(N, T, E)``, dmemory ``(N, S, E)``.

    Examples:
        >>> layer = TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, rng=0)
        >>> dec = TransformerDecoder(layer, num_layers=2)
        >>> y = dec(np.ones((2, 3, 8)), np.ones((2, 5, 8)))
        >>> [g.shape for g in dec.backward(np.ones_like(y))]
        [(2, 3, 8), (2, 5, 8)]
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: LayerNorm | None = None) -> None:
        super().__init__()
        check_positive("num_layers", num_layers)
        self.layers = ModuleList([decoder_layer.clone() for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: np.ndarray, memory: np.ndarray, tgt_mask: np.ndarray | None = None,
                memory_mask: np.ndarray | None = None, tgt_key_padding_mask: np.ndarray | None = None,
                memory_key_padding_mask: np.ndarray | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> np.ndarray:
        """``tgt_is_causal=None`` (torch's default) means False here: a mask is used as given."""
        x, memory = self._input("tgt", tgt), self._input("memory", memory)
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, bool(tgt_is_causal), memory_is_causal)
        if self.norm is not None:
            x = self.norm(x)
        return self._forwarded(x)

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shape: dout ``(N, T, E)`` -> dtgt ``(N, T, E)``, dmemory ``(N, S, E)``."""
        dout = self._grad_input("dout", dout)
        d = self.norm.backward(dout) if self.norm is not None else dout
        dmemory = None
        for layer in reversed(list(self.layers)):
            d, dm = layer.backward(d)
            dmemory = dm if dmemory is None else dmemory + dm
        return d, dmemory


class Transformer(Module):
    """The encoder–decoder Transformer, state-dict compatible with ``torch.nn.Transformer``.

    Keys ``encoder.layers.{i}.*``, ``encoder.norm.*``, ``decoder.layers.{i}.*``,
    ``decoder.norm.*``. Initialised as PyTorch: Xavier-uniform for every matrix.

    Args:
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
        activation, custom_encoder, custom_decoder, layer_norm_eps, batch_first, norm_first,
        bias: as ``torch.nn.Transformer`` (``batch_first=False`` by default, as PyTorch).
        dtype: float32 (default) or float64. rng: generator or seed (weights and dropout).

    Shape:
        src: ``(N, S, E)``, tgt: ``(N, T, E)``; src_mask: ``(S, S)`` or ``(N*H, S, S)``;
        tgt_mask: ``(T, T)`` or ``(N*H, T, T)``; memory_mask: ``(T, S)`` or ``(N*H, T, S)``;
        src/tgt/memory_key_padding_mask: ``(N, S)``, ``(N, T)``, ``(N, S)`` -> ``(N, T, E)``.
        backward: dout ``(N, T, E)`` -> dsrc ``(N, S, E)``, dtgt ``(N, T, E)``.

    Examples:
        >>> m = Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
        ...                 dim_feedforward=16, dropout=0.0, rng=0)  # (L, N, E) by default, as torch
        >>> src, tgt = np.ones((5, 2, 8)), np.ones((4, 2, 8))
        >>> y = m(src, tgt, tgt_mask=m.generate_square_subsequent_mask(4))
        >>> y.shape, [g.shape for g in m.backward(np.ones_like(y))]
        ((4, 2, 8), [(5, 2, 8), (4, 2, 8)])
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        check_heads(d_model, nhead)
        dt = check_dtype(dtype)
        rng = make_rng(rng)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, bool(batch_first)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*layer_args, dtype=dt, rng=rng)
            norm = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dt)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args, dtype=dt, rng=rng)
            norm = LayerNorm(d_model, layer_norm_eps, bias=bias, dtype=dt)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        xavier_uniform_matrices_(self, rng)  # as nn.Transformer._reset_parameters

    def forward(
        self,
        src: np.ndarray,
        tgt: np.ndarray,
        src_mask: np.ndarray | None = None,
        tgt_mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        src_key_padding_mask: np.ndarray | None = None,
        tgt_key_padding_mask: np.ndarray | None = None,
        memory_key_padding_mask: np.ndarray | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> np.ndarray:
        """Encode ``src`` into memory, decode ``tgt`` against it.

        ``src_is_causal`` / ``tgt_is_causal`` default to None as in ``torch.nn.Transformer``
        (where None means "detect it from the mask"); here None means False: a given mask is
        applied as it is, which gives the same numbers.

        Raises:
            ValueError: if the batch sizes of ``src`` and ``tgt`` differ or a feature size is
                not ``d_model``.
        """
        src, tgt = self._input("src", src), self._input("tgt", tgt)
        if src.ndim == 3 and tgt.ndim == 3:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise ValueError(
                    f"the batch size of src and tgt must be equal, got src {src.shape} and tgt {tgt.shape}"
                )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(
                f"the feature size of src and tgt must equal d_model={self.d_model}, "
                f"got src {src.shape} and tgt {tgt.shape}"
            )
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self._forwarded(self.decoder(
            tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal))

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients with respect to ``src`` and ``tgt``; fills every parameter gradient.

        Shape:
            dout: ``(N, T, E)`` -> dsrc: ``(N, S, E)``, dtgt: ``(N, T, E)``.
        """
        dtgt, dmemory = self.decoder.backward(self._grad_input("dout", dout))
        dsrc = self.encoder.backward(dmemory)
        return dsrc, dtgt

    @staticmethod
    def generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> np.ndarray:
        """See :func:`transformer_anatomy.numpy.generate_square_subsequent_mask`."""
        return _square_subsequent_mask(sz, dtype)
