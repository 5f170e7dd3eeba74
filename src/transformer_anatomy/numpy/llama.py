"""Llama in NumPy, with hand-written backward passes: its pieces (RMSNorm, rotary position
embedding (RoPE), the SwiGLU feed-forward) and the whole decoder-only model (grouped-query
attention with a KV cache, ``LlamaDecoderLayer``, ``LlamaModel``, ``LlamaForCausalLM``), plus
``llama_from_hf`` / ``check_llama_config`` to copy a HuggingFace model.

Sources: RMSNorm, Zhang & Sennrich 2019, "Root Mean Square Layer Normalization"; RoPE, Su et
al. 2021, "RoFormer" (section 3.2; HF pairs coordinates ``(i, i + D/2)``, not RoFormer's
adjacent ``(2i, 2i+1)``); SwiGLU, Shazeer 2020, "GLU Variants Improve Transformer"; GQA,
Ainslie et al. 2023; Touvron et al. 2023, "LLaMA". Each follows HuggingFace's
``transformers.models.llama.modeling_llama`` (``LlamaRMSNorm``, ``LlamaRotaryEmbedding``,
``rotate_half`` / ``apply_rotary_pos_emb``, ``LlamaMLP``, ``LlamaAttention``,
``LlamaDecoderLayer``, ``LlamaModel``, ``LlamaForCausalLM``), with the same parameter names,
so a HF state dict loads with ``strict=True`` and ``grads`` has the keys of HF's
``named_parameters()``.

One difference, on purpose: HF computes RMSNorm and the RoPE angles in float32 whatever the
model's dtype (``hidden_states.to(torch.float32)``; ``inv_freq`` in ``torch.float``), so a
float64 HF model is only float32-accurate there. Here everything is computed in the module's
dtype: in float32 the arithmetic is HF's, in float64 it is float64 throughout.

Page: ``docs/gpt2-llama.md`` ("GPT-2 and Llama, piece by piece").
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import (
    BackwardError,
    StateDictError,
    check_bool,
    check_number,
    check_gqa_heads, check_rotary,
)
from transformer_anatomy.hf_config import check_llama_config, rope_theta

from .causal_lm import CausalLM
from .linear import Linear
from .module import Module, as_float_input, check_dtype, check_positive, make_rng

__all__ = [
    "LlamaAttention",
    "LlamaDecoderLayer",
    "LlamaForCausalLM",
    "LlamaModel",
    "RMSNorm",
    "RMSNormCache",
    "RotaryEmbedding",
    "SwiGLU",
    "SwiGLUCache",
    "apply_rotary",
    "apply_rotary_backward",
    "check_llama_config",
    "llama_from_hf",
    "rotate_half",
]


# -- RMSNorm --------------------------------------------------------------------------------
class RMSNormCache(NamedTuple):
    """What :meth:`RMSNorm.backward` needs: ``x̂ = x / rms(x)`` and ``1 / rms(x)``.

    Shape:
        xhat: ``(..., E)``; rrms: ``(..., 1)``.
    """

    xhat: np.ndarray  # (..., E)
    rrms: np.ndarray  # (..., 1), 1 / sqrt(mean(x²) + eps)


class RMSNorm(Module):
    """``y = x / sqrt(mean(x²) + eps) * weight`` over the last axis (HF ``LlamaRMSNorm``).

    LayerNorm without the centring and without a bias: only the scale of each row is
    normalised. ``weight`` starts at ones.

    Args:
        hidden_size: ``E``, the width of the last axis.
        eps: added to the mean square (HF's ``rms_norm_eps``, default ``1e-6``).
        dtype: float32 (default) or float64; the whole computation runs in it.

    Shape:
        x: ``(..., E)`` -> y: ``(..., E)``.
        backward: dy ``(..., E)`` -> dx ``(..., E)``; fills dweight ``(E,)``.

    Examples:
        >>> norm = RMSNorm(4, dtype=np.float64)
        >>> y = norm(np.array([[1.0, -1.0, 1.0, -1.0], [2.0, 2.0, 2.0, 2.0]]))
        >>> np.round(y, 6).tolist()
        [[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, 1.0, 1.0]]
        >>> norm.backward(np.ones_like(y)).shape, sorted(norm.grads)
        ((2, 4), ['weight'])
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6, *, dtype: Any = np.float32) -> None:
        super().__init__()
        self.hidden_size = check_positive("hidden_size", hidden_size)
        self.eps = check_number("eps", eps, minimum=0.0)
        dt = check_dtype(dtype)
        self._dtype = dt
        self.register_parameter("weight", np.ones(self.hidden_size, dtype=dt))

    # --8<-- [start:rms_norm]
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Scale each row to unit root mean square, then by ``weight``; caches ``x̂``, ``1/rms``."""
        x = self._input("x", x)
        if x.ndim == 0 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x has shape {x.shape}, expected (..., hidden_size={self.hidden_size})")
        ms = np.mean(x * x, axis=-1, keepdims=True)  # mean square, (..., 1)
        rrms = 1.0 / np.sqrt(ms + self.eps)  # 1 / rms, (..., 1)
        xhat = x * rrms  # (..., E)
        y = self.weight * xhat  # (E,) * (..., E)
        return self._forwarded(y, cache=RMSNormCache(xhat, rrms))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dx = (1/rms) (dx̂ - x̂ · mean(dx̂ · x̂))`` with ``dx̂ = dy · weight``; ``dweight = Σ dy · x̂``.

        Shape:
            dy: ``(..., E)`` -> dx: ``(..., E)``; dweight: ``(E,)``.
        """
        dy = self._grad_input("dy", dy)
        xhat, rrms = self._cached()
        E = self.hidden_size
        np.einsum("me,me->e", dy.reshape(-1, E), xhat.reshape(-1, E), out=self._grads["weight"])
        dxhat = dy * self.weight  # (..., E)
        return rrms * (dxhat - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True))  # (..., E)
    # --8<-- [end:rms_norm]

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}"


