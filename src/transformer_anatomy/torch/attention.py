"""Scaled dot-product attention and multi-head attention, from scratch, ``nn.MultiheadAttention``
compatible (same parameter names, same initialisation, same numbers).

Attention(Q, K, V) = softmax(Q Kᵀ / √(E/H) + mask) V   ("Attention Is All You Need", §3.2).

Masks: boolean ``True`` = may not attend, float = added to the scores (see ``masks.py``).
A query whose keys are **all** masked gets a zero output row, zero attention weights and zero
(finite) gradients. ``nn.MultiheadAttention`` returns NaN there when it computes the weights
(``need_weights=True``) and in its inference fast path (PyTorch issue 41508); its
``need_weights=False`` path on CPU happens to return zeros, because SDPA's CPU kernel does.

Page: ``docs/attention.md``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_anatomy.errors import check_positive_int, check_probability, check_qkv_shapes
from transformer_anatomy.torch._checks import check_float_input, check_tensor
from transformer_anatomy.torch.masks import merge_masks
from transformer_anatomy.torch.module import ModuleMixin

__all__ = ["scaled_dot_product_attention", "MultiheadAttention"]


def _dead_rows(mask: Tensor) -> Tensor:
    """Query rows whose keys are all blocked. ``(..., T, S)`` -> ``(..., T, 1)`` bool."""
    blocked = mask if mask.dtype == torch.bool else torch.isneginf(mask)
    return blocked.all(dim=-1, keepdim=True)


# --8<-- [start:scaled_dot_product_attention]
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Explicit matmul–softmax–matmul attention that also returns the attention weights.

    ``attn_mask`` follows our convention (bool ``True`` = blocked, float = added), unlike
    ``F.scaled_dot_product_attention`` (bool ``True`` = attend). ``is_causal`` adds the causal
    mask to ``attn_mask`` (as the NumPy function does; ``F.scaled_dot_product_attention``
    refuses both at once). Rows with every key blocked give zero weights and
    a zero output. Dropout (``dropout_p > 0``) is applied to the weights, always: pass 0 in eval.

    Shape:
        query: ``(..., T, D)``, key: ``(..., S, D)``, value: ``(..., S, Dv)``,
        attn_mask: broadcastable to ``(..., T, S)``.
        output: ``(..., T, Dv)``; weights: ``(..., T, S)``.

    Returns:
        ``(output, weights)``.

    Examples:
        >>> q = k = v = torch.eye(3).unsqueeze(0)  # (1, 3, 3)
        >>> out, w = scaled_dot_product_attention(q, k, v, is_causal=True)
        >>> w[0, 0].tolist()  # the first query sees only the first key
        [1.0, 0.0, 0.0]
        >>> out.shape
        torch.Size([1, 3, 3])
    """
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_tensor(name, x)
    check_qkv_shapes(query.shape, key.shape, value.shape)  # the NumPy function's checks and wording
    check_probability("dropout_p", dropout_p)
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        raise TypeError(f"attn_mask must be a bool or float torch.Tensor, got {type(attn_mask).__name__}")
    T, S = query.size(-2), key.size(-2)
    scale = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., T, D) x (..., D, S) -> (..., T, S)
    if is_causal:
        causal = torch.ones(T, S, dtype=torch.bool, device=query.device).triu_(1)  # (T, S), True = future
        if attn_mask is None:
            attn_mask = causal
        elif attn_mask.dtype == torch.bool:
            attn_mask = attn_mask | causal
        else:
            attn_mask = attn_mask.masked_fill(causal, float("-inf"))
    dead = None
    if attn_mask is not None:
        dead = _dead_rows(attn_mask)  # (..., T, 1): rows with nothing to attend to
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(attn_mask & ~dead, float("-inf"))
        else:
            scores = scores + attn_mask.to(scores.dtype).masked_fill(dead, 0.0)
    weights = torch.softmax(scores, dim=-1)  # each row sums to 1 over the S keys
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)  # fully masked row -> zeros, not NaN
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ value, weights  # (..., T, S) x (..., S, Dv) -> (..., T, Dv)
# --8<-- [end:scaled_dot_product_attention]


