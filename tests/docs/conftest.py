"""Fixtures for the site tests: one strict build of the real site per session, a local server
on 127.0.0.1, and Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import functools
import http.server
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_page_metrics():
    """tests/docs/page_metrics.py, importable by the tests under --import-mode=importlib."""
    if "page_metrics" in sys.modules:
        return sys.modules["page_metrics"]
    spec = importlib.util.spec_from_file_location("page_metrics", Path(__file__).with_name("page_metrics.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["page_metrics"] = module
    spec.loader.exec_module(module)
    return module


page_metrics = _load_page_metrics()
CHROMIUM = page_metrics.CHROMIUM
CHROMIUM_ARGS = page_metrics.CHROMIUM_ARGS


def load_snippet(page: str, name: str):
    """``docs/snippets/<page>/<name>.py`` as the module ``<page>.<name>``.

    The build (hooks/snippets_path.py) and pytest (``pythonpath``) both put ``docs/snippets`` on
    ``sys.path``, so a snippet is imported plainly, once per session, and is the same module
    object that another snippet importing it (``from complexity.params import ...``) gets.
    """
    return importlib.import_module(f"{page}.{name}")


@pytest.fixture(scope="session")
def snippet():
    """The one snippet loader of the site tests: ``snippet("backprop", "adam")`` is
    ``docs/snippets/backprop/adam.py`` as a module (see :func:`load_snippet`)."""
    return load_snippet


def mkdocs_build(config: Path, site_dir: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``mkdocs build --strict`` and return the finished process (output captured)."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", KERAS_BACKEND="torch", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site_dir)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
    )


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The real site, built strictly once for the whole session. ``TA_BUILT_SITE=folder`` reuses
    a site already built strictly from this tree (to iterate on the browser tests quickly)."""
    if os.environ.get("TA_BUILT_SITE"):
        return Path(os.environ["TA_BUILT_SITE"])
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # one process: build here
        site = tmp_path_factory.mktemp("site")
        _build_or_fail(site)
        return site
    # Under pytest-xdist (make test-docs runs two workers): the first worker to get here builds
    # the site into the folder the workers share; the others wait on the lock and reuse it, or
    # fail with the same message if the build failed.
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent
    site, failed = shared / "site", shared / "site.failed"
    with FileLock(str(shared / "site.lock")):
        if failed.exists():
            pytest.fail(failed.read_text())
        if not (shared / "site.ok").exists():
            try:
                _build_or_fail(site)
            except BaseException as e:
                failed.write_text(f"strict build failed in another worker: {e}")
                raise
            (shared / "site.ok").touch()
    return site


def _build_or_fail(site: Path) -> None:
    proc = mkdocs_build(ROOT / "mkdocs.yml", site)
    assert proc.returncode == 0, f"strict build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="session")
def site_url(built_site) -> str:
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is needed at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def site_pages(built_site) -> list[str]:
    """Every page of the built site, as a URL path ('' for the home page)."""
    pages = []
    for index in sorted(built_site.rglob("index.html")):
        rel = index.parent.relative_to(built_site).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        pages.append("" if rel == "." else rel + "/")
    return pages


@pytest.fixture
def fixture_site(tmp_path):
    """A throw-away site that inherits the real configuration, for negative build tests."""

    def make(pages: dict[str, str]) -> subprocess.CompletedProcess:
        docs = tmp_path / "docs"
        docs.mkdir(exist_ok=True)
        for name, text in pages.items():
            (docs / name).write_text(text)
        shutil.copytree(ROOT / "docs" / "javascripts", docs / "javascripts", dirs_exist_ok=True)
        shutil.copytree(ROOT / "docs" / "stylesheets", docs / "stylesheets", dirs_exist_ok=True)
        cfg = tmp_path / "mkdocs.yml"
        cfg.write_text(
            f"INHERIT: {ROOT / 'mkdocs.yml'}\n"
            f"docs_dir: {docs}\n"
            "nav:\n" + "".join(f"  - {name}\n" for name in pages)
            + f"theme:\n  name: material\n  custom_dir: {ROOT / 'overrides'}\n"
            "extra_css: []\nextra_javascript: []\n"
        )
        return mkdocs_build(cfg, tmp_path / "site")

    return make