# -- rotary position embedding ---------------------------------------------------------------
def rotate_half(x: np.ndarray) -> np.ndarray:
    """``[x1, x2] -> [-x2, x1]`` on the last axis (halves, HF's convention, not interleaved pairs).

    Shape:
        x: ``(..., D)`` with ``D`` even -> ``(..., D)``.

    Examples:
        >>> rotate_half(np.array([1.0, 2.0, 3.0, 4.0])).tolist()
        [-3.0, -4.0, 1.0, 2.0]
    """
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[-1] % 2:
        raise ValueError(f"x has shape {x.shape}, expected (..., D) with an even D")
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def _rotary_operands(q: Any, k: Any, cos: Any, sin: Any,
                     names: tuple[str, str] = ("q", "k")) -> tuple[np.ndarray, ...]:
    """Check ``q (N, H, T, D)``, ``k (N, Hk, T, D)``, ``cos``/``sin`` ``(N, T, D)`` or ``(T, D)``;
    return them with ``cos``/``sin`` broadcastable to ``q`` and ``k``, in ``q``'s dtype."""
    qn, kn = names
    q = np.asarray(q)
    if q.dtype.kind != "f":
        raise TypeError(f"{qn} has dtype {q.dtype}, expected a real floating array")
    dt = q.dtype
    k, cos, sin = (as_float_input(n, a, dt) for n, a in ((kn, k), ("cos", cos), ("sin", sin)))
    if q.ndim != 4 or k.ndim != 4:
        raise ValueError(f"{qn} {q.shape} and {kn} {k.shape} must be 4-D (N, H, T, D)")
    if q.shape[-1] % 2:
        raise ValueError(f"{qn} {q.shape}: the head size D={q.shape[-1]} must be even for rotary embedding")
    if q.shape[0] != k.shape[0] or q.shape[2:] != k.shape[2:]:
        raise ValueError(f"{qn} {q.shape} and {kn} {k.shape} must share N, T and D (axes 0, 2, 3)")
    if cos.shape != sin.shape or cos.ndim not in (2, 3):
        raise ValueError(f"cos {cos.shape} and sin {sin.shape} must have the same shape, (T, D) or (N, T, D)")
    N, _, T, D = q.shape
    if cos.shape[-2:] != (T, D) or (cos.ndim == 3 and cos.shape[0] not in (1, N)):
        raise ValueError(f"cos {cos.shape} does not fit {qn} {q.shape}: expected (T, D)=({T}, {D}) "
                         f"or (N, T, D)=({N}, {T}, {D})")
    if cos.ndim == 3:  # (N, T, D) -> (N, 1, T, D): the same angles for every head (HF's unsqueeze_dim=1)
        cos, sin = cos[:, None], sin[:, None]
    return q, k, cos, sin


