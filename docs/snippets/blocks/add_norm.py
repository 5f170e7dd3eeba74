"""Post-norm vs pre-norm: our NumPy encoder layer against nn.TransformerEncoderLayer, and what
each arrangement does to the size of the residual stream as layers are stacked."""

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.numpy import from_torch
from transformer_anatomy.viz import figure_to_svg

E, H, F = 16, 4, 64  # model width, heads, feed-forward width
N, S = 2, 6  # batch, source length


def layer_pair(norm_first, seed=0):
    """A float64 nn.TransformerEncoderLayer (eval, no dropout) and its NumPy twin."""
    torch.manual_seed(seed)
    ref = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, norm_first=norm_first)
    ref = ref.double().eval()
    return ref, from_torch(ref)


def compare_post_pre(seed=0):
    """Max |NumPy - torch| of one encoder layer, post-norm and pre-norm (float64)."""
    x = torch.randn(N, S, E, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    diffs = {}
    for norm_first in (False, True):
        ref, ours = layer_pair(norm_first, seed)
        with torch.no_grad():
            want = ref(x).numpy()
        diffs["pre-norm" if norm_first else "post-norm"] = float(np.abs(ours(x.numpy()) - want).max())
    return diffs


def residual_stream_std(norm_first, depth=12, seed=0):
    """Std of each token vector after each of ``depth`` stacked layers (random weights, float64).

    Post-norm ends every layer with a LayerNorm, so every output row has std 1 while that LayerNorm
    still has its initial weight 1 and bias 0 (see ``post_norm_std_with_affine``). Pre-norm never
    normalises the residual stream itself: each layer adds to it, and its size drifts with depth.
    That is why a pre-norm stack needs a final LayerNorm (``nn.TransformerEncoder(norm=...)``).
    """
    torch.manual_seed(seed)
    x = torch.randn(N, S, E, dtype=torch.float64)
    stds = []
    with torch.no_grad():
        for _ in range(depth):
            layer = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, norm_first=norm_first)
            x = layer.double().eval()(x)
            stds.append(float(x.std(dim=-1, unbiased=False).mean()))
    return stds


def report_equal():
    """Print the two max differences."""
    for name, d in compare_post_pre().items():
        print(f"{name:9s}: max |NumPy - nn.TransformerEncoderLayer| = {d:.1e}")


def report_growth(depth=12):
    """Print the residual-stream std after layers 1, 2, 4, 8, 12 for both arrangements."""
    post, pre = residual_stream_std(False, depth), residual_stream_std(True, depth)
    print("after layer   post-norm std   pre-norm std")
    for i in (1, 2, 4, 8, depth):
        print(f"{i:11d}   {post[i - 1]:13.3f}   {pre[i - 1]:12.3f}")


