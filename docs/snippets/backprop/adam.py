"""Adam and AdamW in NumPy against torch.optim, step for step, and what sets AdamW apart."""

import numpy as np
import torch

from transformer_anatomy.numpy import Adam, AdamW, Linear

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
