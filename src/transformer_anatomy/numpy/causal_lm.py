"""The shared core of the decoder-only language models (GPT-2, Llama) in NumPy.

- :func:`causal_attention` / :func:`causal_attention_backward`: causal, grouped-query
  attention with a KV cache in mind (the ``T`` newest queries against the ``S`` keys so far,
  "bottom-right" aligned);
- :func:`warp_logits`: temperature, top-k and top-p (nucleus) filtering, in HuggingFace's
  order (``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``);
- :class:`CausalLM`: the base class of ``GPT2LMHeadModel`` and ``LlamaForCausalLM``, with
  :meth:`CausalLM.generate` (greedy or sampled, with or without a :class:`KVCache`).

Sources: grouped-query attention, Ainslie et al. 2023, "GQA" (multi-query: Shazeer 2019);
nucleus sampling, Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration".
HuggingFace's ``repeat_kv`` (``transformers.models.llama.modeling_llama``) and
``transformers.generation.logits_process`` are the references.

Pages: ``docs/gpt2-llama.md`` and ``docs/generation.md``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from transformer_anatomy.errors import check_bool, check_int, check_number, check_positive_int, check_seed
from transformer_anatomy.modes import eval_mode

from .attention import masked_softmax
from .kv_cache import KVCache
from .module import Module

__all__ = [
    "CausalAttentionCache",
    "CausalLM",
    "causal_attention",
    "causal_attention_backward",
    "warp_logits",
]


class CausalAttentionCache(NamedTuple):
    """What :func:`causal_attention_backward` needs from :func:`causal_attention`.

    The query heads are kept grouped by the key/value head they read (``G = H // Hk``).

    Shape:
        q: ``(N, Hk, G, T, D)``; k, v: ``(N, Hk, 1, S, D)``; probs: ``(N, Hk, G, T, S)``.
    """

    q: np.ndarray  # (N, Hk, G, T, D)
    k: np.ndarray  # (N, Hk, 1, S, D)
    v: np.ndarray  # (N, Hk, 1, S, D)
    probs: np.ndarray  # softmax of the masked scores, (N, Hk, G, T, S)
    scale: float  # 1/√D or the caller's scale


def _float4d(name: str, x: Any, dtype: np.dtype | None = None) -> np.ndarray:
    """``x`` as a real floating 4-D array (cast to ``dtype`` if given)."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} has dtype {x.dtype}, expected a real floating array")
    if x.ndim != 4:
        raise ValueError(f"{name} has shape {x.shape}, expected 4-D (N, heads, length, head_dim)")
    return x if dtype is None or x.dtype == dtype else x.astype(dtype)


def bottom_right_causal_mask(T: int, S: int) -> np.ndarray:
    """True where query ``i`` (absolute position ``S - T + i``) may NOT see key ``j``: ``j > S - T + i``.

    Shape:
        output: ``(T, S)`` bool.

    Examples:
        >>> bottom_right_causal_mask(2, 3).astype(int).tolist()  # the 2 newest of 3 positions
        [[0, 0, 1], [0, 0, 0]]
    """
    return np.triu(np.ones((T, S), dtype=bool), k=S - T + 1)


