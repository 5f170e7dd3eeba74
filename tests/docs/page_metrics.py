"""What a reader sees without clicking, measured on a built site in Debian's chromium.

For every page outside the API reference (``reference/``) this counts the visible code lines
(lines of ``<pre>`` elements that are rendered: not inside a closed ``<details>`` nor an
inactive tab), the longest visible code block, the figures (loaded images, inline SVG figures
``figure.ta-figure svg``, drawn Mermaid diagrams) and the visible words of prose. The browser
test (``test_browser.py``) imports the same functions, so the page checks and this report
count the same way. Run it on a built site folder::

    .venv/bin/python tests/docs/page_metrics.py site --json /tmp/metrics.json --md /tmp/metrics.md

It never downloads a browser: it drives the chromium at ``$TA_CHROMIUM`` (``/usr/bin/chromium``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MAX_VISIBLE_PRE_LINES = 40
GUIDE_SECTIONS = ("Foundations", "Tasks and training", "Decoder-only LLMs", "Under the hood", "Practice")

# --- which pages -----------------------------------------------------------------------------


def _nav(mkdocs_yml: Path) -> list:
    """The ``nav`` of mkdocs.yml, read without resolving its ``!!python/name`` tags."""
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    return yaml.load(mkdocs_yml.read_text(), Loader=_Loader)["nav"]


def page_url(md: str) -> str:
    """``attention.md`` -> ``attention/``; ``index.md`` -> ``''`` (the site's URL scheme)."""
    stem = md[: -len(Path(md).suffix)] if Path(md).suffix else md
    if stem == "index":
        return ""
    return (stem[: -len("/index")] if stem.endswith("/index") else stem) + "/"


def nav_groups(mkdocs_yml: Path = ROOT / "mkdocs.yml") -> dict[str, list[str]]:
    """Section title -> the URL paths of its pages, in nav order (top-level pages: 'Overview')."""
    groups: dict[str, list[str]] = {}
    for item in _nav(mkdocs_yml):
        for title, value in item.items():
            if isinstance(value, str):
                groups.setdefault(title, []).append(page_url(value))
            else:
                for sub in value:
                    for _, md in sub.items():
                        groups.setdefault(title, []).append(page_url(md))
    return groups


def guide_pages(mkdocs_yml: Path = ROOT / "mkdocs.yml") -> list[str]:
    """The guide pages: every page of the Foundations, Tasks and training, Decoder-only LLMs,
    Under the hood and Practice sections of the nav."""
    groups = nav_groups(mkdocs_yml)
    return [p for section in GUIDE_SECTIONS for p in groups.get(section, [])]


def site_pages(site: Path, include_reference: bool = False) -> list[str]:
    """Every page of a built site as a URL path ('' for the home page)."""
    pages = []
    for index in sorted(Path(site).rglob("index.html")):
        rel = index.parent.relative_to(site).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        if rel.startswith("reference") and not include_reference:
            continue
        pages.append("" if rel == "." else rel + "/")
    return pages


# --- serving and opening ---------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port) for the duration of the block; yields the URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def launch():
    """Debian's chromium, headless, through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Debian's chromium is needed at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, viewport: dict | None = None, color_scheme: str = "light"):
    """Open ``url`` in a fresh context; return (page, log) where log records console errors,
    failed requests, error statuses and requests to any host but the local server."""
    context = browser.new_context(viewport=viewport or DESKTOP, color_scheme=color_scheme)
    page = context.new_page()
    log = {"console": [], "failed": [], "foreign": [], "bad_status": []}
    local = urlparse(url).netloc
    page.on("console", lambda m: log["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["console"].append(str(e)))
    page.on("requestfailed", lambda r: log["failed"].append(f"{r.url} {r.failure}"))

    def on_request(r):
        u = urlparse(r.url)
        if u.scheme in ("data", "blob", "about"):
            return
        if u.netloc != local:
            log["foreign"].append(r.url)

    page.on("request", on_request)
    page.on("response", lambda r: log["bad_status"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    # The whole document parsed (a slow machine can report network idle earlier).
    page.wait_for_function("document.readyState === 'complete' && !!document.querySelector('.md-footer')",
                           timeout=60000)
    settle(page)
    return page, log


def settle(page, timeout: int = 30000) -> None:
    """Wait until math is typeset and Mermaid diagrams are drawn (where the page has them)."""
    if page.locator(".arithmatex").count():
        with contextlib.suppress(Exception):  # the browser test reports unrendered math itself
            page.wait_for_function(
                "[...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))"
                " || document.querySelector('.katex-error') !== null", timeout=timeout)
    if page.locator("pre.mermaid, div.mermaid").count():
        with contextlib.suppress(Exception):  # the browser test reports undrawn diagrams itself
            page.wait_for_function(
                "(() => { const ds = [...document.querySelectorAll('div.mermaid')];"
                " return ds.length > 0 && ds.every(d => d.getBoundingClientRect().height > 20); })()",
                timeout=timeout)


def close(page) -> None:
    context = page.context
    page.close()
    context.close()


# --- counting what a reader sees -------------------------------------------------------------

# Shared by measure(): an element is seen without clicking when it is rendered (a box, not
# display:none as inactive tabs are) and no ancestor is a closed <details> (its summary aside).
_VISIBLE_JS = """
const seen = (el) => {
  if (!el || !el.getClientRects().length) return false;
  if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) return false;
  for (let d = el.closest('details'); d; d = d.parentElement && d.parentElement.closest('details')) {
    const s = el.closest('summary');
    if (!d.open && !(s && s.parentElement === d)) return false;
  }
  return true;
};
const lines = (pre) => {
  const t = pre.innerText.replace(/\\n+$/, '');
  return t ? t.split('\\n').length : 0;
};
"""

_MEASURE_JS = "() => {" + _VISIBLE_JS + """
  const main = document.querySelector('article.md-content__inner') || document.body;
  const pres = [...main.querySelectorAll('pre')].filter(p => !p.classList.contains('mermaid'));
  const shown = pres.filter(seen);
  const blockLines = shown.map(lines);
  const longest = shown.length ? shown[blockLines.indexOf(Math.max(...blockLines))] : null;
  const heading = (el) => {
    let h = null;
    const all = [...main.querySelectorAll('h1, h2, h3')];
    for (const x of all) { if (x.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) h = x; }
    return h ? h.textContent.replace('¶', '').trim() : '';
  };
  const svgFigs = [...main.querySelectorAll('figure.ta-figure')].filter(f => f.querySelector('svg') && seen(f)
      && f.querySelector('svg').getBoundingClientRect().width > 0);
  // An <img> counts unless it sits inside an SVG figure already counted (a figure.ta-figure
  // that holds an <img> only, e.g. a PNG from docs/results, counts through its image).
  const imgs = [...main.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0 && seen(i)
      && !(i.closest('figure.ta-figure') && i.closest('figure.ta-figure').querySelector('svg')));
  const mermaids = [...main.querySelectorAll('div.mermaid')].filter(d => seen(d) && d.getBoundingClientRect().height > 20);
  const skip = 'pre, code, .katex, .katex-display, .arithmatex, svg, script, style, .headerlink, .md-source-file, .mermaid, .tabbed-labels, .md-content__button';
  let words = 0;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !seen(el)) continue;
    words += (n.textContent.match(/[\\p{L}\\p{N}][\\p{L}\\p{N}'’.,-]*/gu) || []).length;
  }
  return {
    code_lines: blockLines.reduce((a, b) => a + b, 0),
    code_blocks: shown.length,
    longest_block: blockLines.length ? Math.max(...blockLines) : 0,
    longest_block_after: longest ? heading(longest) : '',
    long_blocks: shown.map((p, i) => [blockLines[i], heading(p)]).filter(x => x[0] > MAX_LINES),
    figures: svgFigs.length + imgs.length + mermaids.length,
    svg_figures: svgFigs.length, images: imgs.length, mermaid: mermaids.length,
    all_images: main.querySelectorAll('img').length,
    words: words,
  };
}""".replace("MAX_LINES", str(MAX_VISIBLE_PRE_LINES))


def measure(page) -> dict:
    """Counts on an opened page of what a reader sees without clicking (see the module docstring)."""
    return page.evaluate(_MEASURE_JS)


def anatomy(page) -> dict:
    """The page-anatomy landmarks: a "You will learn" abstract admonition and an "Exercises" h2."""
    return page.evaluate("""() => {
      const main = document.querySelector('article.md-content__inner') || document.body;
      const learn = [...main.querySelectorAll('.admonition.abstract, details.abstract')].some(a => {
        const t = a.querySelector('.admonition-title, summary');
        return t && t.textContent.trim().toLowerCase() === 'you will learn';
      });
      const exercises = [...main.querySelectorAll('h2')].some(h => h.textContent.replace('¶', '').trim() === 'Exercises');
      return {you_will_learn: learn, exercises: exercises};
    }""")


def sideways_scroll(page) -> dict:
    """Whether the page scrolls sideways, and what sticks out of the viewport: an element
    past the left or right edge that no scrolling box (a code block, table or display equation
    scrolling by itself: overflow-x auto or scroll) holds is either cut off (a box above it
    hides its overflow) or widens the page."""
    return page.evaluate("""() => {
      const vw = window.innerWidth;
      const sw = document.scrollingElement.scrollWidth;
      const holder = (el) => {
        for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
          const ox = getComputedStyle(a).overflowX;
          if (ox === 'auto' || ox === 'scroll') return 'scrolls';
          if (ox === 'hidden' || ox === 'clip') return 'cut';
        }
        return 'page';
      };
      const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).slice(0, 2).join('.') : '');
      const out = [], cut = [];
      for (const el of document.querySelectorAll('article *')) {
        if (el.closest('.katex-mathml, .md-visually-hidden, .headerlink')) continue;
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height || (r.right <= vw + 1 && r.left >= -1)) continue;
        const h = holder(el);
        if (h === 'scrolls') continue;
        const list = h === 'cut' ? cut : out;
        // Report the outermost element that sticks out, not each of its children.
        if (list.some(x => x.el.contains(el))) continue;
        list.push({el, text: `${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}]`});
      }
      return {scroll_width: sw, viewport: vw, scrolls: sw > vw + 1,
              sticking_out: out.slice(0, 8).map(x => x.text), cut_off: cut.slice(0, 8).map(x => x.text)};
    }""")


def set_scheme(page, scheme: str) -> None:
    """Switch Material's palette ('default' light or 'slate' dark) on the open page, as its
    toggle does, with transitions off so that an audit sees the final colours."""
    page.evaluate("""(s) => {
      if (!document.getElementById('ta-no-transitions')) {
        const st = document.createElement('style');
        st.id = 'ta-no-transitions';
        st.textContent = '*, *::before, *::after { transition: none !important; animation: none !important; }';
        document.head.appendChild(st);
      }
      document.body.setAttribute('data-md-color-scheme', s);
    }""", scheme)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(100)


def run_axe(page, tags=AXE_TAGS) -> list[dict]:
    """axe-core's WCAG violations on the open page: [{id, impact, nodes, targets, summary}]."""
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run `make assets` (npm install)")
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_JS))
    # The audit sees the page once its fonts are in and the frames they cause are drawn (a11y.js
    # marks a region that starts to scroll in the frame after it changes size).
    page.evaluate("async () => { if (document.fonts) await document.fonts.ready;"
                  " for (let i = 0; i < 3; i++) await new Promise(r => requestAnimationFrame(r)); }")
    result = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
        " targets: v.nodes.slice(0, 4).map(n => n.target.join(' ')),"
        " summary: (v.nodes[0] && v.nodes[0].failureSummary || '').slice(0, 300)})); }", tags)
    return result


