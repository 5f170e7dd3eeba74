"""What every decoder-only language model shares, from scratch in PyTorch: causal (grouped-query)
attention with a KV cache in mind, HuggingFace's logits warpers (temperature, top-k, top-p) and
the ``CausalLM`` base class with ``generate`` (greedy or seeded sampling, with or without the
KV cache).

The twin of ``numpy/causal_lm.py`` (same names, arguments and defaults). ``GPT2LMHeadModel``
(``torch/gpt2.py``) and ``LlamaForCausalLM`` (``torch/llama.py``) subclass :class:`CausalLM`.
Sources: Radford et al. 2019 (GPT-2, the causal LM), Ainslie et al. 2023 "GQA" (grouped-query
attention), Holtzman et al. 2020 "The Curious Case of Neural Text Degeneration" (top-p);
HuggingFace's ``generation/logits_process.py`` and ``generation/utils.py`` for the exact rules.

Page: ``docs/generation.md`` ("Generation").
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from transformer_anatomy.errors import check_bool, check_int, check_number, check_seed, check_token_id

from ._checks import check_tensor
from .embeddings import check_token_ids
from .kv_cache import KVCache
from .module import ModuleMixin, StateDictError, eval_mode

__all__ = ["CausalLM", "causal_attention", "warp_logits"]

INIT_STD = 0.02
"""Standard deviation of the normal initialisation of every weight matrix (HF's ``initializer_range``)."""


def init_decoder_weights(module: nn.Module) -> None:
    """HF's initialisation: normal(0, 0.02) for every weight matrix (linear, embedding, Conv1D),
    zeros for biases; 1-D weights (RMSNorm, LayerNorm) are left at ones. From torch's global RNG."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() >= 2:
                p.normal_(0.0, INIT_STD)


def decoder_inputs(input_ids: Any, attention_mask: Any, cache: Any, vocab_size: int, max_positions: int,
                   limit_name: str, num_layers: int) -> tuple[Tensor, Tensor | None, int]:
    """The checks every decoder-only ``forward`` makes: ``(ids, key_padding_mask, past)``.

    ``ids`` are the checked ``(N, T)`` token ids (int64); ``past`` the number of cached
    positions (``cache.length``, 0 without a cache); ``key_padding_mask`` ``(N, past + T)`` bool
    (True = padding) from HF's ``attention_mask`` (1 = attend, 0 = padding), or ``None`` when
    nothing is padded. A cache with no layers yet gets one empty dict per layer.
    """
    ids = check_token_ids(input_ids, vocab_size, "input_ids").long()
    N, T = ids.shape
    if T == 0:
        raise ValueError(f"input_ids has shape {tuple(ids.shape)}: expected at least one position")
    past = 0
    if cache is not None:
        if not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
        if not cache.layers:
            if cache.length:
                raise ValueError(f"cache has length={cache.length} but no layers")
            cache.layers.extend({} for _ in range(num_layers))
        if len(cache.layers) != num_layers:
            raise ValueError(f"cache has {len(cache.layers)} layers, the model has {num_layers}")
        past = cache.length
        for layer in cache.layers:
            k = layer.get("self_k")
            if (0 if k is None else k.shape[2]) != past or (k is not None and k.shape[0] != N):
                raise ValueError(f"cache (length={past}) holds self_k of shape "
                                 f"{None if k is None else tuple(k.shape)}: it does not fit input_ids with N={N} rows")
    if past + T > max_positions:
        if cache is None:
            raise ValueError(f"input_ids has T={T} positions, more than {limit_name}={max_positions}")
        raise ValueError(f"positions 0..{past + T - 1} (cache length {past} + T={T}) exceed {limit_name}="
                         f"{max_positions}")
    pad = None
    if attention_mask is not None:
        check_tensor("attention_mask", attention_mask)
        if tuple(attention_mask.shape) != (N, past + T):
            want = f"(N, T)=({N}, {T})" if not past else f"(N, cache length + T)=({N}, {past + T})"
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected {want}")
        if attention_mask.dtype.is_complex:
            raise TypeError(f"attention_mask must hold 0/1 (or False/True), got dtype {attention_mask.dtype}")
        ones = attention_mask != 0
        if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (attend), HF's convention")
        pad = None if bool(ones.all()) else ~ones.to(ids.device)
    return ids, pad, past


def append_to_cache(layer: dict | None, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Keys/values of all positions so far: the layer's cached ones (if any) then the new ones;
    the layer dict is updated in place. k, v: ``(N, Hk, T, D)`` -> ``(N, Hk, past + T, D)``."""
    if layer is None:
        return k, v
    if "self_k" in layer:
        k = torch.cat([layer["self_k"], k], dim=2)  # (N, Hk, past, D) + (N, Hk, T, D) -> (N, Hk, past + T, D)
        v = torch.cat([layer["self_v"], v], dim=2)
    layer["self_k"], layer["self_v"] = k, v
    return k, v


def _check_qkv(q: Any, k: Any, v: Any) -> tuple[int, int, int, int, int, int]:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t)
        if t.dim() != 4:
            raise ValueError(f"{name} has shape {tuple(t.shape)}, expected 4-D (N, heads, length, D)")
        if not t.dtype.is_floating_point:
            raise TypeError(f"{name} has dtype {str(t.dtype).replace('torch.', '')}, expected a floating tensor")
    N, H, T, D = q.shape
    Hk, S = k.shape[1], k.shape[2]
    if k.shape[0] != N or k.shape[3] != D or tuple(v.shape) != tuple(k.shape):
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not fit: expected "
                         f"q (N, H, T, D) and k, v (N, Hk, S, D) with the same N and D")
    if q.dtype != k.dtype or q.dtype != v.dtype:
        raise TypeError(f"q, k and v must have one dtype, got {q.dtype}, {k.dtype} and {v.dtype}")
    if H % Hk:
        raise ValueError(f"the query heads H={H} are not divisible by the key/value heads Hk={Hk}")
    if S < T:
        raise ValueError(f"k has S={S} positions, fewer than the T={T} queries (expected S >= T)")
    return N, H, Hk, T, S, D


