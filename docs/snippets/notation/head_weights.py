"""Per-head weight sizes, read off a real module: E = 4, H = 2, so each head's W_q is 4 × 2.

``MultiheadAttention`` stores the three projections of all heads in one ``in_proj_weight`` of
shape ``(3E, E)``: rows ``0:E`` are W_q, ``E:2E`` W_k, ``2E:3E`` W_v, in PyTorch's ``(out, in)``
layout. Head ``h`` owns rows ``h·E/H : (h+1)·E/H`` of each block; transposed, that is the paper's
``W_i^Q`` of shape ``(d_model, d_k) = (E, E/H)``.
"""

import torch

from transformer_anatomy.torch import MultiheadAttention


# --8<-- [start:head_slices]
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
# --8<-- [end:head_slices]


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


def report(attention_params):
    """Print the sizes and the first head's W_q; ``attention_params(E)`` is the parameter formula
    from its one home, ``docs/snippets/complexity/params.py`` (the page includes it)."""
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
    print(f"parameters: 4E² + 4E = {attention_params(E)}; sum(numel) = {n_params}")
    print(f"max |x @ W_q^h + b_q^h - module's q[:, h]| over both heads = {diff:.1e}")


def split_figure(E=4, H=2, seed=0):
    """Left: in_proj_weight (3E, E) with its q/k/v and head blocks; right: the paper's W^Q (E, E) = W_q.T
    split into H column blocks W^Q_h of width E/H."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    _, mha, _ = check_heads(E, H, seed=seed)
    D = E // H
    W = mha.in_proj_weight.detach().numpy()  # (3E, E)
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.4])
    lim = float(abs(W).max())
    left.imshow(W, cmap="viridis", vmin=-lim, vmax=lim, aspect="equal")
    head_colors = ["tab:orange", "tab:red", "tab:cyan", "tab:pink", "tab:olive", "tab:brown"]
    for b, name in enumerate("qkv"):
        for h in range(H):
            top = b * E + h * D
            left.add_patch(Rectangle((-0.5, top - 0.5), E, D, fill=False, lw=2.2, edgecolor=head_colors[h % 6]))
            left.text(E - 0.3, top + D / 2 - 0.5, f" W_{name} head {h}", va="center", fontsize=7)
    left.set_xticks(range(E), [f"in {j}" for j in range(E)], fontsize=7)
    left.set_yticks(range(3 * E), [str(i) for i in range(3 * E)], fontsize=7)
    left.set_ylabel("row of in_proj_weight (out)")
    left.set_title(f"in_proj_weight {tuple(W.shape)}, (out, in)", fontsize=9)
    Wq = W[:E].T  # (E, E) in the paper's (in, out) layout
    image = right.imshow(Wq, cmap="viridis", vmin=-lim, vmax=lim, aspect="equal")
    for h in range(H):
        right.add_patch(Rectangle((h * D - 0.5, -0.5), D, E, fill=False, lw=2.2, edgecolor=head_colors[h % 6]))
        right.text(h * D + D / 2 - 0.5, E - 0.5 + 0.75, f"W^Q head {h}: {E}×{D}", ha="center", va="top",
                   fontsize=7)
    for i in range(E):
        for j in range(E):  # dark digits on the bright cells, white on the dark ones
            right.text(j, i, f"{Wq[i, j]:.2f}", ha="center", va="center", fontsize=6.5,
                       color="#222222" if Wq[i, j] > 0.2 * lim else "white")
    right.set_xticks(range(E), [f"out {j}" for j in range(E)], fontsize=7)
    right.set_yticks(range(E), [f"in {i}" for i in range(E)], fontsize=7)
    right.set_title("paper layout: W^Q = W_q.T, (in, out)", fontsize=9)
    fig.colorbar(image, ax=right, label="weight", shrink=0.8)
    return fig, mha


def report_split_figure():
    from transformer_anatomy.viz import figure_to_svg

    fig, mha = split_figure()
    E, H = mha.embed_dim, mha.num_heads
    print(figure_to_svg(fig, alt=f"Left: the packed in_proj_weight of MultiheadAttention({E}, {H}) as a heatmap, its "
                                 "rows framed in blocks for W_q, W_k, W_v and each head. Right: W_q transposed into "
                                 "the paper's layout, its columns framed into one block per head",
                        caption=f"E = {E}, H = {H}: each head owns E/H = {E // H} rows of each block of "
                                "in_proj_weight, which are E/H columns of the paper's W^Q."))


def notice_heads():
    slices, mha, diff = check_heads()
    E, H = mha.embed_dim, mha.num_heads
    print(f"The module is `MultiheadAttention({E}, {H})`: $E = {E}$, $H = {H}$, so each head works in "
          f"$E/H = {mha.head_dim}$ dimensions and its $W^Q_h$ is {' × '.join(map(str, slices['W_q'][0].shape))} "
          f"($E \\times E/H$). Projecting with the sliced matrices reproduces the module's own per-head queries "
          f"(max difference {diff:.1e}).")
