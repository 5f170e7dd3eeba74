"""Multi-head attention by hand on E = 4, H = 2: split, attend, concatenate, project;
then our NumPy and PyTorch modules against nn.MultiheadAttention with the same weights."""

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.numpy import MultiheadAttention as NumpyMHA
from transformer_anatomy.numpy import softmax
from transformer_anatomy.torch import MultiheadAttention as TorchMHA
from transformer_anatomy.viz import figure_to_svg, plot_attention

TOKENS = ["the", "cat", "sat", "down"]


def reference(E=4, H=2, seed=0):
    """nn.MultiheadAttention(E, H) in float64 with non-zero biases (so the checks cover them)."""
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_(0.0, 0.1)
        mha.out_proj.bias.normal_(0.0, 0.1)
    return mha


def per_head_weights(mha):
    """W_q, W_k, W_v of each head in the paper's layout (E, E/H), sliced from in_proj_weight (3E, E)."""
    E, H = mha.embed_dim, mha.num_heads
    D = E // H
    W = mha.in_proj_weight.detach().numpy()  # (3E, E): rows 0:E are W_q, E:2E W_k, 2E:3E W_v, (out, in)
    return {name: [W[i * E + h * D: i * E + (h + 1) * D].T for h in range(H)]  # (E/H, E) rows -> .T (E, E/H)
            for i, name in enumerate(("W_q", "W_k", "W_v"))}


# --8<-- [start:by_hand]
def by_hand(x, mha):
    """Multi-head self-attention written out, head by head. x: (T, E) -> (T, E), plus the per-head weights."""
    E, H = mha.embed_dim, mha.num_heads
    D = E // H
    Ws = per_head_weights(mha)
    b = mha.in_proj_bias.detach().numpy()  # (3E,)
    heads, attn = [], []
    for h in range(H):
        cols = slice(h * D, (h + 1) * D)
        q = x @ Ws["W_q"][h] + b[0 * E:1 * E][cols]  # (T, E) @ (E, E/H) -> (T, E/H)
        k = x @ Ws["W_k"][h] + b[1 * E:2 * E][cols]
        v = x @ Ws["W_v"][h] + b[2 * E:3 * E][cols]
        w = softmax(q @ k.T / math.sqrt(D), axis=-1)  # (T, E/H) @ (E/H, T) -> (T, T)
        heads.append(w @ v)  # (T, T) @ (T, E/H) -> (T, E/H)
        attn.append(w)
    concat = np.concatenate(heads, axis=-1)  # H x (T, E/H) -> (T, E)
    W_o = mha.out_proj.weight.detach().numpy()  # (E, E), (out, in)
    out = concat @ W_o.T + mha.out_proj.bias.detach().numpy()  # (T, E) @ (E, E) -> (T, E)
    return out, np.stack(attn), concat
# --8<-- [end:by_hand]


def check_by_hand(E=4, H=2, seed=0):
    mha = reference(E, H, seed)
    x = np.random.default_rng(seed).standard_normal((len(TOKENS), E))  # (T, E)
    out, attn, concat = by_hand(x, mha)
    with torch.no_grad():
        ref, ref_w = mha(*(torch.from_numpy(x)[None],) * 3, average_attn_weights=False)  # (1, T, E), (1, H, T, T)
    return {"mha": mha, "x": x, "out": out, "attn": attn, "concat": concat,
            "out_diff": float(np.abs(out - ref[0].numpy()).max()),
            "weights_diff": float(np.abs(attn - ref_w[0].numpy()).max())}


def three_way(E=8, H=2, N=2, T=5, S=6, seed=0):
    """Ours (NumPy), ours (PyTorch) and nn.MultiheadAttention, one state_dict, cross-attention with
    a key padding mask and a causal-style attn_mask, float64. Returns max differences of outputs and weights."""
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():
        ref.in_proj_bias.normal_(0.0, 0.1)
    state = ref.state_dict()
    ours_t = TorchMHA(E, H, batch_first=True, dtype=torch.float64).eval()
    ours_t.load_state_dict(state, strict=True)
    ours_n = NumpyMHA(E, H, batch_first=True, dtype=np.float64)
    ours_n.load_state_dict({k: v.numpy() for k, v in state.items()}, strict=True)
    ours_n.eval()
    rng = np.random.default_rng(seed)
    q, kv = rng.standard_normal((N, T, E)), rng.standard_normal((N, S, E))
    pad = np.zeros((N, S), dtype=bool)
    pad[1, 4:] = True  # sequence 1 has two padded keys
    mask = np.triu(np.ones((T, S), dtype=bool), k=2)  # True = blocked
    t = torch.from_numpy
    with torch.no_grad():
        o_ref, w_ref = ref(t(q), t(kv), t(kv), key_padding_mask=t(pad), attn_mask=t(mask))
        o_t, w_t = ours_t(t(q), t(kv), t(kv), key_padding_mask=t(pad), attn_mask=t(mask))
    o_n, w_n = ours_n.forward(q, kv, kv, key_padding_mask=pad, attn_mask=mask)
    return {
        "ours (NumPy) vs nn.MultiheadAttention": (float(np.abs(o_n - o_ref.numpy()).max()), float(np.abs(w_n - w_ref.numpy()).max())),
        "ours (PyTorch) vs nn.MultiheadAttention": (float((o_t - o_ref).abs().max()), float((w_t - w_ref).abs().max())),
        "ours (NumPy) vs ours (PyTorch)": (float(np.abs(o_n - o_t.numpy()).max()), float(np.abs(w_n - w_t.numpy()).max())),
    }


