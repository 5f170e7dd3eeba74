"""Adam and AdamW in NumPy against torch.optim, step for step, and what sets AdamW apart."""

import numpy as np
import torch
from matplotlib.figure import Figure

from transformer_anatomy.numpy import Adam, AdamW, Linear
from transformer_anatomy.viz import figure_to_svg

STEPS = 20


def _problem(seed=0):
    """A small least-squares problem: inputs X (32, 5) and targets Y (32, 3)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((32, 5)), rng.standard_normal((32, 3))


def run_both(opt_name, steps=STEPS, seed=0, **hparams):
    """Train the same Linear(5, 3) with our optimizer (our backward) and with torch.optim (autograd).

    Returns the max |θ_NumPy - θ_torch| over all parameters after every step, and the final
    NumPy parameters.
    """
    X, Y = _problem(seed)
    lin = Linear(5, 3, dtype=np.float64, rng=seed)
    ref = torch.nn.Linear(5, 3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(lin.weight))
        ref.bias.copy_(torch.from_numpy(lin.bias))
    ours = {"adam": Adam, "adamw": AdamW}[opt_name](lin.params, **hparams)
    theirs = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[opt_name](ref.parameters(), **hparams)
    tX, tY = torch.from_numpy(X), torch.from_numpy(Y)
    diffs = []
    for _ in range(steps):
        err = lin(X) - Y  # (32, 3); loss = mean(err²)
        lin.backward(2.0 * err / err.size)  # dL/dy
        ours.step(lin.grads)
        theirs.zero_grad()
        ((ref(tX) - tY) ** 2).mean().backward()
        theirs.step()
        diffs.append(max(float(np.abs(lin.weight - ref.weight.detach().numpy()).max()),
                         float(np.abs(lin.bias - ref.bias.detach().numpy()).max())))
    return diffs, {k: v.copy() for k, v in lin.params.items()}


CASES = {
    "Adam(lr=0.01)": ("adam", dict(lr=0.01)),
    "Adam(lr=0.01, weight_decay=0.1)": ("adam", dict(lr=0.01, weight_decay=0.1)),
    "AdamW(lr=0.01, weight_decay=0.1)": ("adamw", dict(lr=0.01, weight_decay=0.1)),
    "Adam(lr=0.01, amsgrad=True)": ("adam", dict(lr=0.01, amsgrad=True)),
}


def compare_all():
    """name -> max |θ_NumPy - θ_torch| over the 20 steps."""
    return {name: max(run_both(opt, **hp)[0]) for name, (opt, hp) in CASES.items()}


def decay_only_step(lr=0.1, weight_decay=0.01):
    """One step on a parameter θ = 1 whose loss gradient is 0: only weight decay acts.

    Adam adds wd·θ to the gradient, and Adam's normalisation m̂/√v̂ turns any gradient into a
    step of about lr; AdamW multiplies θ by (1 - lr·wd) outside the normalisation.
    """
    out = {}
    for name, cls in (("Adam (L2 in the gradient)", Adam), ("AdamW (decoupled)", AdamW)):
        theta = {"w": np.array([1.0])}
        cls(theta, lr=lr, weight_decay=weight_decay).step({"w": np.array([0.0])})
        out[name] = float(theta["w"][0])
    return out


def report_compare():
    """Print the step-for-step comparison."""
    print(f"optimizer                          max |θ_NumPy - θ_torch| over {STEPS} steps")
    for name, d in compare_all().items():
        print(f"{name:34s} {d:.1e}")


def report_decay(lr=0.1, weight_decay=0.01):
    """Print the decay-only step and the distance between Adam+L2 and AdamW after 20 steps."""
    print(f"θ = 1, loss gradient 0, lr = {lr}, weight_decay = {weight_decay}: θ after one step")
    for name, theta in decay_only_step(lr, weight_decay).items():
        print(f"  {name:26s} {theta:.6f}")
    adam = run_both("adam", lr=0.01, weight_decay=0.1)[1]
    adamw = run_both("adamw", lr=0.01, weight_decay=0.1)[1]
    gap = max(float(np.abs(adam[k] - adamw[k]).max()) for k in adam)
    print(f"\nsame problem, same wd = 0.1, {STEPS} steps: max |θ_Adam - θ_AdamW| = {gap:.1e}")


def loss_curves(steps=200, lr=0.01, seed=0):
    """Least-squares loss per step of the same Linear(5, 3) trained by our Adam, by torch.optim.Adam
    and by plain gradient descent (θ -= lr · g) with the same lr, all from the same start."""
    X, Y = _problem(seed)
    curves = {}
    for name in ("Adam (ours)", "SGD (θ -= lr·g)"):
        lin = Linear(5, 3, dtype=np.float64, rng=seed)
        opt = Adam(lin.params, lr=lr) if name.startswith("Adam") else None
        losses = []
        for _ in range(steps):
            err = lin(X) - Y  # (32, 3)
            losses.append(float(np.mean(err ** 2)))
            lin.backward(2.0 * err / err.size)  # dL/dy
            if opt is not None:
                opt.step(lin.grads)
            else:
                for k, g in lin.grads.items():
                    lin.params[k] -= lr * g  # in place: the module reads the same arrays
        curves[name] = np.array(losses)
    lin = Linear(5, 3, dtype=np.float64, rng=seed)
    ref = torch.nn.Linear(5, 3, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(lin.weight))
        ref.bias.copy_(torch.from_numpy(lin.bias))
    opt = torch.optim.Adam(ref.parameters(), lr=lr)
    tX, tY = torch.from_numpy(X), torch.from_numpy(Y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((ref(tX) - tY) ** 2).mean()
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    curves["torch.optim.Adam"] = np.array(losses)
    best = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)[0]  # the exact minimiser
    curves["minimum"] = float(np.mean((np.c_[X, np.ones(len(X))] @ best - Y) ** 2))
    return curves


def report_figure(steps=200, lr=0.01):
    """Print the loss curves, ours and torch's Adam on top of each other, and plain SGD."""
    c = loss_curves(steps, lr)
    fig = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = fig.subplots()
    s = np.arange(1, steps + 1)
    ax.plot(s, c["Adam (ours)"] - c["minimum"], color="#1f77b4", lw=3, label="Adam (ours)")
    ax.plot(s, c["torch.optim.Adam"] - c["minimum"], color="#ff7f0e", lw=1.2, linestyle="--", label="torch.optim.Adam")
    ax.plot(s, c["SGD (θ -= lr·g)"] - c["minimum"], color="#2ca02c", lw=1.5, label="SGD, same lr")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss − least-squares minimum")
    ax.legend(frameon=False, fontsize=8)
    gap = float(np.abs(c["Adam (ours)"] - c["torch.optim.Adam"]).max())
    print(figure_to_svg(fig, alt=f"Loss above its minimum over {steps} steps, log scale: our Adam and torch.optim.Adam "
                        f"draw the same curve (largest gap {gap:.1e}); plain SGD with the same learning rate "
                        f"ends at {c['SGD (θ -= lr·g)'][-1] - c['minimum']:.2e} above the minimum, Adam at "
                        f"{c['Adam (ours)'][-1] - c['minimum']:.2e}",
                        caption=f"Linear(5, 3) on a least-squares problem, lr = {lr}. The dashed curve is torch's "
                                "Adam, drawn over ours."))
    return c


def report_curves(steps=200, lr=0.01):
    """Print, as Markdown, the numbers the figure shows."""
    c = loss_curves(steps, lr)
    m = c["minimum"]
    gap = float(np.abs(c["Adam (ours)"] - c["torch.optim.Adam"]).max())
    print(f"After {steps} steps at lr = {lr}, Adam's loss is {c['Adam (ours)'][-1] - m:.2e} above the least-squares "
          f"minimum and plain gradient descent's {c['SGD (θ -= lr·g)'][-1] - m:.2e}. Our Adam and `torch.optim.Adam` "
          f"never differ by more than {gap:.1e} in the loss.")
