"""The playground page (issue 17) in Debian's chromium with the network cut: every request that
is not to the local server is aborted and counted (none allowed); ``window.anatomy.run`` on at
least 20 inputs per kept model (test examples of its task, the shortest and the longest allowed
input, unknown words, stray specials) gives what ``load_trained(...).predict`` gives in Python:
the same tokens, ids and predictions, probabilities and attention within 1e-4; typing into the
page's input box shows the answer in the page; an over-long input shows a message. The character
language model (``lm.pt``, kind ``causal_lm``) likewise, on prompts from its test topics, the
shortest and the longest allowed prompt and unknown characters (its greedy continuation, every
step's top five and the attention of the last pass), typed into its textarea; its sample mode
is seeded. The time to
an interactive page (model loaded, first answer shown) and the time per prediction are printed,
not asserted. One test without a browser runs the build hook (hooks/onnx_models.py) on a tiny
model: the exported files and index, the cache, and a mismatch that stops the build.

Against a site built already: ``TA_BUILT_SITE=/tmp/site-play`` (``tests/docs/partial_build.py
playground.md -o /tmp/site-play``)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import statistics
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest


ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "docs" / "results" / "models"
ATOL = 1e-4
N_TEST = 16  # test examples per model, besides the edge cases


def _hook():
    spec = importlib.util.spec_from_file_location("onnx_models_hook", ROOT / "hooks" / "onnx_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lm_inputs(trained, hook) -> list[str]:
    """The language model's prompts: test-topic openings, one character, the longest allowed
    prompt, unknown characters, line breaks."""
    texts = hook.example_texts(trained, N_TEST)
    limit = int(trained.settings["max_src_len"])
    extra = ["T",  # shortest
             (texts[0] * limit)[:limit],  # longest allowed
             "€" + texts[1][1:],  # an unknown character
             "☃ é ü",  # mostly unknown
             "Literals\n********\n\n",  # line breaks
             "\tdef f(x):\n    return "]
    out = texts + extra
    assert all(1 <= len(t) <= limit for t in out) and len(texts) == N_TEST
    return out


def _inputs(trained, hook) -> list[str]:
    """Test examples, the shortest and the longest allowed input, unknown words, stray specials."""
    if trained.kind == "causal_lm":
        return _lm_inputs(trained, hook)
    texts = hook.example_texts(trained, N_TEST)
    limit = int(trained.settings["max_src_len"])
    words = [w for w in trained.src_vocab.tokens if w not in trained.src_vocab.specials]
    sep = trained.settings.get("sep")
    longest = max(texts, key=lambda t: len(t.split()))
    shortest = min(texts, key=lambda t: len(t.split()))
    if sep:
        q, c = longest.split(f" {sep} ")
        fill = (c.split() * limit)[: limit - len(q.split()) - 1]
        q2, c2 = shortest.split(f" {sep} ")
        extra = [f"{words[0]} {sep} {words[1]}",  # shortest: one question word, one context word
                 f"{q} {sep} {' '.join(fill)}",  # longest allowed
                 f"zzz {' '.join(q2.split()[1:])} {sep} {c2}",  # an unknown word in the question
                 f"{q2} {sep} qqq {' '.join(c2.split()[1:])}",  # and in the context
                 f"{q2} {sep} <pad> {' '.join(c2.split()[1:])}"]  # a typed special becomes <unk>
    else:
        extra = [words[0],  # shortest
                 " ".join((longest.split() * limit)[:limit]),  # longest allowed
                 "zzz " + " ".join(longest.split()[1:]),  # an unknown word
                 "zzz qqq",  # nothing known
                 "<pad> <sos> " + " ".join(shortest.split()[2:])]  # stray specials become <unk>
    out = [t for t in texts + extra if len(t.split()) <= limit]
    assert len(out) == len(texts) + len(extra), [t for t in extra if t not in out]
    return out


def _first_leaf(x):
    while isinstance(x, list) and x:
        x = x[0]
    return x


def _compare(a, b, where: str, worst: list) -> None:
    """a (browser) equals b (Python): exactly for ints/str/bool, within ATOL for floats."""
    if isinstance(b, list) and b and isinstance(_first_leaf(b), float):  # probabilities, attention: at once
        import numpy as np

        x, y = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
        assert x.shape == y.shape, f"{where}: shape {x.shape} vs {y.shape}"
        d = float(np.abs(x - y).max()) if y.size else 0.0
        worst[0] = max(worst[0], d)
        assert d <= ATOL, f"{where}: largest |browser - torch| {d:.3g} > {ATOL}"
        return
    if isinstance(b, float) or isinstance(a, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), f"{where}: {a!r} vs {b!r}"
        d = abs(float(a) - float(b))
        worst[0] = max(worst[0], d)
        assert d <= ATOL, f"{where}: browser {a!r}, torch {b!r} (|diff| {d:.3g} > {ATOL})"
    elif isinstance(b, dict):
        assert isinstance(a, dict) and set(a) == set(b), f"{where}: keys {sorted(a) if isinstance(a, dict) else a!r} vs {sorted(b)}"
        for k in b:
            _compare(a[k], b[k], f"{where}.{k}", worst)
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), f"{where}: length {len(a) if isinstance(a, list) else a!r} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _compare(x, y, f"{where}[{i}]", worst)
    else:
        assert a == b, f"{where}: browser {a!r}, torch {b!r}"


@pytest.fixture(scope="module")
def playground(browser, site_url, built_site):
    """The page, opened with every non-local request aborted; (page, aborted requests, index)."""
    index_file = Path(built_site) / "playground" / "models" / "index.json"
    assert index_file.is_file(), f"{index_file} is missing: the onnx_models hook did not run"
    index = json.loads(index_file.read_text())["models"]
    assert index, "the site holds no playground model"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    aborted, errors = [], []
    local = urlparse(site_url).netloc

    def route(r):
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob", "about") or u.netloc == local:
            r.continue_()
        else:
            aborted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site_url}/playground/")
    page.wait_for_function("document.getElementById('playground')?.dataset.state === 'answered'", timeout=60000)
    interactive = page.evaluate("performance.now()")
    first = page.evaluate("window.anatomy.timings")
    print(f"\nplayground interactive (model loaded, first answer shown) {interactive:.0f} ms after navigation; "
          f"runtime + first model {first['models']} ms, runtime start {first['runtime_ms']:.0f} ms")
    yield page, aborted, errors, index
    context.close()


@pytest.mark.browser
def test_the_kept_models_are_the_site_s(playground):
    _, _, _, index = playground
    on_disk = sorted(p.stem for p in MODELS.glob("*.pt"))
    assert sorted(index) == on_disk
    for name, entry in index.items():
        digest = hashlib.sha256((MODELS / f"{name}.pt").read_bytes()).hexdigest()
        assert entry["pt_sha256"] == digest, f"the site was built from another {name}.pt: rebuild it"
        assert entry["checked"]["atol"] == entry["checked"]["rtol"] == 1e-5  # TESTING.md's float32 forward
        assert entry["checked"]["max_abs_diff"] <= 1e-4


@pytest.mark.browser
def test_browser_equals_pytorch_on_every_model(playground):
    from transformer_anatomy.torch.trained import load_trained

    page, aborted, errors, index = playground
    hook = _hook()
    report = {}
    for name in sorted(index):
        trained = load_trained(MODELS / f"{name}.pt")
        texts = _inputs(trained, hook)
        assert len(texts) >= 20, (name, len(texts))
        got = page.evaluate("async ([n, ts]) => { const out = []; for (const t of ts) out.push(await window.anatomy.run(n, t));"
                            " return out; }", [name, texts])
        ms = page.evaluate("(n) => window.anatomy.timings.runs.filter(r => r.name === n).map(r => r.ms)", name)
        worst = [0.0]
        for text, a in zip(texts, got):
            _compare(a, trained.predict(text), f"{name} {text!r}", worst)
        report[name] = (len(texts), worst[0], statistics.median(ms[-len(texts):]))
    for name, (n, worst, med) in report.items():
        print(f"{name}: {n} inputs, largest |browser - torch| {worst:.2e}, median {med:.1f} ms per prediction")
    assert not aborted, f"requests to other hosts: {aborted}"
    assert not errors, errors


@pytest.mark.browser
def test_typing_into_the_page_shows_the_answer(playground):
    from transformer_anatomy.torch.trained import load_trained

    page, aborted, errors, index = playground
    hook = _hook()
    for name in sorted(index):
        trained = load_trained(MODELS / f"{name}.pt")
        text = hook.example_texts(trained, 3)[2]
        page.select_option("#pg-task", name)
        page.wait_for_function("document.getElementById('playground').dataset.state === 'answered'")
        box = page.locator("#pg-input")
        lm = trained.kind == "causal_lm"
        assert page.evaluate("document.getElementById('pg-input').tagName") == ("TEXTAREA" if lm else "INPUT")
        box.fill("")
        box.type(text, delay=0)
        box.press("Control+Enter" if lm else "Enter")  # a textarea: Enter is a line break
        want = trained.predict(text)["prediction"]
        want = " ".join(want) if isinstance(want, list) else want
        page.wait_for_function("(w) => document.getElementById('pg-input').value.length > 0 && "
                               "document.getElementById('pg-prediction')?.textContent === w", arg=want or "(empty)",
                               timeout=15000)
        assert page.locator("#pg-heatmap svg rect").count() >= len(trained.encode(text)[0])
        assert page.locator("#pg-message").inner_text() == ""
    assert not aborted and not errors, (aborted, errors)


@pytest.mark.browser
def test_an_over_long_input_gets_a_message(playground):
    from transformer_anatomy.torch.trained import load_trained

    page, aborted, _, index = playground
    name = "reversal" if "reversal" in index else sorted(index)[0]
    trained = load_trained(MODELS / f"{name}.pt")
    limit = int(trained.settings["max_src_len"])
    page.select_option("#pg-task", name)
    page.wait_for_function("document.getElementById('playground').dataset.state === 'answered'")
    page.locator("#pg-input").fill(" ".join(["a"] * (limit + 1)))
    page.locator("#pg-input").press("Enter")
    page.wait_for_function("document.getElementById('playground').dataset.state === 'error'")
    msg = page.locator("#pg-message").inner_text()
    assert f"text has {limit + 1} tokens, more than the limit of {limit}" in msg, msg
    with pytest.raises(ValueError, match="more than the limit"):
        trained.predict(" ".join(["a"] * (limit + 1)))
    assert not aborted


# --- the small embedded widgets on the training and data-flow pages ---------------------------

MINI_PAGES = {"training": ["reversal"], "data-flow": ["sentiment", "numbers"]}
RUNTIME_FILES = (".wasm", ".onnx", ".card.json", "ort.wasm.bundle")  # what a widget loads when used


def _mini_context(browser, site_url, **kw):
    """A context whose every non-local request is aborted and counted; (page, log)."""
    context = browser.new_context(**kw)
    log = {"aborted": [], "errors": [], "requests": []}
    local = urlparse(site_url).netloc

    def route(r):
        u = urlparse(r.request.url)
        if u.netloc == local and u.path.endswith("/sitemap.xml"):
            # Material navigates instantly only to the sitemap's pages, whose host is mkdocs.yml's
            # site_url (another port than this server's): the sitemap as the deployed site has it
            body = re.sub(r"<loc>https?://[^/<]+/", f"<loc>{site_url}/", r.fetch().text())
            r.fulfill(status=200, content_type="application/xml", body=body)
        elif u.scheme in ("data", "blob", "about") or u.netloc == local:
            log["requests"].append(r.request.url)
            r.continue_()
        else:
            log["aborted"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    return page, log


def _mini(model: str) -> str:
    return f".anatomy-mini[data-model='{model}']"


def _answered(page, model: str, timeout: int = 60000) -> None:
    page.wait_for_function("(s) => document.querySelector(s)?.dataset.state === 'answered'", arg=_mini(model), timeout=timeout)


def _skip_without(built_site, models):
    index_file = Path(built_site) / "playground" / "models" / "index.json"
    index = json.loads(index_file.read_text())["models"] if index_file.is_file() else {}
    missing = [m for m in models if m not in index]
    assert not missing, f"the site has no playground model {missing}: the onnx_models hook did not run"


@pytest.mark.browser
def test_the_embedded_widgets_answer_as_pytorch(browser, site_url, built_site):
    """training.md and data-flow.md (reached by instant navigation): each widget loads nothing
    heavy until it is scrolled to, then answers its example; typed text gives predict()'s answer."""
    from transformer_anatomy.torch.trained import load_trained

    _skip_without(built_site, [m for ms in MINI_PAGES.values() for m in ms])
    hook = _hook()
    page, log = _mini_context(browser, site_url, viewport={"width": 1280, "height": 900})
    page.goto(f"{site_url}/training/", wait_until="networkidle")
    page.wait_for_function("performance.getEntriesByType('navigation')[0]?.loadEventEnd > 0", timeout=30000)
    loaded_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    print(f"\ntraining: page loaded (load event) in {loaded_ms:.0f} ms, its widget not yet seen")
    for path, models in MINI_PAGES.items():
        if path != "training":  # Material's instant navigation: a click on a link in the page
            page.locator(f"article a[href*='{path}']").first.click()
            page.wait_for_url(f"**/{path}/**")
            nav = page.evaluate("performance.getEntriesByType('navigation')[0].name")
            assert urlparse(nav).path == "/training/", f"not an instant navigation: {nav} was loaded"
        # Every widget of the page has a state (on the first page too: with two test workers on two
        # cores, networkidle came before the page had loaded, with no widget in the document yet).
        page.wait_for_function("(n) => document.querySelectorAll('.anatomy-mini[data-state]').length === n",
                               arg=len(models), timeout=30000)
        if path == "training":
            heavy = [u for u in log["requests"] if any(f in u for f in RUNTIME_FILES)]
            assert not heavy, f"loaded before any widget was seen: {heavy}"
            assert page.evaluate("document.querySelector('.anatomy-mini').dataset.state") == "idle"
        for model in models:
            trained = load_trained(MODELS / f"{model}.pt")
            box = page.locator(f"{_mini(model)} input")
            t0 = page.evaluate("performance.now()")
            box.scroll_into_view_if_needed()
            _answered(page, model)
            first_ms = page.evaluate("performance.now()") - t0
            shown = page.locator(f"{_mini(model)} output").inner_text()
            example = box.input_value()
            assert example == hook.example_texts(trained, 1)[0]
            for text in [example, hook.example_texts(trained, 3)[2]]:
                if text != example:
                    box.fill("")
                    box.type(text, delay=0)
                    box.press("Enter")
                want = trained.predict(text)["prediction"]
                want = (" ".join(want) if isinstance(want, list) else want) or "(empty)"
                page.wait_for_function("([s, w]) => document.querySelector(s + ' output')?.textContent === w",
                                       arg=[_mini(model), want], timeout=15000)
                shown = page.locator(f"{_mini(model)} output").inner_text()
                assert shown == want, (model, text, shown, want)
            page.locator(f"{_mini(model)} summary").click()
            assert page.locator(f"{_mini(model)} figure svg rect").count() >= len(trained.encode(text)[0])
            assert page.locator(f"{_mini(model)} .pg-message").inner_text() == ""
            href = page.locator(f"{_mini(model)} .anatomy-mini-link a").get_attribute("href")
            assert urlparse(href).path == "/playground/" and f"model={model}" in href, href
            what = "runtime + model" if path == "training" else "model (the runtime came with the page before)"
            print(f"\n{path}: {model} widget: {what} + first answer {first_ms:.0f} ms after it was scrolled to")
    assert not log["aborted"], f"requests to other hosts: {log['aborted']}"
    assert not log["errors"], log["errors"]