# --8<-- [start:causal_attention]
def causal_attention(q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None = None,
                     scale: float | None = None) -> Tensor:
    """Causal (grouped-query) attention for decoder-only models, with a KV cache in mind.

    Query ``i`` of the ``T`` newest positions sits at absolute position ``S - T + i`` and sees
    the keys ``j <= S - T + i`` ("bottom-right" alignment: with ``T == S`` the usual
    lower-triangular mask; with ``T == 1`` the newest token sees everything cached). Query
    head ``h`` reads key/value head ``h // (H // Hk)`` (HF's ``repeat_kv``). A query row whose
    keys are all masked gives zeros (finite, also its gradient).

    The computation is ``softmax(q kᵀ · scale + mask) v``, done by
    ``F.scaled_dot_product_attention`` with a boolean mask (``True`` = attend) and
    ``enable_gqa``: on CPU it is 2-6x faster than the explicit matmuls for T <= 256 (forward
    and backward); the explicit version, step by step, is the NumPy twin's.

    Args:
        q: the ``T`` newest queries. k, v: the ``S`` positions so far (cached ones first).
        key_padding_mask: ``(N, S)`` bool, ``True`` = padding (not attended).
        scale: multiplies the scores; default ``1 / sqrt(D)``.

    Shape:
        q ``(N, H, T, D)``, k, v ``(N, Hk, S, D)`` with ``H % Hk == 0`` and ``S >= T``,
        key_padding_mask ``(N, S)`` -> ``(N, H, T, D)``.

    Examples:
        >>> q = torch.ones(1, 4, 3, 2); k = v = torch.arange(6.0).reshape(1, 2, 3, 1).expand(1, 2, 3, 2)
        >>> out = causal_attention(q, k, v)  # 4 query heads share 2 key/value heads
        >>> tuple(out.shape), out[0, 0, 0].tolist()  # query 0 sees key 0 only
        ((1, 4, 3, 2), [0.0, 0.0])
    """
    N, H, Hk, T, S, D = _check_qkv(q, k, v)
    scale = 1.0 / math.sqrt(D) if scale is None else check_number("scale", scale)
    if key_padding_mask is None:
        if T == S:  # prompt: the usual lower-triangular mask
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=Hk != H)
        if T == 1:  # one new token: it sees every position so far
            return F.scaled_dot_product_attention(q, k, v, scale=scale, enable_gqa=Hk != H)
    i = torch.arange(T, device=q.device)[:, None] + (S - T)  # absolute position of each query, (T, 1)
    allowed = (torch.arange(S, device=q.device)[None, :] <= i).view(1, 1, T, S)  # True = may attend
    dead = None
    if key_padding_mask is not None:
        check_tensor("key_padding_mask", key_padding_mask)
        if key_padding_mask.dtype != torch.bool:
            raise TypeError(f"key_padding_mask must be a bool tensor (True = padding), got dtype "
                            f"{str(key_padding_mask.dtype).replace('torch.', '')}")
        if tuple(key_padding_mask.shape) != (N, S):
            raise ValueError(f"key_padding_mask has shape {tuple(key_padding_mask.shape)}, expected (N, S)=({N}, {S})")
        allowed = allowed & ~key_padding_mask.view(N, 1, 1, S)  # (N, 1, T, S)
        dead = ~allowed.any(dim=-1, keepdim=True)  # (N, 1, T, 1): rows with no key at all
        if bool(dead.any()):
            allowed = allowed | dead  # let them attend anywhere (finite), then zero them below
        else:
            dead = None
    # SDPA's boolean mask is True = attend; enable_gqa reads key head h // (H // Hk), as repeat_kv
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale, enable_gqa=Hk != H)
    return out if dead is None else out.masked_fill(dead, 0.0)