def _check_mha_args(embed_dim: int, num_heads: int, dropout: float, kdim: int | None, vdim: int | None) -> None:
    """The constructor's checks, with the NumPy backend's wording."""
    check_positive_int("embed_dim", embed_dim)
    check_positive_int("num_heads", num_heads)
    if embed_dim % num_heads != 0:
        raise ValueError(f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
    check_probability("dropout", dropout)
    if kdim is not None:
        check_positive_int("kdim", kdim)
    if vdim is not None:
        check_positive_int("vdim", vdim)


class MultiheadAttention(ModuleMixin, nn.Module):
    """Multi-head attention, a drop-in for ``nn.MultiheadAttention`` (same state_dict).

    Each head ``h`` projects queries, keys and values to width ``E/H`` and attends on its own;
    the heads are concatenated and projected back: ``out_proj(concat_h attention(Q W_q^h,
    K W_k^h, V W_v^h))``. The ``H`` projections are one ``(3E, E)`` matrix ``in_proj_weight``
    (rows: all of ``W_q``, then ``W_k``, then ``W_v``), so self-attention needs one matmul.

    Args:
        embed_dim: model width ``E``.
        num_heads: number of heads ``H``; ``E`` must be divisible by ``H``.
        dropout: dropout on the attention weights (training only).
        bias: learn ``in_proj_bias`` and ``out_proj.bias``.
        kdim, vdim: feature sizes of key and value if not ``E``; then the weights are the
            separate ``q_proj_weight (E, E)``, ``k_proj_weight (E, kdim)``,
            ``v_proj_weight (E, vdim)`` and ``in_proj_weight`` is None, as in torch.
        batch_first: inputs and output are ``(N, L, E)`` instead of ``(L, N, E)``.

    Shape:
        - query: ``(T, E)`` unbatched, ``(T, N, E)``, or ``(N, T, E)`` with ``batch_first``.
        - key: ``(S, kdim)``, ``(S, N, kdim)`` or ``(N, S, kdim)``; value likewise with ``vdim``.
        - key_padding_mask: ``(S,)`` unbatched or ``(N, S)``; bool (True = ignore) or float.
        - attn_mask: ``(T, S)`` or ``(N*H, T, S)``; bool (True = blocked) or float (added).
        - output: same layout as query, ``(..., T, E)``.
        - weights (``need_weights=True``): ``(N, T, S)`` averaged over heads, or
          ``(N, H, T, S)`` with ``average_attn_weights=False`` (no ``N`` when unbatched).

    Examples:
        >>> mha = MultiheadAttention(8, 2, batch_first=True)
        >>> x = torch.randn(3, 5, 8)  # (N, L, E)
        >>> out, w = mha(x, x, x, key_padding_mask=torch.tensor([[False] * 4 + [True]] * 3))
        >>> out.shape, w.shape, w[..., -1].abs().max().item()  # the padded key gets no weight
        (torch.Size([3, 5, 8]), torch.Size([3, 5, 5]), 0.0)
        >>> mha.num_parameters()  # in_proj (3E x E + 3E) + out_proj (E x E + E)
        288
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        _check_mha_args(embed_dim, num_heads, dropout, kdim, vdim)
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        # Registration order = nn.MultiheadAttention's, so state_dict order and RNG use match.
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform projections, zero biases: ``nn.MultiheadAttention``'s init."""
        if self._qkv_same_embed_dim:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            nn.init.xavier_uniform_(self.q_proj_weight)
            nn.init.xavier_uniform_(self.k_proj_weight)
            nn.init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    # ----------------------------------------------------------------------------------------
    # Projections (batch-first tensors). Also used by the decoder's key/value cache.
    def _split_heads(self, x: Tensor) -> Tensor:
        """``(N, L, E)`` -> ``(N, H, L, E/H)`` (a view)."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def _qkv_weights(self) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
        E = self.embed_dim
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight.split(E)  # (3E, E) -> 3 x (E, E)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        if self.in_proj_bias is None:
            return w_q, w_k, w_v, None, None, None
        b_q, b_k, b_v = self.in_proj_bias.split(E)  # (3E,) -> 3 x (E,)
        return w_q, w_k, w_v, b_q, b_k, b_v

    def project_q(self, query: Tensor) -> Tensor:
        """Per-head queries. ``(N, T, E)`` -> ``(N, H, T, E/H)``."""
        w_q, _, _, b_q, _, _ = self._qkv_weights()
        return self._split_heads(F.linear(query, w_q, b_q))

    def project_kv(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Per-head keys and values. ``(N, S, kdim), (N, S, vdim)`` -> 2 x ``(N, H, S, E/H)``."""
        E = self.embed_dim
        if key is value and self._qkv_same_embed_dim:  # one matmul for K and V
            w_kv = self.in_proj_weight[E:]  # (2E, E): rows of W_k then W_v
            b_kv = None if self.in_proj_bias is None else self.in_proj_bias[E:]
            k, v = F.linear(key, w_kv, b_kv).chunk(2, dim=-1)  # (N, S, E) -> (N, S, 2E) -> 2 x (N, S, E), views
            return self._split_heads(k), self._split_heads(v)
        _, w_k, w_v, _, b_k, b_v = self._qkv_weights()
        return self._split_heads(F.linear(key, w_k, b_k)), self._split_heads(F.linear(value, w_v, b_v))

    def project_qkv(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-head q, k, v, with one fused ``(3E, E)`` matmul when query is key is value.

        The fused output is cut into q, k, v with ``chunk`` (views; backward joins their
        gradients with one ``cat``). Indexing a permuted ``(3, N, H, T, E/H)`` view instead
        (``qkv[0]``, ...) gives the same numbers, but its backward fills a zero tensor of the
        full ``(N, T, 3E)`` size for each of q, k and v and adds them up.

        Shape:
            query ``(N, T, E)``, key ``(N, S, kdim)``, value ``(N, S, vdim)`` ->
            q ``(N, H, T, E/H)``, k and v ``(N, H, S, E/H)``.
        """
        if query is key and key is value and self._qkv_same_embed_dim:
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)  # (N, T, E) -> (N, T, 3E)
            q, k, v = qkv.chunk(3, dim=-1)  # 3 x (N, T, E), views; backward joins their grads with one cat
            return self._split_heads(q), self._split_heads(k), self._split_heads(v)
        k, v = self.project_kv(key, value)
        return self.project_q(query), k, v

    # ----------------------------------------------------------------------------------------
    # --8<-- [start:sdpa_vs_explicit]
    def attend(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attention on projected heads, then concatenate heads and apply ``out_proj``.

        Without weights this is ``F.scaled_dot_product_attention`` (a fused kernel that never
        materialises the ``(T, S)`` weights when it can avoid it); with weights it is the explicit
        matmul–softmax–matmul of :func:`scaled_dot_product_attention`. ``mask`` comes from
        :func:`merge_masks` (bool ``True`` = blocked, or float added).

        Shape:
            q: ``(N, H, T, E/H)``, k, v: ``(N, H, S, E/H)``, mask: broadcastable to
            ``(N, H, T, S)`` -> output ``(N, T, E)``, weights ``(N, H, T, S)`` or None.
        """
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, is_causal)
        else:
            weights, dead = None, None
            if mask is not None:
                dead = _dead_rows(mask)  # (.., T, 1): unblock these rows, zero them afterwards
                if mask.dtype == torch.bool:
                    mask = ~mask | dead  # SDPA's bool convention is the opposite: True = attend
                else:
                    mask = mask.to(q.dtype).masked_fill(dead, 0.0)
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal and mask is None
            )
            if dead is not None:
                out = out.masked_fill(dead, 0.0)  # fully masked query rows -> zeros
        out = out.transpose(1, 2).flatten(2)  # (N, H, T, E/H) -> (N, T, H, E/H) -> (N, T, E)
        return self.out_proj(out), weights
    # --8<-- [end:sdpa_vs_explicit]

    # --8<-- [start:mha_forward]
    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; returns ``(output, weights or None)``.

        ``is_causal=True`` applies the causal mask; if ``attn_mask`` is also given, it is taken
        as a hint that ``attn_mask`` is causal (as in torch) and SDPA's causal kernel is used
        when no weights and no key padding mask are needed.
        """
        self_attention, shared_kv = query is key and key is value, key is value
        unbatched = self._check_inputs(query, key, value)
        if unbatched:  # (L, E) -> (1, L, E)
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)  # (S,) -> (1, S)
        elif not self.batch_first:  # (L, N, E) -> (N, L, E), a view
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if self_attention:
            key = value = query  # keep `is` identity for the fused QKV matmul
        elif shared_kv:
            value = key
        N, T, _ = query.shape
        S = key.shape[1]
        q, k, v = self.project_qkv(query, key, value)  # (N, H, T, E/H), 2 x (N, H, S, E/H)
        sdpa_causal = is_causal and key_padding_mask is None and not need_weights
        if sdpa_causal:  # the fused kernel skips blocked scores; no (T, S) mask is built
            mask = None
            if attn_mask is not None:  # still validate the hinted mask's shape
                merge_masks(attn_mask, None, False, N, self.num_heads, T, S, q.dtype, q.device, unbatched)
        else:
            mask = merge_masks(
                attn_mask, key_padding_mask, is_causal, N, self.num_heads, T, S, q.dtype, q.device, unbatched
            )
        out, weights = self.attend(q, k, v, mask, sdpa_causal, need_weights)  # (N, T, E)
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)  # (N, H, T, S) -> (N, T, S)
        if unbatched:
            out = out.squeeze(0)  # (1, T, E) -> (T, E)
            weights = None if weights is None else weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)  # (N, T, E) -> (T, N, E)
        return out, weights
    # --8<-- [end:mha_forward]

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> bool:
        """Validate types, dtypes, dims and sizes; return True for unbatched input."""
        dt = self.out_proj.weight.dtype
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_float_input(name, x, dt)
        if query.dim() not in (2, 3):
            raise ValueError(f"query must be 2-D (unbatched) or 3-D, got shape {tuple(query.shape)}")
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(
                f"query, key and value must have the same number of dims, got "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        for name, x, attr, want in (("query", query, "embed_dim", self.embed_dim), ("key", key, "kdim", self.kdim), ("value", value, "vdim", self.vdim)):
            if x.size(-1) != want:
                raise ValueError(f"{name}: expected feature size {want}, got {x.size(-1)} (shape {tuple(x.shape)}, {attr}={want})")
        unbatched = query.dim() == 2
        b = 0 if (unbatched or self.batch_first) else 1  # batch-first: (N, L, E); else (L, N, E)
        s = 1 - b if not unbatched else 0
        if not unbatched and not (query.size(b) == key.size(b) == value.size(b)):
            raise ValueError(
                f"batch sizes differ: query {query.size(b)}, key {key.size(b)}, value {value.size(b)}"
            )
        if key.size(s) != value.size(s):
            raise ValueError(f"key and value lengths differ: {key.size(s)} vs {value.size(s)}")
        return unbatched
