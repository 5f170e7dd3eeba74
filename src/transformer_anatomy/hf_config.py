"""Which HuggingFace configs our GPT-2 and Llama models reproduce: one home for both backends.

``from_hf`` in :mod:`transformer_anatomy.numpy` and :mod:`transformer_anatomy.torch` checks the
HF config with these functions before copying any weight, so a field that changes the numbers
and that we do not implement is refused with the same
:class:`~transformer_anatomy.errors.UnsupportedConfigError` in both, naming the field and its
value. They read config fields only: no torch, no NumPy, and ``transformers`` only to tell the
two config classes apart.

Page: ``docs/gpt2-llama.md``.
"""

from __future__ import annotations

from typing import Any

from transformer_anatomy.errors import UnsupportedConfigError

__all__ = ["check_gpt2_config", "check_hf_config", "check_llama_config", "hf_family", "rope_theta"]


def hf_family(obj: Any, what: str) -> str:
    """``"llama"`` or ``"gpt2"`` for a HF model (``what="model"``) or config (``what="config"``).

    Raises:
        TypeError: any other object, naming its class and the two accepted ones.

    Shape:
        a model or config -> its family name.

    Examples:
        >>> from transformers import GPT2Config
        >>> hf_family(GPT2Config(n_embd=8, n_head=2), "config")
        'gpt2'
    """
    import transformers

    kinds = {"model": ((transformers.LlamaForCausalLM, "llama"), (transformers.GPT2LMHeadModel, "gpt2")),
             "config": ((transformers.LlamaConfig, "llama"), (transformers.GPT2Config, "gpt2"))}[what]
    for cls, family in kinds:
        if isinstance(obj, cls):
            return family
    names = " or ".join(f"transformers.{cls.__name__}" for cls, _ in kinds)
    raise TypeError(f"{what} must be a {names}, got {type(obj).__name__}")


def rope_theta(config: Any) -> float:
    """RoPE's base ``θ`` of a ``LlamaConfig``: ``rope_parameters["rope_theta"]`` (transformers 5)
    or ``rope_theta`` (4.x), default 10000.

    Shape:
        config -> float.

    Examples:
        >>> from transformers import LlamaConfig
        >>> rope_theta(LlamaConfig(hidden_size=8, num_attention_heads=2, rope_theta=500.0))
        500.0
    """
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, dict) and "rope_theta" in rope:
        return float(rope["rope_theta"])
    return float(getattr(config, "rope_theta", 10000.0))


def check_llama_config(config: Any) -> None:
    """Raise :class:`~transformer_anatomy.errors.UnsupportedConfigError` for a ``LlamaConfig``
    field that changes the numbers and that our ``LlamaForCausalLM`` does not implement.

    Refused: ``rope_parameters`` (transformers 5) or ``rope_scaling`` (4.x) with a
    ``rope_type`` other than ``"default"``; ``hidden_act != "silu"``; ``pretraining_tp != 1``;
    ``head_dim != hidden_size // num_attention_heads``; another ``model_type``. Ignored (no
    effect on eval-mode logits): ``attention_dropout``, ``use_cache``, the token ids,
    ``initializer_range``.

    Args:
        config: a ``transformers.LlamaConfig``.

    Raises:
        UnsupportedConfigError: naming the field and its value.

    Shape:
        config -> None (reads its fields only).

    Examples:
        >>> from transformers import LlamaConfig
        >>> check_llama_config(LlamaConfig(vocab_size=10, hidden_size=8, num_attention_heads=2))
        >>> check_llama_config(LlamaConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, hidden_act="gelu"))
        Traceback (most recent call last):
        ...
        transformer_anatomy.errors.UnsupportedConfigError: hidden_act='gelu' is not supported: Llama's MLP here is SwiGLU (hidden_act='silu')
    """
    get = lambda name, default=None: getattr(config, name, default)  # noqa: E731
    model_type = get("model_type")
    if model_type != "llama":
        raise UnsupportedConfigError(f"model_type={model_type!r} is not supported here: expected 'llama'")
    for field in ("rope_parameters", "rope_scaling"):
        rope = get(field)
        if rope is not None:
            kind = rope.get("rope_type", rope.get("type", "default")) if isinstance(rope, dict) else rope
            if kind != "default":
                raise UnsupportedConfigError(f"{field}={rope!r} is not supported: only the default RoPE "
                                             "(rope_type='default')")
    if get("hidden_act", "silu") != "silu":
        raise UnsupportedConfigError(f"hidden_act={get('hidden_act')!r} is not supported: Llama's MLP here is "
                                     "SwiGLU (hidden_act='silu')")
    if get("pretraining_tp", 1) not in (None, 1):
        raise UnsupportedConfigError(f"pretraining_tp={get('pretraining_tp')!r} is not supported: expected 1")
    head_dim = get("head_dim")
    if head_dim is not None and head_dim != config.hidden_size // config.num_attention_heads:
        raise UnsupportedConfigError(
            f"head_dim={head_dim!r} is not supported: expected hidden_size // num_attention_heads = "
            f"{config.hidden_size // config.num_attention_heads}")


