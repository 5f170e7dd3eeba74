"""The architecture figures: the encoder–decoder of Vaswani et al. (2017, Figure 1), drawn by us,
and the encoder-only model with its three task heads, as inline SVG with a link on every block.

- :func:`architecture_svg`: the whole figure (the overview page, the data-flow page).
- :func:`you_are_here`: the same figure, small, with the blocks a page explains highlighted (the
  Foundations pages).

The figure is labelled with this site's letters (``docs/notation.md``): ``N`` batch, ``S`` source
length, ``T`` target length, ``E`` model width, ``H`` heads, ``F`` feed-forward width, ``V``
vocabulary. The paper's "N×" (the number of layers) is written ``× num_encoder_layers`` here,
because ``N`` is the batch. Text and lines are drawn in ``currentColor`` (the page's text colour)
and block fills are translucent, so the figure reads in the light and the dark palette.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

__all__ = ["architecture_svg", "you_are_here", "PAGE_GROUPS"]

# What each block is, for its fill colour (the paper's colour scheme, translucent).
_FILL = {
    "embed": "#e377c2",   # embeddings: pink
    "attn": "#ff7f0e",    # attention: orange
    "norm": "#bcbd22",    # add & norm: yellow
    "ffn": "#1f77b4",     # feed-forward: blue
    "out": "#9467bd",     # linear + softmax, task heads: purple
    "io": "none",          # token ids and outputs: no fill
}

# The page that explains each block, and the group a page highlights in "you are here".
_LINK = {
    "embed": "embeddings.md",
    "attn": "attention.md",
    "norm": "blocks.md",
    "ffn": "blocks.md",
    "out": "own-transformer.md",
    "io": "notation.md",
    "head": "data-flow.md",
}

#: page -> the kinds of block it explains (highlighted by :func:`you_are_here`).
PAGE_GROUPS = {
    "notation.md": ("io",),
    "embeddings.md": ("embed",),
    "attention.md": ("attn",),
    "blocks.md": ("norm", "ffn"),
    "backprop.md": ("attn", "norm", "ffn", "embed", "out"),
    "own-transformer.md": ("embed", "attn", "norm", "ffn", "out"),
    "data-flow.md": ("head",),
}


@dataclass
class _Box:
    label: str
    kind: str
    sub: str = ""
    link_kind: str | None = None  # defaults to ``kind``

    @property
    def page(self) -> str:
        return _LINK[self.link_kind or self.kind]


_W, _BOX_H, _GAP = 200, 34, 16


def _href(page: str, from_page: str) -> str:
    """A link from ``from_page`` to ``page`` with MkDocs' directory URLs (``attention/``)."""
    stem = page.removesuffix(".md")
    prefix = "" if from_page in ("index.md", "") else "../"
    return f"{prefix}{stem}/"


def _column(boxes, x, y_bottom, highlight, from_page, out, stack=None, stack_side="left"):
    """Draw ``boxes`` bottom to top from ``y_bottom``; return each box's (x, y_top) and the top y."""
    pos = []
    y = y_bottom
    for i, b in enumerate(boxes):
        top = y - _BOX_H
        pos.append((x, top))
        hl = (b.link_kind or b.kind) in highlight
        fill = _FILL.get(b.kind, "none")
        stroke_w = 3.2 if hl else 1.2
        out.append(
            # xlink:href, not href: Material's instant navigation rewrites every a[href] and
            # fails on SVG links; the link's name is its visible text (no aria-label).
            f'<a style="color: inherit" xlink:href="{_href(b.page, from_page)}">'
            f'<rect x="{x}" y="{top}" width="{_W}" height="{_BOX_H}" rx="6" '
            f'fill="{fill}" fill-opacity="{0.45 if hl else 0.2}" stroke="currentColor" '
            f'stroke-width="{stroke_w}"/>'
            f'<text x="{x + _W / 2}" y="{top + (14 if b.sub else 21)}" text-anchor="middle" '
            f'font-size="13" font-weight="{"bold" if hl else "normal"}" fill="currentColor">'
            f"{html.escape(b.label)}</text>"
            + (f'<text x="{x + _W / 2}" y="{top + 28}" text-anchor="middle" font-size="10.5" '
               f'fill="currentColor">{html.escape(b.sub)}</text>' if b.sub else "")
            + "</a>"
        )
        if i + 1 < len(boxes):
            _arrow(out, x + _W / 2, top, x + _W / 2, top - _GAP)
        y = top - _GAP
    if stack is not None:
        lo, hi, label = stack
        y_top = pos[hi][1] - 8
        y_bot = pos[lo][1] + _BOX_H + 8
        out.append(f'<rect x="{x - 10}" y="{y_top}" width="{_W + 20}" height="{y_bot - y_top}" rx="10" '
                   f'fill="none" stroke="currentColor" stroke-dasharray="5 4" stroke-width="1.2"/>')
        tx, anchor = (x - 14, "end") if stack_side == "left" else (x + _W + 14, "start")
        out.append(f'<text x="{tx}" y="{(y_top + y_bot) / 2}" text-anchor="{anchor}" font-size="12" '
                   f'fill="currentColor">{html.escape(label)}</text>')
    return pos, y + _GAP


