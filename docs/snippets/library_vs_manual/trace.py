"""Library call vs manual, value by value: every intermediate of LayerNorm, one attention head, the
feed-forward network and a post-norm encoder layer, from our NumPy code and from the library
(executed by docs/library-vs-manual.md, imported by tests/docs/test_library_vs_manual.py).

The library's intermediates come from the library itself where it exposes them:
``torch.native_layer_norm`` returns the mean and 1/σ it used; ``nn.MultiheadAttention``'s own
input projection (``F._in_projection_packed``) gives Q, K, V and the module returns its weights;
forward hooks on the torch modules catch the FFN's hidden activations and the encoder layer's
residual intermediates. Everything runs in float64.
"""

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from transformer_anatomy.numpy import from_torch, softmax
from transformer_anatomy.viz import figure_to_svg

DT = torch.float64


def _diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


# --8<-- [start:layer_norm_trace]
def layer_norm_trace(x, gamma, beta, eps=1e-5):
    """LayerNorm step by step: mean, biased variance, normalised x̂, then the affine map."""
    mu = x.mean(axis=-1, keepdims=True)  # (..., E) -> (..., 1)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased: divide by E, not E - 1
    xhat = (x - mu) / np.sqrt(var + eps)  # eps inside the square root, as torch
    return {"mu": mu, "var": var, "xhat": xhat, "y": gamma * xhat + beta}
# --8<-- [end:layer_norm_trace]


LN_ROWS = {"plain row": [1.0, 2.0, 3.0, 4.0], "offset 1e6": [1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 4],
           "nearly constant": [1.0, 1.0, 1.0, 1.0 + 1e-4]}
GAMMA, BETA = np.array([1.0, 0.5, -1.0, 2.0]), np.array([0.0, 0.1, 0.2, 0.3])


def layer_norm_side_by_side(eps=1e-5):
    """Per row: ours (the trace) and torch.native_layer_norm's (y, mean, 1/σ), and the max difference."""
    rows = []
    for name, values in LN_ROWS.items():
        x = np.array([values])
        ours = layer_norm_trace(x, GAMMA, BETA, eps)
        y, mean, rstd = torch.native_layer_norm(torch.from_numpy(x), (4,), torch.from_numpy(GAMMA),
                                                torch.from_numpy(BETA), eps)
        lib = {"mu": mean.numpy(), "var": (rstd.numpy() ** -2.0 - eps), "y": y.detach().numpy(),
               "xhat": torch.native_layer_norm(torch.from_numpy(x), (4,), None, None, eps)[0].numpy()}
        rows.append({"name": name, "ours": ours, "torch": lib,
                     "max_diff": {k: _diff(ours[k], lib[k]) for k in ("mu", "var", "xhat", "y")}})
    return rows


def report_layer_norm():
    """Markdown table: μ, σ², x̂ and y, ours next to torch's, per row."""
    print("| row | | μ | σ² | x̂ | y |")
    print("|---|---|---:|---:|---|---|")
    for r in layer_norm_side_by_side():
        for who in ("ours", "torch"):
            v = r[who]
            print(f"| {r['name'] if who == 'ours' else ''} | {who} | {v['mu'][0, 0]:.6g} | {v['var'][0, 0]:.6g} "
                  f"| {np.array2string(v['xhat'][0], precision=4)} | {np.array2string(v['y'][0], precision=4)} |")
        d = r["max_diff"]
        print(f"| | max diff | {d['mu']:.1e} | {d['var']:.1e} | {d['xhat']:.1e} | {d['y']:.1e} |")


# --8<-- [start:attention_trace]
def attention_trace(X, W, b, W_o, b_o):
    """One head by hand: project with the packed (3E, E) weight, score, softmax, mix, project out."""
    E = X.shape[-1]
    Q, K, V = (X @ W[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E] for i in range(3))  # (T, E) each
    scores = Q @ K.T / math.sqrt(E)  # (T, E) x (E, T) -> (T, T), one head: d_k = E
    weights = softmax(scores, axis=-1)  # each row sums to 1
    mixed = weights @ V  # (T, T) x (T, E) -> (T, E)
    return {"Q": Q, "K": K, "V": V, "scores": scores, "weights": weights, "out": mixed @ W_o.T + b_o}