# --- the report ------------------------------------------------------------------------------


def measure_site(site: Path, pages: list[str] | None = None, axe: bool = False) -> dict[str, dict]:
    """Open every page of the built ``site`` (default: all outside reference/) and count."""
    pages = site_pages(site) if pages is None else pages
    out: dict[str, dict] = {}
    with serve(site) as url, launch() as browser:
        for path in pages:
            page, log = open_page(browser, f"{url}/{path}")
            row = measure(page)
            row.update(anatomy(page))
            if axe:
                for scheme in ("default", "slate"):
                    set_scheme(page, scheme)
                    row[f"axe_{scheme}"] = {v["id"]: v["nodes"] for v in run_axe(page)}
            close(page)
            page, _ = open_page(browser, f"{url}/{path}", viewport=PHONE)
            row["phone"] = sideways_scroll(page)
            close(page)
            out[path or "/"] = row
    return out


def markdown_table(rows: dict[str, dict]) -> str:
    head = ("| page | visible code lines | longest visible block | blocks > %d lines | figures"
            " | prose words | you will learn | exercises | sideways at 390 px |" % MAX_VISIBLE_PRE_LINES)
    lines = [head, "|" + "---|" * 9]
    tot = {"code_lines": 0, "figures": 0, "words": 0}
    for path, r in rows.items():
        for k in tot:
            tot[k] += r[k]
        lines.append(
            f"| {path} | {r['code_lines']} | {r['longest_block']} | {len(r['long_blocks'])} | {r['figures']}"
            f" | {r['words']} | {'yes' if r['you_will_learn'] else 'no'} | {'yes' if r['exercises'] else 'no'}"
            f" | {'yes' if r['phone']['scrolls'] else 'no'} |")
    longest = max((r["longest_block"] for r in rows.values()), default=0)
    lines.append(f"| **total ({len(rows)} pages)** | **{tot['code_lines']}** | **{longest}** | "
                 f"**{sum(len(r['long_blocks']) for r in rows.values())}** | **{tot['figures']}** | "
                 f"**{tot['words']}** | | | |")
    if any("axe_default" in r for r in rows.values()):
        lines += ["", "| page | axe light (rule: nodes) | axe dark (rule: nodes) |", "|---|---|---|"]
        for path, r in rows.items():
            fmt = lambda d: ", ".join(f"{k}: {v}" for k, v in sorted(d.items())) or "none"
            lines.append(f"| {path} | {fmt(r['axe_default'])} | {fmt(r['axe_slate'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", type=Path, help="a built site folder (mkdocs build -d ...)")
    ap.add_argument("--json", type=Path, help="write the counts as JSON here")
    ap.add_argument("--md", type=Path, help="write the Markdown table here")
    ap.add_argument("--axe", action="store_true", help="also run axe-core in both palettes")
    ap.add_argument("pages", nargs="*", help="URL paths (default: every page outside reference/)")
    args = ap.parse_args(argv)
    rows = measure_site(args.site, args.pages or None, axe=args.axe)
    table = markdown_table(rows)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.md:
        args.md.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
