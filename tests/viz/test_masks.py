"""Mask grids (transformer_anatomy.viz.masks): True cells drawn distinctly, readable in both palettes."""

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from transformer_anatomy.viz import draw_mask, figure_to_svg, plot_mask_grid
from transformer_anatomy.viz import masks as M

CAUSAL = np.triu(np.ones((4, 4), dtype=bool), k=1)  # (T, T): True above the diagonal
PADDING = np.array([[False, False, False, False], [False, False, True, True]])  # (N, S)


def _cells(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def _luminance(color):
    def channel(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in to_rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b):
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_one_panel_per_mask_with_titles_labels_and_no_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plot_mask_grid({"causal": CAUSAL, "key padding (N, S)": PADDING},
                         row_labels={"causal": list("abcd")}, col_labels=["k0", "k1", "k2", "k3"],
                         ylabel={"key padding (N, S)": "sequence"}, title="two masks")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    causal_ax, pad_ax = fig.axes
    assert [causal_ax.get_title(), pad_ax.get_title()] == ["causal", "key padding (N, S)"]
    assert [t.get_text() for t in causal_ax.get_yticklabels()] == list("abcd")
    assert [t.get_text() for t in pad_ax.get_yticklabels()] == ["0", "1"]
    assert [t.get_text() for t in pad_ax.get_xticklabels()] == ["k0", "k1", "k2", "k3"]
    assert pad_ax.get_ylabel() == "sequence" and causal_ax.get_ylabel() == "query"
    assert fig.get_suptitle() == "two masks"


@pytest.mark.parametrize("mask", [CAUSAL, PADDING, torch.from_numpy(CAUSAL)])
def test_true_cells_are_grey_hatched_crosses_false_cells_green_ticks(mask):
    fig = Figure()
    ax = draw_mask(fig.subplots(), mask)
    grid = np.asarray(mask)
    cells = _cells(ax)
    assert len(cells) == grid.size
    for cell, true in zip(cells, grid.ravel()):  # drawn row by row
        assert to_rgb(cell.get_facecolor()) == to_rgb(M.BLOCKED if true else M.ALLOWED)
        assert (cell.get_hatch() == M.HATCH) if true else not cell.get_hatch()
    marks = [t.get_text() for t in ax.texts]
    assert marks.count("×") == grid.sum() and marks.count("✓") == (~grid).sum()


def test_cell_text_replaces_the_marks_and_must_match_the_shape():
    fig = Figure()
    ax = draw_mask(fig.subplots(), CAUSAL, cell_text=np.where(CAUSAL, "−∞", "0"))
    assert sorted({t.get_text() for t in ax.texts}) == ["0", "−∞"]
    with pytest.raises(ValueError, match="cell_text"):
        draw_mask(Figure().subplots(), CAUSAL, cell_text=[["x"]])
    with pytest.raises(ValueError, match="2-D"):
        draw_mask(Figure().subplots(), CAUSAL[None])
    with pytest.raises(ValueError):
        plot_mask_grid({})


@pytest.mark.parametrize("page", ["#ffffff", "#1e2129"])  # Material's light and slate (dark) backgrounds
def test_colours_read_on_light_and_dark_pages(page):
    # WCAG 1.4.11: graphical objects need 3:1 against what is next to them
    for fill in (M.BLOCKED, M.ALLOWED):
        assert _contrast(fill, page) >= 3.0, (fill, page)
        assert _contrast(fill, M.MARK_COLOR) >= 3.0, fill


def test_the_svg_keeps_the_cell_colours_opaque_in_both_palettes():
    fig = plot_mask_grid({"causal": CAUSAL})
    for cell in _cells(fig.axes[0]):
        assert cell.get_facecolor()[3] == 1.0  # opaque: the page colour does not shine through
    svg = figure_to_svg(fig, alt="a causal mask")
    assert M.BLOCKED in svg and M.ALLOWED in svg  # kept, not turned into currentColor or transparent
    assert "currentColor" in svg  # axes and labels take the page's text colour