@pytest.mark.browser
def test_a_widget_s_link_opens_the_playground_on_its_model(browser, site_url, built_site):
    """The link under a widget, followed by Material's instant navigation, opens the playground
    with the widget's model chosen and answered, and no script fails on the way."""
    _skip_without(built_site, ["numbers"])
    page, log = _mini_context(browser, site_url, viewport={"width": 1280, "height": 900})
    page.goto(f"{site_url}/data-flow/", wait_until="networkidle")
    page.locator(_mini("numbers")).scroll_into_view_if_needed()
    _answered(page, "numbers")
    page.locator(f"{_mini('numbers')} .anatomy-mini-link a").click()
    page.wait_for_url("**/playground/?model=numbers")
    page.wait_for_function("document.getElementById('playground')?.dataset.state === 'answered'", timeout=60000)
    assert urlparse(page.evaluate("performance.getEntriesByType('navigation')[0].name")).path == "/data-flow/"
    assert page.locator("#pg-task").input_value() == "numbers"
    assert not log["aborted"], log["aborted"]
    assert not log["errors"], ("an inline <script type=module> fails after an instant navigation (Material re-runs "
                               "it as a classic script): load the module with import()", log["errors"])


@pytest.mark.browser
def test_the_embedded_widgets_fit_a_phone_and_pass_axe(browser, site_url, built_site):
    """At 390 px, every widget answered and its attention map open: nothing sticks out of the
    page, and axe-core finds no WCAG 2.1 A/AA violation in the widgets, light or dark."""
    pm = sys.modules.get("page_metrics")
    if not pm.AXE_JS.exists():
        pytest.fail(f"{pm.AXE_JS} is missing: run `make assets` (npm install installs axe-core)")
    _skip_without(built_site, [m for ms in MINI_PAGES.values() for m in ms])
    problems = {}
    for path, models in MINI_PAGES.items():
        page, log = _mini_context(browser, site_url, viewport=pm.PHONE)
        page.goto(f"{site_url}/{path}/", wait_until="networkidle")
        for model in models:
            page.locator(_mini(model)).scroll_into_view_if_needed()
            _answered(page, model)
            page.locator(f"{_mini(model)} summary").click()
        wide = pm.sideways_scroll(page)
        stuck = [x for x in wide["sticking_out"] + wide["cut_off"] if "anatomy-mini" in x or "pg-" in x]
        if wide["scrolls"] or stuck:
            problems[f"{path} phone"] = wide
        page.add_script_tag(path=str(pm.AXE_JS))
        for scheme in ("default", "slate"):
            pm.set_scheme(page, scheme)
            found = page.evaluate(
                "async (tags) => (await axe.run({include: [['.anatomy-mini']]}, {runOnly: {type: 'tag', values: tags},"
                " resultTypes: ['violations']})).violations.map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' '))}`)",
                pm.AXE_TAGS)
            if found:
                problems[f"{path} {scheme}"] = found
        assert not log["aborted"] and not log["errors"], (path, log["aborted"], log["errors"])
        page.context.close()
    assert not problems, problems


