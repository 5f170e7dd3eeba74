"""GPT-2 in NumPy, with hand-written backward passes: ``Conv1D``, ``GPT2Attention``, ``GPT2MLP``,
``GPT2Block``, ``GPT2Model`` and ``GPT2LMHeadModel``.

Source: Radford et al. 2019, "Language Models are Unsupervised Multitask Learners" (section
2.3: the GPT-1 decoder with the layer norm moved to the input of each sub-block, a final layer
norm, learned positions, a 1024-token context). The code follows HuggingFace's
``transformers.models.gpt2.modeling_gpt2`` piece by piece, with the same attribute tree
(``transformer.wte``, ``transformer.wpe``, ``transformer.h[i].{ln_1, attn.c_attn, attn.c_proj,
ln_2, mlp.c_fc, mlp.c_proj}``, ``transformer.ln_f``, ``lm_head``), so the parameter names are
HF's and a HF state dict loads with ``strict=True``:

- ``Conv1D`` keeps OpenAI's layout: ``weight`` is ``(in, out)`` and ``y = x @ weight + bias``
  (the transpose of ``Linear``'s ``(out, in)``);
- ``c_attn`` is one fused ``(E, 3E)`` projection, split into ``q, k, v`` in that order;
- the feed-forward uses the tanh form of GELU (HF's ``"gelu_new"``, ``NewGELUActivation``:
  ``0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))``, :class:`~.activation.GELU` with
  ``approximate="tanh"``);
- the language-modelling head ``lm_head`` has no bias and, by default, *is* the token embedding
  (``tie_word_embeddings=True``): one array, whose gradient is the sum of both uses.

No dropout: HF's ``resid_pdrop``, ``embd_pdrop``, ``attn_pdrop`` change nothing in eval mode,
and :func:`gpt2_from_hf` ignores them.

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
)
from transformer_anatomy.hf_config import check_gpt2_config

from .activation import GELU
from .causal_lm import CausalLM, causal_attention, causal_attention_backward
from .embeddings import Embedding, check_token_ids
from .kv_cache import KVCache
from .linear import Linear
from .module import Module, check_dtype, check_positive, make_rng
from .normalization import LayerNorm
from .transformer import ModuleList

__all__ = [
    "Conv1D",
    "Conv1DCache",
    "GPT2Attention",
    "GPT2Block",
    "GPT2LMHeadModel",
    "GPT2MLP",
    "GPT2Model",
    "check_gpt2_config",
    "gpt2_from_hf",
]

INIT_STD = 0.02  # HF's initializer_range: normal(0, 0.02) for every matrix


def _check_width(name: str, x: np.ndarray, width: int, width_name: str) -> None:
    """``ValueError`` unless ``x`` is ``(..., width)``."""
    if x.ndim == 0 or x.shape[-1] != width:
        raise ValueError(f"{name} has shape {x.shape}, expected (..., {width_name}={width})")


def _cache_error(owner: str) -> BackwardError:
    return BackwardError(f"{owner}.backward after a forward with a KV cache: the cached keys and values "
                         f"came from earlier forwards, so there is nothing to differentiate; "
                         f"run forward without a cache before backward")


# -- Conv1D ----------------------------------------------------------------------------------
class Conv1DCache(NamedTuple):
    """What :meth:`Conv1D.backward` needs: the input.

    Shape:
        x: ``(..., nx)``.
    """

    x: np.ndarray  # (..., nx)


class Conv1D(Module):
    """OpenAI's "Conv1D" (HF ``transformers.pytorch_utils.Conv1D``): a linear layer stored
    transposed, ``y = x @ weight + bias`` with ``weight`` ``(nx, nf)``.

    The name is historical (a convolution of width 1 is a linear map applied at every
    position); GPT-2's checkpoints keep this layout, so every projection of GPT-2 is one.
    ``weight`` starts ``N(0, 0.02²)``, ``bias`` at zeros (HF's initialisation).

    Args:
        nf: output features (HF's argument order: ``Conv1D(nf, nx)``).
        nx: input features.
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights.

    Shape:
        x: ``(..., nx)`` -> y: ``(..., nf)``.
        backward: dy ``(..., nf)`` -> dx ``(..., nx)``; fills dweight ``(nx, nf)``, dbias ``(nf,)``.

    Examples:
        >>> conv = Conv1D(3, 2, dtype=np.float64, rng=0)  # 2 -> 3 features
        >>> conv.weight.shape, conv(np.ones((4, 2))).shape
        ((2, 3), (4, 3))
        >>> _ = conv.backward(np.ones((4, 3)))
        >>> conv.grads["bias"].tolist()
        [4.0, 4.0, 4.0]
    """

    def __init__(self, nf: int, nx: int, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.nf = check_positive("nf", nf)
        self.nx = check_positive("nx", nx)
        dt = check_dtype(dtype)
        self._dtype = dt
        self.register_parameter("weight", make_rng(rng).normal(0.0, INIT_STD, (self.nx, self.nf)).astype(dt))
        self.register_parameter("bias", np.zeros(self.nf, dtype=dt))

    # --8<-- [start:conv1d]
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``y = x @ W + b``; caches ``x``."""
        x = self._input("x", x)
        _check_width("x", x, self.nx, "nx")
        x2 = x.reshape(-1, self.nx)  # (..., nx) -> (M, nx)
        y = x2 @ self.weight + self.bias  # (M, nx) @ (nx, nf) + (nf,) -> (M, nf)
        return self._forwarded(y.reshape(*x.shape[:-1], self.nf), cache=Conv1DCache(x))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """``dW = xᵀ dy``, ``db = Σ dy``, ``dx = dy Wᵀ``.

        Shape:
            dy: ``(..., nf)`` -> dx: ``(..., nx)``; dW: ``(nx, nf)``, db: ``(nf,)``.
        """
        dy = self._grad_input("dy", dy)
        (x,) = self._cached()
        dy2 = dy.reshape(-1, self.nf)  # (..., nf) -> (M, nf)
        np.matmul(x.reshape(-1, self.nx).T, dy2, out=self._grads["weight"])  # (nx, M) @ (M, nf) -> (nx, nf)
        np.sum(dy2, axis=0, out=self._grads["bias"])  # (M, nf) -> (nf,)
        return (dy2 @ self.weight.T).reshape(x.shape)  # (M, nf) @ (nf, nx) -> (M, nx) -> (..., nx)
    # --8<-- [end:conv1d]

    def extra_repr(self) -> str:
        return f"nf={self.nf}, nx={self.nx}"


# -- attention -------------------------------------------------------------------------------
class GPT2AttentionCache(NamedTuple):
    """What :meth:`GPT2Attention.backward` needs: the core attention's cache (``None`` after a
    forward with a KV cache, which cannot be differentiated).

    Shape:
        attn: a :class:`~.causal_lm.CausalAttentionCache` (q ``(N, H, 1, T, D)``, ...).
    """

    attn: Any  # CausalAttentionCache | None


def _check_layer_cache(layer_cache: Any, N: int, H: int, D: int) -> int:
    """The number of positions already in ``layer_cache`` (a dict; empty: 0), after checking
    that its ``"self_k"`` / ``"self_v"`` are ``(N, H, t, D)``."""
    if not isinstance(layer_cache, dict):
        raise TypeError(f"layer_cache must be a dict (one layer of a KVCache), got {type(layer_cache).__name__}")
    if "self_k" not in layer_cache:
        return 0
    k, v = layer_cache["self_k"], layer_cache.get("self_v")
    if v is None or np.shape(k) != np.shape(v) or np.ndim(k) != 4 or (k.shape[0], k.shape[1], k.shape[3]) != (N, H, D):
        raise ValueError(f"layer_cache holds self_k {np.shape(k)} and self_v {np.shape(v)}, expected "
                         f"(N, H, t, D) with N={N}, H={H}, D={D}")
    return int(k.shape[2])


class GPT2Attention(Module):
    """GPT-2's causal multi-head self-attention (HF ``GPT2Attention``): one fused ``c_attn``
    projection ``(E, 3E)`` split into queries, keys and values, causal attention on ``H``
    heads with scores scaled by ``1/√(E/H)``, and the output projection ``c_proj``.

    With ``layer_cache`` (one layer of a :class:`~.kv_cache.KVCache`: a dict) the keys and
    values of the new positions are appended to the cached ones (``"self_k"``, ``"self_v"``,
    ``(N, H, t, E/H)``), and the ``T`` new queries attend to all ``t + T`` positions.

    Args:
        n_embd: ``E``, the model width. n_head: ``H``, which must divide ``E``.
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights.

    Shape:
        x: ``(N, T, E)``; key_padding_mask: ``(N, S)`` bool, True = padding, with
        ``S = t + T`` (``t`` cached positions) -> ``(N, T, E)``.
        backward: dy ``(N, T, E)`` -> dx ``(N, T, E)``; fills ``c_attn.*``, ``c_proj.*``.

    Examples:
        >>> attn = GPT2Attention(8, 2, dtype=np.float64, rng=0)
        >>> x = np.random.default_rng(0).standard_normal((1, 3, 8))
        >>> y = attn(x)
        >>> dx = attn.backward(np.ones_like(y))
        >>> y.shape, dx.shape, sorted(attn.grads)
        ((1, 3, 8), (1, 3, 8), ['c_attn.bias', 'c_attn.weight', 'c_proj.bias', 'c_proj.weight'])
        >>> first = attn(x[:, :1])  # position 0 sees only itself: changing the future changes nothing
        >>> bool(np.allclose(first[0, 0], y[0, 0]))
        True
    """

    def __init__(self, n_embd: int, n_head: int, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.n_embd = check_positive("n_embd", n_embd)
        self.n_head = check_positive("n_head", n_head)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        self.head_dim = self.n_embd // self.n_head
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.c_attn = Conv1D(3 * self.n_embd, self.n_embd, dtype=dt, rng=rng)
        self.c_proj = Conv1D(self.n_embd, self.n_embd, dtype=dt, rng=rng)

    # --8<-- [start:gpt2_attention]
    def forward(self, x: np.ndarray, key_padding_mask: np.ndarray | None = None, *,
                layer_cache: dict | None = None) -> np.ndarray:
        """``c_proj(causal_attention(split(c_attn(x))))``; appends to ``layer_cache`` if given."""
        x = self._input("x", x)
        if x.ndim != 3:
            raise ValueError(f"x has shape {x.shape}, expected (N, T, n_embd={self.n_embd})")
        _check_width("x", x, self.n_embd, "n_embd")
        N, T, E = x.shape  # batch, new positions, model width
        H, D = self.n_head, self.head_dim  # heads, head width E/H
        qkv = self.c_attn.forward(x)  # (N, T, E) -> (N, T, 3E)
        q, k, v = (a.reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N, T, E) -> (N, H, T, D)
                   for a in np.split(qkv, 3, axis=-1))  # q, k, v in that order, as HF's split
        if layer_cache is not None:
            if _check_layer_cache(layer_cache, N, H, D):
                k = np.concatenate([layer_cache["self_k"], k], axis=2)  # (N, H, t, D) + (N, H, T, D) -> (N, H, S, D)
                v = np.concatenate([layer_cache["self_v"], v], axis=2)
            layer_cache["self_k"], layer_cache["self_v"] = k, v
        ctx, attn_cache = causal_attention(q, k, v, key_padding_mask, return_cache=True)  # (N, H, T, D)
        ctx = ctx.transpose(0, 2, 1, 3).reshape(N, T, E)  # (N, H, T, D) -> (N, T, H, D) -> (N, T, E)
        y = self.c_proj.forward(ctx)  # (N, T, E)
        return self._forwarded(y, cache=GPT2AttentionCache(None if layer_cache is not None else attn_cache))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Back through ``c_proj``, the attention core and the fused ``c_attn``.

        Shape:
            dy: ``(N, T, E)`` -> dx: ``(N, T, E)``.
        """
        dy = self._grad_input("dy", dy)
        (attn_cache,) = self._cached()
        if attn_cache is None:
            raise _cache_error(type(self).__name__)
        N, T, E = dy.shape
        H, D = self.n_head, self.head_dim
        dctx = self.c_proj.backward(dy).reshape(N, T, H, D).transpose(0, 2, 1, 3)  # (N, T, E) -> (N, H, T, D)
        dq, dk, dv = causal_attention_backward(dctx, attn_cache)  # each (N, H, T, D)
        dqkv = np.concatenate([g.transpose(0, 2, 1, 3).reshape(N, T, E) for g in (dq, dk, dv)],
                              axis=-1)  # 3 x (N, H, T, D) -> (N, T, 3E)
        return self.c_attn.backward(dqkv)  # (N, T, 3E) -> (N, T, E)
    # --8<-- [end:gpt2_attention]

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}"


# -- feed-forward ----------------------------------------------------------------------------
class GPT2MLP(Module):
    """GPT-2's feed-forward (HF ``GPT2MLP``): ``c_proj(gelu_new(c_fc(x)))``.

    ``gelu_new`` is the tanh approximation of GELU, ``0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))``
    (HF's ``NewGELUActivation``; :class:`~.activation.GELU` with ``approximate="tanh"``).

    Args:
        n_embd: ``E``. n_inner: ``F``, the hidden width (GPT-2 uses ``4E``).
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights.

    Shape:
        x: ``(..., E)`` -> y: ``(..., E)``; backward: dy ``(..., E)`` -> dx ``(..., E)``.

    Examples:
        >>> mlp = GPT2MLP(4, 16, dtype=np.float64, rng=0)
        >>> y = mlp(np.ones((2, 3, 4)))
        >>> dx = mlp.backward(np.ones_like(y))
        >>> y.shape, dx.shape, sorted(mlp.grads)
        ((2, 3, 4), (2, 3, 4), ['c_fc.bias', 'c_fc.weight', 'c_proj.bias', 'c_proj.weight'])
    """

    def __init__(self, n_embd: int, n_inner: int, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.n_embd = check_positive("n_embd", n_embd)
        self.n_inner = check_positive("n_inner", n_inner)
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.c_fc = Conv1D(self.n_inner, self.n_embd, dtype=dt, rng=rng)
        self.act = GELU(approximate="tanh")
        self.c_proj = Conv1D(self.n_embd, self.n_inner, dtype=dt, rng=rng)

    # --8<-- [start:gpt2_mlp]
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``c_proj(gelu_new(c_fc(x)))``."""
        x = self._input("x", x)
        _check_width("x", x, self.n_embd, "n_embd")
        y = self.c_proj.forward(self.act.forward(self.c_fc.forward(x)))  # (..., E) -> (..., F) -> (..., E)
        return self._forwarded(y, cache=None)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Back through ``c_proj``, the activation and ``c_fc``.

        Shape:
            dy: ``(..., E)`` -> dx: ``(..., E)``.
        """
        dy = self._grad_input("dy", dy)
        return self.c_fc.backward(self.act.backward(self.c_proj.backward(dy)))  # (..., E) -> (..., F) -> (..., E)
    # --8<-- [end:gpt2_mlp]

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_inner={self.n_inner}"


# -- the block -------------------------------------------------------------------------------
class GPT2Block(Module):
    """One GPT-2 layer (HF ``GPT2Block``), pre-norm:
    ``h = x + attn(ln_1(x))``, ``y = h + mlp(ln_2(h))``.

    Args:
        n_embd: ``E``. n_head: ``H``. n_inner: ``F`` (default ``None``: ``4E``).
        layer_norm_epsilon: the two LayerNorms' ``eps`` (default ``1e-5``).
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights.

    Shape:
        x: ``(N, T, E)``; key_padding_mask ``(N, S)`` bool (True = padding) -> ``(N, T, E)``.
        backward: dy ``(N, T, E)`` -> dx ``(N, T, E)``.

    Examples:
        >>> block = GPT2Block(8, 2, dtype=np.float64, rng=0)
        >>> y = block(np.ones((1, 3, 8)))
        >>> y.shape, block.backward(np.ones_like(y)).shape, block.num_parameters()
        ((1, 3, 8), (1, 3, 8), 872)
    """

    def __init__(self, n_embd: int, n_head: int, n_inner: int | None = None, layer_norm_epsilon: float = 1e-5,
                 *, dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        n_embd = check_positive("n_embd", n_embd)
        n_inner = 4 * n_embd if n_inner is None else check_positive("n_inner", n_inner)
        eps = check_number("layer_norm_epsilon", layer_norm_epsilon, minimum=0.0)
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.ln_1 = LayerNorm(n_embd, eps, dtype=dt)
        self.attn = GPT2Attention(n_embd, n_head, dtype=dt, rng=rng)
        self.ln_2 = LayerNorm(n_embd, eps, dtype=dt)
        self.mlp = GPT2MLP(n_embd, n_inner, dtype=dt, rng=rng)

    # --8<-- [start:gpt2_block]
    def forward(self, x: np.ndarray, key_padding_mask: np.ndarray | None = None, *,
                layer_cache: dict | None = None) -> np.ndarray:
        """``h = x + attn(ln_1(x))``; ``y = h + mlp(ln_2(h))``."""
        x = self._input("x", x)
        h = x + self.attn.forward(self.ln_1.forward(x), key_padding_mask, layer_cache=layer_cache)
        y = h + self.mlp.forward(self.ln_2.forward(h))
        return self._forwarded(y, cache=None)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """Each residual passes the gradient through and adds its branch's:
        ``dh = dy + ln_2ᵀ(mlpᵀ(dy))``, ``dx = dh + ln_1ᵀ(attnᵀ(dh))``.

        Shape:
            dy: ``(N, T, E)`` -> dx: ``(N, T, E)``.
        """
        dy = self._grad_input("dy", dy)
        dh = dy + self.ln_2.backward(self.mlp.backward(dy))
        return dh + self.ln_1.backward(self.attn.backward(dh))
    # --8<-- [end:gpt2_block]


# -- the model -------------------------------------------------------------------------------
class GPT2ModelCache(NamedTuple):
    """What :meth:`GPT2Model.backward` needs: whether the forward used a KV cache."""

    used_cache: bool


def _key_padding_mask(attention_mask: Any, N: int, S: int) -> np.ndarray | None:
    """HF's ``attention_mask`` (1 = attend, 0 = padding) ``(N, S)`` -> our key padding mask
    (True = padding), or ``None`` when nothing is padded."""
    if attention_mask is None:
        return None
    if hasattr(attention_mask, "detach") and hasattr(attention_mask, "numpy"):  # a torch tensor
        attention_mask = attention_mask.detach().cpu().numpy()
    m = np.asarray(attention_mask)
    if m.shape != (N, S):
        raise ValueError(f"attention_mask has shape {m.shape}, expected (N, S)=({N}, {S}): one entry per "
                         f"position so far (cached ones included)")
    if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
        raise ValueError(f"attention_mask must hold only 0 (padding) and 1 (attend), got dtype {m.dtype} "
                         f"with values {np.unique(m)[:5].tolist()}")
    pad = m == 0
    return pad if pad.any() else None


class GPT2Model(Module):
    """The GPT-2 decoder stack (HF ``GPT2Model``): token embedding ``wte`` plus learned position
    embedding ``wpe``, ``n_layer`` :class:`GPT2Block` s in ``h``, and the final LayerNorm ``ln_f``.

    Args:
        vocab_size: ``V``. n_embd: ``E`` (default 64). n_layer: blocks (default 2).
        n_head: ``H`` (default 4). n_positions: the length of the position table, the longest
        context (default 512). n_inner: the feed-forward width (default ``None``: ``4E``).
        layer_norm_epsilon: every LayerNorm's ``eps`` (default ``1e-5``).
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights
        (normal(0, 0.02) matrices and embeddings, zero biases, unit norms).

    Shape:
        input_ids: ``(N, T)`` ints in ``[0, V)``; attention_mask: ``(N, S)`` 1 = attend,
        0 = padding (``S = T``, or ``cache.length + T`` with a cache) -> hidden ``(N, T, E)``.
        backward: dhidden ``(N, T, E)`` -> None; fills every gradient.

    Examples:
        >>> model = GPT2Model(11, n_embd=8, n_layer=1, n_head=2, n_positions=16, dtype=np.float64, rng=0)
        >>> hidden = model(np.array([[1, 2, 3]]))
        >>> hidden.shape, model.backward(np.ones_like(hidden)), model.grads["wpe.weight"].shape
        ((1, 3, 8), None, (16, 8))
    """

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                 n_positions: int = 512, n_inner: int | None = None, layer_norm_epsilon: float = 1e-5,
                 *, dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.vocab_size = check_positive("vocab_size", vocab_size)
        self.n_embd = check_positive("n_embd", n_embd)
        self.n_layer = check_positive("n_layer", n_layer)
        self.n_head = check_positive("n_head", n_head)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        self.n_positions = check_positive("n_positions", n_positions)
        self.n_inner = 4 * self.n_embd if n_inner is None else check_positive("n_inner", n_inner)
        self.layer_norm_epsilon = check_number("layer_norm_epsilon", layer_norm_epsilon, minimum=0.0)
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.wte = Embedding(self.vocab_size, self.n_embd, init_std=INIT_STD, dtype=dt, rng=rng)
        self.wpe = Embedding(self.n_positions, self.n_embd, init_std=INIT_STD, dtype=dt, rng=rng)
        self.h = ModuleList([GPT2Block(self.n_embd, self.n_head, self.n_inner, self.layer_norm_epsilon,
                                       dtype=dt, rng=rng) for _ in range(self.n_layer)])
        self.ln_f = LayerNorm(self.n_embd, self.layer_norm_epsilon, dtype=dt)

    def _check_cache(self, cache: Any, N: int) -> int:
        """``cache.length`` after checking that ``cache`` is a KVCache for this model."""
        if not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
        if not cache.layers:
            if cache.length:
                raise ValueError(f"cache has length={cache.length} but no layers")
            cache.layers.extend({} for _ in range(self.n_layer))
        if len(cache.layers) != self.n_layer:
            raise ValueError(f"cache has {len(cache.layers)} layers, the model has n_layer={self.n_layer}")
        for layer in cache.layers:
            k = layer.get("self_k")
            if (0 if k is None else np.shape(k)[2]) != cache.length or (k is not None and np.shape(k)[0] != N):
                raise ValueError(f"cache (length={cache.length}) holds self_k of shape {np.shape(k)}: it does not "
                                 f"fit input_ids with N={N} rows")
        return int(cache.length)

    # --8<-- [start:gpt2_model]
    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None, *,
                cache: KVCache | None = None) -> np.ndarray:
        """``ln_f(h[-1](... h[0](wte[ids] + wpe[positions])))``; positions start at ``cache.length``."""
        ids = check_token_ids(input_ids, self.vocab_size, "input_ids")
        N, T = ids.shape  # batch, new positions
        if T == 0:
            raise ValueError(f"input_ids has shape {ids.shape}: expected at least one position")
        past = 0 if cache is None else self._check_cache(cache, N)  # positions already cached
        if past + T > self.n_positions:
            raise ValueError(f"positions {past}..{past + T - 1} do not fit n_positions={self.n_positions} "
                             f"(the learned position table has rows 0..{self.n_positions - 1}; "
                             f"cache.length={past} + T={T} > n_positions)")
        pad = _key_padding_mask(attention_mask, N, past + T)  # (N, S) True = padding, or None
        positions = np.arange(past, past + T)  # (T,)
        x = self.wte.forward(ids) + self.wpe.forward(positions)  # (N, T, E) + (T, E)
        for i, block in enumerate(self.h):
            x = block.forward(x, pad, layer_cache=None if cache is None else cache.layers[i])
        if cache is not None:
            cache.length = past + T
        return self._forwarded(self.ln_f.forward(x), cache=GPT2ModelCache(cache is not None))

    def backward(self, dhidden: np.ndarray) -> None:
        """Back through ``ln_f``, the blocks in reverse, and both embeddings.

        Shape:
            dhidden: ``(N, T, E)`` -> None; dwte ``(V, E)``, dwpe ``(n_positions, E)``, ...
        """
        dx = self._grad_input("dhidden", dhidden)
        if self._cached().used_cache:
            raise _cache_error(type(self).__name__)
        dx = self.ln_f.backward(dx)
        for block in reversed(list(self.h)):
            dx = block.backward(dx)
        self.wte.backward(dx)  # scatter-add into the rows of the ids, (V, E)
        self.wpe.backward(dx.sum(axis=0))  # (N, T, E) -> (T, E): every row uses the same positions
    # --8<-- [end:gpt2_model]

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, n_embd={self.n_embd}, n_layer={self.n_layer}, "
                f"n_head={self.n_head}, n_positions={self.n_positions}")


class GPT2LMHeadModel(CausalLM):
    """GPT-2 with its language-modelling head (HF ``GPT2LMHeadModel``):
    ``logits = lm_head(transformer(input_ids))``.

    ``lm_head`` is a bias-free projection ``E -> V`` whose weight, with
    ``tie_word_embeddings=True`` (default, as GPT-2), is the token embedding
    ``transformer.wte.weight`` itself: one array in :attr:`params` (under HF's name
    ``transformer.wte.weight``), whose gradient is the sum of its two uses, and two keys in
    :meth:`state_dict` (as HF's, which holds ``lm_head.weight`` too).

    Args:
        vocab_size: ``V``. n_embd: ``E`` (default 64). n_layer: blocks (default 2).
        n_head: ``H`` (default 4). n_positions: the longest context (default 512).
        n_inner: the feed-forward width (default ``None``: ``4E``).
        layer_norm_epsilon: every LayerNorm's ``eps`` (default ``1e-5``).
        tie_word_embeddings: share ``lm_head.weight`` with ``transformer.wte.weight``.
        dtype: float32 (default) or float64. rng: generator or seed for the initial weights.

    Shape:
        input_ids: ``(N, T)`` ints; attention_mask: ``(N, S)`` (HF's: 1 = attend, 0 = padding;
        ``S = T``, or ``cache.length + T`` with a cache) -> logits ``(N, T, V)``.
        backward: dlogits ``(N, T, V)`` -> None; fills :attr:`grads` (HF's parameter names).

    Examples:
        >>> model = GPT2LMHeadModel(11, n_embd=8, n_layer=1, n_head=2, n_positions=16, dtype=np.float64, rng=0)
        >>> logits = model(np.array([[1, 2, 3]]))
        >>> logits.shape, model.backward(np.ones_like(logits))
        ((1, 3, 11), None)
        >>> "lm_head.weight" in model.grads, "lm_head.weight" in model.state_dict()  # tied: one array
        (False, True)
        >>> model.generate(np.array([[1, 2]]), max_new_tokens=3).shape
        (1, 5)
    """

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                 n_positions: int = 512, n_inner: int | None = None, layer_norm_epsilon: float = 1e-5,
                 tie_word_embeddings: bool = True, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        self.tie_word_embeddings = check_bool("tie_word_embeddings", tie_word_embeddings)
        dt = check_dtype(dtype)
        self._dtype = dt
        rng = make_rng(rng)
        self.transformer = GPT2Model(vocab_size, n_embd, n_layer, n_head, n_positions, n_inner,
                                     layer_norm_epsilon, dtype=dt, rng=rng)
        self.vocab_size = self.transformer.vocab_size
        self.lm_head = Linear(self.transformer.n_embd, self.vocab_size, bias=False, dtype=dt,
                              rng=0)  # its weight is replaced just below
        if self.tie_word_embeddings:
            self.lm_head.register_parameter("weight", self.transformer.wte.weight)  # the same array
        else:
            self.lm_head.register_parameter(
                "weight", rng.normal(0.0, INIT_STD, (self.vocab_size, self.transformer.n_embd)).astype(dt))

    @property
    def n_positions(self) -> int:
        """The longest context (the rows of ``transformer.wpe``)."""
        return self.transformer.n_positions

    # --8<-- [start:gpt2_lm_head]
    def forward(self, input_ids: np.ndarray, attention_mask: np.ndarray | None = None, *,
                cache: KVCache | None = None) -> np.ndarray:
        """``logits = hidden @ lm_head.weightᵀ``, in the model's dtype.

        With ``cache`` (a :class:`~.kv_cache.KVCache`, empty to start) ``input_ids`` are the new
        tokens: their positions start at ``cache.length``, and the cache is extended in place.
        """
        hidden = self.transformer.forward(input_ids, attention_mask, cache=cache)  # (N, T, E)
        logits = self.lm_head.forward(hidden)  # (N, T, E) @ (E, V) -> (N, T, V)
        return self._forwarded(logits, cache=GPT2ModelCache(cache is not None))

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill :attr:`grads`; with tied embeddings ``transformer.wte.weight`` gets the sum of
        the head's gradient ``dlogitsᵀ hidden`` and the embedding's scatter-add.

        Shape:
            dlogits: ``(N, T, V)`` -> None.
        """
        dlogits = self._grad_input("dlogits", dlogits)
        if self._cached().used_cache:
            raise _cache_error(type(self).__name__)
        self.transformer.backward(self.lm_head.backward(dlogits))
        if self.tie_word_embeddings:
            self.transformer.wte._grads["weight"] += self.lm_head._grads["weight"]  # (V, E): both uses
    # --8<-- [end:gpt2_lm_head]

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> None:
        """As :meth:`Module.load_state_dict`; with tied embeddings ``lm_head.weight`` may be
        absent, and if present must equal ``transformer.wte.weight`` (:class:`StateDictError`
        otherwise: one array cannot hold two values)."""
        sd = dict(state_dict)
        if self.tie_word_embeddings and "transformer.wte.weight" in sd:
            wte = _as_numpy(sd["transformer.wte.weight"])
            if "lm_head.weight" not in sd:
                sd["lm_head.weight"] = wte
            else:
                head = _as_numpy(sd["lm_head.weight"])
                if head.shape == wte.shape and not np.array_equal(head, wte):
                    raise StateDictError(
                        "state_dict does not fit GPT2LMHeadModel: lm_head.weight differs from transformer.wte.weight, "
                        "but the model ties them (tie_word_embeddings=True)")
        super().load_state_dict(sd, strict)

    def extra_repr(self) -> str:
        return f"tie_word_embeddings={self.tie_word_embeddings}"


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


# -- HuggingFace -----------------------------------------------------------------------------
def gpt2_from_hf(model: Any) -> GPT2LMHeadModel:
    """Our :class:`GPT2LMHeadModel` with the weights of a HF ``transformers.GPT2LMHeadModel``.

    The config is checked by :func:`check_gpt2_config`; the result has the model's dtype
    (float32 or float64; another: ``TypeError`` naming it), is in eval mode, and holds copies
    of the weights (no memory shared with ``model``). HF's dropout probabilities are ignored.

    Args:
        model: a ``transformers.GPT2LMHeadModel`` (anything else: ``TypeError`` naming its class).

    Shape:
        model -> a :class:`GPT2LMHeadModel` with the same state dict keys and values.

    Examples:
        >>> import torch
        >>> from transformers import GPT2Config, GPT2LMHeadModel as HFGPT2
        >>> hf = HFGPT2(GPT2Config(vocab_size=11, n_embd=8, n_layer=1, n_head=2, n_positions=16,
        ...                        bos_token_id=None, eos_token_id=None)).double().eval()
        >>> ours = gpt2_from_hf(hf)
        >>> ids = np.array([[1, 2, 3]])
        >>> bool(np.allclose(ours(ids), hf(torch.tensor(ids)).logits.detach().numpy(), rtol=1e-10, atol=1e-10))
        True
    """
    try:
        from transformers import GPT2LMHeadModel as HFGPT2LMHeadModel
    except ImportError as e:  # pragma: no cover - transformers is a test dependency
        raise ImportError("gpt2_from_hf needs the `transformers` package") from e
    if not isinstance(model, HFGPT2LMHeadModel):
        raise TypeError(f"gpt2_from_hf expects a transformers.GPT2LMHeadModel, got {type(model).__name__}")
    config = model.config
    check_gpt2_config(config)
    import torch

    torch_dtype = next(model.parameters()).dtype
    dtypes = {torch.float32: np.float32, torch.float64: np.float64}
    if torch_dtype not in dtypes:
        raise TypeError(f"model has dtype {str(torch_dtype).replace('torch.', '')}; only float32 and float64 "
                        f"models can be converted")
    ours = GPT2LMHeadModel(config.vocab_size, config.n_embd, config.n_layer, config.n_head, config.n_positions,
                           config.n_inner, config.layer_norm_epsilon,
                           tie_word_embeddings=bool(config.tie_word_embeddings), dtype=dtypes[torch_dtype], rng=0)
    ours.load_state_dict({k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}, strict=True)
    return ours.eval()
