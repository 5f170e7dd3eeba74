"""Every page of the built site, opened in Debian's chromium: no console errors, no failed
requests, no request to any host but the local server, math rendered, figures and diagrams
drawn, and search answering."""

from __future__ import annotations

import os
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser


def _open(browser, url):
    """Open ``url`` in a fresh page; record console errors, failed and foreign requests."""
    page = browser.new_page()
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
    return page, log


def test_every_page_is_clean(browser, site_url, site_pages):
    pages = site_pages
    assert len(pages) >= 4, pages
    problems = {}
    for path in pages:
        page, log = _open(browser, f"{site_url}/{path}")
        issues = [f"{k}: {v}" for k, v in log.items() if v]
        # Math: every arithmatex span became KaTeX, with no KaTeX error.
        n_math = page.locator(".arithmatex").count()
        if n_math:
            page.wait_for_function("document.querySelectorAll('.arithmatex .katex').length > 0")
            if page.locator(".katex-error").count():
                issues.append("KaTeX error on the page")
            unrendered = page.evaluate(
                "[...document.querySelectorAll('.arithmatex')].filter(e => !e.querySelector('.katex')).length")
            if unrendered:
                issues.append(f"{unrendered} math elements not rendered")
        # Figures: every image loaded.
        broken = page.evaluate(
            "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60))")
        if broken:
            issues.append(f"images not loaded: {broken}")
        # Diagrams: every Mermaid block was drawn as an SVG.
        if page.locator("pre.mermaid, div.mermaid").count():
            # Material draws each diagram into a closed shadow root: a drawn one has a height.
            page.wait_for_function(
                "(() => { const ds = [...document.querySelectorAll('div.mermaid')];"
                " return ds.length > 0 && ds.every(d => d.getBoundingClientRect().height > 20); })()",
                timeout=15000)
        if issues:
            problems[path or "/"] = issues
        if os.environ.get("TA_SCREENSHOTS"):
            name = (path.strip("/").replace("/", "_") or "index") + ".png"
            page.screenshot(path=os.path.join(os.environ["TA_SCREENSHOTS"], name), full_page=True)
        page.close()
    assert not problems, problems


def test_math_and_figure_on_the_softmax_page(browser, site_url):
    page, log = _open(browser, f"{site_url}/library-vs-manual/")
    page.wait_for_function("document.querySelectorAll('.arithmatex .katex').length > 0")
    assert page.locator(".katex").count() >= 3
    widths = page.evaluate("[...document.images].map(i => i.naturalWidth)")
    assert widths and min(widths) > 0
    assert not log["foreign"] and not log["failed"] and not log["console"]
    page.close()


def test_mermaid_diagram_drawn_from_the_local_copy(browser, site_url):
    page, log = _open(browser, f"{site_url}/")
    page.wait_for_function(
        "(() => { const d = document.querySelector('div.mermaid');"
        " return !!d && d.getBoundingClientRect().height > 20; })()", timeout=15000)
    assert page.evaluate("typeof mermaid") == "object"  # the site's own copy, loaded in <head>
    assert not log["foreign"], log["foreign"]
    page.close()


def test_search_finds_softmax(browser, site_url):
    page, log = _open(browser, f"{site_url}/")
    box = page.locator("input.md-search__input")
    box.click()
    box.type("softmax", delay=20)
    page.wait_for_selector(".md-search-result__item", timeout=15000)
    titles = page.locator(".md-search-result__item").all_inner_texts()
    assert any("softmax" in t.lower() for t in titles), titles
    assert not log["foreign"], log["foreign"]
    page.close()
