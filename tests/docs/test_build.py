"""The site builds strictly, its code really ran, and a failing snippet breaks the build."""

import html as html_lib
import re

import pytest

pytestmark = pytest.mark.docs


def test_strict_build_ran_the_softmax_comparison(built_site):
    html = (built_site / "library-vs-manual" / "index.html").read_text()
    # Only executing the snippets can print these lines: three softmax examples and three
    # LayerNorm examples, each with its difference from torch.
    diffs = re.findall(r"max \|ours - torch\| = ([0-9.e+-]+)", html)
    assert len(diffs) == 6, diffs
    assert all(float(d) < 1e-12 for d in diffs)
    # The naive formula's NaN and the stable result, both printed by executed code.
    assert "naive : [nan  0.  0.]" in html  # inf/inf = nan, 1/inf = 0
    assert "stable: [1. 0. 0.]" in html
    # The temperature figures were drawn at build time and inlined as SVG (viz.figure_to_svg).
    labels = re.findall(r'<figure class="ta-figure"><svg role="img" aria-label="([^"]*)"', html)
    assert sum("temperature" in label for label in labels) >= 2, labels
    # Source shown on the page was included from src/ by named section.
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
    assert "def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:" in text


def test_notebook_executed_and_downloadable(built_site):
    page = built_site / "notebooks" / "softmax_temperature" / "index.html"
    html = page.read_text()
    assert "tau=0.25" in html and "max=" in html  # printed by the executed cell
    assert (page.parent / "softmax_temperature.py").exists()  # the download link's target
    link = re.search(r'<a href="([^"]+)"\s+download\s+class="[^"]*ta-download', html)
    assert link and link.group(1) == "softmax_temperature.py", "no download link to the notebook"


def test_api_reference_rendered(built_site):
    html = (built_site / "reference" / "numpy" / "index.html").read_text()
    assert "softmax_backward" in html and "Shape" in html


def test_a_snippet_that_raises_fails_the_strict_build(fixture_site):
    proc = fixture_site({
        "index.md": "# Broken\n\n```python exec=\"1\"\nraise ValueError('boom from a snippet')\n```\n",
    })
    assert proc.returncode != 0
    assert "boom from a snippet" in proc.stderr + proc.stdout


def test_a_missing_snippet_section_fails_the_strict_build(fixture_site):
    proc = fixture_site({
        "index.md": '# Missing\n\n```python\n--8<-- "src/transformer_anatomy/numpy/softmax.py:no_such_section"\n```\n',
    })
    assert proc.returncode != 0
    assert "no_such_section" in proc.stderr + proc.stdout


def test_a_broken_link_fails_the_strict_build(fixture_site):
    proc = fixture_site({"index.md": "# Links\n\n[nowhere](missing.md) and [anchor](#no-such-anchor)\n"})
    assert proc.returncode != 0


def test_the_fixture_site_builds_when_nothing_is_wrong(fixture_site):
    # Guards the negative tests: they fail for the reason they name, not for a broken fixture.
    proc = fixture_site({"index.md": "# Fine\n\n```python exec=\"1\"\nprint('ok-from-fixture')\n```\n"})
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_second_notebook_matches_nn_multihead_attention(built_site):
    html = (built_site / "notebooks" / "attention_by_hand" / "index.html").read_text()
    diffs = re.findall(r"max \|ours - nn\.MultiheadAttention\| (?:output|weights) *: ([0-9.e+-]+)", html)
    assert len(diffs) == 2 and all(float(d) < 1e-12 for d in diffs), diffs
    assert 'href="attention_by_hand.py"' in html
