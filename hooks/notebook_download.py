"""MkDocs hook: write each notebook page's executed ``.ipynb`` (with its outputs) beside it.

mkdocs-jupyter executes the jupytext ``.py`` to render the page and, with ``include_source``,
copies the ``.py`` next to it, but it does not write the executed notebook. A learner who opens
the notebook in Jupyter or Colab wants the ``.ipynb`` with its outputs, so this hook converts
the ``.py`` with jupytext, executes it with nbclient (``allow_errors`` off: a failing cell fails
the build, as it fails the page) and writes ``<page folder>/<name>.ipynb``.

The executed notebook is cached under ``.cache/ta-notebooks/`` by a hash of the source, so an
unchanged notebook is executed once, not on every build or ``mkdocs serve`` reload.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.notebook_download")

CACHE = Path(".cache") / "ta-notebooks"
PATTERN = "notebooks/"


def _is_notebook(page) -> bool:
    src = page.file.src_uri
    return src.startswith(PATTERN) and src.endswith(".py")


def executed_notebook(source: Path, cwd: Path | None = None):
    """The notebook of the jupytext file ``source``, executed in a fresh ``python3`` kernel."""
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(source)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"})
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(cwd or source.parent)}}).execute()
    return nb


def write_ipynb(source: Path, target: Path) -> Path:
    """Write ``source`` (a jupytext ``.py``) executed, as ``target`` (``.ipynb``); cached by content."""
    import nbformat

    key = hashlib.sha256(source.read_bytes() + b"ta-notebooks-1").hexdigest()[:20]
    cached = CACHE / f"{source.stem}-{key}.ipynb"
    if not cached.exists():
        nb = executed_notebook(source, cwd=Path.cwd())
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        nbformat.write(nb, tmp)
        os.replace(tmp, cached)
        log.info("executed %s -> %s", source, cached)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    return target


def on_post_page(output, page, config):
    if _is_notebook(page):
        source = Path(page.file.abs_src_path)
        target = Path(page.file.abs_dest_path).parent / (source.stem + ".ipynb")
        write_ipynb(source, target)
    return output
