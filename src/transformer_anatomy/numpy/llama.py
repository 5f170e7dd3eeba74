"""Llama's pieces in NumPy, with hand-written backward passes: RMSNorm, rotary position
embedding (RoPE) and the SwiGLU feed-forward.

Sources: RMSNorm, Zhang & Sennrich 2019, "Root Mean Square Layer Normalization"; RoPE, Su et
al. 2021, "RoFormer" (section 3.2; HF pairs coordinates ``(i, i + D/2)``, not RoFormer's
adjacent ``(2i, 2i+1)``); SwiGLU, Shazeer 2020, "GLU Variants Improve Transformer". Each
follows HuggingFace's ``transformers.models.llama.modeling_llama`` (``LlamaRMSNorm``,
``LlamaRotaryEmbedding``, ``rotate_half`` / ``apply_rotary_pos_emb``, ``LlamaMLP``), with the
same parameter names, so a HF state dict loads with ``strict=True``.

One difference, on purpose: HF computes RMSNorm and the RoPE angles in float32 whatever the
model's dtype (``hidden_states.to(torch.float32)``; ``inv_freq`` in ``torch.float``), so a
float64 HF model is only float32-accurate there. Here everything is computed in the module's
dtype: in float32 the arithmetic is HF's, in float64 it is float64 throughout.

Page: ``docs/gpt2-llama.md`` (planned: "GPT-2 and Llama, piece by piece").
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import check_bool, check_number, check_rotary

from .linear import Linear
from .module import Module, as_float_input, check_dtype, check_positive, make_rng

__all__ = [
    "RMSNorm",
    "RMSNormCache",
    "RotaryEmbedding",
    "SwiGLU",
    "SwiGLUCache",
    "apply_rotary",
    "apply_rotary_backward",
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