# --8<-- [start:causal_attention]
def causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, key_padding_mask: np.ndarray | None = None,
                     scale: float | None = None, *, return_cache: bool = False) -> Any:
    """Causal (grouped-query) attention for decoder-only models, with a KV cache in mind.

    ``q`` holds the ``T`` newest positions, ``k`` and ``v`` the ``S >= T`` positions so far
    (cached ones first). Query ``i`` sits at absolute position ``S - T + i`` and sees the keys
    ``j <= S - T + i`` ("bottom-right" alignment: with ``T == S`` the usual lower triangle, with
    ``T == 1`` the newest token sees everything). Query head ``h`` reads key/value head
    ``h // (H // Hk)`` (HF's ``repeat_kv``): ``Hk == H`` is multi-head attention, ``Hk == 1``
    multi-query attention. A query row whose keys are all masked gives zeros (finite).

    Args:
        q: queries ``(N, H, T, D)``.
        k, v: keys and values ``(N, Hk, S, D)``, ``H % Hk == 0``; cast to ``q``'s dtype.
        key_padding_mask: ``(N, S)`` bool, True = padding (never attended); default none.
        scale: factor on the scores; default ``1/√D``.
        return_cache: NumPy-only. Also return a :class:`CausalAttentionCache` for
            :func:`causal_attention_backward`.

    Returns:
        ``out`` ``(N, H, T, D)``, or ``(out, cache)`` with ``return_cache=True``.

    Shape:
        q ``(N, H, T, D)``, k ``(N, Hk, S, D)``, v ``(N, Hk, S, D)``, key_padding_mask
        ``(N, S)`` -> out ``(N, H, T, D)``.

    Examples:
        >>> q = np.ones((1, 4, 2, 8)); kv = np.ones((1, 2, 3, 8))  # H=4 query heads share Hk=2
        >>> out = causal_attention(q, kv, kv)
        >>> out.shape, float(out.max())
        ((1, 4, 2, 8), 1.0)
    """
    q = _float4d("q", q)
    k, v = _float4d("k", k, q.dtype), _float4d("v", v, q.dtype)
    N, H, T, D = q.shape  # batch, query heads, new positions, head size
    Hk, S = k.shape[1], k.shape[2]  # key/value heads, positions so far
    if v.shape != k.shape:
        raise ValueError(f"k {k.shape} and v {v.shape} must have the same shape (N, Hk, S, D)")
    if k.shape[0] != N or k.shape[3] != D:
        raise ValueError(f"q {q.shape} and k {k.shape} must share N (axis 0) and D (axis 3)")
    if H % Hk:
        raise ValueError(f"q has H={H} heads, not a multiple of the Hk={Hk} key/value heads of k")
    if S < T:
        raise ValueError(f"k has S={S} positions, fewer than the T={T} queries of q (expected S >= T)")
    G = H // Hk  # query heads per key/value head
    scale = 1.0 / math.sqrt(D) if scale is None else float(scale)
    qg = q.reshape(N, Hk, G, T, D)  # (N, H, T, D) -> (N, Hk, G, T, D): head h = kv head h // G
    kg, vg = k[:, :, None], v[:, :, None]  # (N, Hk, S, D) -> (N, Hk, 1, S, D), shared by G heads
    scores = (qg * scale) @ np.swapaxes(kg, -1, -2)  # (N, Hk, G, T, D) @ (N, Hk, 1, D, S) -> (N, Hk, G, T, S)
    blocked = bottom_right_causal_mask(T, S)  # (T, S)
    if key_padding_mask is not None:
        kpm = np.asarray(key_padding_mask)
        if kpm.dtype != np.bool_ or kpm.shape != (N, S):
            raise ValueError(f"key_padding_mask must be a bool array (N, S)=({N}, {S}) (True = padding), "
                             f"got {kpm.dtype} {kpm.shape}")
        blocked = blocked | kpm[:, None, None, None, :]  # (T, S) | (N, 1, 1, 1, S) -> (N, 1, 1, T, S)
    scores = np.where(blocked, -np.inf, scores)  # (N, Hk, G, T, S)
    probs = masked_softmax(scores)  # each row sums to 1 (or 0 if all keys are blocked)
    out = (probs @ vg).reshape(N, H, T, D)  # (N, Hk, G, T, S) @ (N, Hk, 1, S, D) -> (N, H, T, D)
    if return_cache:
        return out, CausalAttentionCache(qg, kg, vg, probs, scale)
    return out
# --8<-- [end:causal_attention]


