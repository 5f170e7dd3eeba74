"""Turn a Matplotlib figure into an ``<img>`` tag a page can print at build time."""

from __future__ import annotations

import base64
import html
import io


def figure_to_img(fig, alt: str, css_class: str = "ta-figure") -> str:
    """Render ``fig`` as SVG and return an ``<img>`` tag with the SVG inlined as a data URI.

    The page stays self-contained (no file to write, no request to another host) and the
    browser test can check that the image loaded (``naturalWidth > 0``).
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
