"""Activation memory of an encoder layer: what autograd keeps for the backward pass, measured.

``torch.autograd.graph.saved_tensors_hooks`` calls a "pack" function for every tensor an op
saves for its backward. We record each one's storage (views of one buffer share it, so a
buffer is counted once) and leave out the parameters (they exist anyway). What remains is the
activation memory of training, the part that grows with N and S. The measurement is exact on
CPU; on a GPU ``torch.cuda.max_memory_allocated`` sees the same tensors plus workspace.
"""

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from transformer_anatomy.torch import TransformerEncoderLayer

BYTES = 4  # float32


# --8<-- [start:analytic]
def activation_floats(N, S, E, H, F, attention="fused"):
    """Floats an encoder layer saves for backward (post-norm, ReLU, dropout 0).

    Per token: the layer input, Q K V, the attention output, two LayerNorm inputs, the
    LayerNorm output that feeds the FFN (8E), the ReLU output (F), two (mean, 1/std) pairs (4).
    Attention adds the (N, H, S, S) weights when it materialises them, or only a row
    log-sum-exp (N, H, S) in the fused kernel, which recomputes the weights in the backward.
    """
    per_token = N * S * (8 * E + F + 4)
    return per_token + (N * H * S * S if attention == "explicit" else N * H * S)
# --8<-- [end:analytic]


def saved_tensors(fn, module):
    """Run ``fn()`` recording what autograd saves; returns a list of
    ``(shapes seen, storage bytes)`` per distinct non-parameter storage."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages = {}

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in params:
            entry = storages.setdefault(st.data_ptr(), [set(), st.nbytes()])
            entry[0].add(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return [(shapes, nbytes) for shapes, nbytes in storages.values()], out


def measure_layer(N, S, E=64, H=4, F=256, attention="fused", seed=0):
    """Measured activation bytes of one encoder layer: ``(total, attention-matrix part)``.

    ``attention="explicit"`` forces SDPA's math backend, which builds the weights as a tensor.
    A storage counts as an attention matrix when one of its saved views ends in ``(S, S)``.
    """
    torch.manual_seed(seed)
    layer = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True)
    x = torch.randn(N, S, E, requires_grad=True)
    if attention == "explicit":
        with sdpa_kernel(SDPBackend.MATH):
            saved, _ = saved_tensors(lambda: layer(x), layer)
    else:
        saved, _ = saved_tensors(lambda: layer(x), layer)
    total = sum(nbytes for _, nbytes in saved)
    attn = sum(nbytes for shapes, nbytes in saved if any(s[-2:] == (S, S) for s in shapes))
    return total, attn


LENGTHS = (48, 96, 192, 384)  # none equals E, E/H or F, so an (S, S) view cannot be anything else


def comparison(N=4, E=64, H=4, F=256, lengths=LENGTHS):
    """Rows ``(S, attention, measured total, analytic total, measured (S,S) part, N·H·S² floats)``."""
    rows = []
    for S in lengths:
        for attention in ("fused", "explicit"):
            total, attn = measure_layer(N, S, E, H, F, attention)
            rows.append((S, attention, total, BYTES * activation_floats(N, S, E, H, F, attention),
                         attn, BYTES * N * H * S * S))
    return rows


def report():
    """Print measured vs analytic activation memory as a Markdown table."""
    N, E, H, F = 4, 64, 4, 256
    print(f"Encoder layer, N = {N}, E = {E}, H = {H}, F = {F}, float32, dropout 0.\n")
    print("| S | attention | saved for backward (measured) | formula | of which (S, S) tensors | N·H·S² · 4 bytes |")
    print("|---:|---|---:|---:|---:|---:|")
    rows = comparison(N, E, H, F)
    for S, attention, total, analytic, attn, nhs2 in rows:
        print(f"| {S} | {attention} | {total / 1024:,.1f} KiB | {analytic / 1024:,.1f} KiB "
              f"| {attn / 1024:,.1f} KiB | {nhs2 / 1024:,.1f} KiB |")
    print(f"\nMeasured == formula in every row: **{all(r[2] == r[3] for r in rows)}**.")
