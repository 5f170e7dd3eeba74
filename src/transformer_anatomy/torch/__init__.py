"""The Transformer in PyTorch, from scratch, ``torch.nn.Transformer``-compatible.

Same parameter names as ``nn.Transformer`` / ``nn.MultiheadAttention`` (their state_dicts load
with ``strict=True``), same initialisation, same outputs; plus the models the site trains
(:class:`Seq2SeqTransformer` with greedy/beam/cached decoding, and encoder-only heads).

``import torch`` inside this package is PyTorch itself (absolute imports only).
"""

from transformer_anatomy.torch.attention import MultiheadAttention, scaled_dot_product_attention
from transformer_anatomy.torch.embeddings import LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_table
from transformer_anatomy.torch.encoder_models import (
    QA_PAD_LOGIT,
    TransformerClassifier,
    TransformerQA,
    TransformerTagger,
)
from transformer_anatomy.torch.kv_cache import KVCache
from transformer_anatomy.torch.layers import GELU, Dropout, Embedding, LayerNorm, Linear, ReLU
from transformer_anatomy.torch.masks import generate_square_subsequent_mask, make_key_padding_mask
from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer
from transformer_anatomy.torch.softmax import log_softmax, softmax
from transformer_anatomy.torch.state_dict import StateDictError
from transformer_anatomy.torch.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
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
    "make_key_padding_mask",
    "sinusoidal_table",
    "KVCache",
    "StateDictError",
    "QA_PAD_LOGIT",
]
