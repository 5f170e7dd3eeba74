"""Per-head weight sizes, read off a real module: E = 4, H = 2, so each head's W_q is 4 × 2.

``MultiheadAttention`` stores the three projections of all heads in one ``in_proj_weight`` of
shape ``(3E, E)``: rows ``0:E`` are W_q, ``E:2E`` W_k, ``2E:3E`` W_v, in PyTorch's ``(out, in)``
layout. Head ``h`` owns rows ``h·E/H : (h+1)·E/H`` of each block; transposed, that is the paper's
``W_i^Q`` of shape ``(d_model, d_k) = (E, E/H)``.
"""

import torch

from transformer_anatomy.torch import MultiheadAttention


def head_slices(mha):
    """Per-head matrices in the paper's layout: W_q, W_k, W_v ``(E, E/H)`` from ``in_proj_weight``,
    W_o ``(E/H, E)`` from ``out_proj.weight`` (the rows of W^O that multiply head h's output)."""
    E, H, D = mha.embed_dim, mha.num_heads, mha.head_dim
    W_q, W_k, W_v = mha.in_proj_weight.detach().split(E)  # (3E, E) -> 3 x (E, E), (out, in)
    slices = {
        name: [W[h * D:(h + 1) * D].T for h in range(H)]  # rows of head h: (E/H, E) -> .T (E, E/H)
        for name, W in (("W_q", W_q), ("W_k", W_k), ("W_v", W_v))
    }
    W_o = mha.out_proj.weight.detach()  # (E, E), (out, in): input columns h·E/H.. belong to head h
    slices["W_o"] = [W_o[:, h * D:(h + 1) * D].T for h in range(H)]  # (E, E/H) -> .T (E/H, E)
    return slices


def check_heads(E=4, H=2, L=3, seed=0):
    """Project ``x`` with each head's slice and compare with the module's own per-head queries.

    Returns the slices, the module, and max |x @ W_q^h + b_q^h - project_q(x)[:, h]| over heads.
    """
    torch.manual_seed(seed)
    mha = MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():
        mha.in_proj_bias.normal_()  # non-zero biases, so the check covers them too
    x = torch.randn(1, L, E)  # (N, L, E)
    slices = head_slices(mha)
    b_q = mha.in_proj_bias.detach()[:E]  # (E,): the q part of the packed bias
    D = E // H
    with torch.no_grad():
        q = mha.project_q(x)  # (N, L, E) -> (N, H, L, E/H): what the module computes
        diff = max(float((x @ W + b_q[h * D:(h + 1) * D] - q[:, h]).abs().max())  # (N, L, E) x (E, E/H)
                   for h, W in enumerate(slices["W_q"]))
    return slices, mha, diff


def report():
    """Print the sizes and the first head's W_q."""
    slices, mha, diff = check_heads()
    E, H = mha.embed_dim, mha.num_heads
    print(f"E = {E}, H = {H}, head width E/H = {mha.head_dim}")
    print(f"in_proj_weight      {tuple(mha.in_proj_weight.shape)}   (3E, E): W_q, W_k, W_v stacked, (out, in)")
    print(f"in_proj_bias        {tuple(mha.in_proj_bias.shape)}")
    print(f"out_proj.weight     {tuple(mha.out_proj.weight.shape)}")
    for name, per_head in slices.items():
        print(f"{name} per head       " + ", ".join(f"head {h}: {tuple(W.shape)}" for h, W in enumerate(per_head)))
    print("W_q of head 0 (E x E/H):")
    print(slices["W_q"][0].numpy().round(3))
    n_params = sum(p.numel() for p in mha.parameters())
    print(f"parameters: 4E² + 4E = {4 * E * E + 4 * E}; sum(numel) = {n_params}")
    print(f"max |x @ W_q^h + b_q^h - module's q[:, h]| over both heads = {diff:.1e}")
