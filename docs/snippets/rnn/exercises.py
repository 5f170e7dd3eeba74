"""Solutions to the exercises of docs/rnn-vs-transformer.md (checked by tests/docs/test_rnn_snippets.py)."""

import torch
from torch import nn

from transformer_anatomy.torch import TransformerEncoderLayer


# --8<-- [start:lstm_params]
def lstm_params(E_in, E, num_layers=1):
    """Parameters of ``nn.LSTM(E_in, E, num_layers)``: per layer four gates, each with an input
    matrix, a recurrent ``E x E`` matrix and two biases (PyTorch keeps ``b_ih`` and ``b_hh``)."""
    total, width = 0, E_in
    for _ in range(num_layers):
        total += 4 * (width * E + E * E + 2 * E)
        width = E  # the next layer reads this one's states
    return total
# --8<-- [end:lstm_params]


# --8<-- [start:work_ratio]
def work_ratio(E, F, S):
    """Multiply-adds per token of an encoder layer over those of an LSTM layer of the same width.

    Encoder layer: 4E² (Q, K, V, output) + 2EF (feed-forward) + 2SE (scores, weighted sum);
    LSTM: 8E² (four gates, input and recurrent products). With F = 4E it is 1.5 + S / (4E):
    the encoder layer does more work per token at every length, and the gap grows with S.
    """
    return (4 * E * E + 2 * E * F + 2 * S * E) / (8 * E * E)
# --8<-- [end:work_ratio]


# --8<-- [start:first_token_gradient]
def first_token_gradient(kind, S, E=16, seed=0):
    """‖∂ (v · y_last) / ∂ x_first‖ for an untrained layer over a random ``(1, S, E)`` input.

    In an LSTM the path from the first input to the last output crosses all S steps (the
    maximum path length of Table 1 is n); in self-attention it is one step.
    """
    torch.manual_seed(seed)
    layer = nn.LSTM(E, E, batch_first=True) if kind == "lstm" else \
        TransformerEncoderLayer(E, 2, 4 * E, dropout=0.0, batch_first=True)
    x = torch.randn(1, S, E, requires_grad=True)
    out = layer(x)
    y = out[0] if isinstance(out, tuple) else out  # (1, S, E)
    v = torch.randn(E)  # a fixed direction (a LayerNorm output's plain sum is constant: zero gradient)
    (grad,) = torch.autograd.grad(y[0, -1] @ v, x)  # d(v · last output) / d(every input)
    return float(grad[0, 0].norm())
# --8<-- [end:first_token_gradient]