def _arrow(out, x1, y1, x2, y2, label: str | None = None, dx: float = 8):
    out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2 + 5}" stroke="currentColor" stroke-width="1.4"/>'
               f'<path d="M{x2 - 4},{y2 + 6} L{x2},{y2} L{x2 + 4},{y2 + 6} Z" fill="currentColor"/>')
    if label:
        out.append(f'<text x="{x1 + dx}" y="{(y1 + y2) / 2 + 4}" font-size="10.5" fill="currentColor">'
                   f"{html.escape(label)}</text>")


def _svg(body: list[str], width: float, height: float, alt: str) -> str:
    return (f'<svg role="img" aria-label="{html.escape(alt, quote=True)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
            f'xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif">'
            f"<title>{html.escape(alt)}</title>" + "".join(body) + "</svg>")


_ENCODER_BOXES = (
    _Box("source token ids", "io", "(N, S)"),
    _Box("embedding × √E", "embed", "V → E"),
    _Box("+ positional encoding", "embed", "(N, S, E)"),
    _Box("multi-head self-attention", "attn", "H heads of E/H"),
    _Box("add & norm", "norm"),
    _Box("feed-forward", "ffn", "E → F → E"),
    _Box("add & norm", "norm"),
)
_DECODER_BOXES = (
    _Box("target ids, shifted right", "io", "(N, T)"),
    _Box("embedding × √E", "embed", "V → E"),
    _Box("+ positional encoding", "embed", "(N, T, E)"),
    _Box("masked self-attention", "attn", "causal, H heads"),
    _Box("add & norm", "norm"),
    _Box("cross-attention", "attn", "queries T, keys S"),
    _Box("add & norm", "norm"),
    _Box("feed-forward", "ffn", "E → F → E"),
    _Box("add & norm", "norm"),
    _Box("linear E → V, softmax", "out", "(N, T, V)"),
    _Box("next-token probabilities", "io", "(N, T, V)"),
)


def _memory_arrow(out: list[str], encoder_top: tuple[float, float], cross_attention: tuple[float, float]) -> None:
    """The encoder's output (memory) to the decoder's cross-attention: its keys and values."""
    ex, ey = encoder_top[0] + _W / 2, encoder_top[1]
    cx, cy = cross_attention
    mid_y = ey - 26
    out.append(f'<path d="M{ex},{ey} L{ex},{mid_y} L{cx - 40},{mid_y} L{cx - 40},{cy + _BOX_H / 2} '
               f'L{cx - 6},{cy + _BOX_H / 2}" fill="none" stroke="currentColor" stroke-width="1.4"/>'
               f'<path d="M{cx - 7},{cy + _BOX_H / 2 - 4} L{cx},{cy + _BOX_H / 2} '
               f'L{cx - 7},{cy + _BOX_H / 2 + 4} Z" fill="currentColor"/>')
    out.append(f'<text x="{ex - 40}" y="{mid_y - 6}" font-size="10.5" fill="currentColor">'
               "memory (N, S, E): keys and values</text>")


