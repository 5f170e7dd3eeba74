"""Figures used by the pages (drawn at build time) and by ``scripts/reproduce.py``.

Functions here return figures or strings; they never write files or show windows.
"""

from .html import figure_to_img

__all__ = ["figure_to_img"]
