"""Llama from scratch in PyTorch: its pieces (RMSNorm, rotary position embedding (RoPE), the
SwiGLU feed-forward), grouped-query attention with a KV cache, the decoder layer, the model and
the causal language model ``LlamaForCausalLM`` (with ``generate`` from
:class:`~transformer_anatomy.torch.causal_lm.CausalLM`), and ``llama_from_hf`` to load a
HuggingFace ``LlamaForCausalLM``.

Sources: Zhang & Sennrich 2019 (RMSNorm), Su et al. 2021 "RoFormer" (RoPE), Shazeer 2020 "GLU
Variants Improve Transformer" (SwiGLU), Ainslie et al. 2023 "GQA", Touvron et al. 2023 "Llama 2". The twin of ``numpy/llama.py`` (same names, arguments, defaults and parameter names, which are
HuggingFace ``LlamaRMSNorm`` / ``LlamaRotaryEmbedding`` / ``LlamaMLP``'s). As in the NumPy
backend, RMSNorm and the RoPE angles are computed in the module's dtype, where HF always uses
float32 (so a float64 HF Llama is only float32-accurate there).

Page: ``docs/gpt2-llama.md`` ("GPT-2 and Llama, piece by piece").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from typing import Any

from transformer_anatomy.errors import check_bool, check_number, check_positive_int, check_gqa_heads, check_rotary
from transformer_anatomy.hf_config import check_llama_config, rope_theta

from ._checks import check_float_input, check_tensor, param_dtype
from .causal_lm import CausalLM, append_to_cache, causal_attention, decoder_inputs, init_decoder_weights
from .kv_cache import KVCache
from .module import ModuleMixin

__all__ = [
    "LlamaAttention",
    "LlamaDecoderLayer",
    "LlamaForCausalLM",
    "LlamaModel",
    "RMSNorm",
    "RotaryEmbedding",
    "SwiGLU",
    "apply_rotary",
    "check_llama_config",
    "llama_from_hf",
    "rotate_half",
]


class RMSNorm(ModuleMixin, nn.Module):
    """``y = x / sqrt(mean(x²) + eps) * weight`` over the last axis (HF ``LlamaRMSNorm``).

    Args:
        hidden_size: ``E``. eps: added to the mean square (default ``1e-6``).
        device, dtype: of ``weight`` (ones); the computation runs in this dtype.

    Shape:
        x: ``(..., E)`` -> ``(..., E)``.

    Examples:
        >>> norm = RMSNorm(4, dtype=torch.float64)
        >>> y = norm(torch.tensor([[2.0, 2.0, 2.0, 2.0]], dtype=torch.float64))
        >>> [round(v, 6) for v in y[0].tolist()]
        [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.eps = check_number("eps", eps, minimum=0.0)
        self.weight = nn.Parameter(torch.ones(self.hidden_size, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        """Scale each row to unit root mean square, then by ``weight``."""
        x = check_float_input("x", x, param_dtype(self))
        if x.dim() == 0 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected (..., hidden_size={self.hidden_size})")
        rrms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)  # 1 / rms, (..., 1)
        return self.weight * (x * rrms)

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}"


def rotate_half(x: Tensor) -> Tensor:
    """``[x1, x2] -> [-x2, x1]`` on the last axis (HF's convention).

    Shape:
        x: ``(..., D)`` with ``D`` even -> ``(..., D)``.

    Examples:
        >>> rotate_half(torch.tensor([1.0, 2.0, 3.0, 4.0])).tolist()
        [-3.0, -4.0, 1.0, 2.0]
    """
    check_tensor("x", x)
    if x.dim() == 0 or x.shape[-1] % 2:
        raise ValueError(f"x has shape {tuple(x.shape)}, expected (..., D) with an even D")
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rotary(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
    """``x cos + rotate_half(x) sin`` for queries and keys (HF ``apply_rotary_pos_emb``, ``unsqueeze_dim=1``).

    Args:
        q: ``(N, H, T, D)``. k: ``(N, Hk, T, D)``.
        cos, sin: from :class:`RotaryEmbedding`, ``(N, T, D)`` or ``(T, D)``.

    Returns:
        ``(q_rot, k_rot)``, shaped like ``q`` and ``k``.

    Shape:
        q ``(N, H, T, D)``, k ``(N, Hk, T, D)``, cos/sin ``(N, T, D)`` or ``(T, D)``
        -> q_rot ``(N, H, T, D)``, k_rot ``(N, Hk, T, D)``.

    Examples:
        >>> cos, sin = RotaryEmbedding(4, dtype=torch.float64)(torch.arange(3))
        >>> q_rot, k_rot = apply_rotary(torch.ones(1, 1, 3, 4, dtype=torch.float64),
        ...                             torch.ones(1, 2, 3, 4, dtype=torch.float64), cos, sin)
        >>> tuple(q_rot.shape), tuple(k_rot.shape), q_rot[0, 0, 0].tolist()
        ((1, 1, 3, 4), (1, 2, 3, 4), [1.0, 1.0, 1.0, 1.0])
    """
    for name, t in (("q", q), ("k", k), ("cos", cos), ("sin", sin)):
        check_float_input(name, t, q.dtype if isinstance(q, Tensor) and q.dtype.is_floating_point else None)
    if q.dim() != 4 or k.dim() != 4:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must be 4-D (N, H, T, D)")
    if q.shape[-1] % 2:
        raise ValueError(f"q {tuple(q.shape)}: the head size D={q.shape[-1]} must be even for rotary embedding")
    if q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} must share N, T and D (axes 0, 2, 3)")
    if cos.shape != sin.shape or cos.dim() not in (2, 3):
        raise ValueError(f"cos {tuple(cos.shape)} and sin {tuple(sin.shape)} must have the same shape, "
                         "(T, D) or (N, T, D)")
    N, _, T, D = q.shape
    if tuple(cos.shape[-2:]) != (T, D) or (cos.dim() == 3 and cos.shape[0] not in (1, N)):
        raise ValueError(f"cos {tuple(cos.shape)} does not fit q {tuple(q.shape)}: expected (T, D)=({T}, {D}) "
                         f"or (N, T, D)=({N}, {T}, {D})")
    if cos.dim() == 3:  # (N, T, D) -> (N, 1, T, D)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class RotaryEmbedding(ModuleMixin, nn.Module):
    """``(cos, sin)`` of ``position · θ_i``, ``θ_i = rope_theta^(-2i/D)`` (HF ``LlamaRotaryEmbedding``,
    ``rope_type="default"`` only). ``inv_freq`` is a non-persistent buffer, as in HF.

    Args:
        head_dim: ``D`` (even). max_position_embeddings: kept for the models (positions are not
        limited by it, as in HF). rope_theta: the base (> 0). rope_type: must be ``"default"``.
        device, dtype: of ``inv_freq`` and of the returned ``cos``/``sin`` (default: torch's
        default dtype); ``.to(dtype)`` recomputes ``inv_freq`` in the new dtype.

    Shape:
        position_ids: integers ``(N, T)`` or ``(T,)`` -> cos, sin ``(N, T, D)`` or ``(T, D)``.

    Examples:
        >>> rope = RotaryEmbedding(4, rope_theta=100.0, dtype=torch.float64)
        >>> rope.inv_freq.tolist()
        [1.0, 0.1]
        >>> cos, sin = rope(torch.tensor([[0, 1]]))
        >>> tuple(cos.shape), [round(v, 4) for v in sin[0, 1].tolist()]
        ((1, 2, 4), [0.8415, 0.0998, 0.8415, 0.0998])
    """

    def __init__(self, head_dim: int, max_position_embeddings: int = 2048, rope_theta: float = 10000.0, *,
                 rope_type: str = "default", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.head_dim, self.max_position_embeddings, self.rope_theta = check_rotary(
            head_dim, max_position_embeddings, rope_theta, rope_type)
        self.rope_type = rope_type
        dtype = dtype or torch.get_default_dtype()
        self.register_buffer("inv_freq", self._inv_freq(device, dtype), persistent=False)

    def _inv_freq(self, device: torch.device | str | None, dtype: torch.dtype) -> Tensor:
        exponent = torch.arange(0, self.head_dim, 2, device=device, dtype=dtype) / self.head_dim  # 2i / D
        return 1.0 / (self.rope_theta ** exponent)  # (D/2,)

    def _apply(self, fn, recurse=True):
        """After ``.to()`` / ``.double()``, recompute ``inv_freq`` in the new dtype (not a widened copy)."""
        out = super()._apply(fn, recurse)
        self.inv_freq = self._inv_freq(self.inv_freq.device, self.inv_freq.dtype)
        return out

    def forward(self, position_ids: Tensor) -> tuple[Tensor, Tensor]:
        """``(cos, sin)`` of ``position · inv_freq``, each angle repeated for both halves."""
        check_tensor("position_ids", position_ids)
        if position_ids.dtype.is_floating_point or position_ids.dtype.is_complex or position_ids.dtype == torch.bool:
            raise TypeError(f"position_ids must be integers, got dtype {str(position_ids.dtype).replace('torch.', '')}")
        if position_ids.dim() not in (1, 2):
            raise ValueError(f"position_ids has shape {tuple(position_ids.shape)}, expected (N, T) or (T,)")
        freqs = position_ids[..., None].to(self.inv_freq.dtype) * self.inv_freq  # (..., T, D/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (..., T, D)
        return emb.cos(), emb.sin()

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, rope_theta={self.rope_theta:g}"


class SwiGLU(ModuleMixin, nn.Module):
    """``down_proj(silu(gate_proj(x)) * up_proj(x))`` (HF ``LlamaMLP``; names and shapes as there).

    Args:
        hidden_size: ``E``. intermediate_size: ``F``. bias: HF's ``mlp_bias`` (default ``False``).
        device, dtype: of the weights.

    Shape:
        x: ``(..., E)`` -> ``(..., E)``.

    Examples:
        >>> mlp = SwiGLU(4, 8)
        >>> tuple(mlp(torch.ones(2, 3, 4)).shape), sorted(k for k, _ in mlp.named_parameters())
        ((2, 3, 4), ['down_proj.weight', 'gate_proj.weight', 'up_proj.weight'])
    """

    def __init__(self, hidden_size: int, intermediate_size: int, bias: bool = False, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.intermediate_size = check_positive_int("intermediate_size", intermediate_size)
        bias = check_bool("bias", bias)
        kw = dict(bias=bias, device=device, dtype=dtype)
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, **kw)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, **kw)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, **kw)

    def forward(self, x: Tensor) -> Tensor:
        """``down(silu(gate(x)) * up(x))``."""
        x = check_float_input("x", x, param_dtype(self))
        if x.dim() == 0 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected (..., hidden_size={self.hidden_size})")
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, intermediate_size={self.intermediate_size}"


