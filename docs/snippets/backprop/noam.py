"""The warmup ("Noam") schedule of the paper, drawn while the page is built, with its peak."""

import warnings

import numpy as np
import torch
from matplotlib.figure import Figure

from transformer_anatomy.numpy import NoamSchedule
from transformer_anatomy.viz import figure_to_svg

SETTINGS = ((512, 4000), (512, 8000), (64, 4000))  # (E, warmup): the paper's, then variations
STEPS = 20_000


def curve(d_model, warmup, steps=STEPS):
    """Learning rate at steps 1 .. ``steps``."""
    sched = NoamSchedule(d_model, warmup)
    return np.array([sched(s) for s in range(1, steps + 1)])


def peak(d_model, warmup, steps=STEPS):
    """(step of the largest lr, that lr, the formula's peak 1/√(E · warmup))."""
    lr = curve(d_model, warmup, steps)
    i = int(np.argmax(lr))
    return i + 1, float(lr[i]), (d_model * warmup) ** -0.5


def torch_lambda_lr_diff(d_model=512, warmup=4000, steps=2 * 4000):
    """Max |ours - torch.optim.lr_scheduler.LambdaLR| over every step, LambdaLR given our function."""
    sched = NoamSchedule(d_model, warmup)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    lam = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda k: sched(k + 1))  # k counts from 0
    diffs = []
    with warnings.catch_warnings():  # only the lr is read here: no optimizer.step() is needed
        warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
        for s in range(1, steps + 1):
            diffs.append(abs(opt.param_groups[0]["lr"] - sched(s)))
            lam.step()
    return max(diffs), steps


def figure():
    """lr against step for each setting, the peak of each marked."""
    fig = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = fig.subplots()
    steps = np.arange(1, STEPS + 1)
    for E, w in SETTINGS:
        ax.plot(steps, curve(E, w), label=f"E = {E}, warmup = {w}")
        s, lr, _ = peak(E, w)
        ax.plot([s], [lr], "o", color=ax.lines[-1].get_color())
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate (factor = 1)")
    ax.set_title(r"lr $= E^{-0.5} \cdot \min(\mathrm{step}^{-0.5},\ \mathrm{step} \cdot \mathrm{warmup}^{-1.5})$",
                 fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    return fig


def report_figure():
    """Print the figure as an inline SVG, its alt text read from the curves."""
    peaks = ", ".join(f"E = {E}, warmup = {w}: peak {peak(E, w)[1]:.2e} at step {peak(E, w)[0]}" for E, w in SETTINGS)
    print(figure_to_svg(figure(), alt=f"Noam learning-rate schedule against the step for three settings, each rising "
                        f"linearly to its peak and then decaying as one over the square root of the step ({peaks})",
                        caption="Dots: the peak of each curve, found by scanning it."))


def report_reading():
    """Print, as Markdown, what the figure shows in numbers."""
    (E0, w0), (E1, w1), (E2, w2) = SETTINGS
    p0, p1, p2 = peak(E0, w0), peak(E1, w1), peak(E2, w2)
    print(f"Raising the warmup from {w0} to {w1} steps moves the peak from step {p0[0]} to step {p1[0]} and lowers "
          f"it by a factor {p0[1] / p1[1]:.3f} (that is $\\sqrt{{{w1 // w0}}}$); shrinking $E$ from {E0} to {E2} raises every "
          f"learning rate by a factor {p2[1] / p0[1]:.3f} ($\\sqrt{{{E0 // E2}}}$).")


def report_peaks():
    """Print the peak of each setting, found on the curve and from the formula."""
    print("E     warmup   peak step   peak lr (curve)   1/sqrt(E·warmup)")
    for E, w in SETTINGS:
        s, lr, formula = peak(E, w)
        print(f"{E:<5d} {w:<8d} {s:<11d} {lr:<17.4e} {formula:.4e}")
    d, steps = torch_lambda_lr_diff()
    print(f"\nmax |NoamSchedule - torch.optim.lr_scheduler.LambdaLR| over {steps} steps: {d:.1e}")