# --8<-- [start:causal_attention_backward]
def causal_attention_backward(dout: np.ndarray, cache: CausalAttentionCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`causal_attention` w.r.t. ``q``, ``k``, ``v``.

    As :func:`~transformer_anatomy.numpy.attention.scaled_dot_product_attention_backward`, per
    group: ``dv = Σ_g Pᵀ dout``; ``dP = dout vᵀ``; ``dZ = P ⊙ (dP - Σ dP ⊙ P)``;
    ``dq = dZ k · scale``; ``dk = Σ_g dZᵀ q · scale``. A key/value head shared by ``G`` query
    heads gets the sum of their gradients; masked entries (``P = 0``) get none.

    Shape:
        dout ``(N, H, T, D)`` -> dq ``(N, H, T, D)``, dk ``(N, Hk, S, D)``, dv ``(N, Hk, S, D)``.

    Examples:
        >>> q = np.ones((1, 2, 2, 4)); kv = np.ones((1, 1, 2, 4))
        >>> out, cache = causal_attention(q, kv, kv, return_cache=True)
        >>> dq, dk, dv = causal_attention_backward(np.ones_like(out), cache)
        >>> dq.shape, dk.shape, dv[0, 0, :, 0].tolist()  # key 0 is read by 2 heads x 2 queries
        ((1, 2, 2, 4), (1, 1, 2, 4), [3.0, 1.0])
    """
    qg, kg, vg, probs, scale = cache
    N, Hk, G, T, D = qg.shape
    dout = np.asarray(dout)
    if dout.shape != (N, Hk * G, T, D):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, Hk * G, T, D)} (the output's shape)")
    dout = dout.astype(qg.dtype, copy=False).reshape(N, Hk, G, T, D)  # (N, H, T, D) -> (N, Hk, G, T, D)
    S = probs.shape[-1]
    # Σ_g Pᵀ dout as one matmul over the G·T rows of a key/value head (BLAS, not einsum's loops):
    # (N, Hk, S, G·T) @ (N, Hk, G·T, D) -> (N, Hk, S, D)
    dv = np.swapaxes(probs.reshape(N, Hk, G * T, S), -1, -2) @ dout.reshape(N, Hk, G * T, D)
    dprobs = dout @ np.swapaxes(vg, -1, -2)  # (N, Hk, G, T, D) @ (N, Hk, 1, D, S) -> (N, Hk, G, T, S)
    row = np.einsum("...ts,...ts->...t", dprobs, probs)[..., None]  # (N, Hk, G, T, 1)
    dz = probs * (dprobs - row) * scale  # gradient of the unscaled scores q kᵀ, (N, Hk, G, T, S)
    dq = (dz @ kg).reshape(N, Hk * G, T, D)  # (N, Hk, G, T, S) @ (N, Hk, 1, S, D) -> (N, H, T, D)
    dk = np.swapaxes(dz.reshape(N, Hk, G * T, S), -1, -2) @ qg.reshape(N, Hk, G * T, D)  # Σ_g dZᵀ q, (N, Hk, S, D)
    return dq, dk, dv
# --8<-- [end:causal_attention_backward]


# --8<-- [start:warp_logits]
def warp_logits(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None) -> np.ndarray:
    """Temperature, then top-k, then top-p (nucleus) filtering: the filtered entries become ``-inf``.

    HuggingFace's ``TemperatureLogitsWarper``, ``TopKLogitsWarper`` and ``TopPLogitsWarper``
    in that order, with ``min_tokens_to_keep=1``:

    - ``logits / temperature``;
    - top-k keeps every entry ``>=`` the ``k``-th largest (ties with it are kept);
    - top-p sorts ascending, and removes the tokens whose cumulative probability (from the
      least likely up) is ``<= 1 - top_p``: the smallest set of most likely tokens whose
      probability reaches ``top_p`` stays, and always the most likely one.

    Args:
        logits: scores ``(N, V)`` (any leading axes; a real floating array; not modified).
        temperature: ``> 0``; below 1 sharpens, above 1 flattens the distribution.
        top_k: keep the ``k`` best (``None``: no top-k; ``k >= V``: keeps everything).
        top_p: in ``[0, 1]`` (``None`` or ``1.0``: no top-p, as ``generate`` skips it).

    Returns:
        ``(N, V)``, in ``logits``' dtype.

    Shape:
        logits ``(N, V)`` -> ``(N, V)``.

    Examples:
        >>> warp_logits(np.array([[1.0, 3.0, 2.0, 0.0]]), top_k=2).tolist()
        [[-inf, 3.0, 2.0, -inf]]
        >>> warp_logits(np.array([[0.0, 0.0, 9.0]]), temperature=0.5, top_p=0.9).tolist()
        [[-inf, -inf, 18.0]]
    """
    x = np.asarray(logits)
    if x.dtype.kind != "f":
        raise TypeError(f"logits has dtype {x.dtype}, expected a real floating array (N, V)")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"logits has shape {x.shape}, expected (N, V) with V >= 1")
    temperature = check_number("temperature", temperature, minimum=0.0, min_open=True)
    if top_k is not None:
        top_k = check_positive_int("top_k", top_k)
    if top_p is not None:
        top_p = check_number("top_p", top_p, minimum=0.0, maximum=1.0)
    x = x / x.dtype.type(temperature)  # a new array, (N, V)
    V = x.shape[-1]
    if top_k is not None and top_k < V:
        kth = np.partition(x, V - top_k, axis=-1)[..., V - top_k, None]  # the k-th largest, (N, 1)
        x[x < kth] = -np.inf
    if top_p is not None and top_p < 1.0:
        order = np.argsort(x, axis=-1, kind="stable")  # ascending, (N, V)
        sorted_x = np.take_along_axis(x, order, axis=-1)
        probs = masked_softmax(sorted_x.copy())  # (N, V)
        remove = np.cumsum(probs, axis=-1) <= x.dtype.type(1.0 - top_p)  # (N, V), in sorted order
        remove[..., -1] = False  # always keep the most likely token
        drop = np.zeros_like(remove)
        np.put_along_axis(drop, order, remove, axis=-1)  # back to vocabulary order
        x[drop] = -np.inf
    return x
# --8<-- [end:warp_logits]


def _sample(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One token per row from ``softmax(logits)`` by inverting the CDF at ``rng.random()``
    (as ``Generator.choice`` does); a token of probability 0 is never chosen."""
    probs = masked_softmax(logits.astype(np.float64))  # (N, V)
    cdf = np.cumsum(probs, axis=-1)
    cdf /= cdf[:, -1:]
    u = rng.random(probs.shape[0])  # (N,) in [0, 1)
    return (cdf <= u[:, None]).sum(axis=-1).astype(np.int64)  # first index with cdf > u


class CausalLM(Module):
    """Base class of the decoder-only language models (``GPT2LMHeadModel``, ``LlamaForCausalLM``).

    A subclass implements ``forward(input_ids, attention_mask=None, *, cache=None) -> logits
    (N, T, V)``, where ``cache`` is a :class:`~transformer_anatomy.numpy.kv_cache.KVCache`
    extended in place. This class adds :meth:`generate`.

    Shape:
        forward: input_ids ``(N, T)`` -> logits ``(N, T, V)``.

    Examples:
        >>> from transformer_anatomy.numpy.llama import LlamaForCausalLM
        >>> m = LlamaForCausalLM(10, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
        ...                      num_attention_heads=2, rng=0)
        >>> isinstance(m, CausalLM), m.generate(np.array([[1, 2]]), max_new_tokens=3).shape
        (True, (1, 5))
    """

    # --8<-- [start:generate]
    def generate(self, input_ids: np.ndarray, max_new_tokens: int = 20, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 eos_token_id: int | None = None, pad_token_id: int | None = None,
                 use_cache: bool = True, seed: int | None = None) -> np.ndarray:
        """Continue each row of ``input_ids`` by up to ``max_new_tokens`` tokens.

        Greedy (``argmax``; ties go to the lowest id) unless ``do_sample``, else sampling from
        ``softmax(warp_logits(logits, temperature, top_k, top_p))`` with
        ``np.random.default_rng(seed)``: the same seed gives the same tokens. With
        ``use_cache`` one forward over the prompt, then one token per step through a
        :class:`~transformer_anatomy.numpy.kv_cache.KVCache`; without, the whole sequence is
        recomputed at every step: the same tokens. A row that produced ``eos_token_id`` is
        padded with ``pad_token_id`` (default: ``eos_token_id``) afterwards; generation stops
        when every row is done (as HF). Runs in eval mode and restores the caller's mode.
        Unpadded batches only (no attention mask).

        Args:
            input_ids: the prompts ``(N, T)``, integer token ids, ``T >= 1``.
            max_new_tokens: ``K >= 0``, the most tokens to add.
            do_sample: sample instead of greedy decoding.
            temperature, top_k, top_p: see :func:`warp_logits` (only used when sampling).
            eos_token_id: the end-of-sequence id (``None``: never stop early).
            pad_token_id: the id written after a row's ``eos_token_id``.
            use_cache: decode through a KV cache (default) or recompute every step.
            seed: seed of the sampling generator (``None``: fresh entropy).

        Returns:
            ``(N, T + K')`` int64 ids, ``K' <= K`` (``K' < K`` only when every row stopped).

        Shape:
            input_ids ``(N, T)`` -> ``(N, T + K')``.
        """
        ids = np.asarray(input_ids)
        if ids.dtype.kind not in "iu" or ids.ndim != 2 or ids.shape[1] == 0:
            raise TypeError(f"input_ids must be an integer array (N, T) with T >= 1, got dtype {ids.dtype} "
                            f"and shape {ids.shape}")
        max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=0)
        do_sample, use_cache = check_bool("do_sample", do_sample), check_bool("use_cache", use_cache)
        warp_logits(np.zeros((1, 1)), temperature, top_k, top_p)  # checks the three arguments
        if eos_token_id is not None:
            eos_token_id = check_int("eos_token_id", eos_token_id, minimum=0)
        pad = eos_token_id if pad_token_id is None else check_int("pad_token_id", pad_token_id, minimum=0)
        rng = np.random.default_rng(None if seed is None else check_seed("seed", seed)) if do_sample else None
        out = ids.astype(np.int64)  # (N, T)
        done = np.zeros(out.shape[0], dtype=bool)  # rows that produced eos
        with eval_mode(self):
            cache = KVCache() if use_cache else None
            for step in range(max_new_tokens):
                if step == 0 or not use_cache:
                    logits = self.forward(out, cache=cache)  # the prompt / the whole sequence, (N, t, V)
                else:
                    logits = self.forward(out[:, -1:], cache=cache)  # the newest token only, (N, 1, V)
                last = logits[:, -1]  # (N, V)
                if do_sample:
                    token = _sample(warp_logits(last, temperature, top_k, top_p), rng)  # (N,)
                else:
                    token = np.argmax(last, axis=-1).astype(np.int64)  # (N,), ties -> lowest id
                if eos_token_id is not None:
                    token = np.where(done, pad, token)
                    done |= token == eos_token_id
                out = np.concatenate([out, token[:, None]], axis=1)  # (N, t) -> (N, t + 1)
                if eos_token_id is not None and done.all():
                    break
        return out
    # --8<-- [end:generate]