# --8<-- [end:causal_attention]


# --8<-- [start:warp_logits]
def warp_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> Tensor:
    """Temperature, then top-k, then top-p (nucleus) filtering, exactly as HuggingFace's
    ``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper`` in ``generate``
    (``min_tokens_to_keep=1``). Filtered entries become ``-inf``; sampling then draws from
    ``softmax`` of the result.

    - temperature: ``logits / temperature`` (``< 1`` sharpens, ``> 1`` flattens).
    - top_k: keep the ``k`` largest (every entry tied with the ``k``-th is kept, as HF).
    - top_p: keep the smallest set of the most probable tokens whose probabilities sum to
      more than ``top_p`` (sorted ascending, a token is removed while the cumulative probability
      up to it is ``<= 1 - top_p``); at least one token is kept. ``top_p=1.0`` keeps everything
      (HF then skips the warper).

    Args:
        logits: next-token scores. temperature: ``> 0``. top_k: ``None`` (off) or ``>= 1``.
        top_p: ``None`` (off) or in ``[0, 1]`` (``0`` keeps only the most probable token).

    Shape:
        logits: ``(N, V)`` -> ``(N, V)``, same dtype.

    Examples:
        >>> warp_logits(torch.tensor([[1.0, 3.0, 2.0, 0.0]]), top_k=2).tolist()
        [[-inf, 3.0, 2.0, -inf]]
        >>> warp_logits(torch.tensor([[0.0, 2.0]]), temperature=2.0).tolist()
        [[0.0, 1.0]]
    """
    check_tensor("logits", logits)
    if logits.dim() != 2 or not logits.dtype.is_floating_point:
        raise ValueError(f"logits must be a floating (N, V) tensor, got shape {tuple(logits.shape)}, "
                         f"dtype {str(logits.dtype).replace('torch.', '')}")
    temperature = check_number("temperature", temperature, minimum=0.0, min_open=True)
    if top_k is not None:
        top_k = check_int("top_k", top_k, minimum=1)
    if top_p is not None:
        top_p = check_number("top_p", top_p, minimum=0.0, maximum=1.0)
    scores = logits / temperature
    if top_k is not None:
        kth = torch.topk(scores, min(top_k, scores.shape[-1]), dim=-1).values[..., -1:]  # (N, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_scores, order = torch.sort(scores, dim=-1, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)  # ascending: the tail's mass first
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[..., -1:] = False  # keep at least the most probable token
        remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
        scores = scores.masked_fill(remove, float("-inf"))
    return scores
# --8<-- [end:warp_logits]