_check_heads = check_gqa_heads  # (E, H, Hk) checked: errors.py, one copy for both backends


class LlamaAttention(ModuleMixin, nn.Module):
    """Grouped-query self-attention with RoPE (HF ``LlamaAttention``; parameter names as there).

    ``q_proj`` makes ``H`` query heads, ``k_proj`` / ``v_proj`` only ``Hk`` key/value heads
    (``Hk == H``: multi-head; ``Hk == 1``: multi-query), so the KV cache holds ``Hk`` heads:
    ``H / Hk`` times less memory per token. RoPE rotates queries and keys before caching.

    Args:
        hidden_size: ``E``. num_attention_heads: ``H`` (divides ``E``; ``D = E / H``).
        num_key_value_heads: ``Hk`` (divides ``H``; ``None`` = ``H``). attention_bias: biases on
        the four projections. device, dtype: of the weights.

    Shape:
        x ``(N, T, E)``, cos/sin ``(N, T, D)`` or ``(T, D)`` (from :class:`RotaryEmbedding` at the
        new positions), key_padding_mask ``(N, S)`` bool (True = padding; ``S`` = cached + new
        positions) -> ``(N, T, E)``. ``cache``: one layer's dict of a
        :class:`~transformer_anatomy.torch.kv_cache.KVCache`; ``self_k`` / ``self_v``
        ``(N, Hk, S, D)`` are extended in place.

    Examples:
        >>> attn = LlamaAttention(8, 4, 2)
        >>> cos, sin = RotaryEmbedding(2)(torch.arange(3))
        >>> tuple(attn(torch.ones(1, 3, 8), cos, sin).shape), tuple(attn.k_proj.weight.shape)
        ((1, 3, 8), (4, 8))
    """

    def __init__(self, hidden_size: int, num_attention_heads: int, num_key_value_heads: int | None = None,
                 attention_bias: bool = False, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        E, H, Hk = _check_heads(hidden_size, num_attention_heads, num_key_value_heads)
        self.hidden_size, self.num_heads, self.num_key_value_heads = E, H, Hk
        self.head_dim = E // H
        kw = dict(bias=check_bool("attention_bias", attention_bias), device=device, dtype=dtype)
        self.q_proj = nn.Linear(E, H * self.head_dim, **kw)
        self.k_proj = nn.Linear(E, Hk * self.head_dim, **kw)
        self.v_proj = nn.Linear(E, Hk * self.head_dim, **kw)
        self.o_proj = nn.Linear(H * self.head_dim, E, **kw)

    # --8<-- [start:llama_attention]
    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, key_padding_mask: Tensor | None = None, *,
                layer_cache: dict | None = None) -> Tensor:
        """Project, rotate, (cache,) attend causally, merge the heads, project back."""
        x = check_float_input("x", x, param_dtype(self))
        if x.dim() != 3 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected (N, T, hidden_size={self.hidden_size})")
        N, T, _ = x.shape
        H, Hk, D = self.num_heads, self.num_key_value_heads, self.head_dim
        q = self.q_proj(x).view(N, T, H, D).transpose(1, 2)  # (N, T, H*D) -> (N, H, T, D)
        k = self.k_proj(x).view(N, T, Hk, D).transpose(1, 2)  # (N, T, Hk*D) -> (N, Hk, T, D)
        v = self.v_proj(x).view(N, T, Hk, D).transpose(1, 2)
        q, k = apply_rotary(q, k, cos, sin)  # positions enter here, before the cache
        k, v = append_to_cache(layer_cache, k, v)  # (N, Hk, S, D), S = cached + T
        out = causal_attention(q, k, v, key_padding_mask)  # (N, H, T, D)
        return self.o_proj(out.transpose(1, 2).reshape(N, T, H * D))  # (N, H, T, D) -> (N, T, E)
    # --8<-- [end:llama_attention]

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, heads={self.num_heads}, kv_heads={self.num_key_value_heads}"


