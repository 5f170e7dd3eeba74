"""Turn a Matplotlib figure into an ``<img>`` tag a page can print at build time."""

from __future__ import annotations

import base64
import html
import io


def figure_to_img(fig, alt: str, css_class: str = "ta-figure") -> str:
    """Render ``fig`` as SVG and return an ``<img>`` tag with the SVG inlined as a data URI.

    The page stays self-contained (no file to write, no request to another host) and the
    browser test can check that the image loaded (``naturalWidth > 0``).

    Args:
        fig: a Matplotlib figure (closed afterwards if pyplot made it).
        alt: the ``<img>``'s alt text.
        css_class: the ``<img>``'s class.

    Returns:
        An ``<img>`` tag with a ``data:image/svg+xml;base64,...`` source.

    Examples:
        >>> from matplotlib.figure import Figure
        >>> fig = Figure(figsize=(2, 1))
        >>> _ = fig.subplots().plot([0, 1], [1, 0])
        >>> figure_to_img(fig, alt="a falling line")[:75]
        '<img class="ta-figure" alt="a falling line" src="data:image/svg+xml;base64,'
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<img class="{css_class}" alt="{html.escape(alt, quote=True)}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


# The colour the figure's ink (text, axes, ticks) is drawn in, replaced by ``currentColor`` in
# the SVG: an inline SVG then takes the page's text colour, so one figure reads in the light
# and in the dark palette.
_INK = "#010203"
_svg_counter = 0


def _to_page_ink(fig) -> None:
    """Redraw black ink in ``_INK`` and make every white background transparent."""
    from matplotlib.colors import to_hex
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.text import Text

    def black(c) -> bool:
        try:
            return to_hex(c, keep_alpha=False) == "#000000"
        except (ValueError, TypeError):
            return False

    def white(c) -> bool:
        try:
            return to_hex(c, keep_alpha=False) == "#ffffff"
        except (ValueError, TypeError):
            return False

    fig.patch.set_facecolor("none")
    for ax in fig.axes:
        if white(ax.patch.get_facecolor()):
            ax.patch.set_facecolor("none")
        for spine in ax.spines.values():
            if black(spine.get_edgecolor()):
                spine.set_edgecolor(_INK)
        ax.tick_params(which="both", color=_INK)
        for tick_label in ax.get_xticklabels() + ax.get_yticklabels():
            if black(tick_label.get_color()):
                tick_label.set_color(_INK)
    for text in fig.findobj(Text):
        if black(text.get_color()):
            text.set_color(_INK)
    for legend in fig.findobj(Legend):
        frame = legend.get_frame()
        if white(frame.get_facecolor()):
            frame.set_facecolor("none")
    for line in fig.findobj(Line2D):
        if black(line.get_color()):
            line.set_color(_INK)
    for patch in fig.findobj(Patch):
        if patch is not fig.patch and black(patch.get_edgecolor()) and patch.get_linewidth() > 0:
            patch.set_edgecolor(_INK)


def figure_to_svg(fig, alt: str, caption: str | None = None, css_class: str = "ta-figure") -> str:
    """Render ``fig`` as an inline ``<svg>`` in a ``<figure>``, readable in light and dark mode.

    Black text, axes, ticks and lines are drawn in the page's text colour (``currentColor``),
    white backgrounds become transparent; colour maps and data colours are kept, so pick ones
    that read on a white and on a dark background (viridis, cividis, the tab10 colours).

    Args:
        fig: a Matplotlib ``Figure`` (build it with ``matplotlib.figure.Figure``, no pyplot).
        alt: what the figure shows, for a reader who cannot see it (the SVG's ``aria-label``
            and ``<title>``).
        caption: an optional one-line caption under the figure (HTML allowed).
        css_class: the ``<figure>``'s class (the browser test counts ``figure.ta-figure``).

    Returns:
        An HTML string to print from a ``markdown-exec`` block with ``html="1"``.

    Examples:
        >>> from matplotlib.figure import Figure
        >>> fig = Figure(figsize=(2, 1))
        >>> _ = fig.subplots().plot([0, 1], [1, 0], color="black")
        >>> svg = figure_to_svg(fig, alt="a falling line", caption="Ink in the page's colour.")
        >>> svg.startswith('<figure class="ta-figure"><svg role="img" aria-label="a falling line"')
        True
        >>> "currentColor" in svg and "<figcaption>Ink in the page's colour.</figcaption>" in svg
        True
    """
    global _svg_counter
    import matplotlib

    _svg_counter += 1
    _to_page_ink(fig)
    buf = io.BytesIO()
    # A salt of our own per figure: the ids of clip paths and markers differ between the figures
    # of one page, so one figure never clips or draws with another's definitions. (Glyph ids,
    # "DejaVuSans-48", are shared, but only by the very same glyph: tests/viz/test_html.py.)
    with matplotlib.rc_context({"svg.hashsalt": f"ta{_svg_counter}", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", transparent=True, metadata={"Date": None})
    svg = buf.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg"):]
    svg = svg.replace(_INK, "currentColor")
    label = html.escape(alt, quote=True)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    head_end = svg.index(">") + 1
    svg = svg[:head_end] + f"<title>{html.escape(alt)}</title>" + svg[head_end:]
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure class="{css_class}">{svg}{cap}</figure>'