class CausalLM(ModuleMixin, nn.Module):
    """Base class of the decoder-only language models: :meth:`generate` on top of the
    subclass's ``forward(input_ids, attention_mask=None, *, cache=None) -> logits (N, T, V)``.

    Subclasses set ``vocab_size`` and ``_max_positions`` (the number of positions the model
    can embed) and implement ``forward``; with ``cache=KVCache()`` their ``forward`` takes the
    new tokens only and extends the cache in place.

    Shape:
        generate: input_ids ``(N, T)`` -> ``(N, T + K)`` long (fewer columns if every row met ``eos_token_id``).

    Examples:
        >>> class Bigram(CausalLM):  # a toy: the next token's logits depend on the last token only
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.vocab_size, self._max_positions = 3, 100
        ...         self.table = nn.Embedding(3, 3)
        ...         with torch.no_grad():
        ...             self.table.weight.copy_(torch.eye(3).roll(1, dims=1))  # i -> i + 1 (mod 3)
        ...     def forward(self, input_ids, attention_mask=None, *, cache=None):
        ...         if cache is not None:
        ...             cache.length += input_ids.shape[1]
        ...         return self.table(input_ids)
        >>> Bigram().generate(torch.tensor([[0]]), max_new_tokens=4).tolist()
        [[0, 1, 2, 0, 1]]
    """

    vocab_size: int
    _max_positions: int
    _embedding_key: str = ""  # the state-dict name of the token embedding (tied with lm_head.weight)

    def _tied(self) -> bool:
        head = getattr(self, "lm_head", None)
        return head is not None and self._embedding_key != "" and \
            head.weight is self.get_parameter(self._embedding_key)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict`` with tied embeddings understood: HF's state dict holds
        ``lm_head.weight`` even when it is the embedding; it is accepted when equal to it (and
        may be absent), a different one is refused (:class:`StateDictError`)."""
        if self._tied():
            state_dict = dict(state_dict)
            emb, head = state_dict.get(self._embedding_key), state_dict.get("lm_head.weight")
            if head is None and emb is not None:
                state_dict["lm_head.weight"] = emb
            elif emb is not None and head is not None and not (
                    tuple(head.shape) == tuple(emb.shape) and torch.equal(torch.as_tensor(head), torch.as_tensor(emb))):
                raise StateDictError(f"state_dict does not fit {type(self).__name__}: the word embeddings are tied, "
                                     f"but lm_head.weight differs from {self._embedding_key}")
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    # --8<-- [start:generate]
    def generate(self, input_ids: Tensor, max_new_tokens: int = 20, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 eos_token_id: int | None = None, pad_token_id: int | None = None, use_cache: bool = True,
                 seed: int | None = None) -> Tensor:
        """Continue each row of ``input_ids`` by ``max_new_tokens`` tokens.

        Greedy when ``do_sample`` is False (``argmax``; ties go to the lowest id), else a draw
        from ``softmax(warp_logits(logits, temperature, top_k, top_p))`` with a
        ``torch.Generator`` seeded by ``seed`` (same seed, same text; ``seed=None``: torch's
        global generator). ``use_cache=True``: one forward over the prompt, then one token per
        step through a :class:`~transformer_anatomy.torch.kv_cache.KVCache`;
        ``use_cache=False``: the whole sequence is recomputed each step (same tokens, slower).
        With ``eos_token_id``, a row that produced it is padded with ``pad_token_id``
        (default: ``eos_token_id``) afterwards, and generation stops early once every row is
        done, as HF's ``generate``. Runs in eval mode without gradients and restores the
        caller's mode. The batch must be unpadded (no attention_mask is taken).

        Args:
            input_ids: the prompts. max_new_tokens: ``K >= 0``. do_sample: sample or greedy.
            temperature, top_k, top_p: see :func:`warp_logits` (used only when sampling).
            eos_token_id, pad_token_id: ids in ``[0, V)`` or ``None``.
            use_cache: decode through the KV cache. seed: an integer in ``[0, 2**63)`` or ``None``.

        Shape:
            input_ids: ``(N, T)`` integers -> ``(N, T + K)`` ``torch.long`` (fewer than ``K``
            new columns when every row reached ``eos_token_id``).
        """
        ids = check_token_ids(input_ids, self.vocab_size, "input_ids").long()
        K = check_int("max_new_tokens", max_new_tokens, minimum=0)
        do_sample, use_cache = check_bool("do_sample", do_sample), check_bool("use_cache", use_cache)
        warp_logits(torch.zeros(1, 1), temperature, top_k, top_p)  # check the warper's arguments now
        if eos_token_id is not None:
            eos_token_id = check_token_id("eos_token_id", eos_token_id, self.vocab_size)
        if pad_token_id is not None:
            pad_token_id = check_token_id("pad_token_id", pad_token_id, self.vocab_size)
        elif eos_token_id is not None:
            pad_token_id = eos_token_id
        gen = None
        if seed is not None:
            gen = torch.Generator(device=ids.device).manual_seed(check_seed("seed", seed))
        N, T = ids.shape
        if T == 0:
            raise ValueError(f"input_ids has shape {tuple(ids.shape)}: the prompt needs at least one token")
        if K and T + K - 1 > self._max_positions:
            raise ValueError(f"the prompt length T={T} plus max_new_tokens={K} needs {T + K - 1} positions, more "
                             f"than the model's {self._max_positions}")
        unfinished = torch.ones(N, dtype=torch.bool, device=ids.device)
        with eval_mode(self), torch.no_grad():
            cache = KVCache() if use_cache else None
            step_input = ids
            for _ in range(K):
                logits = self(step_input, cache=cache) if use_cache else self(ids)
                scores = logits[:, -1, :].float()  # HF casts the next-token logits to float32
                if do_sample:
                    probs = warp_logits(scores, temperature, top_k, top_p).softmax(dim=-1)
                    nxt = torch.multinomial(probs, num_samples=1, generator=gen).squeeze(1)
                else:
                    nxt = scores.argmax(dim=-1)
                if eos_token_id is not None:
                    nxt = torch.where(unfinished, nxt, torch.full_like(nxt, pad_token_id))
                    unfinished = unfinished & (nxt != eos_token_id)
                ids = torch.cat([ids, nxt[:, None]], dim=1)  # (N, t) -> (N, t + 1)
                step_input = nxt[:, None]
                if eos_token_id is not None and not bool(unfinished.any()):
                    break
        return ids
    # --8<-- [end:generate]
