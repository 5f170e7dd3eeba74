"""Seed 002's worked example: "I like apples" through multi-head self-attention with d_model = 6 and
two heads, every intermediate printed, and the result checked against nn.MultiheadAttention."""

import math

import numpy as np
import torch
from torch import nn

from transformer_anatomy.numpy import sinusoidal_table, softmax
from transformer_anatomy.viz import figure_to_svg, plot_attention

TOKENS = ["I", "like", "apples"]
E, H = 6, 2  # d_model, heads
D = E // H  # head width d_k = E / H


def small_weights(seed=0):
    """Seeded small weights with one decimal (readable when printed): token embeddings (T, E) and
    W_q, W_k, W_v, W_o (E, E) in the paper's x W layout. No biases, so every number is on the page."""
    rng = np.random.default_rng(seed)
    tenths = lambda *shape: rng.integers(-9, 10, size=shape) / 10.0  # noqa: E731
    return {"embedding": tenths(len(TOKENS), E), "W_q": tenths(E, E), "W_k": tenths(E, E),
            "W_v": tenths(E, E), "W_o": tenths(E, E)}


# --8<-- [start:apples]
def apples(seed=0):
    """Every intermediate of multi-head self-attention on the three tokens."""
    p = small_weights(seed)
    x = p["embedding"] + sinusoidal_table(len(TOKENS), E)  # (T, E): token + position
    Q, K, V = x @ p["W_q"], x @ p["W_k"], x @ p["W_v"]  # (T, E) @ (E, E) -> (T, E)
    heads = []
    for h in range(H):
        cols = slice(h * D, (h + 1) * D)  # head h owns columns h*D .. (h+1)*D - 1
        q, k, v = Q[:, cols], K[:, cols], V[:, cols]  # (T, D) each
        scores = q @ k.T  # (T, D) @ (D, T) -> (T, T)
        scaled = scores / math.sqrt(D)
        weights = softmax(scaled, axis=-1)  # each row sums to 1
        heads.append(dict(q=q, k=k, v=v, scores=scores, scaled=scaled, weights=weights,
                          out=weights @ v))  # (T, T) @ (T, D) -> (T, D)
    concat = np.concatenate([hd["out"] for hd in heads], axis=-1)  # H x (T, D) -> (T, E)
    out = concat @ p["W_o"]  # (T, E) @ (E, E) -> (T, E)
    return dict(params=p, x=x, Q=Q, K=K, V=V, heads=heads, concat=concat, out=out)
# --8<-- [end:apples]


def reference(p):
    """nn.MultiheadAttention(E, H, bias=False) holding the same weights (float64)."""
    mha = nn.MultiheadAttention(E, H, bias=False, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():  # PyTorch stores (out, in): the transposes of the paper's x W matrices
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([p["W_q"].T, p["W_k"].T, p["W_v"].T])))
        mha.out_proj.weight.copy_(torch.from_numpy(p["W_o"].T))
    return mha


def check(seed=0):
    """Max |by hand - nn.MultiheadAttention| of the output and of each head's weights."""
    r = apples(seed)
    mha = reference(r["params"])
    x = torch.from_numpy(r["x"])[None]  # (1, T, E)
    with torch.no_grad():
        out, w = mha(x, x, x, average_attn_weights=False)  # (1, T, E), (1, H, T, T)
    ours_w = np.stack([hd["weights"] for hd in r["heads"]])
    return {"output": float(np.abs(out[0].numpy() - r["out"]).max()),
            "weights": float(np.abs(w[0].numpy() - ours_w).max()),
            "in_proj_weight": tuple(mha.in_proj_weight.shape), "out_proj.weight": tuple(mha.out_proj.weight.shape)}


def labeled(M, rows=TOKENS, cols=None, fmt="{:7.3f}"):
    """A small matrix as text, token names on the rows (and column labels when given)."""
    lines = [" " * 8 + "".join(f"{c:>7}" for c in cols)] if cols else []
    lines += [f"{name:>7} " + "".join(fmt.format(v) for v in row) for name, row in zip(rows, M)]
    return "\n".join(lines)


