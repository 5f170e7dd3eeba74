"""Which tiles of the (T, S) score matrix the tiled loop computes, drawn: the rule of the loop in
``transformer_anatomy.numpy.flash`` (causal: key tiles stop at ``min(S, T, i0 + Bq)``)."""

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from transformer_anatomy.viz import figure_to_svg


def visited_tiles(T, S, Bq, Bk, is_causal):
    """``(i0, j0)`` of every tile the forward loop computes, in its order (queries outside)."""
    tiles = []
    for i0 in range(0, T, Bq):
        last = min(S, T, i0 + Bq) if is_causal else S  # the loop's rule: no tile above the diagonal
        tiles += [(i0, j0) for j0 in range(0, last, Bk)]
    return tiles


def cell_kinds(T, S, Bq, Bk, is_causal=True):
    """(T, S) grid: 0 = in a skipped tile, 1 = masked inside a computed tile, 2 = computed and visible."""
    grid = np.zeros((T, S), dtype=int)
    i, j = np.ogrid[:T, :S]
    for i0, j0 in visited_tiles(T, S, Bq, Bk, is_causal):
        block = np.s_[i0:i0 + Bq, j0:j0 + Bk]
        grid[block] = np.where((j > i)[block] & is_causal, 1, 2)
    return grid


def tiles_figure(T=16, S=16, Bq=4, Bk=4):
    """The causal (T, S) grid with its tiles: computed, partly masked, skipped."""
    grid = cell_kinds(T, S, Bq, Bk)
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    cmap = ListedColormap(["#dddddd", "#f4a259", "#3b75af"])  # skipped, masked, computed
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=2)
    for x in np.arange(0, S + 1, Bk) - 0.5:
        ax.axvline(x, color="black", linewidth=1.2)
    for y in np.arange(0, T + 1, Bq) - 0.5:
        ax.axhline(y, color="black", linewidth=1.2)
    ax.set_xticks(range(0, S, Bk))
    ax.set_yticks(range(0, T, Bq))
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
    ax.legend(handles=[Patch(color=c, label=lab) for c, lab in
                       zip(cmap.colors[::-1], ("computed, visible", "computed, masked (j > i)", "tile skipped"))],
              loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def report_tiles(T=16, S=16, Bq=4, Bk=4):
    """Print the tile figure (HTML) and the tile counts read from the same rule."""
    causal, full = visited_tiles(T, S, Bq, Bk, True), visited_tiles(T, S, Bq, Bk, False)
    grid = cell_kinds(T, S, Bq, Bk)
    crossing = sum(bool((grid[i0:i0 + Bq, j0:j0 + Bk] == 1).any()) for i0, j0 in causal)
    print(figure_to_svg(tiles_figure(T, S, Bq, Bk),
                        alt=f"A {T} by {S} causal score matrix cut into {Bq} by {Bk} tiles: tiles below the "
                            "diagonal are computed, tiles on the diagonal are computed and partly masked, "
                            "tiles above it are skipped",
                        caption=f"T = S = {T}, tiles of {Bq} × {Bk}, causal: the tiles the loop computes."))
    print(f"<p>Causal: the loop computes <strong>{len(causal)}</strong> of the {len(full)} tiles; "
          f"{(grid == 1).sum()} of the {(grid > 0).sum()} scores it computes are masked, all in the "
          f"{crossing} tiles that cross the diagonal.</p>")
