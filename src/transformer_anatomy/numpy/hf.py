"""Our NumPy decoder-only models from HuggingFace ones: :func:`from_hf` and :func:`check_hf_config`.

``from_hf`` dispatches on the class: ``transformers.LlamaForCausalLM`` ->
:func:`transformer_anatomy.numpy.llama.llama_from_hf`, ``transformers.GPT2LMHeadModel`` ->
:func:`transformer_anatomy.numpy.gpt2.gpt2_from_hf`. Nothing is downloaded: pass a model you
built or loaded yourself.

Page: ``docs/gpt2-llama.md``.
"""

from __future__ import annotations

from typing import Any

from transformer_anatomy.hf_config import check_hf_config, hf_family as _family

__all__ = ["check_hf_config", "from_hf"]


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
