"""Solutions to the exercises of docs/library-vs-manual.md (shown on the page, checked by tests/docs/test_library_vs_manual.py)."""

import numpy as np


# --8<-- [start:log_softmax]
def log_softmax_stable(x, axis=-1):
    """log softmax(x) without overflow: x - m - log Σ exp(x - m), m the row maximum."""
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
# --8<-- [end:log_softmax]


# --8<-- [start:pre_norm]
def pre_norm_layer(layer, x):
    """nn.TransformerEncoderLayer(norm_first=True) by hand from its own submodules (eval, no masks)."""
    h = layer.norm1(x)
    x = x + layer.self_attn(h, h, h, need_weights=False)[0]  # x + SA(LN(x))
    return x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))  # x + FF(LN(x))
# --8<-- [end:pre_norm]
