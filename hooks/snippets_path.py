"""MkDocs hook: make ``docs/snippets`` importable while the site is built.

The pages' snippets share code (``results_io``, ``complexity.params``,
``advanced_training.warmup``, ...). Instead of each snippet changing ``sys.path`` itself, the
build puts the snippets folder on it once, before any page runs; the tests do the same with
pytest's ``pythonpath`` setting (``pyproject.toml``). A snippet then imports another with a
plain ``from complexity.params import attention_params``.
"""

from __future__ import annotations

import sys
from pathlib import Path

SNIPPETS = str(Path(__file__).resolve().parents[1] / "docs" / "snippets")


def on_startup(command, dirty):  # noqa: ARG001 (MkDocs' hook signature)
    if SNIPPETS not in sys.path:
        sys.path.insert(0, SNIPPETS)


def on_config(config):
    on_startup(None, False)  # also for builds started without on_startup (mkdocs < 1.4 style)
    return config
