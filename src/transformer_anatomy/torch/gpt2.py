"""GPT-2 from scratch in PyTorch: OpenAI's ``Conv1D`` (a transposed linear layer), the fused
``c_attn`` causal self-attention with a KV cache, the tanh-GELU MLP, the pre-norm block, the
model with learned positions and the language model ``GPT2LMHeadModel`` (tied head, ``generate``
from :class:`~transformer_anatomy.torch.causal_lm.CausalLM`), and ``gpt2_from_hf``.

Sources: Radford et al. 2019, "Language Models are Unsupervised Multitask Learners" (GPT-2:
pre-norm blocks, a final LayerNorm, learned positions); HuggingFace's
``transformers.models.gpt2.modeling_gpt2`` for the names and layouts, so a HF state dict
loads with ``strict=True``. The twin of ``numpy/gpt2.py`` (same names, arguments, defaults).
No dropout (HF's ``resid_pdrop`` / ``embd_pdrop`` / ``attn_pdrop`` change nothing in eval mode).

Page: ``docs/gpt2-llama.md`` ("GPT-2 and Llama, piece by piece").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from transformer_anatomy.errors import check_bool, check_number, check_positive_int
from transformer_anatomy.hf_config import check_gpt2_config

from ._checks import check_float_input, param_dtype
from .causal_lm import CausalLM, append_to_cache, causal_attention, decoder_inputs, init_decoder_weights
from .kv_cache import KVCache
from .module import ModuleMixin

__all__ = [
    "Conv1D",
    "GPT2Attention",
    "GPT2Block",
    "GPT2LMHeadModel",
    "GPT2MLP",
    "GPT2Model",
    "check_gpt2_config",
    "gpt2_from_hf",
]


def _check_width(name: str, x: Tensor, width: int, width_name: str) -> None:
    if x.dim() == 0 or x.shape[-1] != width:
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected (..., {width_name}={width})")


class Conv1D(ModuleMixin, nn.Module):
    """OpenAI's "Conv1D" (HF ``transformers.pytorch_utils.Conv1D``): a linear layer stored
    transposed, ``y = x @ weight + bias`` with ``weight`` ``(nx, nf)`` (``nn.Linear`` stores
    ``(nf, nx)``). A convolution of width 1 is a linear map at every position; GPT-2's
    checkpoints keep this layout.

    Args:
        nf: output features (HF's argument order: ``Conv1D(nf, nx)``). nx: input features.
        device, dtype: of the weights (``weight`` normal(0, 0.02), ``bias`` zeros, as HF).

    Shape:
        x: ``(..., nx)`` -> ``(..., nf)``.

    Examples:
        >>> conv = Conv1D(3, 2)  # 2 -> 3 features
        >>> tuple(conv.weight.shape), tuple(conv(torch.ones(4, 2)).shape)
        ((2, 3), (4, 3))
    """

    def __init__(self, nf: int, nx: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.nf, self.nx = check_positive_int("nf", nf), check_positive_int("nx", nx)
        self.weight = nn.Parameter(torch.empty(self.nx, self.nf, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(self.nf, device=device, dtype=dtype))
        init_decoder_weights(self)

    # --8<-- [start:conv1d]
    def forward(self, x: Tensor) -> Tensor:
        """``x @ weight + bias``."""
        x = check_float_input("x", x, param_dtype(self))
        _check_width("x", x, self.nx, "nx")
        y = torch.addmm(self.bias, x.reshape(-1, self.nx), self.weight)  # b + (M, nx) @ (nx, nf) -> (M, nf)
        return y.view(*x.shape[:-1], self.nf)  # (M, nf) -> (..., nf)
    # --8<-- [end:conv1d]

    def extra_repr(self) -> str:
        return f"nf={self.nf}, nx={self.nx}"


def _check_embd_head(n_embd: Any, n_head: Any) -> tuple[int, int]:
    E, H = check_positive_int("n_embd", n_embd), check_positive_int("n_head", n_head)
    if E % H:
        raise ValueError(f"n_embd={E} is not divisible by n_head={H}")
    return E, H


class GPT2Attention(ModuleMixin, nn.Module):
    """GPT-2's causal multi-head self-attention (HF ``GPT2Attention``): one fused ``c_attn``
    ``(E, 3E)`` split into queries, keys and values, causal attention on ``H`` heads scaled by
    ``1/√(E/H)``, and the output projection ``c_proj``.

    Args:
        n_embd: ``E``. n_head: ``H`` (divides ``E``). device, dtype: of the weights.

    Shape:
        x ``(N, T, E)``, key_padding_mask ``(N, S)`` bool (True = padding, ``S`` = cached + new
        positions) -> ``(N, T, E)``. ``layer_cache``: one layer's dict of a
        :class:`~transformer_anatomy.torch.kv_cache.KVCache`; ``self_k`` / ``self_v``
        ``(N, H, S, E/H)`` are extended in place.

    Examples:
        >>> attn = GPT2Attention(8, 2)
        >>> tuple(attn(torch.ones(1, 3, 8)).shape), tuple(attn.c_attn.weight.shape)
        ((1, 3, 8), (8, 24))
    """

    def __init__(self, n_embd: int, n_head: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.n_embd, self.n_head = _check_embd_head(n_embd, n_head)
        self.head_dim = self.n_embd // self.n_head
        self.c_attn = Conv1D(3 * self.n_embd, self.n_embd, device=device, dtype=dtype)
        self.c_proj = Conv1D(self.n_embd, self.n_embd, device=device, dtype=dtype)

    # --8<-- [start:gpt2_attention]
    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, *,
                layer_cache: dict | None = None) -> Tensor:
        """``c_proj(causal_attention(split(c_attn(x))))``; appends to ``layer_cache`` if given."""
        x = check_float_input("x", x, param_dtype(self))
        if x.dim() != 3 or x.shape[-1] != self.n_embd:
            raise ValueError(f"x has shape {tuple(x.shape)}, expected (N, T, n_embd={self.n_embd})")
        N, T, E = x.shape  # batch, new positions, model width
        H, D = self.n_head, self.head_dim
        q, k, v = (a.view(N, T, H, D).transpose(1, 2)  # (N, T, E) -> (N, H, T, D)
                   for a in self.c_attn(x).split(E, dim=-1))  # (N, T, 3E): q, k, v in that order
        k, v = append_to_cache(layer_cache, k, v)  # (N, H, S, D)
        ctx = causal_attention(q, k, v, key_padding_mask)  # (N, H, T, D)
        return self.c_proj(ctx.transpose(1, 2).reshape(N, T, E))  # (N, H, T, D) -> (N, T, E)
    # --8<-- [end:gpt2_attention]

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}"


class GPT2MLP(ModuleMixin, nn.Module):
    """GPT-2's feed-forward (HF ``GPT2MLP``): ``c_proj(gelu_new(c_fc(x)))``, with ``gelu_new``
    the tanh form ``0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³)))`` (``nn.GELU(approximate="tanh")``).

    Args:
        n_embd: ``E``. n_inner: ``F`` (GPT-2 uses ``4E``). device, dtype: of the weights.

    Shape:
        x: ``(..., E)`` -> ``(..., E)``.

    Examples:
        >>> mlp = GPT2MLP(4, 16)
        >>> tuple(mlp(torch.ones(2, 3, 4)).shape), sorted(k for k, _ in mlp.named_parameters())
        ((2, 3, 4), ['c_fc.bias', 'c_fc.weight', 'c_proj.bias', 'c_proj.weight'])
    """

    def __init__(self, n_embd: int, n_inner: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.n_embd, self.n_inner = check_positive_int("n_embd", n_embd), check_positive_int("n_inner", n_inner)
        self.c_fc = Conv1D(self.n_inner, self.n_embd, device=device, dtype=dtype)
        self.act = nn.GELU(approximate="tanh")
        self.c_proj = Conv1D(self.n_embd, self.n_inner, device=device, dtype=dtype)

    # --8<-- [start:gpt2_mlp]
    def forward(self, x: Tensor) -> Tensor:
        """``c_proj(gelu_new(c_fc(x)))``: ``E -> F -> E``."""
        return self.c_proj(self.act(self.c_fc(x)))
    # --8<-- [end:gpt2_mlp]


class GPT2Block(ModuleMixin, nn.Module):
    """One GPT-2 layer (HF ``GPT2Block``), pre-norm: ``h = x + attn(ln_1(x))``, ``y = h + mlp(ln_2(h))``.

    Args:
        n_embd: ``E``. n_head: ``H``. n_inner: ``F`` (``None``: ``4E``).
        layer_norm_epsilon: the LayerNorms' ``eps``. device, dtype: of the weights.

    Shape:
        x ``(N, T, E)``, key_padding_mask ``(N, S)`` bool -> ``(N, T, E)``.

    Examples:
        >>> block = GPT2Block(8, 2)
        >>> tuple(block(torch.ones(1, 3, 8)).shape), block.num_parameters()
        ((1, 3, 8), 872)
    """

    def __init__(self, n_embd: int, n_head: int, n_inner: int | None = None, layer_norm_epsilon: float = 1e-5,
                 *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        n_embd = check_positive_int("n_embd", n_embd)
        n_inner = 4 * n_embd if n_inner is None else check_positive_int("n_inner", n_inner)
        eps = check_number("layer_norm_epsilon", layer_norm_epsilon, minimum=0.0)
        kw = dict(device=device, dtype=dtype)
        self.ln_1 = nn.LayerNorm(n_embd, eps, **kw)
        self.attn = GPT2Attention(n_embd, n_head, **kw)
        self.ln_2 = nn.LayerNorm(n_embd, eps, **kw)
        self.mlp = GPT2MLP(n_embd, n_inner, **kw)

    # --8<-- [start:gpt2_block]
    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, *,
                layer_cache: dict | None = None) -> Tensor:
        """``h = x + attn(ln_1(x))``; ``y = h + mlp(ln_2(h))``."""
        x = check_float_input("x", x, param_dtype(self))
        h = x + self.attn(self.ln_1(x), key_padding_mask, layer_cache=layer_cache)
        return h + self.mlp(self.ln_2(h))
    # --8<-- [end:gpt2_block]


class GPT2Model(ModuleMixin, nn.Module):
    """The GPT-2 decoder stack (HF ``GPT2Model``): token embedding ``wte`` plus learned position
    embedding ``wpe``, ``n_layer`` :class:`GPT2Block` s in ``h``, and the final LayerNorm ``ln_f``.

    Args:
        vocab_size: ``V``. n_embd: ``E``. n_layer: blocks. n_head: ``H``. n_positions: rows of
        the position table, the longest context. n_inner: the MLP width (``None``: ``4E``).
        layer_norm_epsilon: every LayerNorm's ``eps``. device, dtype: of the weights
        (normal(0, 0.02) matrices and embeddings, zero biases, unit norms).

    Shape:
        input_ids ``(N, T)`` ints, attention_mask ``(N, T)`` (``(N, cache.length + T)`` with a
        cache; 1 = attend, 0 = padding) -> ``(N, T, E)``.

    Examples:
        >>> model = GPT2Model(11, n_embd=8, n_layer=1, n_head=2, n_positions=16)
        >>> tuple(model(torch.tensor([[1, 2, 3]])).shape), tuple(model.wpe.weight.shape)
        ((1, 3, 8), (16, 8))
    """

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                 n_positions: int = 512, n_inner: int | None = None, layer_norm_epsilon: float = 1e-5,
                 *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.vocab_size = check_positive_int("vocab_size", vocab_size)
        self.n_embd, self.n_head = _check_embd_head(n_embd, n_head)
        self.n_layer = check_positive_int("n_layer", n_layer)
        self.n_positions = check_positive_int("n_positions", n_positions)
        self.layer_norm_epsilon = check_number("layer_norm_epsilon", layer_norm_epsilon, minimum=0.0)
        self.wte = nn.Embedding(self.vocab_size, self.n_embd, **kw)
        self.wpe = nn.Embedding(self.n_positions, self.n_embd, **kw)
        self.h = nn.ModuleList(GPT2Block(self.n_embd, self.n_head, n_inner, self.layer_norm_epsilon, **kw)
                               for _ in range(self.n_layer))
        self.ln_f = nn.LayerNorm(self.n_embd, self.layer_norm_epsilon, **kw)
        init_decoder_weights(self)

    # --8<-- [start:gpt2_model]
    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                cache: KVCache | None = None) -> Tensor:
        """``ln_f(h[-1](... h[0](wte[ids] + wpe[positions])))``; positions start at ``cache.length``."""
        ids, pad, past = decoder_inputs(input_ids, attention_mask, cache, self.vocab_size, self.n_positions,
                                        "n_positions", self.n_layer)
        positions = torch.arange(past, past + ids.shape[1], device=ids.device)  # (T,)
        x = self.wte(ids) + self.wpe(positions)  # (N, T, E) + (T, E)
        for i, block in enumerate(self.h):
            x = block(x, pad, layer_cache=None if cache is None else cache.layers[i])
        if cache is not None:
            cache.length += ids.shape[1]
        return self.ln_f(x)
    # --8<-- [end:gpt2_model]


class GPT2LMHeadModel(CausalLM):
    """GPT-2 with its language-modelling head (HF ``GPT2LMHeadModel``):
    ``logits = lm_head(transformer(input_ids))``.

    ``lm_head`` is a bias-free ``E -> V`` projection; with ``tie_word_embeddings=True`` (the
    default, as GPT-2) its weight *is* ``transformer.wte.weight``: one tensor, named once by
    ``named_parameters()`` (as the embedding, as HF), listed twice in ``state_dict()`` (as HF's).

    Args:
        vocab_size: ``V``. n_embd, n_layer, n_head, n_positions, n_inner, layer_norm_epsilon:
        see :class:`GPT2Model`. tie_word_embeddings: share the head with ``wte``.
        device, dtype: of the weights.

    Shape:
        input_ids ``(N, T)`` ints, attention_mask ``(N, T)`` (1 = attend, 0 = padding; with a
        cache ``(N, cache.length + T)``) -> logits ``(N, T, V)``.

    Examples:
        >>> model = GPT2LMHeadModel(11, n_embd=8, n_layer=1, n_head=2, n_positions=16)
        >>> tuple(model(torch.tensor([[1, 2, 3]])).shape), model.lm_head.weight is model.transformer.wte.weight
        ((1, 3, 11), True)
        >>> tuple(model.generate(torch.tensor([[1, 2]]), max_new_tokens=3).shape)
        (1, 5)
    """

    _embedding_key = "transformer.wte.weight"

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 2, n_head: int = 4,
                 n_positions: int = 512, n_inner: int | None = None, layer_norm_epsilon: float = 1e-5,
                 tie_word_embeddings: bool = True, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.tie_word_embeddings = check_bool("tie_word_embeddings", tie_word_embeddings)
        self.transformer = GPT2Model(vocab_size, n_embd, n_layer, n_head, n_positions, n_inner, layer_norm_epsilon,
                                     device=device, dtype=dtype)
        self.vocab_size, self._max_positions = self.transformer.vocab_size, self.transformer.n_positions
        self.lm_head = nn.Linear(self.transformer.n_embd, self.vocab_size, bias=False, device=device, dtype=dtype)
        if self.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight  # one tensor, two names
        else:
            init_decoder_weights(self.lm_head)

    @property
    def n_positions(self) -> int:
        """The longest context (the rows of ``transformer.wpe``)."""
        return self.transformer.n_positions

    # --8<-- [start:gpt2_lm_head]
    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                cache: KVCache | None = None) -> Tensor:
        """Next-token logits at every position (with ``cache``: at the new positions)."""
        return self.lm_head(self.transformer(input_ids, attention_mask, cache=cache))  # (N, T, E) -> (N, T, V)
    # --8<-- [end:gpt2_lm_head]

    def extra_repr(self) -> str:
        return f"tie_word_embeddings={self.tie_word_embeddings}"


# -- HuggingFace -----------------------------------------------------------------------------
def gpt2_from_hf(model: Any) -> GPT2LMHeadModel:
    """Our :class:`GPT2LMHeadModel` with the weights of a HF ``transformers.GPT2LMHeadModel``.

    In the model's dtype (float32 or float64; another: ``TypeError`` naming it) and device, in
    eval mode, weights copied (no memory shared with ``model``). The config is checked first
    (:func:`check_gpt2_config`); HF's dropout probabilities are ignored.

    Shape:
        a HF ``GPT2LMHeadModel`` -> our :class:`GPT2LMHeadModel`: ids ``(N, T)`` -> logits ``(N, T, V)``.

    Examples:
        >>> from transformers import GPT2Config, GPT2LMHeadModel as HFGPT2
        >>> hf = HFGPT2(GPT2Config(vocab_size=11, n_embd=8, n_layer=1, n_head=2, n_positions=16,
        ...                        bos_token_id=None, eos_token_id=None)).double().eval()
        >>> ours = gpt2_from_hf(hf)
        >>> ids = torch.tensor([[1, 2, 3]])
        >>> torch.allclose(ours(ids), hf(ids).logits, rtol=1e-10, atol=1e-10), ours.training
        (True, False)
    """
    import transformers

    if not isinstance(model, transformers.GPT2LMHeadModel):
        raise TypeError(f"gpt2_from_hf expects a transformers.GPT2LMHeadModel, got {type(model).__name__}")
    config = model.config
    check_gpt2_config(config)
    weight = model.transformer.wte.weight
    if weight.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"model has dtype {str(weight.dtype).replace('torch.', '')}; only float32 and float64 "
                        "models can be converted")
    tied = model.lm_head.weight is weight
    with torch.random.fork_rng(devices=[]):  # the initialisation is overwritten: leave the caller's RNG alone
        ours = GPT2LMHeadModel(config.vocab_size, config.n_embd, config.n_layer, config.n_head, config.n_positions,
                               config.n_inner, config.layer_norm_epsilon, tied, device=weight.device,
                               dtype=weight.dtype)
    ours.load_state_dict(model.state_dict(), strict=True)
    return ours.eval()
