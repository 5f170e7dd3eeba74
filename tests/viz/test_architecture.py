"""The architecture figures: well-formed SVG, every block a link to a page that exists,
the page's blocks highlighted, bad arguments named."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from transformer_anatomy.viz import PAGE_GROUPS, architecture_svg, you_are_here

DOCS = Path(__file__).resolve().parents[2] / "docs"
SVG = "{http://www.w3.org/2000/svg}"


def _svg(fig_html: str) -> ET.Element:
    m = re.search(r"<svg.*</svg>", fig_html, re.S)
    assert m, fig_html[:200]
    return ET.fromstring(m.group(0))


@pytest.mark.parametrize("kind", ["encoder-decoder", "encoder-only"])
@pytest.mark.parametrize("page", ["index.md", "attention.md"])
def test_every_block_links_to_an_existing_page(kind, page):
    root = _svg(architecture_svg(kind, page=page))
    links = root.findall(f".//{SVG}a")
    assert len(links) >= (18 if kind == "encoder-decoder" else 10)
    for a in links:
        href = a.get("{http://www.w3.org/1999/xlink}href")
        assert href and a.get("href") is None and a.get("aria-label") is None, a.attrib
        assert "".join(a.itertext()).strip(), href  # the link's name is its visible text
        stem = href.removeprefix("../").removesuffix("/")
        assert href.startswith("../") == (page != "index.md"), href
        assert (DOCS / f"{stem}.md").exists(), href


def test_alt_text_names_the_letters():
    root = _svg(architecture_svg())
    label = root.get("aria-label")
    assert root.get("role") == "img" and root.find(f"{SVG}title").text == label
    for shape in ("(N, S)", "(N, T)", "(N, T, V)", "E→F→E"):
        assert shape in label, shape


@pytest.mark.parametrize("page", sorted(PAGE_GROUPS))
def test_you_are_here_highlights_the_pages_blocks(page):
    root = _svg(you_are_here(page, kind="encoder-only" if page == "data-flow.md" else "encoder-decoder"))
    bold = [r for r in root.iter(f"{SVG}rect") if float(r.get("stroke-width")) > 3]
    assert bold, page
    plain = [r for r in root.iter(f"{SVG}rect") if r.get("stroke-width") == "1.2" and r.get("rx") == "6"]
    assert plain or page in ("backprop.md", "own-transformer.md", "data-flow.md")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kind='decoder-only'"):
        architecture_svg("decoder-only")
    with pytest.raises(ValueError, match="highlight=.*'mlp'"):
        architecture_svg(highlight="mlp")
    with pytest.raises(ValueError, match="page='nope.md'"):
        you_are_here("nope.md")
