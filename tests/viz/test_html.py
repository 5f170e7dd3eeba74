"""Figures as HTML (viz/html.py): an inline SVG in the page's text colour, or a self-contained <img>."""

from __future__ import annotations

import base64
import re

from matplotlib.figure import Figure

from transformer_anatomy.viz import figure_to_img, figure_to_svg


def line_figure(color="black"):
    fig = Figure(figsize=(2, 1.5))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [2, 0, 1], color=color)
    ax.plot([0, 2], [1, 1], color="#1f77b4")  # a data colour
    ax.set_title("a title")
    return fig


def test_svg_ink_takes_the_page_colour_and_data_colours_stay():
    svg = figure_to_svg(line_figure(), alt='two lines, "quoted" & <escaped>', caption="the <b>caption</b>")
    assert svg.startswith('<figure class="ta-figure"><svg role="img" aria-label="two lines, &quot;quoted&quot; &amp; '
                          '&lt;escaped&gt;"')
    assert "<title>two lines, &quot;quoted&quot; &amp; &lt;escaped&gt;</title>" in svg
    assert svg.endswith("<figcaption>the <b>caption</b></figcaption></figure>")
    assert "currentColor" in svg  # black ink (line, axes, text) follows the light/dark theme
    assert "#000000" not in svg.lower() and "#ffffff" not in svg.lower()  # no black ink, no white background
    assert "#1f77b4" in svg.lower()  # the data colour is kept


def referenced_definitions(svg):
    """id -> the element defining it, for every id the SVG refers to (``url(#id)``, ``href="#id"``)."""
    refs = set(re.findall(r'url\(#([^)]+)\)', svg)) | set(re.findall(r'href="#([^"]+)"', svg))
    return {i: re.search(rf'<[^>]*\bid="{re.escape(i)}"[^>]*>', svg).group(0) for i in refs}


def test_two_figures_on_one_page_never_use_each_others_definitions():
    """Clip paths and markers get ids salted per figure; a glyph id is shared only with the very
    same glyph, so whichever copy a browser resolves ``#id`` to, it draws the same thing."""
    first = referenced_definitions(figure_to_svg(line_figure(), alt="a"))
    second = referenced_definitions(figure_to_svg(line_figure(), alt="b"))
    assert any(not i.startswith("DejaVu") for i in first)  # clip paths, markers: present
    for shared in first.keys() & second.keys():
        assert shared.startswith("DejaVu") and first[shared] == second[shared], shared


def test_img_is_a_self_contained_svg_data_uri():
    tag = figure_to_img(line_figure(), alt="x < y", css_class="c")
    match = re.fullmatch(r'<img class="c" alt="x &lt; y" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)">', tag)
    assert match
    svg = base64.b64decode(match.group(1)).decode("utf-8")
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")