def _encoder_decoder(highlight, from_page):
    out: list[str] = []
    xe, xd, base = 150, 430, 610
    enc, dec = list(_ENCODER_BOXES), list(_DECODER_BOXES)
    epos, _ = _column(enc, xe, base, highlight, from_page, out, stack=(3, 6, "× num_encoder_layers"))
    dpos, _ = _column(dec, xd, base, highlight, from_page, out, stack=(3, 8, "× num_decoder_layers"),
                      stack_side="right")
    _memory_arrow(out, epos[-1], dpos[5])
    out.append(f'<text x="{xe + _W / 2}" y="{base + 22}" text-anchor="middle" font-size="12" font-weight="bold" '
               'fill="currentColor">encoder</text>')
    out.append(f'<text x="{xd + _W / 2}" y="{base + 22}" text-anchor="middle" font-size="12" font-weight="bold" '
               'fill="currentColor">decoder</text>')
    top = min(p[1] for p in dpos) - 10
    width, height = xd + _W + 150, base + 32
    shift = -top
    alt = ("The encoder–decoder Transformer, bottom to top: source token ids (N, S) pass through an "
           "embedding scaled by √E and a positional encoding into a stack of encoder layers "
           "(self-attention, add & norm, feed-forward E→F→E, add & norm); target ids shifted right "
           "(N, T) pass through the same kind of embedding into decoder layers (masked "
           "self-attention, cross-attention to the encoder's memory, feed-forward, each followed by "
           "add & norm), then a linear layer E→V and a softmax give next-token probabilities "
           "(N, T, V). Every block links to the page that explains it.")
    body = [f'<g transform="translate(0,{shift})">'] + out + ["</g>"]
    return _svg(body, width, height + shift, alt), alt


def _encoder_only(highlight, from_page):
    out: list[str] = []
    x, base = 260, 520
    enc = [
        _Box("token ids + padding mask", "io", "(N, S)"),
        _Box("embedding × √E", "embed", "V → E"),
        _Box("+ positional encoding", "embed", "(N, S, E)"),
        _Box("multi-head self-attention", "attn", "padding mask, H heads"),
        _Box("add & norm", "norm"),
        _Box("feed-forward", "ffn", "E → F → E"),
        _Box("add & norm", "norm"),
    ]
    pos, top = _column(enc, x, base, highlight, from_page, out, stack=(3, 6, "× num_layers"))
    heads = [
        _Box("mean-pool → linear", "out", "E → classes: (N, C)", link_kind="head"),
        _Box("linear per position", "out", "E → tags: (N, S, C)", link_kind="head"),
        _Box("linear E → 2", "out", "start, end logits: (N, S)", link_kind="head"),
    ]
    names = ("classification", "sequence labelling", "extractive QA")
    hx = [x - 250, x, x + 250]
    hy = top - _GAP - 30 - _BOX_H
    ox, oy = x + _W / 2, pos[-1][1]
    out.append(f'<text x="{ox + _W / 2 + 20}" y="{oy + 14}" font-size="10.5" fill="currentColor">'
               "hidden states (N, S, E)</text>")
    for b, hxi, name in zip(heads, hx, names):
        _column([b], hxi, hy + _BOX_H, highlight, from_page, out)
        out.append(f'<path d="M{ox},{oy} L{ox},{oy - 16} L{hxi + _W / 2},{oy - 16} L{hxi + _W / 2},{hy + _BOX_H + 6}" '
                   f'fill="none" stroke="currentColor" stroke-width="1.4"/>'
                   f'<path d="M{hxi + _W / 2 - 4},{hy + _BOX_H + 7} L{hxi + _W / 2},{hy + _BOX_H + 1} '
                   f'L{hxi + _W / 2 + 4},{hy + _BOX_H + 7} Z" fill="currentColor"/>')
        out.append(f'<text x="{hxi + _W / 2}" y="{hy - 8}" text-anchor="middle" font-size="12" font-weight="bold" '
                   f'fill="currentColor">{html.escape(name)}</text>')
    top = hy - 26
    width, height = hx[-1] + _W + 10, base + 12
    alt = ("The encoder-only Transformer: token ids (N, S) with a padding mask pass through an "
           "embedding scaled by √E and a positional encoding into a stack of encoder layers "
           "(self-attention, add & norm, feed-forward E→F→E, add & norm). Their hidden states "
           "(N, S, E) feed one of three heads: mean pooling and a linear layer for classification "
           "(N, C), a linear layer per position for sequence labelling (N, S, C), and a linear "
           "layer E→2 giving start and end logits over the positions for extractive QA.")
    body = [f'<g transform="translate(0,{-top})">'] + out + ["</g>"]
    return _svg(body, width, height - top, alt), alt