# --8<-- [start:apply_rotary]
def apply_rotary(q: np.ndarray, k: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate queries and keys by their positions' angles: ``x cos + rotate_half(x) sin``.

    HF's ``apply_rotary_pos_emb(q, k, cos, sin)`` (``unsqueeze_dim=1``): pair ``i`` of a head
    is the coordinates ``(i, i + D/2)``, turned by the angle ``position · θ_i``.

    Args:
        q: queries ``(N, H, T, D)``.
        k: keys ``(N, Hk, T, D)`` (``Hk`` may differ from ``H``: grouped-query attention).
        cos, sin: from :meth:`RotaryEmbedding.forward`, ``(N, T, D)`` or ``(T, D)``.

    Returns:
        ``(q_rot, k_rot)``, shaped like ``q`` and ``k``, in ``q``'s dtype.

    Shape:
        q ``(N, H, T, D)``, k ``(N, Hk, T, D)``, cos/sin ``(N, T, D)`` or ``(T, D)``
        -> q_rot ``(N, H, T, D)``, k_rot ``(N, Hk, T, D)``; backward: :func:`apply_rotary_backward`.

    Examples:
        >>> rope = RotaryEmbedding(4, dtype=np.float64)
        >>> cos, sin = rope(np.arange(3))
        >>> q = np.ones((1, 1, 3, 4)); k = np.ones((1, 2, 3, 4))
        >>> q_rot, k_rot = apply_rotary(q, k, cos, sin)
        >>> q_rot.shape, k_rot.shape, np.round(q_rot[0, 0, 0], 6).tolist()  # position 0: unchanged
        ((1, 1, 3, 4), (1, 2, 3, 4), [1.0, 1.0, 1.0, 1.0])
    """
    q, k, cos, sin = _rotary_operands(q, k, cos, sin)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def apply_rotary_backward(dq_rot: np.ndarray, dk_rot: np.ndarray, cos: np.ndarray,
                          sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`apply_rotary` w.r.t. ``q`` and ``k``: the inverse rotation.

    ``rotate_half`` is a linear map ``R`` with ``Rᵀ = -R``, so for ``y = x cos + R(x) sin``
    the gradient is ``dx = dy cos + Rᵀ(dy sin) = dy cos - rotate_half(dy sin)``. (``cos`` and
    ``sin`` are fixed functions of the positions: they get no gradient.)

    Shape:
        dq_rot ``(N, H, T, D)``, dk_rot ``(N, Hk, T, D)``, cos/sin as in :func:`apply_rotary`
        -> ``(dq, dk)`` of the same shapes.

    Examples:
        >>> rope = RotaryEmbedding(4, dtype=np.float64)
        >>> cos, sin = rope(np.arange(2))
        >>> q = np.arange(8.0).reshape(1, 1, 2, 4)
        >>> q_rot, _ = apply_rotary(q, q, cos, sin)
        >>> dq, _ = apply_rotary_backward(q_rot, q_rot, cos, sin)  # a rotation's transpose undoes it
        >>> bool(np.allclose(dq, q))
        True
    """
    dq_rot, dk_rot, cos, sin = _rotary_operands(dq_rot, dk_rot, cos, sin, ("dq_rot", "dk_rot"))
    return (dq_rot * cos - rotate_half(dq_rot * sin),
            dk_rot * cos - rotate_half(dk_rot * sin))
# --8<-- [end:apply_rotary]


class RotaryEmbedding(Module):
    """The RoPE angles for given positions: ``(cos, sin)`` of ``position · θ_i`` (HF ``LlamaRotaryEmbedding``).

    ``θ_i = rope_theta^(-2i/D)`` for ``i = 0 .. D/2 - 1`` (``inv_freq``); each angle is used
    twice, for coordinates ``i`` and ``i + D/2`` (``cat(freqs, freqs)``). Only HF's
    ``rope_type="default"`` is implemented; anything else (linear, dynamic, yarn, llama3
    scaling) is refused. No parameters, and no backward (the angles depend only on integer
    positions).

    Args:
        head_dim: ``D``, the size of each attention head (even).
        max_position_embeddings: the longest context the model is meant for (HF's field of the
            same name); kept for the models, positions are not limited by it (as in HF).
        rope_theta: the base ``θ`` (HF default ``10000.0``).
        rope_type: must be ``"default"``.
        dtype: float32 (default: HF's arithmetic) or float64 (the angles computed in float64).

    Shape:
        position_ids: integers ``(N, T)`` or ``(T,)`` -> cos, sin: ``(N, T, D)`` or ``(T, D)``.

    Examples:
        >>> rope = RotaryEmbedding(4, rope_theta=100.0, dtype=np.float64)
        >>> rope.inv_freq.tolist()  # θ_0 = 1, θ_1 = 100^(-1/2)
        [1.0, 0.1]
        >>> cos, sin = rope(np.array([[0, 1]]))
        >>> cos.shape, np.round(sin[0, 1], 4).tolist()
        ((1, 2, 4), [0.8415, 0.0998, 0.8415, 0.0998])
    """

    def __init__(self, head_dim: int, max_position_embeddings: int = 2048, rope_theta: float = 10000.0,
                 *, rope_type: str = "default", dtype: Any = np.float32) -> None:
        super().__init__()
        self.head_dim, self.max_position_embeddings, self.rope_theta = check_rotary(
            head_dim, max_position_embeddings, rope_theta, rope_type)
        self.rope_type = rope_type
        self._dtype = check_dtype(dtype)
        self._on_dtype_change(self._dtype)

    def _on_dtype_change(self, dt: np.dtype) -> None:
        exponent = np.arange(0, self.head_dim, 2, dtype=dt) / dt.type(self.head_dim)  # 2i / D
        self.inv_freq = (dt.type(1.0) / (dt.type(self.rope_theta) ** exponent)).astype(dt)  # (D/2,)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def forward(self, position_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cos, sin)`` of ``position · inv_freq``, each angle repeated for both halves."""
        pos = np.asarray(position_ids)
        if pos.dtype.kind not in "iu":
            raise TypeError(f"position_ids must be integers, got dtype {pos.dtype}")
        if pos.ndim not in (1, 2):
            raise ValueError(f"position_ids has shape {pos.shape}, expected (N, T) or (T,)")
        freqs = pos[..., None].astype(self._dtype) * self.inv_freq  # (..., T, D/2)
        emb = np.concatenate([freqs, freqs], axis=-1)  # (..., T, D)
        cos, sin = np.cos(emb), np.sin(emb)
        return self._forwarded(cos, sin, cache=None)

    def backward(self, *args: Any) -> Any:
        """Not differentiable: the angles depend only on integer positions."""
        raise TypeError("RotaryEmbedding has no backward: cos and sin depend only on integer positions")

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, rope_theta={self.rope_theta:g}"


# -- SwiGLU feed-forward ---------------------------------------------------------------------
def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)`` without overflow for large ``|x|``."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class SwiGLUCache(NamedTuple):
    """What :meth:`SwiGLU.backward` needs: the gate's pre-activation, its sigmoid, and ``up(x)``.

    Shape:
        gate, sig, up: ``(..., F)``.
    """

    gate: np.ndarray  # (..., F), gate_proj(x)
    sig: np.ndarray  # (..., F), sigmoid(gate)
    up: np.ndarray  # (..., F), up_proj(x)


