"""Our NumPy decoder-only models from HuggingFace ones: :func:`from_hf` and :func:`check_hf_config`.

``from_hf`` dispatches on the class: ``transformers.LlamaForCausalLM`` ->
:func:`transformer_anatomy.numpy.llama.llama_from_hf`, ``transformers.GPT2LMHeadModel`` ->
:func:`transformer_anatomy.numpy.gpt2.gpt2_from_hf`. Nothing is downloaded: pass a model you
built or loaded yourself.

Page: ``docs/gpt2-llama.md`` (planned).
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_hf_config", "from_hf"]


def _family(obj: Any, what: str) -> str:
    """``"llama"`` or ``"gpt2"`` for a HF model / config, else ``TypeError`` naming the class."""
    import transformers

    kinds = {"model": ((transformers.LlamaForCausalLM, "llama"), (transformers.GPT2LMHeadModel, "gpt2")),
             "config": ((transformers.LlamaConfig, "llama"), (transformers.GPT2Config, "gpt2"))}[what]
    for cls, family in kinds:
        if isinstance(obj, cls):
            return family
    names = " or ".join(f"transformers.{cls.__name__}" for cls, _ in kinds)
    raise TypeError(f"{what} must be a {names}, got {type(obj).__module__}.{type(obj).__name__}")


def check_hf_config(config: Any) -> None:
    """Raise :class:`~transformer_anatomy.errors.UnsupportedConfigError` naming the field and its
    value if ``config`` asks for something our models do not implement (see
    :func:`~transformer_anatomy.numpy.llama.check_llama_config` and
    :func:`~transformer_anatomy.numpy.gpt2.check_gpt2_config`).

    Args:
        config: a ``transformers.LlamaConfig`` or ``transformers.GPT2Config`` (else ``TypeError``).

    Shape:
        config -> None (reads its fields only).

    Examples:
        >>> from transformers import LlamaConfig
        >>> check_hf_config(LlamaConfig(vocab_size=10, hidden_size=8, num_attention_heads=2, pretraining_tp=2))
        Traceback (most recent call last):
        ...
        transformer_anatomy.errors.UnsupportedConfigError: pretraining_tp=2 is not supported: only 1
    """
    if _family(config, "config") == "llama":
        from .llama import check_llama_config

        check_llama_config(config)
    else:
        from .gpt2 import check_gpt2_config

        check_gpt2_config(config)


def from_hf(model: Any) -> Any:
    """Our model with the weights of a HuggingFace ``LlamaForCausalLM`` or ``GPT2LMHeadModel``.

    In the model's dtype (float32 / float64; another is a ``TypeError``), in eval mode, with
    copied weights (no memory shared with the HF model); its config is checked with
    :func:`check_hf_config` first.

    Args:
        model: a ``transformers.LlamaForCausalLM`` or ``transformers.GPT2LMHeadModel``;
            another class is a ``TypeError`` naming it.

    Shape:
        model -> :class:`~transformer_anatomy.numpy.llama.LlamaForCausalLM` or
        :class:`~transformer_anatomy.numpy.gpt2.GPT2LMHeadModel`.

    Examples:
        >>> import transformers
        >>> hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        ...     vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2))
        >>> type(from_hf(hf)).__name__
        'LlamaForCausalLM'
    """
    if _family(model, "model") == "llama":
        from .llama import llama_from_hf

        return llama_from_hf(model)
    from .gpt2 import gpt2_from_hf

    return gpt2_from_hf(model)