# --8<-- [end:attention_trace]


TOKENS = ["the", "cat", "sat", "down"]


def attention_side_by_side(T=4, E=8, seed=0):
    """One-head nn.MultiheadAttention against attention_trace, intermediate by intermediate."""
    torch.manual_seed(seed)
    mha = torch.nn.MultiheadAttention(E, 1, dtype=DT).eval()
    x = torch.randn(T, E, dtype=DT)
    p = {k: v.detach().numpy() for k, v in mha.named_parameters()}
    ours = attention_trace(x.numpy(), p["in_proj_weight"], p["in_proj_bias"], p["out_proj.weight"], p["out_proj.bias"])
    with torch.no_grad():
        q, k, v = torch.nn.functional._in_projection_packed(x, x, x, mha.in_proj_weight, mha.in_proj_bias)
        out, w = mha(x, x, x, need_weights=True)  # the module's own output and weights
    lib = {"Q": q.numpy(), "K": k.numpy(), "V": v.numpy(), "scores": (q @ k.T * E ** -0.5).numpy(),
           "weights": w.numpy(), "out": out.numpy()}
    return ours, lib


def _heat(ax, a, title, rows, cols=None, cmap="viridis"):
    im = ax.imshow(a, cmap=cmap, aspect="auto")
    ax.set_title(title, fontsize=9)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xticks(range(a.shape[1]), cols if cols is not None else range(a.shape[1]), fontsize=7)
    return im


def attention_figure(ours):
    """Q, K, V (token × feature) and scores, weights (query × key) of the traced head."""
    fig = Figure(figsize=(8, 2.8), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.6, 1])
    axes = left.subplots(1, 3, sharey=True)
    for ax, name in zip(axes, "QKV"):
        im = _heat(ax, ours[name], name, TOKENS)
        ax.set_xlabel("feature", fontsize=7)
    axes[0].set_ylabel("token", fontsize=7)
    left.colorbar(im, ax=list(axes), shrink=0.8)
    axes = right.subplots(1, 2, sharey=True)
    for ax, name in zip(axes, ("scores", "weights")):
        im = _heat(ax, ours[name], name, TOKENS, TOKENS, cmap="magma")
        ax.set_xlabel("key", fontsize=7)
        ax.tick_params(axis="x", labelrotation=90)
        right.colorbar(im, ax=ax, shrink=0.8)
    axes[0].set_ylabel("query", fontsize=7)
    return fig


def report_attention_figure():
    ours, lib = attention_side_by_side()
    print(figure_to_svg(attention_figure(ours), alt="Heatmaps of Q, K and V (token by feature) and of the scores "
                        "and softmax weights (query by key) of one attention head on four tokens",
                        caption="One head, four tokens: the intermediates of our trace."))
    top = ours["weights"].argmax(-1)
    print("<p>" + "; ".join(f"<code>{TOKENS[i]}</code> puts {ours['weights'][i, top[i]]:.2f} of its weight on "
                            f"<code>{TOKENS[top[i]]}</code>" for i in range(len(TOKENS))) + ".</p>")


def report_attention():
    """Markdown table: the first query's row of each intermediate, ours and torch's, and the max difference."""
    ours, lib = attention_side_by_side()
    print("| intermediate | shape | ours, first row (first 3) | torch, first row (first 3) | max diff (all entries) |")
    print("|---|---|---|---|---:|")
    for k in ours:
        print(f"| {k} | {ours[k].shape} | {np.array2string(ours[k][0, :3], precision=4)} "
              f"| {np.array2string(lib[k][0, :3], precision=4)} | {_diff(ours[k], lib[k]):.1e} |")


