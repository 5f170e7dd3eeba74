"""Solutions to the exercises of docs/internals-pytorch.md (shown on the page, checked by tests/docs/test_internals_pytorch.py)."""

import torch.nn.functional as F


# --8<-- [start:split]
def split_in_proj(mha):
    """(W_q, b_q), (W_k, b_k), (W_v, b_v) of an nn.MultiheadAttention with a packed in_proj_weight."""
    E = mha.embed_dim
    W, b = mha.in_proj_weight, mha.in_proj_bias  # (3E, E), (3E,)
    return [(W[i * E:(i + 1) * E], b[i * E:(i + 1) * E]) for i in range(3)]  # rows: q, then k, then v


def project_qkv(mha, query, key, value):
    """Q, K, V as nn.MultiheadAttention computes them before splitting heads."""
    (wq, bq), (wk, bk), (wv, bv) = split_in_proj(mha)
    return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)
# --8<-- [end:split]


# --8<-- [start:adam]
def adam_state_bytes(model):
    """Bytes torch.optim.Adam keeps after its first step: exp_avg and exp_avg_sq (parameter-sized)
    and a float32 ``step`` scalar per parameter tensor."""
    params = [p for p in model.parameters() if p.requires_grad]
    return sum(2 * p.numel() * p.element_size() + 4 for p in params)
# --8<-- [end:adam]
