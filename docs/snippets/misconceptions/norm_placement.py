"""Post-norm vs pre-norm at initialisation: gradient norms per layer of a deep encoder stack.

Xiong et al. (2020, "On Layer Normalization in the Transformer Architecture") show that with
the paper's post-norm the gradients of the last layers are large at initialisation, which is
why it needs a learning-rate warmup, while pre-norm keeps them well-behaved. Here: one batch,
one backward pass, no training, the same weights for both placements.
"""

import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.torch import TransformerEncoder, TransformerEncoderLayer
from transformer_anatomy.viz import figure_to_svg


# --8<-- [start:grad_norms]
def grad_norms(norm_first, num_layers=12, N=4, S=16, E=64, H=4, F=256, seed=0):
    """Gradient norm of each layer's parameters after one backward of an MSE loss.

    The stack has a final LayerNorm (as ``nn.Transformer`` has), the loss compares the output
    with a random target. Returns a list of ``num_layers`` floats, layer 0 first.
    """
    torch.manual_seed(seed)
    layer = TransformerEncoderLayer(E, H, F, dropout=0.0, batch_first=True, norm_first=norm_first)
    stack = TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(E))
    for p in stack.parameters():  # the copies are identical after deepcopy: re-draw each one
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)
    g = torch.Generator().manual_seed(seed + 1)
    x, target = torch.randn(N, S, E, generator=g), torch.randn(N, S, E, generator=g)
    loss = (stack(x) - target).square().mean()
    loss.backward()
    return [float(torch.sqrt(sum(p.grad.square().sum() for p in l.parameters()))) for l in stack.layers]
# --8<-- [end:grad_norms]


def experiment(num_layers=12):
    """``{"post-norm": [...], "pre-norm": [...]}`` gradient norms per layer (on one thread: the
    layers are tiny, and one thread is not stalled by other processes on a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {name: grad_norms(nf, num_layers) for name, nf in (("post-norm", False), ("pre-norm", True))}
    finally:
        torch.set_num_threads(threads)


def figure(norms):
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    ax = fig.subplots()
    for name, values in norms.items():
        ax.plot(range(1, len(values) + 1), values, "o-", label=name)
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("gradient norm at init")
    ax.legend(frameon=False)
    return fig


def report():
    """Print the ratios and the figure (HTML)."""
    norms = experiment()
    print("<table><tr><th>placement</th><th>first layer</th><th>last layer</th><th>last / first</th></tr>")
    for name, v in norms.items():
        print(f"<tr><td>{name}</td><td>{v[0]:.3f}</td><td>{v[-1]:.3f}</td><td>{v[-1] / v[0]:.2f}</td></tr>")
    print("</table>")
    print(figure_to_svg(figure(norms), alt="Gradient norm per layer at initialisation, post-norm and pre-norm",
                        caption=f"A stack of {len(norms['post-norm'])} encoder layers, one batch, one backward, "
                                "before any update; the same weights for both placements."))