class LlamaDecoderLayer(ModuleMixin, nn.Module):
    """Pre-norm block: ``x + attn(rmsnorm(x))``, then ``x + mlp(rmsnorm(x))`` (HF ``LlamaDecoderLayer``).

    Args:
        hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, rms_norm_eps,
        attention_bias, mlp_bias: HF's config fields (see :class:`LlamaForCausalLM`).
        device, dtype: of the weights.

    Shape:
        x ``(N, T, E)``, cos/sin ``(N, T, D)`` or ``(T, D)``, key_padding_mask ``(N, S)`` -> ``(N, T, E)``.

    Examples:
        >>> layer = LlamaDecoderLayer(8, 12, 2)
        >>> cos, sin = RotaryEmbedding(4)(torch.arange(5))
        >>> tuple(layer(torch.ones(2, 5, 8), cos, sin).shape)
        (2, 5, 8)
    """

    def __init__(self, hidden_size: int, intermediate_size: int, num_attention_heads: int,
                 num_key_value_heads: int | None = None, rms_norm_eps: float = 1e-6, attention_bias: bool = False,
                 mlp_bias: bool = False, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        # HF's registration order (self_attn, mlp, then the norms): the same named_parameters() order
        self.self_attn = LlamaAttention(hidden_size, num_attention_heads, num_key_value_heads, attention_bias, **kw)
        self.mlp = SwiGLU(hidden_size, intermediate_size, check_bool("mlp_bias", mlp_bias), **kw)
        self.input_layernorm = RMSNorm(hidden_size, rms_norm_eps, **kw)
        self.post_attention_layernorm = RMSNorm(hidden_size, rms_norm_eps, **kw)

    # --8<-- [start:llama_decoder_layer]
    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, key_padding_mask: Tensor | None = None, *,
                layer_cache: dict | None = None) -> Tensor:
        """Attention then feed-forward, each on the normalised input, added to the residual stream."""
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, key_padding_mask, layer_cache=layer_cache)
        return x + self.mlp(self.post_attention_layernorm(x))
    # --8<-- [end:llama_decoder_layer]


