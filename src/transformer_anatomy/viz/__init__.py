"""Figures used by the pages (drawn at build time) and by ``scripts/reproduce.py``.

Functions here return figures or strings; they never write files or show windows.
"""

from .architecture import PAGE_GROUPS, architecture_svg, you_are_here
from .html import figure_to_img, figure_to_svg
from .masks import draw_mask, plot_mask_grid
from .plots import (
    capture_attention,
    plot_attention,
    plot_positional_encoding,
    plot_training_curves,
    prediction_table_html,
    prediction_table_markdown,
)

__all__ = [
    "PAGE_GROUPS",
    "architecture_svg",
    "you_are_here",
    "capture_attention",
    "figure_to_img",
    "figure_to_svg",
    "draw_mask",
    "plot_mask_grid",
    "plot_attention",
    "plot_positional_encoding",
    "plot_training_curves",
    "prediction_table_html",
    "prediction_table_markdown",
]