class SwiGLU(Module):
    """``down_proj(silu(gate_proj(x)) * up_proj(x))``: Llama's feed-forward (HF ``LlamaMLP``).

    ``silu(g) = g · sigmoid(g)``. Parameters ``gate_proj.weight`` ``(F, E)``,
    ``up_proj.weight`` ``(F, E)``, ``down_proj.weight`` ``(E, F)`` (and ``.bias`` with
    ``bias=True``, HF's ``mlp_bias``), initialised like ``torch.nn.Linear``.

    Args:
        hidden_size: ``E``. intermediate_size: ``F``. bias: add biases (default ``False``).
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights.

    Shape:
        x: ``(..., E)`` -> y: ``(..., E)``; backward: dy ``(..., E)`` -> dx ``(..., E)``.

    Examples:
        >>> mlp = SwiGLU(4, 8, dtype=np.float64, rng=0)
        >>> y = mlp(np.ones((2, 3, 4)))
        >>> dx = mlp.backward(np.ones_like(y))
        >>> y.shape, dx.shape, sorted(mlp.grads)
        ((2, 3, 4), (2, 3, 4), ['down_proj.weight', 'gate_proj.weight', 'up_proj.weight'])
    """

    def __init__(self, hidden_size: int, intermediate_size: int, bias: bool = False, *,
                 dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.hidden_size = check_positive("hidden_size", hidden_size)
        self.intermediate_size = check_positive("intermediate_size", intermediate_size)
        bias = check_bool("bias", bias)
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.gate_proj = Linear(hidden_size, intermediate_size, bias=bias, dtype=dt, rng=rng)
        self.up_proj = Linear(hidden_size, intermediate_size, bias=bias, dtype=dt, rng=rng)
        self.down_proj = Linear(intermediate_size, hidden_size, bias=bias, dtype=dt, rng=rng)

    # --8<-- [start:swiglu]
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``down(silu(gate(x)) * up(x))``; caches the gate, its sigmoid and ``up(x)``."""
        x = self._input("x", x)
        if x.ndim == 0 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x has shape {x.shape}, expected (..., hidden_size={self.hidden_size})")
        g = self.gate_proj.forward(x)  # (..., F)
        u = self.up_proj.forward(x)  # (..., F)
        s = _sigmoid(g)
        y = self.down_proj.forward(g * s * u)  # silu(g) * u, (..., F) -> (..., E)
        return self._forwarded(y, cache=SwiGLUCache(g, s, u))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dm = down.backward(dy)``; ``du = dm · silu(g)``; ``dg = dm · u · s (1 + g (1 - s))``
        (the SiLU derivative, ``s = sigmoid(g)``); ``dx = gate.backward(dg) + up.backward(du)``.

        Shape:
            dy: ``(..., E)`` -> dx: ``(..., E)``; fills the three projections' gradients.
        """
        dy = self._grad_input("dy", dy)
        g, s, u = self._cached()
        dm = self.down_proj.backward(dy)  # (..., F)
        du = dm * (g * s)
        dg = dm * u * (s * (1.0 + g * (1.0 - s)))  # d silu(g) / dg = s + g s (1 - s)
        return self.gate_proj.backward(dg) + self.up_proj.backward(du)  # (..., E)
    # --8<-- [end:swiglu]

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}, intermediate_size={self.intermediate_size}"


# -- the model: attention, decoder layer, LlamaModel, LlamaForCausalLM -------------------------
_check_heads = check_gqa_heads  # (E, H, Hk) checked: errors.py, one copy for both backends


def _init_normal(module: Module, rng: np.random.Generator, std: float = 0.02) -> None:
    """HF's ``_init_weights`` with ``initializer_range=std``: every ``Linear`` weight
    ``N(0, std)``, biases zero (norms keep their ones)."""
    for _, m in module.named_modules():
        if isinstance(m, Linear):
            m.weight[...] = rng.normal(0.0, std, m.weight.shape)
            if m.has_bias:
                m.bias[...] = 0.0


class LlamaAttentionCache(NamedTuple):
    """What :meth:`LlamaAttention.backward` needs: the angles and the attention's cache.

    Shape:
        cos, sin: ``(T, D)``; attn: see :class:`~transformer_anatomy.numpy.causal_lm.CausalAttentionCache`.
    """

    cos: np.ndarray  # (T, D)
    sin: np.ndarray  # (T, D)
    attn: Any  # CausalAttentionCache
    cached: bool  # the forward used a KV cache (no backward then)


