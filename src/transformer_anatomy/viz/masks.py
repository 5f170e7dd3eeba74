"""Boolean attention masks drawn as grids, ``True`` = may not attend (our convention, as ``nn.Transformer``).

- :func:`plot_mask_grid`: one panel per mask, side by side, in a new ``Figure``.
- :func:`draw_mask`: one grid on an ``Axes`` a caller already has (a panel of a larger figure).

A ``True`` cell is drawn grey, hatched and marked ``×``; a ``False`` cell green and marked ``✓``.
Both colours are opaque tab10 colours with at least 3:1 contrast against a white and against a
dark page (WCAG's floor for graphics), and the hatching tells the two apart without colour, so
one figure reads in the light and in the dark palette (:func:`~transformer_anatomy.viz.figure_to_svg`
draws the axes and labels in the page's text colour). Rows are queries, columns keys.

Pages: ``docs/attention.md``, ``docs/notation.md``, ``docs/blocks.md``, ``docs/own-transformer.md``,
``docs/internals-huggingface.md``, ``docs/internals-keras.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BLOCKED = "#7f7f7f"  # tab10 grey: a True cell (may not attend)
ALLOWED = "#2ca02c"  # tab10 green: a False cell (may attend)
MARKS = ("×", "✓")  # the text of a True and of a False cell
MARK_COLOR = "#ffffff"  # white marks on both cell colours
HATCH = "//"
HATCH_COLOR = "#adadad"  # light grey stripes on the grey cells: visible, and the white marks stay legible


def _panel(value: Any, name: str, default: Any = None) -> Any:
    """``value[name]`` if ``value`` is a mapping (one entry per panel; ``default`` for a panel not
    in it), else ``value`` for every panel."""
    return value.get(name, default) if isinstance(value, Mapping) else value


def _as_grid(mask: Any) -> np.ndarray:
    grid = np.asarray(mask.detach().cpu() if hasattr(mask, "detach") else mask)
    if grid.ndim != 2:
        raise ValueError(f"a mask grid must be 2-D (rows, cols), got shape {grid.shape}")
    return grid.astype(bool)


def draw_mask(
    ax: Any,
    mask: Any,
    *,
    title: str | None = None,
    row_labels: Sequence[Any] | None = None,
    col_labels: Sequence[Any] | None = None,
    cell_text: Any = None,
    colors: tuple[str, str] = (BLOCKED, ALLOWED),
    xlabel: str | None = "key",
    ylabel: str | None = "query",
    fontsize: float = 9,
) -> Any:
    """Draw one boolean mask on ``ax``: ``True`` cells grey, hatched, ``×``; ``False`` cells green, ``✓``.

    Args:
        ax: a Matplotlib ``Axes``.
        mask: a boolean array (NumPy or torch), ``True`` = may not attend.
        title: the panel's title.
        row_labels: one tick label per row (default: the row numbers).
        col_labels: one tick label per column (default: the column numbers); labels longer
            than two characters are turned 45°.
        cell_text: an array of strings of the mask's shape, written in the cells instead of
            ``×`` / ``✓`` (e.g. the values of a float mask).
        colors: the fill of a ``True`` and of a ``False`` cell.
        xlabel: the axis label under the columns.
        ylabel: the axis label beside the rows.
        fontsize: size of the cell text; tick labels are a little smaller.

    Returns:
        ``ax``.

    Shape:
        - mask: :math:`(R, C)`, rows (queries, or sequences for a key padding mask) by columns (keys)
        - cell_text: :math:`(R, C)`
        - row_labels: :math:`(R,)`, col_labels: :math:`(C,)`

    Examples:
        >>> import numpy as np
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().subplots()
        >>> ax = draw_mask(ax, np.array([[False, True], [False, False]]), title="causal")
        >>> [t.get_text() for t in ax.texts]  # one mark per cell, row by row
        ['✓', '×', '✓', '✓']
    """
    from matplotlib.patches import Rectangle

    grid = _as_grid(mask)
    R, C = grid.shape
    text = None if cell_text is None else np.asarray(cell_text, dtype=object)
    if text is not None and text.shape != grid.shape:
        raise ValueError(f"cell_text has shape {text.shape}, the mask {grid.shape}")
    for (i, j), true in np.ndenumerate(grid):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=colors[0] if true else colors[1],
                               hatch=HATCH if true else None, hatchcolor=HATCH_COLOR, edgecolor=MARK_COLOR,
                               lw=1.0))
        label = MARKS[0 if true else 1] if text is None else str(text[i, j])
        ax.text(j, i, label, ha="center", va="center", color=MARK_COLOR, fontsize=fontsize,
                fontweight="bold")
    _label_grid(ax, R, C, row_labels, col_labels, xlabel, ylabel, fontsize)
    if title:
        ax.set_title(title, fontsize=fontsize + 0.5)
    return ax


def _label_grid(ax: Any, R: int, C: int, row_labels: Sequence[Any] | None, col_labels: Sequence[Any] | None,
                xlabel: str | None, ylabel: str | None, fontsize: float) -> None:
    """Limits, ticks and axis labels of an ``(R, C)`` grid drawn with row 0 on top."""
    ax.set_xlim(-0.5, C - 0.5)
    ax.set_ylim(R - 0.5, -0.5)  # row 0 on top, as a matrix is printed
    ax.set_aspect("equal")
    cols = [str(c) for c in (range(C) if col_labels is None else col_labels)]
    long = max((len(c) for c in cols), default=0) > 2
    ax.set_xticks(range(C), cols, rotation=45 if long else 0, ha="right" if long else "center",
                  fontsize=fontsize - 1)
    ax.set_yticks(range(R), [str(r) for r in (range(R) if row_labels is None else row_labels)],
                  fontsize=fontsize - 1)
    ax.tick_params(length=0)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=fontsize)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=fontsize)


def plot_mask_grid(
    masks: Mapping[str, Any],
    *,
    row_labels: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    col_labels: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None,
    title: str | None = None,
    cell_text: Mapping[str, Any] | None = None,
    colors: tuple[str, str] | Mapping[str, tuple[str, str]] = (BLOCKED, ALLOWED),
    xlabel: str | Mapping[str, str] | None = "key",
    ylabel: str | Mapping[str, str] | None = "query",
    figsize: tuple[float, float] | None = None,
    fontsize: float = 9,
):
    """Boolean masks side by side as grids, one panel per mask, titled with its name.

    ``True`` cells (may not attend) are grey, hatched and marked ``×``; ``False`` cells are
    green and marked ``✓`` (see :func:`draw_mask`). A mask in another spelling (SDPA's ``True``
    = attend, a float mask with ``-inf``) is drawn by passing its blocked cells, ``~m`` or
    ``isinf(m)``, and its own values as ``cell_text``.

    Args:
        masks: panel title -> boolean mask, ``True`` = may not attend.
        row_labels: tick labels of the rows (e.g. the query tokens), for every panel, or a
            mapping panel title -> labels.
        col_labels: tick labels of the columns (e.g. the key tokens), the same way.
        title: a title over the whole figure.
        cell_text: panel title -> array of strings written in its cells (panels not in it get
            ``×`` / ``✓``).
        colors: (``True`` fill, ``False`` fill), for every panel or per panel title.
        xlabel: label under the columns, for every panel or per panel title (a panel not in
            the mapping gets ``"key"``).
        ylabel: label beside the rows, the same way (default ``"query"``).
        figsize: the figure size in inches (default: 2.8 wide per panel, 3 high).
        fontsize: size of the cell text.

    Returns:
        A Matplotlib ``Figure`` (no pyplot: nothing global, nothing shown), one ``Axes`` per mask.

    Shape:
        - masks: each :math:`(R, C)`: :math:`(T, S)` for an ``attn_mask`` or a merged mask,
          :math:`(N, S)` for a ``key_padding_mask``; panels may differ in shape
        - row_labels: :math:`(R,)`, col_labels: :math:`(C,)`, cell_text: :math:`(R, C)` per panel

    Examples:
        >>> import numpy as np
        >>> causal = np.triu(np.ones((3, 3), dtype=bool), k=1)  # True above the diagonal
        >>> fig = plot_mask_grid({"causal": causal, "SDPA: ~causal": causal},
        ...                      cell_text={"SDPA: ~causal": np.where(~causal, "T", "F")})
        >>> [ax.get_title() for ax in fig.axes]
        ['causal', 'SDPA: ~causal']
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no window

    if not masks:
        raise ValueError("plot_mask_grid needs at least one mask")
    n = len(masks)
    fig = Figure(figsize=figsize or (min(2.8 * n, 9.0), 3.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (name, mask) in zip(axes, masks.items()):
        draw_mask(ax, mask, title=name, row_labels=_panel(row_labels, name), col_labels=_panel(col_labels, name),
                  cell_text=None if cell_text is None else cell_text.get(name),
                  colors=_panel(colors, name, (BLOCKED, ALLOWED)), xlabel=_panel(xlabel, name, "key"),
                  ylabel=_panel(ylabel, name, "query"), fontsize=fontsize)
    if title:
        fig.suptitle(title)
    return fig