def report_sizes(matrix=True):
    mha = reference()
    E, H = mha.embed_dim, mha.num_heads
    print(f"E = {E}, H = {H}, head width E/H = {E // H}")
    for name, p in mha.named_parameters():
        print(f"  {name:18} {tuple(p.shape)}")
    if matrix:
        report_in_proj_matrix(mha)
    for name, per_head in per_head_weights(mha).items():
        print(f"{name} per head (paper layout E x E/H): " + ", ".join(f"head {h} {W.shape}" for h, W in enumerate(per_head)))
    print("W_q of head 0 = in_proj_weight[0:2, :].T =")
    print(per_head_weights(mha)["W_q"][0].round(3))


def report_in_proj_matrix(mha=None):
    mha = reference() if mha is None else mha
    print("in_proj_weight (3E, E) — rows: W_q | W_k | W_v, each (E, E) in PyTorch's (out, in) layout:")
    print(mha.in_proj_weight.detach().numpy().round(3))


def report_by_hand():
    r = check_by_hand()
    with np.printoptions(precision=3, suppress=True):
        for h, w in enumerate(r["attn"]):
            print(f"head {h} weights (rows: queries {TOKENS}):\n{w}")
        print(f"concat of the two heads' outputs (T, E) = {r['concat'].shape}, then out_proj:")
        print(r["out"])
    print(f"max |by hand - nn.MultiheadAttention|: output {r['out_diff']:.1e}, per-head weights {r['weights_diff']:.1e}")


def report_three_way():
    for name, (o, w) in three_way().items():
        print(f"{name:40} max |diff|: output {o:.1e}, weights {w:.1e}")


def figure_in_proj(mha=None):
    """in_proj_weight (3E, E) as a heatmap, its rows labelled by matrix and head."""
    mha = reference() if mha is None else mha
    E, H = mha.embed_dim, mha.num_heads
    D = E // H
    W = mha.in_proj_weight.detach().numpy()  # (3E, E)
    fig = Figure(figsize=(4.6, 4.2), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(W, cmap="cividis", aspect="auto")
    labels = [f"{name} head {h} row {r}" for name in ("W_q", "W_k", "W_v") for h in range(H) for r in range(D)]
    ax.set_yticks(range(3 * E), labels, fontsize=7)
    ax.set_xticks(range(E), [f"in {i}" for i in range(E)], fontsize=8)
    for edge in range(D, 3 * E, D):  # a thin line between heads, a thick one between W_q, W_k, W_v
        ax.axhline(edge - 0.5, color="white", lw=2.5 if edge % E == 0 else 1.2)
    ax.set_xlabel("input feature (E)")
    ax.set_title("in_proj_weight (3E, E)", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
    return figure_to_svg(fig, alt=f"Heatmap of the {3 * E} by {E} in_proj_weight, its rows grouped into W_q, W_k "
                         f"and W_v, each split into {H} heads of {D} rows",
                         caption="Each head owns a band of E/H rows in each of the three blocks.")


def head_summary():
    """For each head: the key each query favours, and the head's largest weight."""
    r = check_by_hand()
    return [{"head": h, "favourite": [TOKENS[int(i)] for i in w.argmax(-1)], "max": float(w.max())}
            for h, w in enumerate(r["attn"])]


def figure_heads():
    """The weights of both heads of the by-hand computation, side by side."""
    r = check_by_hand()
    fig = plot_attention(r["attn"], TOKENS, TOKENS)
    return figure_to_svg(fig, alt="Two 4 by 4 heatmaps of attention weights over the cat sat down, one per head, "
                         "query tokens down and key tokens across",
                         caption="Same tokens, different projections: each head spreads its weight its own way.")


def report_heads():
    rows = head_summary()
    parts = [f"head {r['head']} sends the queries ({', '.join(TOKENS)}) mostly to "
             f"({', '.join(r['favourite'])}), its largest weight {r['max']:.2f}" for r in rows]
    print("<p>Reading the figure: " + "; ".join(parts) + f". Uniform weights would be {1 / len(TOKENS):.2f}: "
          "with random projections the two heads already disagree, but neither is sharp yet. Training "
          "is what gives each head a preference worth having.</p>")
