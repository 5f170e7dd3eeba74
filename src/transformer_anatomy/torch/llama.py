"""Llama's pieces from scratch in PyTorch: RMSNorm, rotary position embedding (RoPE) and the
SwiGLU feed-forward.

Sources: Zhang & Sennrich 2019 (RMSNorm), Su et al. 2021 "RoFormer" (RoPE), Shazeer 2020 "GLU
Variants Improve Transformer" (SwiGLU). The twin of ``numpy/llama.py`` (same names, arguments, defaults and parameter names, which are
HuggingFace ``LlamaRMSNorm`` / ``LlamaRotaryEmbedding`` / ``LlamaMLP``'s). As in the NumPy
backend, RMSNorm and the RoPE angles are computed in the module's dtype, where HF always uses
float32 (so a float64 HF Llama is only float32-accurate there).

Page: ``docs/gpt2-llama.md`` (planned: "GPT-2 and Llama, piece by piece").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from transformer_anatomy.errors import check_bool, check_number, check_positive_int, check_rotary

from ._checks import check_float_input, check_tensor, param_dtype
from .module import ModuleMixin

__all__ = ["RMSNorm", "RotaryEmbedding", "SwiGLU", "apply_rotary", "rotate_half"]


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