_GPT2_UNSUPPORTED = (
    # (field, the supported value, why another value is refused)
    ("activation_function", "gelu_new", "only GPT-2's tanh GELU ('gelu_new') is implemented"),
    ("scale_attn_weights", True, "the scores are always scaled by 1/sqrt(head_dim)"),
    ("scale_attn_by_inverse_layer_idx", False, "the scores are not scaled by 1/(layer_idx + 1)"),
    ("add_cross_attention", False, "GPT-2 here is decoder-only: no cross-attention"),
)


def check_gpt2_config(config: Any) -> None:
    """Refuse a HF ``GPT2Config`` whose numbers our ``GPT2LMHeadModel`` would not reproduce.

    Refused: ``activation_function != "gelu_new"``, ``scale_attn_weights=False``,
    ``scale_attn_by_inverse_layer_idx=True``, ``add_cross_attention=True``, pruned heads
    (``pruned_heads``), ``n_embd`` not divisible by ``n_head``. Accepted because they do not
    change the mathematics: dropout probabilities (no dropout here; they change nothing in eval
    mode), ``_attn_implementation`` (eager, sdpa) and ``reorder_and_upcast_attn`` (a
    mixed-precision trick of HF's eager attention: the same scores, computed in float32;
    ignored by sdpa; a float64 HF model refuses it).

    Args:
        config: a ``transformers.GPT2Config`` (anything else: ``TypeError``).

    Raises:
        TypeError: not a GPT-2 config. UnsupportedConfigError: naming the field and its value.

    Shape:
        config -> None (reads its fields only).

    Examples:
        >>> from transformers import GPT2Config
        >>> check_gpt2_config(GPT2Config(n_embd=8, n_head=2))
        >>> check_gpt2_config(GPT2Config(n_embd=8, n_head=2, activation_function="relu"))
        Traceback (most recent call last):
        ...
        transformer_anatomy.errors.UnsupportedConfigError: activation_function='relu' is not supported: only GPT-2's tanh GELU ('gelu_new') is implemented
    """
    if getattr(config, "model_type", None) != "gpt2":
        raise TypeError(f"check_gpt2_config expects a transformers.GPT2Config, got {type(config).__name__}")
    for field, supported, why in _GPT2_UNSUPPORTED:
        value = getattr(config, field, supported)
        if value != supported:
            raise UnsupportedConfigError(f"{field}={value!r} is not supported: {why}")
    pruned = getattr(config, "pruned_heads", None)
    if pruned:
        raise UnsupportedConfigError(f"pruned_heads={pruned!r} is not supported: every layer has n_head heads")
    if config.n_embd % config.n_head:
        raise UnsupportedConfigError(f"n_embd={config.n_embd} is not divisible by n_head={config.n_head}")


def check_hf_config(config: Any) -> None:
    """Raise :class:`~transformer_anatomy.errors.UnsupportedConfigError` for a field of a
    ``LlamaConfig`` / ``GPT2Config`` that changes the numbers and that we do not implement
    (:func:`check_llama_config`, :func:`check_gpt2_config`); ``TypeError`` for another config.

    Shape:
        config -> None (reads its fields only).

    Examples:
        >>> from transformers import GPT2Config, LlamaConfig
        >>> check_hf_config(GPT2Config(n_embd=8, n_head=2))
        >>> check_hf_config(LlamaConfig(hidden_size=8, num_attention_heads=2, pretraining_tp=2))
        Traceback (most recent call last):
        ...
        transformer_anatomy.errors.UnsupportedConfigError: pretraining_tp=2 is not supported: expected 1
    """
    if hf_family(config, "config") == "llama":
        check_llama_config(config)
    else:
        check_gpt2_config(config)
