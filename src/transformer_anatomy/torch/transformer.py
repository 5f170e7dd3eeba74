"""Encoder layer, decoder layer, their stacks and the whole encoder–decoder Transformer, from
scratch, with ``torch.nn.Transformer``'s constructor arguments, parameter names and numbers.

Post-norm (the paper, ``norm_first=False``): ``x = norm(x + sublayer(x))``.
Pre-norm (``norm_first=True``, Xiong et al. 2020): ``x = x + sublayer(norm(x))``.

Differences from ``nn.Transformer``, all deliberate:
- no inference "fast path": ``nn.TransformerEncoder`` in eval mode without gradients converts a
  padded batch to a nested tensor and returns **zeros at padded positions** (before the final
  norm); ours computes every position the ordinary way, so they agree at real positions only;
- fully masked query rows give zeros instead of NaN (see ``attention.py``);
- ``is_causal=True`` without a mask is allowed (the causal mask is implied);
- inputs are validated with errors that name the offending sizes.

Pages: ``docs/blocks.md`` (the layers), ``docs/own-transformer.md`` and ``docs/internals-pytorch.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_anatomy.errors import check_int, check_positive_int, check_probability
from transformer_anatomy.torch._checks import check_float_input, param_dtype
from transformer_anatomy.torch.attention import MultiheadAttention
from transformer_anatomy.torch.init import xavier_uniform_matrices_
from transformer_anatomy.torch.masks import (
    generate_square_subsequent_mask,
    is_causal_mask,
    make_key_padding_mask,
)
from transformer_anatomy.torch.module import ModuleMixin

__all__ = [
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
]

Activation = str | Callable[[Tensor], Tensor]


def _check_config(d_model: int, nhead: int, dropout: float, activation: Activation) -> Callable[[Tensor], Tensor]:
    """Validate the shared layer arguments; return the activation function."""
    check_positive_int("d_model", d_model)  # the NumPy backend's checks and wording
    check_positive_int("nhead", nhead)
    if d_model % nhead != 0:
        raise ValueError(f"d_model={d_model} is not divisible by nhead={nhead}")
    check_probability("dropout", dropout)
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    if callable(activation) and not isinstance(activation, str):
        return activation
    raise ValueError(f"activation must be 'relu', 'gelu' or a callable, got {activation!r}")


def _check_optional_mask(name: str, mask: Any) -> None:
    if mask is not None and not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a bool or float torch.Tensor, got {type(mask).__name__}")


def _seq_len(x: Tensor, batch_first: bool) -> int:
    """Sequence length of ``(L, E)``, ``(L, N, E)`` or ``(N, L, E)`` (batch_first)."""
    return x.size(0) if x.dim() == 2 or not batch_first else x.size(1)


def _layer_batch_first(layers: nn.ModuleList) -> bool:
    """batch_first of the first layer (ours have the attribute; nn's keep it on self_attn)."""
    if len(layers) == 0:
        return False
    layer = layers[0]
    if hasattr(layer, "batch_first"):
        return bool(layer.batch_first)
    return bool(getattr(getattr(layer, "self_attn", None), "batch_first", False))


def _detect_causal(mask: Tensor | None, is_causal: bool | None, size: int) -> bool:
    """``is_causal`` if given, else whether ``mask`` is the causal mask (torch's rule)."""
    if is_causal is not None:
        return bool(is_causal)
    return is_causal_mask(mask, size)


def _build_layer(
    layer: nn.Module,
    attention_names: tuple[str, ...],
    d_model: int,
    nhead: int,
    dim_feedforward: int,
    dropout: float,
    layer_norm_eps: float,
    batch_first: bool,
    norm_first: bool,
    bias: bool,
    factory: dict[str, Any],
) -> None:
    """Give an encoder layer (``self_attn``) or a decoder layer (``self_attn``, ``multihead_attn``)
    its modules, in ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``'s order (the
    same state_dict order and the same use of the random generator): the attention modules,
    ``linear1``, ``dropout``, ``linear2``, then one ``norm<i>`` and one ``dropout<i>`` per
    sublayer (``i = 1, 2`` in the encoder, ``1, 2, 3`` in the decoder)."""
    check_positive_int("dim_feedforward", dim_feedforward)
    for name in attention_names:
        setattr(layer, name, MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                                **factory))
    layer.linear1 = nn.Linear(d_model, dim_feedforward, bias=bias, **factory)
    layer.dropout = nn.Dropout(dropout)
    layer.linear2 = nn.Linear(dim_feedforward, d_model, bias=bias, **factory)
    layer.norm_first, layer.batch_first = norm_first, batch_first
    sublayers = range(1, len(attention_names) + 2)  # the attention sublayers and the feed-forward one
    for i in sublayers:
        setattr(layer, f"norm{i}", nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory))
    for i in sublayers:
        setattr(layer, f"dropout{i}", nn.Dropout(dropout))


