"""Helpers shared by the tests that compare with HuggingFace's Llama (both backends).

- :func:`llama_config`: a small ``LlamaConfig`` (no download), fields overridable;
- :func:`hf_in_float64`: run HF's ``modeling_llama`` with its float32 upcasts made float64.

HF computes RMSNorm and the RoPE angles in float32 even for a float64 model
(``hidden_states.to(torch.float32)``, ``inv_freq`` in ``torch.float``), so a float64 HF model
is only float32-accurate there. Inside ``hf_in_float64()`` the name ``torch`` in
``modeling_llama`` is a proxy whose ``float32`` / ``float`` are ``float64``.

Import: ``from tests.hf_helpers import llama_config, hf_in_float64`` (pytest runs from the
repository root with ``python -m pytest``).
"""

from __future__ import annotations

import contextlib

import torch
from transformers import LlamaConfig
from transformers.models.llama import modeling_llama as hf


def llama_config(**kw) -> LlamaConfig:
    """A tiny ``LlamaConfig`` (vocab 11, hidden 24, 3 heads, 1 layer); no special token ids
    (so ``generate`` neither stops at an eos nor warns)."""
    base = dict(vocab_size=11, hidden_size=24, intermediate_size=40, num_attention_heads=3,
                num_key_value_heads=3, num_hidden_layers=1, max_position_embeddings=2048,
                bos_token_id=None, eos_token_id=None, pad_token_id=None)
    base.update(kw)
    return LlamaConfig(**base)


class _TorchFloat64:
    """``torch`` with ``float32`` / ``float`` meaning ``float64`` (everything else unchanged)."""

    def __getattr__(self, name):
        return torch.float64 if name in ("float32", "float") else getattr(torch, name)


@contextlib.contextmanager
def hf_in_float64():
    """Run HF's modeling_llama code with its float32 upcasts made float64."""
    old = hf.torch
    hf.torch = _TorchFloat64()
    try:
        yield
    finally:
        hf.torch = old