# --8<-- [start:ffn_trace]
def ffn_trace(x, W1, b1, W2, b2):
    """The position-wise feed-forward network, keeping the hidden activations."""
    hidden = x @ W1.T + b1  # (..., E) -> (..., F): every position on its own
    active = np.maximum(hidden, 0.0)  # ReLU
    return {"hidden": hidden, "relu": active, "out": active @ W2.T + b2}  # (..., F) -> (..., E)
# --8<-- [end:ffn_trace]


def ffn_side_by_side(S=6, E=8, F=32, seed=0):
    """nn.Sequential(Linear, ReLU, Linear) with forward hooks against ffn_trace."""
    torch.manual_seed(seed)
    ref = torch.nn.Sequential(torch.nn.Linear(E, F, dtype=DT), torch.nn.ReLU(), torch.nn.Linear(F, E, dtype=DT))
    x = torch.randn(S, E, dtype=DT)
    caught = {}
    hooks = [ref[i].register_forward_hook(lambda m, a, out, name=name: caught.__setitem__(name, out.detach().numpy()))
             for i, name in ((0, "hidden"), (1, "relu"), (2, "out"))]
    with torch.no_grad():
        ref(x)
    for h in hooks:
        h.remove()
    p = [t.detach().numpy() for t in (ref[0].weight, ref[0].bias, ref[2].weight, ref[2].bias)]
    return ffn_trace(x.numpy(), *p), caught


