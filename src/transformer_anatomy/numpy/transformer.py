"""Encoder and decoder layers, their stacks, and the encoder–decoder ``Transformer``.

State-dict compatible with ``torch.nn.TransformerEncoderLayer``, ``TransformerDecoderLayer``,
``TransformerEncoder``, ``TransformerDecoder`` and ``Transformer``: same parameter keys, same
post-norm / pre-norm (``norm_first``) arithmetic, same mask conventions. Differences: our
default is ``batch_first=True``; a query whose keys are all masked always gives zeros and
finite gradients (torch 2.13's layers agree on their autograd path, which calls
``F.scaled_dot_product_attention``, but its inference fast path returns NaN there).

Page: ``docs/blocks.md`` (layers) and ``docs/backprop.md`` (their backward passes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .activation import make_activation
from .attention import MultiheadAttention, check_heads
from .dropout import Dropout, check_dropout
from .linear import Linear
from .module import Module, check_dtype, check_positive, make_rng
from .normalization import LayerNorm


class ModuleList(Module):
    """Sub-modules registered under the keys ``"0"``, ``"1"``, ... (as ``torch.nn.ModuleList``).

    Shape:
        a container: no forward of its own.
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


class TransformerEncoderLayer(_Layout, Module):
    """Self-attention and feed-forward, each wrapped in a residual connection and LayerNorm.

    ``norm_first=False`` (post-norm, the paper): ``x = norm1(x + SA(x))``,
    ``x = norm2(x + FF(x))``. ``norm_first=True`` (pre-norm): ``x = x + SA(norm1(x))``,
    ``x = x + FF(norm2(x))``. ``FF(x) = linear2(dropout(activation(linear1(x))))``.

    Args:
        d_model: ``E``. nhead: ``H`` (must divide ``E``). dim_feedforward: ``F``.
        dropout: probability for every dropout in the layer (attention weights included).
        activation: ``"relu"`` or ``"gelu"`` (or a module). layer_norm_eps: LayerNorm eps.
        batch_first: ``(N, S, E)`` if True (default here; PyTorch's default is False).
        norm_first: pre-norm if True. bias: biases in linear layers and LayerNorms.
        dtype: float32 (default) or float64. rng: generator or seed (weights and dropout).

    Shape:
        src: ``(N, S, E)``; src_mask: ``(S, S)`` or ``(N*H, S, S)``;
        src_key_padding_mask: ``(N, S)`` -> ``(N, S, E)``.
        backward: dout ``(N, S, E)`` -> dsrc ``(N, S, E)``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        check_heads(d_model, nhead)
        check_positive("dim_feedforward", dim_feedforward)
        p = check_dropout(dropout)
        dt = check_dtype(dtype)
        rng = make_rng(rng)
        self.batch_first, self.norm_first = bool(batch_first), bool(norm_first)
        self.self_attn = MultiheadAttention(d_model, nhead, p, bias, dtype=dt, rng=rng)
        self.linear1 = Linear(d_model, dim_feedforward, bias, dtype=dt, rng=rng)
        self.dropout = Dropout(p, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias, dtype=dt, rng=rng)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
        self.dropout1 = Dropout(p, rng=rng)
        self.dropout2 = Dropout(p, rng=rng)
        self.activation = make_activation(activation)

    # -- sub-blocks ---------------------------------------------------------------------
    def _sa(self, x: np.ndarray, mask: Any, kpm: Any, is_causal: bool) -> np.ndarray:
        out, _ = self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False,
                                attn_mask=mask, is_causal=is_causal)
        return self.dropout1(out)

    def _sa_backward(self, dy: np.ndarray) -> np.ndarray:
        dx, _, _ = self.self_attn.backward(self.dropout1.backward(dy))  # self-attention: total dx
        return dx

    # --8<-- [start:feed_forward]
    def _ff(self, x: np.ndarray) -> np.ndarray:
        # FF(x) = linear2(dropout(activation(linear1(x)))): (N, S, E) -> (N, S, F) -> (N, S, E)
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _ff_backward(self, dy: np.ndarray) -> np.ndarray:
        d = self.linear2.backward(self.dropout2.backward(dy))  # (N, S, E) -> (N, S, F)
        return self.linear1.backward(self.activation.backward(self.dropout.backward(d)))  # -> (N, S, E)
    # --8<-- [end:feed_forward]

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
        self._unbatched = unbatched
        if self.norm_first:  # pre-norm: normalise the input of each sub-layer
            x = x + self._sa(self.norm1(x), src_mask, kpm, is_causal)
            x = x + self._ff(self.norm2(x))
        else:  # post-norm (the paper): normalise after each residual addition
            x = self.norm1(x + self._sa(x, src_mask, kpm, is_causal))
            x = self.norm2(x + self._ff(x))
        return self._forwarded(self._out(x, unbatched))
    # --8<-- [end:encoder_layer_forward]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """Gradient with respect to ``src``; fills the gradients of every sub-module.

        Shape:
            dout: ``(N, S, E)`` -> dsrc: ``(N, S, E)``.
        """
        d = self._in(self._grad_input("dout", dout))
        if self.norm_first:
            d = d + self.norm2.backward(self._ff_backward(d))  # through x + FF(norm2(x))
            d = d + self.norm1.backward(self._sa_backward(d))  # through x + SA(norm1(x))
        else:
            d = self.norm2.backward(d)  # through norm2(x + FF(x))
            d = d + self._ff_backward(d)
            d = self.norm1.backward(d)  # through norm1(x + SA(x))
            d = d + self._sa_backward(d)
        return self._out(d, self._unbatched)
    # --8<-- [end:encoder_layer]


class TransformerDecoderLayer(_Layout, Module):
    """Masked self-attention, cross-attention over the encoder output, and feed-forward.

    Post-norm: ``x = norm1(x + SA(x))``, ``x = norm2(x + MHA(x, memory))``,
    ``x = norm3(x + FF(x))``; pre-norm applies each norm to the sub-layer input instead.

    Args: as :class:`TransformerEncoderLayer`.

    Shape:
        tgt: ``(N, T, E)``, memory: ``(N, S, E)``; tgt_mask: ``(T, T)`` or ``(N*H, T, T)``;
        memory_mask: ``(T, S)`` or ``(N*H, T, S)``; tgt_key_padding_mask: ``(N, T)``;
        memory_key_padding_mask: ``(N, S)`` -> ``(N, T, E)``.
        backward: dout ``(N, T, E)`` -> dtgt ``(N, T, E)``, dmemory ``(N, S, E)``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Module = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        check_heads(d_model, nhead)
        check_positive("dim_feedforward", dim_feedforward)
        p = check_dropout(dropout)
        dt = check_dtype(dtype)
        rng = make_rng(rng)
        self.batch_first, self.norm_first = bool(batch_first), bool(norm_first)
        self.self_attn = MultiheadAttention(d_model, nhead, p, bias, dtype=dt, rng=rng)
        self.multihead_attn = MultiheadAttention(d_model, nhead, p, bias, dtype=dt, rng=rng)
        self.linear1 = Linear(d_model, dim_feedforward, bias, dtype=dt, rng=rng)
        self.dropout = Dropout(p, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias, dtype=dt, rng=rng)
        self.norm1 = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
        self.norm3 = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
        self.dropout1 = Dropout(p, rng=rng)
        self.dropout2 = Dropout(p, rng=rng)
        self.dropout3 = Dropout(p, rng=rng)
        self.activation = make_activation(activation)

    def _sa(self, x: np.ndarray, mask: Any, kpm: Any, is_causal: bool) -> np.ndarray:
        out, _ = self.self_attn(x, x, x, key_padding_mask=kpm, need_weights=False,
                                attn_mask=mask, is_causal=is_causal)
        return self.dropout1(out)

    def _sa_backward(self, dy: np.ndarray) -> np.ndarray:
        dx, _, _ = self.self_attn.backward(self.dropout1.backward(dy))
        return dx

    def _mha(self, x: np.ndarray, mem: np.ndarray, mask: Any, kpm: Any, is_causal: bool) -> np.ndarray:
        out, _ = self.multihead_attn(x, mem, mem, key_padding_mask=kpm, need_weights=False,
                                     attn_mask=mask, is_causal=is_causal)
        return self.dropout2(out)

    def _mha_backward(self, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dmem, _ = self.multihead_attn.backward(self.dropout2.backward(dy))  # key is value
        return dx, dmem

    def _ff(self, x: np.ndarray) -> np.ndarray:
        # FF(x) = linear2(dropout(activation(linear1(x)))): (N, T, E) -> (N, T, F) -> (N, T, E)
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def _ff_backward(self, dy: np.ndarray) -> np.ndarray:
        d = self.linear2.backward(self.dropout3.backward(dy))  # (N, T, E) -> (N, T, F)
        return self.linear1.backward(self.activation.backward(self.dropout.backward(d)))  # -> (N, T, E)

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
        self._unbatched = unbatched
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, tkpm, tgt_is_causal)
            x = x + self._mha(self.norm2(x), mem, memory_mask, mkpm, memory_is_causal)
            x = x + self._ff(self.norm3(x))
        else:
            x = self.norm1(x + self._sa(x, tgt_mask, tkpm, tgt_is_causal))  # masked self-attention
            x = self.norm2(x + self._mha(x, mem, memory_mask, mkpm, memory_is_causal))  # cross-attention
            x = self.norm3(x + self._ff(x))
        return self._forwarded(self._out(x, unbatched))
    # --8<-- [end:decoder_layer_forward]

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients with respect to ``tgt`` and ``memory``.

        Shape:
            dout: ``(N, T, E)`` -> dtgt: ``(N, T, E)``, dmemory: ``(N, S, E)``.
        """
        d = self._in(self._grad_input("dout", dout))
        if self.norm_first:
            d = d + self.norm3.backward(self._ff_backward(d))
            dx, dmem = self._mha_backward(d)
            d = d + self.norm2.backward(dx)
            d = d + self.norm1.backward(self._sa_backward(d))
        else:
            d = self.norm3.backward(d)
            d = d + self._ff_backward(d)
            d = self.norm2.backward(d)
            dx, dmem = self._mha_backward(d)
            d = self.norm1.backward(d + dx)
            d = d + self._sa_backward(d)
        return self._out(d, self._unbatched), self._out(dmem, self._unbatched)
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
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: LayerNorm | None = None) -> None:
        super().__init__()
        check_positive("num_layers", num_layers)
        self.layers = ModuleList([encoder_layer.clone() for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: np.ndarray, mask: np.ndarray | None = None,
                src_key_padding_mask: np.ndarray | None = None, is_causal: bool = False) -> np.ndarray:
        x = self._input("src", src)
        for layer in self.layers:
            x = layer(x, mask, src_key_padding_mask, is_causal)
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
                memory_key_padding_mask: np.ndarray | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> np.ndarray:
        x, memory = self._input("tgt", tgt), self._input("memory", memory)
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, tgt_is_causal, memory_is_causal)
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
        bias: as ``torch.nn.Transformer`` (but ``batch_first=True`` by default).
        dtype: float32 (default) or float64. rng: generator or seed (weights and dropout).

    Shape:
        src: ``(N, S, E)``, tgt: ``(N, T, E)``; src_mask: ``(S, S)`` or ``(N*H, S, S)``;
        tgt_mask: ``(T, T)`` or ``(N*H, T, T)``; memory_mask: ``(T, S)`` or ``(N*H, T, S)``;
        src/tgt/memory_key_padding_mask: ``(N, S)``, ``(N, T)``, ``(N, S)`` -> ``(N, T, E)``.
        backward: dout ``(N, T, E)`` -> dsrc ``(N, S, E)``, dtgt ``(N, T, E)``.
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
        batch_first: bool = True,
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
            norm = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args, dtype=dt, rng=rng)
            norm = LayerNorm(d_model, layer_norm_eps, bias, dtype=dt)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        for _, p in self.named_parameters():  # as nn.Transformer._reset_parameters
            if p.ndim > 1:
                fan_out, fan_in = p.shape
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                p[...] = rng.uniform(-bound, bound, p.shape)

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
        src_is_causal: bool = False,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> np.ndarray:
        """Encode ``src`` into memory, decode ``tgt`` against it.

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
        from .attention import generate_square_subsequent_mask

        return generate_square_subsequent_mask(sz, dtype)