def post_norm_std_with_affine(gamma=2.0, beta=0.5, seed=0):
    """Mean std of the output rows of one post-norm layer: with LayerNorm's initial γ = 1, β = 0, with
    γ = ``gamma``, β = ``beta`` everywhere, and with random γ, β (as after training)."""
    ref, _ = layer_pair(False, seed)
    x = torch.randn(N, S, E, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    out = {}
    g = torch.Generator().manual_seed(seed + 2)
    settings = {"initial: γ = 1, β = 0": (torch.ones(E), torch.zeros(E)),
                f"γ = {gamma:g}, β = {beta:g}": (torch.full((E,), gamma), torch.full((E,), beta)),
                "random γ, β": (1 + 0.5 * torch.randn(E, generator=g), 0.5 * torch.randn(E, generator=g))}
    with torch.no_grad():
        for name, (w, b) in settings.items():
            ref.norm2.weight.copy_(w)  # norm2 is the layer's last LayerNorm (after the FFN)
            ref.norm2.bias.copy_(b)
            out[name] = float(ref(x).std(dim=-1, unbiased=False).mean())
    return out


def report_affine():
    """The post-norm output std for three settings of the last LayerNorm's weight and bias, as HTML."""
    r = post_norm_std_with_affine()
    items = "; ".join(f"{name}: <strong>{v:.3f}</strong>" for name, v in r.items())
    print(f"<p>Mean standard deviation of a post-norm layer's output rows — {items}. A constant β shifts "
          "every feature alike and leaves the spread alone; a constant γ multiplies it.</p>")


# --8<-- [start:stream_grads]
def stream_gradient_norms(norm_first, depth=12, seed=0):
    """‖dL/dx‖ at the input of each of ``depth`` stacked layers, for a unit-norm gradient at the top.

    Pre-norm stacks end with a final LayerNorm, as nn.TransformerEncoder(norm=...) does.
    """
    torch.manual_seed(seed)
    layers = [nn.TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, norm_first=norm_first)
              .double() for _ in range(depth)]
    x = torch.randn(N, S, E, dtype=torch.float64, requires_grad=True)
    inputs = []
    for layer in layers:
        inputs.append(x)
        x = layer(x)
        x.retain_grad()
    if norm_first:
        x = nn.LayerNorm(E, dtype=torch.float64)(x)
    top = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    x.backward(top / top.norm())  # ‖dL/d(output)‖ = 1
    return [float(v.grad.norm()) for v in inputs]
# --8<-- [end:stream_grads]


def figure_depth(depth=12):
    """The residual stream's std and the gradient norm at each layer's input, post-norm vs pre-norm."""
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    a, b = fig.subplots(1, 2)
    layers = range(1, depth + 1)
    for norm_first, color, marker, label in ((False, "#d62728", "o", "post-norm"), (True, "#1f77b4", "s", "pre-norm")):
        a.plot(layers, residual_stream_std(norm_first, depth), marker=marker, color=color, label=label)
        b.plot(layers, stream_gradient_norms(norm_first, depth), marker=marker, color=color, label=label)
    a.set_title("residual stream after each layer", fontsize=10)
    a.set_ylabel("std of a token vector")
    b.set_title("gradient arriving at each layer's input", fontsize=10)
    b.set_ylabel("‖dL/dx‖ (‖dL/d output‖ = 1)")
    for ax in (a, b):
        ax.set_xlabel("layer")
        ax.set_ylim(bottom=0)
    a.legend(fontsize=8, frameon=False, loc="lower right")
    return figure_to_svg(fig, alt=f"Two curves over {depth} stacked random encoder layers: the post-norm stream "
                         "stays at standard deviation 1 while the pre-norm stream grows; the gradient at each "
                         "layer's input, for post-norm and for pre-norm",
                         caption=f"{depth} stacked layers with random weights, float64; pre-norm ends with a final LayerNorm.")


def depth_summary(depth=12):
    post, pre = residual_stream_std(False, depth), residual_stream_std(True, depth)
    gpost, gpre = stream_gradient_norms(False, depth), stream_gradient_norms(True, depth)
    return {"depth": depth, "post_std": (min(post), max(post)), "pre_std": (pre[0], pre[-1]),
            "post_grad": (min(gpost), max(gpost)), "pre_grad": (gpre[0], gpre[-1])}


def report_depth(depth=12):
    r = depth_summary(depth)
    print(f"<p>Over {r['depth']} layers the post-norm stream stays between {r['post_std'][0]:.3f} and "
          f"{r['post_std'][1]:.3f}, while the pre-norm stream grows from {r['pre_std'][0]:.2f} after the first "
          f"layer to {r['pre_std'][1]:.2f} after the last. The gradient follows: post-norm layers all receive "
          f"between {r['post_grad'][0]:.2f} and {r['post_grad'][1]:.2f}; in the pre-norm stack the first layer "
          f"receives {r['pre_grad'][0]:.2f} and the last {r['pre_grad'][1]:.2f}: on its way down, the gradient is "
          f"first divided by the spread of the stream at the top ({r['pre_std'][1]:.2f}) in the final LayerNorm, "
          "and every identity path below adds to it.</p>")