def ffn_figure(ours):
    """The hidden activations before and after ReLU, position × hidden unit."""
    fig = Figure(figsize=(8, 2.6))
    axes = fig.subplots(1, 2)
    positions = [f"pos {i}" for i in range(ours["hidden"].shape[0])]
    for ax, name, title in ((axes[0], "hidden", "x W₁ᵀ + b₁"), (axes[1], "relu", "ReLU(x W₁ᵀ + b₁)")):
        im = ax.imshow(ours[name], cmap="cividis", aspect="auto")
        ax.set_title(title, fontsize=9)
        ax.set_yticks(range(len(positions)), positions, fontsize=7)
        ax.set_xlabel("hidden unit (F)", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.tight_layout()
    return fig


def report_ffn():
    ours, lib = ffn_side_by_side()
    print(figure_to_svg(ffn_figure(ours), alt="Heatmaps of the feed-forward network's hidden activations, "
                        "position by hidden unit, before and after the ReLU",
                        caption="The FFN's hidden layer for six positions: ReLU zeroes the negative entries."))
    zero = float((ours["relu"] == 0).mean())
    diffs = ", ".join(f"{k} {_diff(ours[k], lib[k]):.1e}" for k in ours)
    F, E = ours["hidden"].shape[-1], ours["out"].shape[-1]
    print(f"<p>F = {F} hidden units for E = {E} ({F // E} × E). The ReLU sets {zero:.0%} of the hidden activations to zero. Max |ours − torch (forward hooks)|: "
          f"{diffs}.</p>")


# --8<-- [start:encoder_trace]
def encoder_trace(layer, x):
    """A post-norm encoder layer (our NumPy one) step by step, keeping every residual intermediate."""
    sa = layer.self_attn.forward(x, x, x, need_weights=False)[0]  # self-attention
    r1 = x + sa  # first residual
    h1 = layer.norm1.forward(r1)  # add & norm
    ff = layer.linear2.forward(layer.activation.forward(layer.linear1.forward(h1)))  # FFN
    r2 = h1 + ff  # second residual
    return {"x": x, "self_attn(x)": sa, "x + self_attn": r1, "norm1": h1,
            "ffn(norm1)": ff, "norm1 + ffn": r2, "norm2 (output)": layer.norm2.forward(r2)}
# --8<-- [end:encoder_trace]


def encoder_side_by_side(N=2, S=7, E=16, H=4, F=64, seed=0):
    """nn.TransformerEncoderLayer (post-norm, eval) with forward hooks against encoder_trace on our copy."""
    torch.manual_seed(seed)
    ref = torch.nn.TransformerEncoderLayer(E, H, F, batch_first=True, dtype=DT).eval()
    x = torch.randn(N, S, E, dtype=DT)
    caught = {}

    def keep(name, which):
        def hook(module, inputs, output):
            value = inputs[0] if which == "in" else output[0] if isinstance(output, tuple) else output
            caught[name] = value.detach().numpy()
        return hook

    hooks = [ref.self_attn.register_forward_hook(keep("self_attn(x)", "out")),
             ref.norm1.register_forward_hook(keep("x + self_attn", "in")),
             ref.norm1.register_forward_hook(keep("norm1", "out")),
             ref.linear2.register_forward_hook(keep("ffn(norm1)", "out")),
             ref.norm2.register_forward_hook(keep("norm1 + ffn", "in")),
             ref.norm2.register_forward_hook(keep("norm2 (output)", "out"))]
    out = ref(x)  # gradients on: the regular path, whose submodules (and hooks) run
    for h in hooks:
        h.remove()
    caught = {"x": x.numpy(), **caught}
    ours = from_torch(ref)
    ours.eval()
    trace = encoder_trace(ours, x.numpy())
    return trace, caught, _diff(trace["norm2 (output)"], out.detach().numpy())


def encoder_figure(trace, lib):
    """Root-mean-square of each intermediate per position (sequence 0): ours as lines, torch as markers."""
    names = list(trace)
    fig = Figure(figsize=(8, 3.4))
    ax = fig.add_subplot()
    rms = lambda a: np.sqrt((a[0] ** 2).mean(-1))  # noqa: E731  (S,) for sequence 0
    ours_rms = np.stack([rms(trace[n]) for n in names])  # (steps, S)
    lib_rms = np.stack([rms(lib[n]) for n in names])
    for pos in range(ours_rms.shape[1]):
        ax.plot(range(len(names)), ours_rms[:, pos], "-", color=f"C{pos}", lw=1, label=f"position {pos}")
        ax.plot(range(len(names)), lib_rms[:, pos], "o", color=f"C{pos}", ms=4, mfc="none")
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_ylabel("RMS over the E features")
    ax.set_title("lines: our trace; circles: torch's forward hooks", fontsize=9)
    ax.legend(frameon=False, fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def report_encoder():
    trace, lib, _ = encoder_side_by_side()
    print(figure_to_svg(encoder_figure(trace, lib), alt="Root-mean-square per position of each residual "
                        "intermediate of a post-norm encoder layer, ours as lines and PyTorch's as circles",
                        caption="Sequence 0 through one post-norm encoder layer: every circle sits on its line."))
    rms = {n: np.sqrt((trace[n] ** 2).mean(-1)) for n in ("x + self_attn", "norm1", "norm2 (output)")}
    print(f"<p>The RMS of <code>x + self_attn</code> ranges from {rms['x + self_attn'].min():.3f} to "
          f"{rms['x + self_attn'].max():.3f} over the positions; right after <code>norm1</code> every position "
          f"has RMS {rms['norm1'].mean():.5f} (spread {rms['norm1'].std():.1e}), after <code>norm2</code> "
          f"{rms['norm2 (output)'].mean():.5f}: γ is still all ones and β all zeros, so each normalised row "
          f"has zero mean and unit variance (up to ε).</p>")


def report_encoder_table():
    trace, lib, d_out = encoder_side_by_side()
    print("| intermediate | shape | ours, [0, 0, :3] | torch (hook), [0, 0, :3] | max diff |")
    print("|---|---|---|---|---:|")
    for k in trace:
        print(f"| {k} | {trace[k].shape} | {np.array2string(trace[k][0, 0, :3], precision=4)} "
              f"| {np.array2string(lib[k][0, 0, :3], precision=4)} | {_diff(trace[k], lib[k]):.1e} |")
    print(f"\nOur trace's last step against the module's own return value: max diff {d_out:.1e}.")