def test_the_build_hook_exports_checks_caches_and_stops_on_a_mismatch(tmp_path, monkeypatch):
    """No browser: hooks/onnx_models.py on one tiny model (the real ones are checked by the build)."""
    pytest.importorskip("onnxruntime")
    from mkdocs.exceptions import PluginError

    import transformer_anatomy.torch.onnx_export as ox
    from transformer_anatomy.tasks import make_task
    from transformer_anatomy.torch.encoder_models import TransformerClassifier
    from transformer_anatomy.torch.trained import save_trained

    hook = _hook()
    models, cache, site = tmp_path / "models", tmp_path / "cache", tmp_path / "site"
    monkeypatch.setattr(hook, "MODELS", models)
    monkeypatch.setattr(hook, "CACHE", cache)
    data = make_task("sentiment", n_train=24, n_valid=4, n_test=8, rng=0)
    kw = dict(d_model=16, nhead=2, num_layers=1, dim_feedforward=32, dropout=0.0)
    save_trained(models / "sentiment.pt", TransformerClassifier(len(data.src_vocab), 2, **kw), data, model_kwargs=kw)
    hook.on_pre_build({})
    hook.on_post_build({"site_dir": str(site)})
    out = site / "playground" / "models"
    index = json.loads((out / "index.json").read_text())["models"]
    entry = index["sentiment"]
    assert entry["kind"] == "classification" and entry["checked"]["max_abs_diff"] <= 1e-5
    assert entry["examples"] == [" ".join(data.src_vocab.decode(r)) for r in data.test["src"][:8]]
    assert sorted(p.name for p in (out / "sentiment").iterdir()) == ["sentiment.card.json", "sentiment.onnx"]
    assert (out / entry["graphs"]["model"]).is_file() and (out / entry["card"]).is_file()
    # a second build reuses the cache entry: nothing is exported or checked again
    monkeypatch.setattr(ox, "export_onnx", lambda *a, **k: pytest.fail("exported again"))
    hook.on_pre_build({})
    monkeypatch.undo()
    monkeypatch.setattr(hook, "MODELS", models)
    monkeypatch.setattr(hook, "CACHE", tmp_path / "cold")

    def mismatch(*args, **kwargs):
        raise ox.OnnxMismatchError("'a b' logits: onnxruntime differs from torch by 0.1 > 1e-05")

    monkeypatch.setattr(ox, "check_onnx", mismatch)
    with pytest.raises(PluginError, match="sentiment.pt differs from torch"):
        hook.on_pre_build({})
    assert not any((tmp_path / "cold").glob("*"))  # a failed check leaves nothing in the cache


