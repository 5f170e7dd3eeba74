"""The Transformer in PyTorch, from scratch, ``torch.nn.Transformer``-compatible.

Same parameter names as ``nn.Transformer`` / ``nn.MultiheadAttention`` (their state_dicts load
with ``strict=True``), same initialisation, same outputs; plus the models the site trains
(:class:`Seq2SeqTransformer` with greedy/beam/cached decoding, and encoder-only heads).

Every module class defined here has ``num_parameters()`` and a ``load_state_dict`` that names
every bad key (:mod:`transformer_anatomy.torch.module`), like the NumPy backend's ``Module``.
``Linear``, ``Embedding``, ``Dropout``, ``ReLU``, ``GELU`` and ``LayerNorm`` are ``torch.nn``'s
own classes under the NumPy backend's names (:mod:`transformer_anatomy.torch.layers`).

``import torch`` inside this package is PyTorch itself (absolute imports only).

Examples:
    >>> import torch
    >>> import transformer_anatomy.torch as tt
    >>> mha = tt.MultiheadAttention(8, 2)  # batch_first=False, as torch.nn
    >>> x = torch.randn(5, 3, 8)  # (L, N, E)
    >>> out, weights = mha(x, x, x)
    >>> out.shape, weights.shape
    (torch.Size([5, 3, 8]), torch.Size([3, 5, 5]))
"""

from transformer_anatomy.torch.attention import MultiheadAttention, scaled_dot_product_attention
from transformer_anatomy.torch.causal_lm import CausalLM, causal_attention, warp_logits
from transformer_anatomy.torch.embeddings import LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_table
from transformer_anatomy.torch.encoder_models import (
    QA_PAD_LOGIT,
    TransformerClassifier,
    TransformerQA,
    TransformerTagger,
)
from transformer_anatomy.torch.gpt2 import (
    Conv1D,
    GPT2Attention,
    GPT2Block,
    GPT2LMHeadModel,
    GPT2MLP,
    GPT2Model,
    check_gpt2_config,
    gpt2_from_hf,
)
from transformer_anatomy.torch.hf import check_hf_config, from_hf
from transformer_anatomy.torch.kv_cache import KVCache
from transformer_anatomy.torch.layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from transformer_anatomy.torch.llama import (
    LlamaAttention,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
    RMSNorm,
    RotaryEmbedding,
    SwiGLU,
    apply_rotary,
    check_llama_config,
    llama_from_hf,
    rotate_half,
)
from transformer_anatomy.torch.masks import generate_square_subsequent_mask, make_key_padding_mask, sliding_window_mask
from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer
from transformer_anatomy.torch.softmax import log_softmax, softmax
from transformer_anatomy.torch.module import StateDictError, num_parameters
from transformer_anatomy.torch.trained import TrainedModel, load_trained, save_trained
from transformer_anatomy.torch.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "CausalLM",
    "causal_attention",
    "warp_logits",
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
    "rotate_half",
    "Linear",
    "Embedding",
    "PositionalEncoding",
    "LearnedPositionalEmbedding",
    "Dropout",
    "ReLU",
    "GELU",
    "LayerNorm",
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
    "softmax",
    "log_softmax",
    "scaled_dot_product_attention",
    "generate_square_subsequent_mask",
    "sliding_window_mask",
    "make_key_padding_mask",
    "sinusoidal_table",
    "KVCache",
    "StateDictError",
    "QA_PAD_LOGIT",
    "num_parameters",
    "TrainedModel",
    "load_trained",
    "save_trained",
]
