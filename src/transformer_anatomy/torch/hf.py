"""Load a HuggingFace decoder-only language model into our PyTorch backend: ``from_hf(model)``
for ``transformers.GPT2LMHeadModel`` and ``transformers.LlamaForCausalLM``, and
``check_hf_config(config)``, which refuses a config field whose numbers we do not reproduce.

The twin of ``numpy/hf.py``. ``transformers`` is imported only inside these functions.

Page: ``docs/gpt2-llama.md`` ("GPT-2 and Llama, piece by piece").
"""

from __future__ import annotations

from typing import Any

from transformer_anatomy.hf_config import check_hf_config, hf_family as _family

__all__ = ["check_hf_config", "from_hf"]


def from_hf(model: Any) -> Any:
    """Our :class:`~transformer_anatomy.torch.gpt2.GPT2LMHeadModel` or
    :class:`~transformer_anatomy.torch.llama.LlamaForCausalLM` with the weights of a HF
    ``transformers.GPT2LMHeadModel`` / ``transformers.LlamaForCausalLM``.

    In the model's dtype (float32 or float64; another: ``TypeError`` naming it) and device, in
    eval mode, weights copied (no memory shared with ``model``); the config is checked first
    (:func:`check_hf_config`). HF's dropout probabilities are ignored (no dropout here).

    Raises:
        TypeError: another class (named), or another dtype.
        UnsupportedConfigError: a config field we do not implement, named with its value.

    Shape:
        a HF model -> our model of the same family, dtype and sizes; its forward maps ids ``(N, T)`` to logits ``(N, T, V)``.

    Examples:
        >>> import torch, transformers
        >>> hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        ...     vocab_size=10, hidden_size=8, intermediate_size=12, num_hidden_layers=1, num_attention_heads=2))
        >>> type(from_hf(hf)).__name__, from_hf(hf.double()).lm_head.weight.dtype
        ('LlamaForCausalLM', torch.float64)
    """
    if _family(model, "model") == "llama":
        from .llama import llama_from_hf

        return llama_from_hf(model)
    from .gpt2 import gpt2_from_hf

    return gpt2_from_hf(model)
