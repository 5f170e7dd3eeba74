"""The Transformer in NumPy: every op has a forward and a hand-written backward (no autograd).

Same class and function names as :mod:`transformer_anatomy.torch`, parameter keys identical to
PyTorch's ``state_dict`` keys, float32 or float64 (the parameters' dtype). Every module
follows one pattern: ``out = m.forward(...)``, ``dx = m.backward(dout)``, ``m.params``,
``m.grads``, ``m.train()``/``m.eval()``, ``m.state_dict()``/``m.load_state_dict()``.

The files mirror :mod:`transformer_anatomy.torch`: ``attention.py``, ``masks.py``,
``embeddings.py``, ``transformer.py``, ``seq2seq.py``, ``encoder_models.py``, ``softmax.py``,
and for the decoder-only models ``causal_lm.py`` (causal grouped-query attention,
``generate``), ``kv_cache.py``, ``gpt2.py``, ``llama.py`` and ``hf.py`` (``from_hf``)
(plus the modules torch provides itself: ``linear.py``, ``normalization.py``, ``dropout.py``,
``activation.py``, ``loss.py``, ``optim.py``, ``init.py``; and ``flash.py``, FlashAttention's
tiled forward and backward, which exists in NumPy only). The names both backends export
take the same arguments with the same defaults (``batch_first=False`` as ``torch.nn``);
``tests/test_backend_parity.py`` checks it.

This subpackage never imports torch at import time (:func:`from_torch` imports it lazily).

Examples:
    >>> import numpy as np
    >>> import transformer_anatomy.numpy as tn
    >>> layer = tn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, rng=0)
    >>> y = layer(np.ones((2, 3, 8)))
    >>> layer.backward(np.ones_like(y)).shape, layer.num_parameters()
    ((2, 3, 8), 600)
"""

from .activation import GELU, ReLU, erf, make_activation
from .attention import (
    AttentionCache,
    MultiheadAttention,
    masked_softmax,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
)
from .causal_lm import CausalLM, causal_attention, causal_attention_backward, warp_logits
from .convert import from_torch
from .dropout import Dropout
from .gradcheck import max_relative_error, numerical_gradient
from .embeddings import (
    Embedding,
    LearnedPositionalEmbedding,
    PositionalEncoding,
    TokenIdError,
    sinusoidal_table,
)
from .encoder_models import QA_PAD_LOGIT, TransformerClassifier, TransformerQA, TransformerTagger
from .flash import flash_attention, flash_attention_backward, flash_attention_forward
from .gpt2 import (
    Conv1D,
    GPT2Attention,
    GPT2Block,
    GPT2LMHeadModel,
    GPT2MLP,
    GPT2Model,
    check_gpt2_config,
    gpt2_from_hf,
)
from .hf import check_hf_config, from_hf
from .kv_cache import KVCache
from .linear import Linear
from .llama import (
    LlamaAttention,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
    RMSNorm,
    RotaryEmbedding,
    SwiGLU,
    apply_rotary,
    apply_rotary_backward,
    check_llama_config,
    llama_from_hf,
    rotate_half,
)
from .loss import CrossEntropyLoss
from .masks import generate_square_subsequent_mask, make_key_padding_mask, merge_masks, sliding_window_mask, to_additive_mask
from .module import Module, StateDictError, num_parameters
from .normalization import LayerNorm
from .optim import Adam, AdamW, NoamSchedule, clip_grad_norm_
from .seq2seq import Seq2SeqTransformer
from .softmax import log_softmax, log_softmax_backward, softmax, softmax_backward
from .transformer import (
    ModuleList,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "CausalLM",
    "causal_attention",
    "causal_attention_backward",
    "warp_logits",
    "KVCache",
    "flash_attention",
    "flash_attention_forward",
    "flash_attention_backward",
    "Conv1D",
    "GPT2Attention",
    "GPT2MLP",
    "GPT2Block",
    "GPT2Model",
    "GPT2LMHeadModel",
    "check_gpt2_config",
    "gpt2_from_hf",
    "LlamaAttention",
    "LlamaDecoderLayer",
    "LlamaModel",
    "LlamaForCausalLM",
    "check_llama_config",
    "llama_from_hf",
    "from_hf",
    "check_hf_config",
    "RMSNorm",
    "RotaryEmbedding",
    "SwiGLU",
    "apply_rotary",
    "apply_rotary_backward",
    "rotate_half",
    "Module",
    "ModuleList",
    "num_parameters",
    "Linear",
    "Embedding",
    "PositionalEncoding",
    "LearnedPositionalEmbedding",
    "sinusoidal_table",
    "Dropout",
    "ReLU",
    "GELU",
    "erf",
    "make_activation",
    "LayerNorm",
    "softmax",
    "softmax_backward",
    "log_softmax",
    "log_softmax_backward",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_backward",
    "AttentionCache",
    "masked_softmax",
    "merge_masks",
    "to_additive_mask",
    "generate_square_subsequent_mask",
    "sliding_window_mask",
    "make_key_padding_mask",
    "MultiheadAttention",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
    "Seq2SeqTransformer",
    "TransformerClassifier",
    "TransformerTagger",
    "TransformerQA",
    "QA_PAD_LOGIT",
    "CrossEntropyLoss",
    "Adam",
    "AdamW",
    "clip_grad_norm_",
    "NoamSchedule",
    "from_torch",
    "StateDictError",
    "TokenIdError",
    "numerical_gradient",
    "max_relative_error",
]