class LlamaAttention(Module):
    """Llama's self-attention (HF ``LlamaAttention``): projections, RoPE, grouped-query causal
    attention, output projection.

    ``q_proj`` ``(H·D, E)``, ``k_proj`` / ``v_proj`` ``(Hk·D, E)``, ``o_proj`` ``(E, H·D)``
    (biases with ``attention_bias``), ``D = E / H``. The queries and keys are rotated by
    :func:`apply_rotary` before the attention; with a KV cache the rotated keys are stored.

    Args:
        hidden_size: ``E``. num_attention_heads: ``H`` (divides ``E``).
        num_key_value_heads: ``Hk`` (divides ``H``; ``None``: ``H``, plain multi-head).
        attention_bias: biases on the four projections (HF's ``attention_bias``).
        dtype: float32 (default) or float64. rng: generator or seed, ``N(0, 0.02)`` weights.

    Shape:
        x ``(N, T, E)``, cos/sin ``(T, D)`` -> ``(N, T, E)``; backward: dy ``(N, T, E)`` -> dx ``(N, T, E)``.

    Examples:
        >>> attn = LlamaAttention(8, 4, 2, dtype=np.float64, rng=0)
        >>> cos, sin = RotaryEmbedding(2, dtype=np.float64)(np.arange(3))
        >>> y = attn(np.ones((1, 3, 8)), cos, sin)
        >>> y.shape, attn.backward(np.ones_like(y)).shape, attn.k_proj.weight.shape
        ((1, 3, 8), (1, 3, 8), (4, 8))
    """

    def __init__(self, hidden_size: int, num_attention_heads: int, num_key_value_heads: int | None = None,
                 attention_bias: bool = False, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        E, H, Hk = _check_heads(hidden_size, num_attention_heads, num_key_value_heads)
        bias = check_bool("attention_bias", attention_bias)
        self.hidden_size, self.num_heads, self.num_key_value_heads = E, H, Hk
        self.head_dim = E // H
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        D = self.head_dim
        self.q_proj = Linear(E, H * D, bias=bias, dtype=dt, rng=rng)
        self.k_proj = Linear(E, Hk * D, bias=bias, dtype=dt, rng=rng)
        self.v_proj = Linear(E, Hk * D, bias=bias, dtype=dt, rng=rng)
        self.o_proj = Linear(H * D, E, bias=bias, dtype=dt, rng=rng)
        _init_normal(self, rng)

    # --8<-- [start:llama_attention]
    def forward(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray,
                key_padding_mask: np.ndarray | None = None, *, layer_cache: dict | None = None) -> np.ndarray:
        """Project, rotate, (append to the cache,) attend causally, project back.

        Args:
            x: ``(N, T, E)``. cos, sin: the angles of the ``T`` positions, ``(T, D)``.
            key_padding_mask: ``(N, S)`` bool, True = padding; ``S = t + T`` with a cache.
            layer_cache: one layer's dict of a :class:`~transformer_anatomy.numpy.kv_cache.KVCache`
                (``self_k``, ``self_v``: ``(N, Hk, t, D)``), extended in place.
        """
        from .causal_lm import causal_attention

        x = self._input("x", x)
        if x.ndim != 3 or x.shape[-1] != self.hidden_size:
            raise ValueError(f"x has shape {x.shape}, expected (N, T, hidden_size={self.hidden_size})")
        N, T, _ = x.shape
        H, Hk, D = self.num_heads, self.num_key_value_heads, self.head_dim
        q = self.q_proj.forward(x).reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N, T, H·D) -> (N, H, T, D)
        k = self.k_proj.forward(x).reshape(N, T, Hk, D).transpose(0, 2, 1, 3)  # (N, T, Hk·D) -> (N, Hk, T, D)
        v = self.v_proj.forward(x).reshape(N, T, Hk, D).transpose(0, 2, 1, 3)  # (N, T, Hk·D) -> (N, Hk, T, D)
        q, k = apply_rotary(q, k, cos, sin)  # rotate by each position's angles
        if layer_cache is not None:  # the t cached positions first: (N, Hk, t, D) + (N, Hk, T, D) -> (N, Hk, t+T, D)
            if "self_k" in layer_cache:
                k = np.concatenate([layer_cache["self_k"], k], axis=2)
                v = np.concatenate([layer_cache["self_v"], v], axis=2)
            layer_cache["self_k"], layer_cache["self_v"] = k, v
        out, attn = causal_attention(q, k, v, key_padding_mask, return_cache=True)  # (N, H, T, D)
        y = self.o_proj.forward(out.transpose(0, 2, 1, 3).reshape(N, T, H * D))  # (N, H, T, D) -> (N, T, E)
        return self._forwarded(y, cache=LlamaAttentionCache(np.asarray(cos), np.asarray(sin), attn,
                                                            layer_cache is not None))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Back through ``o_proj``, the attention (:func:`causal_attention_backward`), the
        rotation (:func:`apply_rotary_backward`) and the three projections, whose input
        gradients add up.

        Shape:
            dy ``(N, T, E)`` -> dx ``(N, T, E)``; fills the projections' gradients.
        """
        from .causal_lm import causal_attention_backward

        dy = self._grad_input("dy", dy)
        cos, sin, attn, cached = self._cached()
        if cached:
            raise BackwardError("LlamaAttention.backward after a forward with a KV cache: not supported")
        N, T, _ = dy.shape
        H, Hk, D = self.num_heads, self.num_key_value_heads, self.head_dim
        dout = self.o_proj.backward(dy).reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N, T, E) -> (N, H, T, D)
        dq, dk, dv = causal_attention_backward(dout, attn)  # (N, H, T, D), (N, Hk, T, D) x 2
        dq, dk = apply_rotary_backward(dq, dk, cos, sin)  # undo the rotation
        dx = self.q_proj.backward(dq.transpose(0, 2, 1, 3).reshape(N, T, H * D))  # (N, H, T, D) -> (N, T, E)
        dx += self.k_proj.backward(dk.transpose(0, 2, 1, 3).reshape(N, T, Hk * D))
        dx += self.v_proj.backward(dv.transpose(0, 2, 1, 3).reshape(N, T, Hk * D))
        return dx
    # --8<-- [end:llama_attention]

    def extra_repr(self) -> str:
        return (f"hidden_size={self.hidden_size}, num_heads={self.num_heads}, "
                f"num_key_value_heads={self.num_key_value_heads}")


class LlamaDecoderLayer(Module):
    """One Llama block (HF ``LlamaDecoderLayer``), pre-norm with RMSNorm:
    ``h = x + self_attn(input_layernorm(x))``; ``y = h + mlp(post_attention_layernorm(h))``.

    Args:
        hidden_size, num_attention_heads, num_key_value_heads, attention_bias: see
            :class:`LlamaAttention`. intermediate_size: ``F`` of the :class:`SwiGLU`.
        rms_norm_eps: the norms' ``eps``. mlp_bias: biases in the feed-forward.
        dtype: float32 (default) or float64. rng: generator or seed.

    Shape:
        x ``(N, T, E)``, cos/sin ``(T, D)`` -> ``(N, T, E)``; backward: dy -> dx ``(N, T, E)``.

    Examples:
        >>> layer = LlamaDecoderLayer(8, 16, 2, rng=0)
        >>> cos, sin = RotaryEmbedding(4)(np.arange(3))
        >>> layer(np.ones((1, 3, 8), dtype=np.float32), cos, sin).shape
        (1, 3, 8)
    """

    def __init__(self, hidden_size: int, intermediate_size: int, num_attention_heads: int,
                 num_key_value_heads: int | None = None, rms_norm_eps: float = 1e-6,
                 attention_bias: bool = False, mlp_bias: bool = False, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        # HF's registration order (self_attn, mlp, then the norms): the same named_parameters order
        self.self_attn = LlamaAttention(hidden_size, num_attention_heads, num_key_value_heads, attention_bias,
                                        dtype=dt, rng=rng)
        self.mlp = SwiGLU(hidden_size, intermediate_size, bias=check_bool("mlp_bias", mlp_bias), dtype=dt, rng=rng)
        _init_normal(self.mlp, rng)
        self.input_layernorm = RMSNorm(hidden_size, eps=rms_norm_eps, dtype=dt)
        self.post_attention_layernorm = RMSNorm(hidden_size, eps=rms_norm_eps, dtype=dt)

    def forward(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray,
                key_padding_mask: np.ndarray | None = None, *, layer_cache: dict | None = None) -> np.ndarray:
        """Two pre-norm residual sublayers: attention, then SwiGLU."""
        x = self._input("x", x)
        h = x + self.self_attn.forward(self.input_layernorm.forward(x), cos, sin, key_padding_mask, layer_cache=layer_cache)
        y = h + self.mlp.forward(self.post_attention_layernorm.forward(h))
        return self._forwarded(y, cache=None)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Each residual passes the gradient through and adds its sublayer's.

        Shape:
            dy ``(N, T, E)`` -> dx ``(N, T, E)``.
        """
        dy = self._grad_input("dy", dy)
        dh = dy + self.post_attention_layernorm.backward(self.mlp.backward(dy))
        return dh + self.input_layernorm.backward(self.self_attn.backward(dh))