@pytest.mark.browser
def test_the_language_model_s_limit_and_sample_mode(playground):
    """An over-long prompt gets predict()'s message in the page; sample mode is seeded (the same
    seed, the same text), top-k 1 is greedy, and run() without options stays greedy."""
    from transformer_anatomy.torch.trained import load_trained

    page, aborted, errors, index = playground
    if "lm" not in index:
        pytest.fail("the site has no playground model 'lm': docs/results/models/lm.pt is missing")
    trained = load_trained(MODELS / "lm.pt")
    limit = int(trained.settings["max_src_len"])
    page.select_option("#pg-task", "lm")
    page.wait_for_function("document.getElementById('playground').dataset.state === 'answered'")
    assert page.locator("#pg-lm-controls").is_visible()
    page.locator("#pg-input").fill("a" * (limit + 1))
    page.locator("#pg-input").press("Control+Enter")
    page.wait_for_function("document.getElementById('playground').dataset.state === 'error'")
    msg = page.locator("#pg-message").inner_text()
    assert f"prompt has {limit + 1} characters, more than the limit of {limit}" in msg, msg
    with pytest.raises(ValueError, match=f"prompt has {limit + 1} characters, more than the limit of {limit}"):
        trained.predict("a" * (limit + 1))
    prompt = "The value of "
    greedy = trained.predict(prompt)
    runs = page.evaluate("async (p) => { const r = (o) => window.anatomy.run('lm', p, o); return ["
                         " await r({mode: 'sample', temperature: 1, top_k: 0, seed: 7}),"
                         " await r({mode: 'sample', temperature: 1, top_k: 0, seed: 7}),"
                         " await r({mode: 'sample', temperature: 0.8, top_k: 1, seed: 3}), await r()]; }", prompt)
    a, b, top1, plain = runs
    assert a["prediction"] == b["prediction"]  # seeded
    assert a["sampling"] == {"mode": "sample", "temperature": 1, "top_k": len(trained.src_vocab), "seed": 7}
    assert all(0 < s["sample_probability"] <= 1 for s in a["steps"])
    assert top1["output_ids"] == greedy["output_ids"]
    assert "sampling" not in plain and plain["output_ids"] == greedy["output_ids"]
    page.locator("#pg-mode").select_option("sample")
    page.locator("#pg-input").fill(prompt)
    page.locator("#pg-input").press("Control+Enter")
    page.wait_for_function("document.getElementById('playground').dataset.state === 'answered' && "
                           "document.getElementById('pg-result').textContent.includes('sampled')")
    page.locator("#pg-mode").select_option("greedy")
    t = page.evaluate("window.anatomy.timings")
    runs_ms = sorted(r["ms"] for r in t["runs"] if r["name"] == "lm")
    print(f"\nlm: loaded (graph fetched, session created) in {t['models']['lm']:.0f} ms; "
          f"{trained.settings['max_new_tokens']} characters generated in {runs_ms[len(runs_ms) // 2]:.1f} ms (median)")
    assert not aborted and not errors, (aborted, errors)
