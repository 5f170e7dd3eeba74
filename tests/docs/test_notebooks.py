"""The two notebooks: their figures appear on the built pages, and each page offers the
executed ``.ipynb`` (with its outputs) beside the jupytext ``.py``.

The figures used to be missing: the build runs matplotlib with the Agg backend, so a
notebook's ``plt.show()`` drew nothing. The notebooks now display each figure as an inline SVG
(``transformer_anatomy.viz.figure_to_svg``), and ``hooks/notebook_download.py`` writes the
executed notebook into the site.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {"softmax_temperature": 2, "attention_by_hand": 1}  # name -> figures it draws


def _hook():
    spec = importlib.util.spec_from_file_location("notebook_download", ROOT / "hooks" / "notebook_download.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.docs
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_page_has_its_figures_and_downloads(built_site, name):
    folder = built_site / "notebooks" / name
    html = (folder / "index.html").read_text()
    figures = re.findall(r'<figure class="ta-figure"><svg[^>]*aria-label="([^"]+)"', html)
    assert len(figures) >= NOTEBOOKS[name], f"{name}: figures on the page: {figures}"
    assert "No description has been provided" not in html  # every image has its own alt text
    assert (folder / f"{name}.py").is_file()  # the jupytext source (include_source)
    assert f'href="{name}.ipynb"' in html  # the page links the executed notebook
    nb = json.loads((folder / f"{name}.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code)  # every cell ran
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    shown = [o for o in outputs if "text/html" in o.get("data", {}) and "<svg" in "".join(o["data"]["text/html"])]
    assert len(shown) >= NOTEBOOKS[name]  # the figures travel with the downloaded notebook
    assert any(c["cell_type"] == "markdown" and "## Exercises" in "".join(c["source"]) for c in nb["cells"])


def test_hook_writes_an_executed_notebook(tmp_path, monkeypatch):
    """Without a site build: the hook's writer executes a small jupytext file and caches it."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "tiny.py"
    src.write_text("# %% [markdown]\n# # Tiny\n\n# %%\nx = 6 * 7\nprint(x)\n")
    hook = _hook()
    target = hook.write_ipynb(src, tmp_path / "site" / "tiny.ipynb")
    nb = json.loads(target.read_text())
    (out,) = nb["cells"][1]["outputs"]
    assert out["output_type"] == "stream" and "".join(out["text"]).strip() == "42"
    assert len(list((tmp_path / ".cache" / "ta-notebooks").glob("tiny-*.ipynb"))) == 1
    src.write_text("# %%\nraise ValueError('boom')\n")  # allow_errors is off: a failing cell fails
    with pytest.raises(Exception, match="boom"):
        hook.write_ipynb(src, tmp_path / "site" / "tiny.ipynb")