class TransformerEncoderLayer(ModuleMixin, nn.Module):
    """Self-attention and a position-wise feed-forward network, each with residual and norm.

    Args:
        d_model: model width ``E``. nhead: heads ``H``. dim_feedforward: ``F``.
        dropout: on attention weights, after each sublayer and inside the feed-forward network.
        activation: ``"relu"``, ``"gelu"`` or a unary callable.
        layer_norm_eps, batch_first, norm_first, bias, device, dtype: as ``nn.TransformerEncoderLayer``.

    Shape:
        src: ``(S, E)`` unbatched, ``(S, N, E)``, or ``(N, S, E)`` with ``batch_first``;
        src_mask: ``(S, S)`` or ``(N*H, S, S)``; src_key_padding_mask: ``(S,)`` or ``(N, S)``;
        output: same shape as src.

    Examples:
        >>> layer = TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
        >>> layer(torch.randn(3, 5, 8)).shape  # (N, S, E) -> (N, S, E)
        torch.Size([3, 5, 8])
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        act = _check_config(d_model, nhead, dropout, activation)
        super().__init__()
        _build_layer(self, ("self_attn",), d_model, nhead, dim_feedforward, dropout, layer_norm_eps, batch_first,
                     norm_first, bias, {"device": device, "dtype": dtype})
        self.activation = act

    # --8<-- [start:encoder_layer_forward]
    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        """One encoder layer. Post-norm: ``norm(x + sublayer(x))``; pre-norm:
        ``x + sublayer(norm(x))``."""
        x = check_float_input("src", src, self.linear1.weight.dtype)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, mask: Tensor | None, pad: Tensor | None, is_causal: bool) -> Tensor:
        """Self-attention sublayer: every position attends to every (unmasked) position."""
        x = self.self_attn(x, x, x, key_padding_mask=pad, attn_mask=mask, need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        """Position-wise feed-forward: ``linear2(dropout(activation(linear1(x))))``, E -> F -> E."""
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)
    # --8<-- [end:encoder_layer_forward]


class TransformerDecoderLayer(ModuleMixin, nn.Module):
    """Masked self-attention, cross-attention to the encoder output, and a feed-forward network.

    Args: as :class:`TransformerEncoderLayer`.

    Shape:
        tgt: ``(T, E)``, ``(T, N, E)``, or ``(N, T, E)`` with ``batch_first``;
        memory: ``(S, E)``, ``(S, N, E)`` or ``(N, S, E)``;
        tgt_mask: ``(T, T)`` or ``(N*H, T, T)``; memory_mask: ``(T, S)`` or ``(N*H, T, S)``;
        tgt_key_padding_mask: ``(N, T)``; memory_key_padding_mask: ``(N, S)``;
        output: same shape as tgt.

    Examples:
        >>> layer = TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16)  # (L, N, E), as torch.nn
        >>> layer(torch.randn(4, 3, 8), torch.randn(6, 3, 8), tgt_is_causal=True).shape
        torch.Size([4, 3, 8])
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        act = _check_config(d_model, nhead, dropout, activation)
        super().__init__()
        _build_layer(self, ("self_attn", "multihead_attn"), d_model, nhead, dim_feedforward, dropout, layer_norm_eps,
                     batch_first, norm_first, bias, {"device": device, "dtype": dtype})
        self.activation = act

    # --8<-- [start:decoder_layer_forward]
    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """One decoder layer: masked self-attention, cross-attention, feed-forward."""
        x = check_float_input("tgt", tgt, self.linear1.weight.dtype)
        check_float_input("memory", memory, self.linear1.weight.dtype)
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, mask: Tensor | None, pad: Tensor | None, is_causal: bool) -> Tensor:
        """Masked self-attention: position t sees target positions <= t only."""
        x = self.self_attn(x, x, x, key_padding_mask=pad, attn_mask=mask, need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, mem: Tensor, mask: Tensor | None, pad: Tensor | None, is_causal: bool) -> Tensor:
        """Cross-attention: queries from the decoder, keys and values from the encoder output."""
        x = self.multihead_attn(
            x, mem, mem, key_padding_mask=pad, attn_mask=mask, need_weights=False, is_causal=is_causal
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        """Position-wise feed-forward, E -> F -> E."""
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)
    # --8<-- [end:decoder_layer_forward]

    # --8<-- [start:decoder_layer_step]
    def forward_step(
        self,
        x: Tensor,
        cache: dict[str, Tensor],
        x_key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        """Decode the newest position(s) using cached keys/values of earlier positions.

        ``cache`` holds ``self_k``/``self_v`` (keys and values of the positions decoded so far;
        extended here in place of the dict), ``self_pad`` (their key padding mask, or absent),
        ``cross_k``/``cross_v`` (the memory projected once) and ``memory_pad``. The new
        positions attend to all cached positions and causally among themselves, which is what
        the full causal forward computes for them.

        Shape (batch-first whatever ``batch_first`` is):
            x: ``(N, t, E)`` new positions; x_key_padding_mask: ``(N, t)`` -> output ``(N, t, E)``.
        """
        sa = self.self_attn
        h = self.norm1(x) if self.norm_first else x
        q, k, v = sa.project_qkv(h, h, h)  # 3 x (N, H, t, E/H)
        k = torch.cat([cache["self_k"], k], dim=2) if "self_k" in cache else k  # (N, H, past + t, E/H)
        v = torch.cat([cache["self_v"], v], dim=2) if "self_v" in cache else v
        cache["self_k"], cache["self_v"] = k, v
        N, t, total = x.shape[0], x.shape[1], k.shape[2]  # batch, new positions, all positions
        pad = _cat_pad(cache.get("self_pad"), x_key_padding_mask, N, total - t, t, x.device)  # (N, total)
        if pad is not None:
            cache["self_pad"] = pad
        mask = None
        if t > 1:  # new position j (absolute position total - t + j) sees keys up to itself
            mask = torch.ones(t, total, dtype=torch.bool, device=x.device).triu_(total - t + 1)
            mask = mask.view(1, 1, t, total)  # (t, total) -> (1, 1, t, total)
        if pad is not None:
            pad4 = pad.view(N, 1, 1, total)  # (N, total) -> (N, 1, 1, total)
            mask = pad4 if mask is None else mask | pad4
        a = sa.attend(q, k, v, mask)[0]  # (N, t, E)
        x = x + self.dropout1(a) if self.norm_first else self.norm1(x + self.dropout1(a))
        h = self.norm2(x) if self.norm_first else x
        ca = self.multihead_attn
        mem_pad = cache.get("memory_pad")
        mask = None if mem_pad is None else mem_pad.view(mem_pad.shape[0], 1, 1, -1)  # (N, S) -> (N, 1, 1, S)
        a = ca.attend(ca.project_q(h), cache["cross_k"], cache["cross_v"], mask)[0]  # (N, t, E)
        x = x + self.dropout2(a) if self.norm_first else self.norm2(x + self.dropout2(a))
        if self.norm_first:
            return x + self._ff_block(self.norm3(x))
        return self.norm3(x + self._ff_block(x))
    # --8<-- [end:decoder_layer_step]


def _cat_pad(past: Tensor | None, new: Tensor | None, N: int, n_past: int, n_new: int, device) -> Tensor | None:
    """Concatenate key padding masks of cached and new positions; None if neither has one."""
    if past is None and new is None:
        return None
    if past is None:
        past = torch.zeros(N, n_past, dtype=torch.bool, device=device)
    if new is None:
        new = torch.zeros(N, n_new, dtype=torch.bool, device=device)
    return torch.cat([past, new], dim=1)  # (N, past) + (N, new) -> (N, past + new)


def _clones(module: nn.Module, n: int) -> nn.ModuleList:
    """Produce n identical (deep-copied) layers."""
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(ModuleMixin, nn.Module):
    """A stack of ``num_layers`` copies of ``encoder_layer``, then ``norm`` if given.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for drop-in compatibility with
    ``nn.TransformerEncoder`` and ignored: this encoder never converts to nested tensors.

    Shape: as :class:`TransformerEncoderLayer`; ``mask`` is ``(S, S)`` or ``(N*H, S, S)``.

    Examples:
        >>> layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
        >>> encoder = TransformerEncoder(layer, num_layers=3, norm=nn.LayerNorm(8))
        >>> len(encoder.layers), encoder(torch.randn(2, 5, 8)).shape
        (3, torch.Size([2, 5, 8]))
    """

    def __init__(
        self,
        encoder_layer: nn.Module,
        num_layers: int,
        norm: nn.Module | None = None,
        enable_nested_tensor: bool = False,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        check_int("num_layers", num_layers, 0)  # 0 layers is allowed, as in nn.TransformerEncoder
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        """Run every layer in turn. ``is_causal=None`` detects a causal ``mask`` (as torch)."""
        check_float_input("src", src, param_dtype(self))
        _check_optional_mask("mask", mask)
        is_causal = _detect_causal(mask, is_causal, _seq_len(src, _layer_batch_first(self.layers)))
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal)
        return self.norm(out) if self.norm is not None else out


class TransformerDecoder(ModuleMixin, nn.Module):
    """A stack of ``num_layers`` copies of ``decoder_layer``, then ``norm`` if given.

    Shape: as :class:`TransformerDecoderLayer`.

    Examples:
        >>> layer = TransformerDecoderLayer(8, 2, dim_feedforward=16, batch_first=True)
        >>> decoder = TransformerDecoder(layer, num_layers=2)
        >>> decoder(torch.randn(2, 4, 8), torch.randn(2, 6, 8), tgt_is_causal=True).shape
        torch.Size([2, 4, 8])
    """

    def __init__(self, decoder_layer: nn.Module, num_layers: int, norm: nn.Module | None = None) -> None:
        super().__init__()
        check_int("num_layers", num_layers, 0)  # 0 layers is allowed, as in nn.TransformerEncoder
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Run every layer in turn. ``tgt_is_causal=None`` detects a causal ``tgt_mask``."""
        check_float_input("tgt", tgt, param_dtype(self))
        _check_optional_mask("tgt_mask", tgt_mask)
        tgt_is_causal = _detect_causal(tgt_mask, tgt_is_causal, _seq_len(tgt, _layer_batch_first(self.layers)))
        out = tgt
        for layer in self.layers:
            out = layer(
                out,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=tgt_is_causal,
                memory_is_causal=memory_is_causal,
            )
        return self.norm(out) if self.norm is not None else out


class Transformer(ModuleMixin, nn.Module):
    """The encoder–decoder Transformer ("Attention Is All You Need", §3), ``nn.Transformer``'s
    constructor, parameter names (``load_state_dict(nn_transformer.state_dict())`` works with
    ``strict=True``), initialisation and outputs.

    Args:
        d_model: ``E`` (512). nhead: ``H`` (8). num_encoder_layers, num_decoder_layers: (6, 6).
        dim_feedforward: ``F`` (2048). dropout: (0.1). activation: "relu", "gelu" or a callable.
        custom_encoder, custom_decoder: modules used instead of the default stacks.
        layer_norm_eps: (1e-5). batch_first: ``(N, L, E)`` layout (False: ``(L, N, E)``).
        norm_first: pre-norm layers. bias: biases in Linear and LayerNorm. device, dtype.

    Shape:
        - src: ``(S, E)`` unbatched, ``(S, N, E)``, or ``(N, S, E)`` with ``batch_first``.
        - tgt: ``(T, E)``, ``(T, N, E)`` or ``(N, T, E)``.
        - src_mask: ``(S, S)`` or ``(N*H, S, S)``; tgt_mask: ``(T, T)`` or ``(N*H, T, T)``;
          memory_mask: ``(T, S)`` or ``(N*H, T, S)``. Bool (True = blocked) or float (added).
        - src_key_padding_mask, memory_key_padding_mask: ``(S,)`` or ``(N, S)``;
          tgt_key_padding_mask: ``(T,)`` or ``(N, T)``.
        - output: ``(T, E)``, ``(T, N, E)`` or ``(N, T, E)``.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> size = dict(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)
        >>> ours, theirs = Transformer(**size, batch_first=True), nn.Transformer(**size, batch_first=True)
        >>> ours.load_state_dict(theirs.state_dict())  # the same parameter names
        <All keys matched successfully>
        >>> src, tgt = torch.randn(2, 5, 16), torch.randn(2, 4, 16)  # (N, S, E), (N, T, E)
        >>> mask = Transformer.generate_square_subsequent_mask(4)
        >>> torch.allclose(ours.eval()(src, tgt, tgt_mask=mask), theirs.eval()(src, tgt, tgt_mask=mask), atol=1e-5)
        True
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = F.relu,
        custom_encoder: Any | None = None,
        custom_decoder: Any | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        _check_config(d_model, nhead, dropout, activation)
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        layer_args = (
            d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*layer_args, **factory)
            norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*layer_args, **factory)
            norm = nn.LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        """Xavier-uniform init of every matrix (every parameter with more than one dim)."""
        xavier_uniform_matrices_(self)

    # --8<-- [start:transformer_forward]
    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Encode ``src`` into ``memory``, then decode ``tgt`` attending to ``memory``."""
        self._check_src_tgt(src, tgt)
        memory = self.encode(src, src_mask, src_key_padding_mask, src_is_causal)
        return self.decode(
            tgt, memory, tgt_mask, memory_mask,
            tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal, memory_is_causal,
        )
    # --8<-- [end:transformer_forward]

    def encode(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
    ) -> Tensor:
        """Run the encoder. Shape: src ``(N, S, E)`` (batch_first) -> memory ``(N, S, E)``."""
        self._check_features("src", src)
        return self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)

    def decode(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Run the decoder. Shape: tgt ``(N, T, E)``, memory ``(N, S, E)`` -> ``(N, T, E)``."""
        self._check_src_tgt(memory, tgt, "memory")
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    def _check_features(self, name: str, x: Tensor) -> None:
        check_float_input(name, x, param_dtype(self))
        if x.dim() not in (2, 3):
            raise ValueError(f"{name} must be 2-D (unbatched) or 3-D, got shape {tuple(x.shape)}")
        if x.size(-1) != self.d_model:
            raise ValueError(f"{name}: feature size {x.size(-1)} != d_model={self.d_model} (shape {tuple(x.shape)})")

    def _check_src_tgt(self, src: Tensor, tgt: Tensor, src_name: str = "src") -> None:
        self._check_features(src_name, src)
        self._check_features("tgt", tgt)
        if src.dim() != tgt.dim():
            raise ValueError(
                f"{src_name} and tgt must both be batched or both unbatched, "
                f"got {tuple(src.shape)} and {tuple(tgt.shape)}"
            )
        if src.dim() == 3:
            b = 0 if self.batch_first else 1
            if src.size(b) != tgt.size(b):
                raise ValueError(
                    f"batch size of {src_name} ({src.size(b)}) and tgt ({tgt.size(b)}) must be equal "
                    f"(batch_first={self.batch_first}; shapes {tuple(src.shape)} and {tuple(tgt.shape)})"
                )

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Tensor:
        """Causal float mask ``(sz, sz)``: ``-inf`` above the diagonal, 0 elsewhere (as torch)."""
        return generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    @staticmethod
    def make_key_padding_mask(ids: Tensor, pad_id: int) -> Tensor:
        """``ids == pad_id``: ``(N, S)`` bool, True at padding (ignored keys)."""
        return make_key_padding_mask(ids, pad_id)