class LlamaModel(ModuleMixin, nn.Module):
    """Token embedding, ``num_hidden_layers`` decoder layers sharing one RoPE table, final RMSNorm
    (HF ``LlamaModel``): the hidden states before the language-model head.

    Args:
        vocab_size ... mlp_bias: as :class:`LlamaForCausalLM` (without ``tie_word_embeddings``).
        device, dtype: of the weights (initialised as HF: normal(0, 0.02), norms at ones).

    Shape:
        input_ids ``(N, T)`` ints, attention_mask ``(N, T)`` (``(N, cache.length + T)`` with a
        cache; 1 = attend, 0 = padding) -> ``(N, T, E)``.

    Examples:
        >>> model = LlamaModel(10, hidden_size=8, intermediate_size=12, num_hidden_layers=1, num_attention_heads=2)
        >>> tuple(model(torch.tensor([[1, 2, 3]])).shape)
        (1, 3, 8)
    """

    def __init__(self, vocab_size: int, hidden_size: int = 64, intermediate_size: int = 176,
                 num_hidden_layers: int = 2, num_attention_heads: int = 4, num_key_value_heads: int | None = None,
                 rms_norm_eps: float = 1e-6, rope_theta: float = 10000.0, max_position_embeddings: int = 512,
                 attention_bias: bool = False, mlp_bias: bool = False, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        E, H, _ = _check_heads(hidden_size, num_attention_heads, num_key_value_heads)
        self.num_hidden_layers = check_positive_int("num_hidden_layers", num_hidden_layers)
        self.max_position_embeddings = check_positive_int("max_position_embeddings", max_position_embeddings)
        self.embed_tokens = nn.Embedding(self.vocab_size, E, **kw)
        self.layers = nn.ModuleList(
            LlamaDecoderLayer(E, intermediate_size, H, num_key_value_heads, rms_norm_eps, attention_bias, mlp_bias,
                              **kw) for _ in range(self.num_hidden_layers))
        self.norm = RMSNorm(E, rms_norm_eps, **kw)
        self.rotary_emb = RotaryEmbedding(E // H, self.max_position_embeddings, rope_theta, **kw)
        init_decoder_weights(self)

    # --8<-- [start:llama_model_forward]
    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                cache: KVCache | None = None) -> Tensor:
        """Embed, run every layer (extending ``cache`` if given), normalise."""
        ids, pad, past = decoder_inputs(input_ids, attention_mask, cache, self.vocab_size,
                                        self.max_position_embeddings, "max_position_embeddings", len(self.layers))
        positions = torch.arange(past, past + ids.shape[1], device=ids.device)  # (T,): right padding keeps 0..T-1
        cos, sin = self.rotary_emb(positions)  # (T, D) each
        x = self.embed_tokens(ids)  # (N, T) -> (N, T, E)
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, pad, layer_cache=None if cache is None else cache.layers[i])
        if cache is not None:
            cache.length += ids.shape[1]
        return self.norm(x)
    # --8<-- [end:llama_model_forward]