class LlamaModelCache(NamedTuple):
    """What :meth:`LlamaModel.backward` needs: whether the forward used a KV cache."""

    cached: bool


class LlamaModel(Module):
    """The Llama trunk (HF ``LlamaModel``): token embedding, decoder layers, final RMSNorm.

    No position embedding is added: positions enter through RoPE in every attention layer.
    Positions are ``0 .. T-1`` (``cache.length ..`` with a cache), as HF's forward without
    ``position_ids``; padding is on the right.

    Args:
        vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
        num_key_value_heads, rms_norm_eps, rope_theta, max_position_embeddings, attention_bias,
        mlp_bias: HF's ``LlamaConfig`` fields (see :class:`LlamaForCausalLM`).
        dtype: float32 (default) or float64. rng: generator or seed.

    Shape:
        input_ids ``(N, T)``, attention_mask ``(N, T)`` (``(N, t + T)`` with a cache)
        -> hidden states ``(N, T, E)``; backward: dh ``(N, T, E)`` -> None.

    Examples:
        >>> m = LlamaModel(10, 8, 16, 1, 2, rng=0)
        >>> m(np.array([[1, 2, 3]])).shape
        (1, 3, 8)
    """

    def __init__(self, vocab_size: int, hidden_size: int = 64, intermediate_size: int = 176,
                 num_hidden_layers: int = 2, num_attention_heads: int = 4, num_key_value_heads: int | None = None,
                 rms_norm_eps: float = 1e-6, rope_theta: float = 10000.0, max_position_embeddings: int = 512,
                 attention_bias: bool = False, mlp_bias: bool = False, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        from .embeddings import Embedding
        from .transformer import ModuleList

        self.vocab_size = check_positive("vocab_size", vocab_size)
        E, H, Hk = _check_heads(hidden_size, num_attention_heads, num_key_value_heads)
        L = check_positive("num_hidden_layers", num_hidden_layers)
        self.hidden_size, self.num_hidden_layers = E, L
        self.max_position_embeddings = check_positive("max_position_embeddings", max_position_embeddings)
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.embed_tokens = Embedding(self.vocab_size, E, init_std=0.02, dtype=dt, rng=rng)
        self.layers = ModuleList([
            LlamaDecoderLayer(E, intermediate_size, H, Hk, rms_norm_eps, attention_bias, mlp_bias, dtype=dt, rng=rng)
            for _ in range(L)])
        self.norm = RMSNorm(E, eps=rms_norm_eps, dtype=dt)
        self.rotary_emb = RotaryEmbedding(E // H, self.max_position_embeddings, rope_theta, dtype=dt)

    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None, *,
                cache: Any = None) -> np.ndarray:
        """Embed, run the layers with the positions' RoPE angles, normalise.

        Args:
            input_ids: ``(N, T)`` ids in ``[0, vocab_size)``.
            attention_mask: HF's convention, 1 = attend, 0 = padding; ``(N, T)``, or
                ``(N, cache.length + T)`` with a cache.
            cache: a :class:`~transformer_anatomy.numpy.kv_cache.KVCache`, extended in place.
        """
        from .embeddings import check_ids

        ids = check_ids(input_ids, self.vocab_size)
        if ids.ndim != 2:
            raise ValueError(f"input_ids has shape {ids.shape}, expected (N, T)")
        N, T = ids.shape
        start = 0 if cache is None else int(cache.length)  # the first new position
        if start + T > self.max_position_embeddings:
            raise ValueError(f"positions {start}..{start + T - 1} reach past max_position_embeddings="
                             f"{self.max_position_embeddings} ({start + T} positions)")
        kpm = _key_padding_mask(attention_mask, N, start + T)
        if cache is not None:
            if not cache.layers:
                cache.layers.extend({} for _ in range(self.num_hidden_layers))
            if len(cache.layers) != self.num_hidden_layers:
                raise ValueError(f"cache has {len(cache.layers)} layers, the model {self.num_hidden_layers}")
        cos, sin = self.rotary_emb.forward(np.arange(start, start + T))  # (T, D) each
        h = self.embed_tokens.forward(ids)  # (N, T) -> (N, T, E)
        for i, layer in enumerate(self.layers):
            h = layer.forward(h, cos, sin, kpm, layer_cache=None if cache is None else cache.layers[i])
        if cache is not None:
            cache.length = start + T
        return self._forwarded(self.norm.forward(h), cache=LlamaModelCache(cache is not None))

    def backward(self, dh: np.ndarray) -> None:
        """Back through the final norm, the layers (last first) and the embedding.

        Shape:
            dh ``(N, T, E)`` -> None; fills every parameter's gradient.
        """
        dh = self._grad_input("dh", dh)
        if self._cached().cached:
            raise BackwardError(f"{type(self).__name__}.backward after a forward with a KV cache: not supported")
        d = self.norm.backward(dh)
        for layer in reversed(list(self.layers)):
            d = layer.backward(d)
        self.embed_tokens.backward(d)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, hidden_size={self.hidden_size}"


def _key_padding_mask(attention_mask: Any, N: int, S: int) -> np.ndarray | None:
    """HF's ``attention_mask`` (1 = attend, 0 = padding) ``(N, S)`` -> our key padding mask
    (True = padding), or ``None`` when there is no mask or no padding."""
    if attention_mask is None:
        return None
    if hasattr(attention_mask, "detach"):
        attention_mask = attention_mask.detach().cpu().numpy()
    m = np.asarray(attention_mask)
    if m.shape != (N, S):
        raise ValueError(f"attention_mask has shape {m.shape}, expected (N, S)=({N}, {S}) "
                         "(all positions so far, 1 = attend, 0 = padding)")
    if m.dtype.kind not in "biuf" or not np.all((m == 0) | (m == 1)):
        raise ValueError("attention_mask must hold only 0 (padding) and 1 (attend)")
    kpm = m == 0
    return kpm if kpm.any() else None


class LlamaForCausalLMCache(NamedTuple):
    """What :meth:`LlamaForCausalLM.backward` needs: whether the forward used a KV cache."""

    cached: bool


class LlamaForCausalLM(CausalLM):
    """A Llama language model (HF ``LlamaForCausalLM``): :class:`LlamaModel` and ``lm_head``.

    Parameter names, shapes and order are HF's, so ``load_state_dict(hf.state_dict())`` works
    with ``strict=True`` and ``grads`` has the keys of HF's ``named_parameters()``. With
    ``tie_word_embeddings`` the head reuses ``model.embed_tokens.weight`` (one parameter, its
    gradient the sum of both uses; ``state_dict`` still lists ``lm_head.weight``, as HF).
    No dropout (HF's ``attention_dropout`` changes nothing in eval mode).

    Args:
        vocab_size: ``V``. hidden_size: ``E``. intermediate_size: ``F`` (SwiGLU).
        num_hidden_layers: ``L``. num_attention_heads: ``H`` (divides ``E``).
        num_key_value_heads: ``Hk`` (divides ``H``; ``None``: ``H``; ``1``: multi-query).
        rms_norm_eps: the RMSNorms' ``eps``. rope_theta: RoPE's base.
        max_position_embeddings: the longest sequence (longer inputs are refused).
        tie_word_embeddings: share the embedding with the head.
        attention_bias, mlp_bias: biases in the attention / the feed-forward projections.
        dtype: float32 (default) or float64. rng: generator or seed; weights ``N(0, 0.02)``,
            biases zero, norms one (HF's init with ``initializer_range=0.02``).

    Shape:
        input_ids ``(N, T)``, attention_mask ``(N, T)`` -> logits ``(N, T, V)``;
        backward: dlogits ``(N, T, V)`` -> None (fills ``grads``).

    Examples:
        >>> m = LlamaForCausalLM(10, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        ...                      num_attention_heads=2, num_key_value_heads=1, dtype=np.float64, rng=0)
        >>> logits = m(np.array([[1, 2, 3]]))
        >>> m.backward(np.ones_like(logits))
        >>> logits.shape, sorted(m.grads)[:2]
        ((1, 3, 10), ['lm_head.weight', 'model.embed_tokens.weight'])
    """

    def __init__(self, vocab_size: int, hidden_size: int = 64, intermediate_size: int = 176,
                 num_hidden_layers: int = 2, num_attention_heads: int = 4, num_key_value_heads: int | None = None,
                 rms_norm_eps: float = 1e-6, rope_theta: float = 10000.0, max_position_embeddings: int = 512,
                 tie_word_embeddings: bool = False, attention_bias: bool = False, mlp_bias: bool = False, *,
                 dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.tie_word_embeddings = check_bool("tie_word_embeddings", tie_word_embeddings)
        self.model = LlamaModel(vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
                                num_key_value_heads, rms_norm_eps, rope_theta, max_position_embeddings,
                                attention_bias, mlp_bias, dtype=dt, rng=rng)
        self.vocab_size = self.model.vocab_size
        self.lm_head = Linear(self.model.hidden_size, self.vocab_size, bias=False, dtype=dt, rng=rng)
        if self.tie_word_embeddings:
            self.lm_head.register_parameter("weight", self.model.embed_tokens.weight)  # the same array
        else:
            _init_normal(self.lm_head, rng)

    # --8<-- [start:llama_for_causal_lm]
    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None, *,
                cache: Any = None) -> np.ndarray:
        """``lm_head(model(input_ids))``: logits ``(N, T, V)`` (see :meth:`LlamaModel.forward`)."""
        h = self.model.forward(input_ids, attention_mask, cache=cache)  # (N, T, E)
        return self._forwarded(self.lm_head.forward(h), cache=LlamaForCausalLMCache(cache is not None))

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill ``grads`` from the gradient of the loss w.r.t. the last forward's logits.

        Tied weights: the head's gradient is added to the embedding's.

        Shape:
            dlogits ``(N, T, V)`` -> None.
        """
        dlogits = self._grad_input("dlogits", dlogits)
        if self._cached().cached:
            raise BackwardError("LlamaForCausalLM.backward after a forward with a KV cache: not supported")
        self.model.backward(self.lm_head.backward(dlogits))  # (N, T, V) -> (N, T, E) -> the trunk
        if self.tie_word_embeddings:
            self.model.embed_tokens._grads["weight"] += self.lm_head._grads["weight"]
    # --8<-- [end:llama_for_causal_lm]

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> None:
        """As :meth:`Module.load_state_dict`; with tied weights ``lm_head.weight`` may be absent,
        and when present it must equal ``model.embed_tokens.weight``."""
        if self.tie_word_embeddings:
            sd = dict(state_dict)
            emb, head = sd.get("model.embed_tokens.weight"), sd.get("lm_head.weight")
            if head is None and emb is not None:
                sd["lm_head.weight"] = emb
            elif head is not None and emb is not None and not np.array_equal(np.asarray(emb), np.asarray(head)):
                raise StateDictError("state_dict does not fit LlamaForCausalLM: tie_word_embeddings=True but "
                                     "lm_head.weight differs from model.embed_tokens.weight")
            state_dict = sd
        super().load_state_dict(state_dict, strict)


# -- from HuggingFace ------------------------------------------------------------------------
def llama_from_hf(model: Any) -> LlamaForCausalLM:
    """Our :class:`LlamaForCausalLM` with the weights of a ``transformers.LlamaForCausalLM``.

    The config is checked first (:func:`check_llama_config`); the result has the HF model's
    dtype (float32 or float64; another dtype is a ``TypeError``), is in eval mode and holds
    copies of the weights (no memory shared with HF's tensors). Dropout probabilities are
    ignored (there is no dropout here; they change nothing in eval mode). One difference in
    training only: HF's ``nn.Embedding(..., padding_idx=pad_token_id)`` gives the row of
    ``pad_token_id`` no gradient; here every row gets its gradient.

    Args:
        model: a ``transformers.LlamaForCausalLM``.

    Shape:
        model -> :class:`LlamaForCausalLM` with the same ``state_dict`` keys and shapes.

    Examples:
        >>> import transformers
        >>> hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        ...     vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2))
        >>> ours = llama_from_hf(hf)
        >>> ours.dtype, ours.training, sorted(ours.state_dict()) == sorted(hf.state_dict())
        (dtype('float32'), False, True)
    """
    import transformers

    if not isinstance(model, transformers.LlamaForCausalLM):
        raise TypeError(f"model must be a transformers.LlamaForCausalLM, got {type(model).__name__}")
    config = model.config
    check_llama_config(config)
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    if dtype not in ("float32", "float64"):
        raise TypeError(f"model has dtype {dtype}: only float32 and float64 models can be converted")
    ours = LlamaForCausalLM(
        config.vocab_size, config.hidden_size, config.intermediate_size, config.num_hidden_layers,
        config.num_attention_heads, config.num_key_value_heads, config.rms_norm_eps,
        rope_theta(config), config.max_position_embeddings,
        bool(config.tie_word_embeddings), bool(config.attention_bias), bool(config.mlp_bias),
        dtype=np.dtype(dtype), rng=0)
    ours.load_state_dict({k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()})
    return ours.eval()