def report_inputs():
    r = apples()
    p = r["params"]
    dims = [f"e{i}" for i in range(E)]
    print(f"T = {len(TOKENS)} tokens, d_model E = {E}, H = {H} heads of width d_k = E / H = {D}\n")
    print("token embeddings (T, E), seeded, one decimal:\n" + labeled(p["embedding"], cols=dims, fmt="{:7.1f}"))
    print("\npositional encoding PE (T, E), sin on even columns, cos on odd ones:\n"
          + labeled(sinusoidal_table(len(TOKENS), E), cols=dims))
    print("\nx = embedding + PE (T, E):\n" + labeled(r["x"], cols=dims))


def report_weights():
    p = apples()["params"]
    for name in ("W_q", "W_k", "W_v"):
        print(f"{name} (E, E), columns 0-{D - 1} belong to head 0, columns {D}-{E - 1} to head 1:")
        print(labeled(p[name], rows=[f"in {i}" for i in range(E)], fmt="{:7.1f}") + "\n")
    print(f"W_o (E, E), rows 0-{D - 1} read head 0's output, rows {D}-{E - 1} head 1's:")
    print(labeled(p["W_o"], rows=[f"c{i}" for i in range(E)], fmt="{:7.1f}"))


def report_qkv():
    r = apples()
    for h, hd in enumerate(r["heads"]):
        for name in ("q", "k", "v"):
            print(f"head {h}: {name.upper()}_{h} = x @ W_{name}[:, {h * D}:{(h + 1) * D}]  (T, d_k)\n"
                  + labeled(hd[name]))
        print()


def report_scores():
    r = apples()
    for h, hd in enumerate(r["heads"]):
        print(f"head {h}: scores = Q_{h} K_{h}ᵀ  (row: query, column: key)\n" + labeled(hd["scores"], cols=TOKENS))
        print(f"head {h}: scaled = scores / √{D} = scores / {math.sqrt(D):.3f}\n" + labeled(hd["scaled"], cols=TOKENS))
        print(f"head {h}: weights = softmax(scaled), row by row\n" + labeled(hd["weights"], cols=TOKENS))
        print("row sums:", np.round(hd["weights"].sum(-1), 12).tolist(), "\n")


def report_outputs():
    r = apples()
    for h, hd in enumerate(r["heads"]):
        print(f"head {h}: out_{h} = weights_{h} @ V_{h}  (T, d_k)\n" + labeled(hd["out"]))
    dims = [f"c{i}" for i in range(E)]
    print("\nconcat = [out_0 | out_1]  (T, E)\n" + labeled(r["concat"], cols=dims))
    print("\noutput = concat @ W_o  (T, E)\n" + labeled(r["out"], cols=[f"o{i}" for i in range(E)]))


def report_check():
    c = check()
    print(f"nn.MultiheadAttention({E}, {H}, bias=False) with in_proj_weight {c['in_proj_weight']} = "
          f"[W_qᵀ; W_kᵀ; W_vᵀ] and out_proj.weight {c['out_proj.weight']} = W_oᵀ:")
    print(f"max |by hand - nn.MultiheadAttention|: output {c['output']:.1e}, per-head weights {c['weights']:.1e}")


def figure_weights():
    """Both heads' attention weights on the three tokens, values written in the cells."""
    r = apples()
    w = np.stack([hd["weights"] for hd in r["heads"]])
    fig = plot_attention(w, TOKENS, TOKENS)
    for ax, wh in zip(fig.axes, w):
        for (i, j), v in np.ndenumerate(wh):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=9,
                    color="#111111" if v > 0.6 else "#f0f0f0")
    return figure_to_svg(fig, alt="Two 3 by 3 heatmaps of attention weights over I like apples, one per head, "
                         "query tokens down and key tokens across, each cell labelled with its weight",
                         caption="The two heads' weights: same tokens, different projections.")


def report_notice():
    r = apples()
    parts = []
    for h, hd in enumerate(r["heads"]):
        w = hd["weights"]
        t = int(np.unravel_index(w.argmax(), w.shape)[0])
        parts.append(f"head {h} is sharpest at the query <em>{TOKENS[t]}</em>, which gives "
                     f"{w[t].max():.2f} of its weight to <em>{TOKENS[int(w[t].argmax())]}</em>")
    same = sum(int(a.argmax()) == int(b.argmax()) for a, b in zip(r["heads"][0]["weights"], r["heads"][1]["weights"]))
    print("<p>" + "; ".join(parts) + f". The two heads favour the same key for {same} of the {len(TOKENS)} "
          f"queries: with only {D} numbers per query and key, each head compares the tokens on its own slice of "
          "x, and the output projection mixes what both found.</p>")
