"""Gradient clipping against one gradient spike, under SGD and under Adam.

A parameter vector receives random gradients (standard normal per entry), except at one step
where the gradient is multiplied by a large factor (a bad batch, a loss spike). We record the
size of every update ``‖Δθ‖``, with and without ``torch.nn.utils.clip_grad_norm_``.
"""

import torch
from matplotlib.figure import Figure

from transformer_anatomy.viz import figure_to_svg

SPIKE_STEP, SPIKE, STEPS, DIM = 100, 1000.0, 300, 1000


def updates(optimizer, clip, lr, seed=0):
    """``‖Δθ‖`` of every step for ``optimizer`` in {"sgd", "adam"}; ``clip`` is max_norm or None."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 1000 numbers per op: one thread, no waiting for a second one
    try:
        return _updates(optimizer, clip, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _updates(optimizer, clip, lr, seed):
    torch.manual_seed(seed)
    theta = torch.nn.Parameter(torch.zeros(DIM))
    opt = (torch.optim.SGD([theta], lr=lr) if optimizer == "sgd"
           else torch.optim.Adam([theta], lr=lr, betas=(0.9, 0.999)))
    g = torch.Generator().manual_seed(seed + 1)
    sizes = []
    for step in range(1, STEPS + 1):
        grad = torch.randn(DIM, generator=g)
        if step == SPIKE_STEP:
            grad = grad * SPIKE
        theta.grad = grad
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([theta], max_norm=clip)
        before = theta.detach().clone()
        opt.step()
        sizes.append(float((theta.detach() - before).norm()))
    return sizes


def summary(sizes):
    """(spike update / typical update before it, mean update over the 200 steps after / typical)."""
    typical = sorted(sizes[SPIKE_STEP - 51:SPIKE_STEP - 1])[25]  # median of the 50 steps before
    after = sum(sizes[SPIKE_STEP:]) / len(sizes[SPIKE_STEP:])
    return sizes[SPIKE_STEP - 1] / typical, after / typical


RUNS = (("SGD, lr 1e-2", "sgd", None, 1e-2), ("SGD, lr 1e-2, clip 1.0", "sgd", 1.0, 1e-2),
        ("Adam, lr 1e-3", "adam", None, 1e-3), ("Adam, lr 1e-3, clip 1.0", "adam", 1.0, 1e-3))


def show():
    """The table and the update size of every step of the four runs (HTML)."""
    print(f"<p>Gradient × {SPIKE:g} at step {SPIKE_STEP} of {STEPS}; {DIM} parameters.</p>")
    print("<table><tr><th>run</th><th>spike step's update / typical update</th>"
          "<th>mean update afterwards / typical</th></tr>")
    runs = {name: updates(opt, clip, lr) for name, opt, clip, lr in RUNS}
    for name, sizes in runs.items():
        spike, after = summary(sizes)
        print(f"<tr><td>{name}</td><td>{spike:.2f}</td><td>{after:.3f}</td></tr>")
    print("</table>")
    fig = Figure(figsize=(7.6, 3.0), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, opt in zip(axes, ("SGD", "Adam")):
        for i, (name, sizes) in enumerate((n, s) for n, s in runs.items() if n.startswith(opt)):
            typical = sorted(sizes[SPIKE_STEP - 51:SPIKE_STEP - 1])[25]
            ax.plot(range(1, STEPS + 1), [x / typical for x in sizes], label=name, color=f"C{i}", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.legend(frameon=False, fontsize=8)
    axes[0].set_ylabel("update size / typical")
    print(figure_to_svg(fig, alt="Size of every update relative to a typical one, SGD and Adam, with and without "
                                 "clipping, around one gradient spike",
                        caption=f"One gradient multiplied by {SPIKE:g} at step {SPIKE_STEP}; log scale."))