class LlamaForCausalLM(CausalLM):
    """A Llama-style decoder-only language model (HF ``LlamaForCausalLM``): :class:`LlamaModel`
    then ``lm_head`` (``E -> V``, no bias), optionally tied to the token embedding.

    No dropout (HF's ``attention_dropout`` changes nothing in eval mode). Parameter names,
    shapes and the state dict are HF's, so ``load_state_dict(hf_model.state_dict())`` works with
    ``strict=True``; with tied embeddings ``lm_head.weight`` *is* ``model.embed_tokens.weight``
    (``named_parameters()`` yields it once, under the embedding's name, as HF's).

    Args:
        vocab_size: ``V``. hidden_size: ``E``. intermediate_size: ``F`` of SwiGLU.
        num_hidden_layers: decoder layers. num_attention_heads: ``H``.
        num_key_value_heads: ``Hk`` (``None`` = ``H``). rms_norm_eps: RMSNorm's eps.
        rope_theta: RoPE's base. max_position_embeddings: positions allowed (prompt + generated).
        tie_word_embeddings: share ``lm_head.weight`` with the embedding.
        attention_bias, mlp_bias: biases on the attention / MLP projections.
        device, dtype: of the weights (normal(0, 0.02) from torch's global RNG, norms at ones).

    Shape:
        input_ids ``(N, T)`` ints, attention_mask ``(N, T)`` (1 = attend, 0 = padding; with a
        cache ``(N, cache.length + T)``) -> logits ``(N, T, V)``.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> lm = LlamaForCausalLM(12, hidden_size=8, intermediate_size=12, num_hidden_layers=1,
        ...                       num_attention_heads=2, num_key_value_heads=1)
        >>> tuple(lm(torch.tensor([[1, 2, 3]])).shape)
        (1, 3, 12)
        >>> tuple(lm.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=4).shape)
        (1, 7)
    """

    _embedding_key = "model.embed_tokens.weight"

    def __init__(self, vocab_size: int, hidden_size: int = 64, intermediate_size: int = 176,
                 num_hidden_layers: int = 2, num_attention_heads: int = 4, num_key_value_heads: int | None = None,
                 rms_norm_eps: float = 1e-6, rope_theta: float = 10000.0, max_position_embeddings: int = 512,
                 tie_word_embeddings: bool = False, attention_bias: bool = False, mlp_bias: bool = False, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.tie_word_embeddings = check_bool("tie_word_embeddings", tie_word_embeddings)
        self.model = LlamaModel(vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
                                num_key_value_heads, rms_norm_eps, rope_theta, max_position_embeddings,
                                attention_bias, mlp_bias, device=device, dtype=dtype)
        self.vocab_size, self._max_positions = self.model.vocab_size, self.model.max_position_embeddings
        self.lm_head = nn.Linear(hidden_size, self.vocab_size, bias=False, device=device, dtype=dtype)
        if self.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight  # one tensor, two names
        else:
            init_decoder_weights(self.lm_head)

    # --8<-- [start:llama_for_causal_lm]
    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                cache: KVCache | None = None) -> Tensor:
        """Next-token logits at every position (with ``cache``: at the new positions)."""
        return self.lm_head(self.model(input_ids, attention_mask, cache=cache))  # (N, T, E) -> (N, T, V)
    # --8<-- [end:llama_for_causal_lm]


