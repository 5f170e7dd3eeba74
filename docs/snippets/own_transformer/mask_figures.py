"""The masks of the own-transformer page drawn as grids (the drawing only; the data comes from
the page's other snippets, so each figure shows the masks that code really used)."""

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from transformer_anatomy.torch.masks import merge_masks
from transformer_anatomy.viz import draw_mask, figure_to_svg, plot_mask_grid
from transformer_anatomy.viz.masks import ALLOWED

CAPTION = "Grey hatched × = may not attend; green ✓ = may attend. Rows are queries, columns keys."


def merged_example(T=5, padded=2):
    """(causal, key padding, merged) for one sequence whose last ``padded`` keys are <pad>, each a
    (T, T) bool grid, True = may not attend; the merge is our ``merge_masks``."""
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # (T, T): True above the diagonal
    pad = torch.zeros(1, T, dtype=torch.bool)
    pad[0, T - padded:] = True  # (N, S) = (1, T)
    merged = merge_masks(causal, pad, False, 1, 1, T, T, torch.float64, torch.device("cpu"))
    merged = merged.expand(1, 1, T, T).reshape(T, T)  # broadcastable -> (T, S)
    return causal.numpy(), pad.expand(T, T).numpy(), merged.numpy()


def report_merged(T=5, padded=2):
    """Print the causal mask, a key padding mask and their merge as three grids."""
    grids = dict(zip(("tgt_mask (causal)", "key_padding_mask", "merged"), merged_example(T, padded)))
    fig = plot_mask_grid(grids, xlabel="key position", ylabel="query position", figsize=(8.0, 3.0))
    print(figure_to_svg(fig, alt=f"Three {T} by {T} grids: the causal mask blocks every cell above the diagonal, "
                        f"the key padding mask blocks the last {padded} key columns for every query, the "
                        "merged mask blocks a cell where either does", caption=CAPTION))


def report_probe(hot, block0, only0):
    """Print the probe's boolean mask and the two float masks it is compared with."""
    boolean = "boolean: True at key 0"
    fig = plot_mask_grid({boolean: hot, "float: −inf at key 0": torch.isinf(block0),
                          "float: −inf except key 0": torch.isinf(only0)},
                         cell_text={boolean: np.where(hot.numpy(), "T", "F")},
                         colors={boolean: ("#9467bd", "#1f77b4")},
                         xlabel="key position", ylabel="query position", figsize=(8.0, 3.0))
    print(figure_to_svg(fig, alt="Three grids: a boolean mask True in the key 0 column, a float mask that "
                        "blocks the key 0 column, and a float mask that blocks every column except key 0",
                        caption="Left: the boolean mask under test (purple T = True, blue F = False). Middle and right: "
                        "the two float masks it is compared with (grey hatched = −inf, green = 0)."))


def report_case(blocked, nan_map):
    """Print the fully masked case: its mask (left) and where each model's output is NaN (right)."""
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.6))
    draw_mask(left, blocked, title="sequence 1: causal | left pad", xlabel="key position", ylabel="query position")
    names = list(nan_map)
    grid = np.stack([nan_map[k][1] for k in names]).astype(float)  # (models × modes, T), sequence 1
    right.imshow(grid, cmap=ListedColormap([ALLOWED, "#d62728"]), vmin=0, vmax=1, aspect="auto")
    for (i, j), bad in np.ndenumerate(grid):
        right.text(j, i, "NaN" if bad else "ok", ha="center", va="center", color="white", fontsize=8)
    right.set_yticks(range(len(names)), [f"{m}: {mode}" for m, mode in names], fontsize=8)
    right.set_xticks(range(grid.shape[1]))
    right.set_xlabel("target position (sequence 1)")
    right.set_title("final output", fontsize=10)
    n_nan = int(grid.sum())
    bad = "; ".join(f"{m}, {mode}" for (m, mode), g in zip(names, grid) if g.any()) or "none"
    print(figure_to_svg(fig, alt=f"Left: the decoder self-attention mask of the left-padded sequence; row 0 "
                        f"is blocked in every column. Right: for each model and mode, which output positions "
                        f"are NaN; {n_nan} cells are NaN, in the rows: {bad}",
                        caption="Left: grey hatched × = may not attend. Right: red = NaN, green = finite."))