def architecture_svg(kind: str = "encoder-decoder", highlight=(), page: str = "index.md",
                     caption: str | None = None, css_class: str = "ta-figure ta-architecture") -> str:
    """The architecture as a ``<figure>`` holding an inline SVG, every block a link to its page.

    Args:
        kind: ``"encoder-decoder"`` (the paper's Figure 1) or ``"encoder-only"`` (classification,
            tagging and QA heads on one encoder).
        highlight: block kinds drawn bold (``"io"``, ``"embed"``, ``"attn"``, ``"norm"``,
            ``"ffn"``, ``"out"``, ``"head"``); see :data:`PAGE_GROUPS`.
        page: the page the figure is printed on (``"index.md"`` or a top-level page such as
            ``"attention.md"``), so its links resolve with MkDocs' directory URLs.
        caption: the ``<figcaption>`` (HTML); a default one names the letters.
        css_class: the ``<figure>``'s classes.

    Returns:
        HTML for a ``markdown-exec`` block with ``html="1"``.

    Examples:
        >>> html = architecture_svg("encoder-only", highlight="attn", page="attention.md")
        >>> html.startswith('<figure class="ta-figure ta-architecture"><svg role="img"')
        True
        >>> 'xlink:href="../attention/"' in html  # a block links to its page
        True
    """
    if kind not in ("encoder-decoder", "encoder-only"):
        raise ValueError(f"kind={kind!r} must be 'encoder-decoder' or 'encoder-only'")
    if isinstance(highlight, str):
        highlight = (highlight,)
    unknown = set(highlight) - set(_LINK)
    if unknown:
        raise ValueError(f"highlight={tuple(highlight)!r} has unknown block kinds {sorted(unknown)}; "
                         f"expected some of {sorted(_LINK)}")
    svg, _ = (_encoder_decoder if kind == "encoder-decoder" else _encoder_only)(set(highlight), page)
    if caption is None:
        caption = ("N batch, S source length, T target length, E model width, H heads, F feed-forward "
                   "width, V vocabulary. Click a block to read its page."
                   if kind == "encoder-decoder" else
                   "One encoder, three heads: the tasks of the data-flow page. Click a block to read its page.")
    return f'<figure class="{css_class}">{svg}<figcaption>{caption}</figcaption></figure>'


def you_are_here(page: str, kind: str = "encoder-decoder") -> str:
    """The architecture, small, with the blocks that ``page`` explains highlighted.

    Args:
        page: a page in :data:`PAGE_GROUPS`, e.g. ``"attention.md"``.
        kind: ``"encoder-decoder"`` or ``"encoder-only"``.

    Returns:
        HTML (a collapsible ``<details>`` opened by default, holding the figure).

    Examples:
        >>> you_are_here("attention.md").startswith('<details class="ta-map" open><summary>You are here')
        True
    """
    if page not in PAGE_GROUPS:
        raise ValueError(f"page={page!r} is not one of {sorted(PAGE_GROUPS)}")
    fig = architecture_svg(kind, PAGE_GROUPS[page], page=page,
                           caption="Bold: the blocks this page explains. Click any block to go to its page.",
                           css_class="ta-figure ta-architecture ta-you-are-here")
    fig = fig.replace("<figure ", '<figure style="max-width: 30rem" ', 1)
    return f'<details class="ta-map" open><summary>You are here</summary>{fig}</details>'