def llama_from_hf(model: Any) -> LlamaForCausalLM:
    """Our :class:`LlamaForCausalLM` with the weights of a HuggingFace ``LlamaForCausalLM``.

    In the model's dtype (float32 or float64) and device, in eval mode, weights copied (no
    memory shared with ``model``). The config is checked first (:func:`check_llama_config`).

    Raises:
        TypeError: not a ``transformers.LlamaForCausalLM``, or a dtype other than float32/float64.
        UnsupportedConfigError: a config field we do not implement, named with its value.

    Shape:
        a HF ``LlamaForCausalLM`` -> our :class:`LlamaForCausalLM`: ids ``(N, T)`` -> logits ``(N, T, V)``.

    Examples:
        >>> import transformers
        >>> hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        ...     vocab_size=10, hidden_size=8, intermediate_size=12, num_hidden_layers=1, num_attention_heads=2))
        >>> ours = llama_from_hf(hf)
        >>> ours.training, ours.num_parameters() == hf.num_parameters()
        (False, True)
    """
    import transformers

    if not isinstance(model, transformers.LlamaForCausalLM):
        raise TypeError(f"model must be a transformers.LlamaForCausalLM, got {type(model).__name__}")
    config = model.config
    check_llama_config(config)
    weight = model.model.embed_tokens.weight
    if weight.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"model has dtype {str(weight.dtype).replace('torch.', '')}: only float32 and float64 "
                        "are supported")
    tied = model.lm_head.weight is weight
    with torch.random.fork_rng(devices=[]):  # the initialisation is overwritten: leave the caller's RNG alone
        ours = LlamaForCausalLM(
            config.vocab_size, config.hidden_size, config.intermediate_size, config.num_hidden_layers,
            config.num_attention_heads, config.num_key_value_heads, config.rms_norm_eps, rope_theta(config),
            config.max_position_embeddings, tied, config.attention_bias, config.mlp_bias,
            device=weight.device, dtype=weight.dtype)
    ours.load_state_dict(model.state_dict(), strict=True)
    return ours.eval()
