"""The Transformer in NumPy: every op has a forward and a hand-written backward (no autograd).

Same class and function names as :mod:`transformer_anatomy.torch`, parameter keys identical to
PyTorch's ``state_dict`` keys, float32 or float64 (the parameters' dtype). Every module
follows one pattern: ``out = m.forward(...)``, ``dx = m.backward(dout)``, ``m.params``,
``m.grads``, ``m.train()``/``m.eval()``, ``m.state_dict()``/``m.load_state_dict()``.

This subpackage never imports torch at import time (:func:`from_torch` imports it lazily).
"""

from .activation import GELU, ReLU, erf, make_activation
from .attention import (
    AttentionCache,
    MultiheadAttention,
    generate_square_subsequent_mask,
    make_key_padding_mask,
    masked_softmax,
    merge_masks,
    scaled_dot_product_attention,
    scaled_dot_product_attention_backward,
    to_additive_mask,
)
from .convert import from_torch
from .dropout import Dropout
from .gradcheck import max_relative_error, numerical_gradient
from .embedding import (
    Embedding,
    LearnedPositionalEmbedding,
    PositionalEncoding,
    TokenIdError,
    sinusoidal_table,
)
from .linear import Linear
from .loss import CrossEntropyLoss
from .models import (
    QA_PAD_LOGIT,
    Seq2SeqTransformer,
    TransformerClassifier,
    TransformerQA,
    TransformerTagger,
)
from .module import Module, StateDictError
from .normalization import LayerNorm
from .optim import Adam, AdamW, NoamSchedule, clip_grad_norm_
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
    "Module",
    "ModuleList",
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
