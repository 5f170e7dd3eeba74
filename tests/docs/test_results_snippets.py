"""The claims of docs/results.md, checked by importing its snippet files (and docs/snippets/results_io.py)."""

import functools
import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"


@functools.cache
def load(rel):
    """``docs/snippets/<rel>`` (``"results/heads.py"``), imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(rel[:-3].replace("/", "."))


def test_results_io_tasks_follow_the_library():
    from transformer_anatomy.tasks import TASKS

    io = load("results_io.py")
    assert io.TASKS == tuple(TASKS) and set(io.BACKENDS) == {"torch", "numpy"}
    assert load("results/table.py").TASKS == io.TASKS


def test_error_reduction():
    er = load("results/interpret.py").error_reduction
    assert er(0.75, 0.5) == pytest.approx(0.5) and er(0.5, 0.5) == 0.0 and er(1.0, 0.2) == pytest.approx(1.0)
    assert er(0.3, 0.5) < 0


def test_exercise_chance_exact_match_by_simulation():
    import numpy as np

    f = load("results/exercises.py").chance_exact_match
    rng = np.random.default_rng(0)
    guesses = rng.integers(0, 3, size=(200_000, 2))
    truth = rng.integers(0, 3, size=(200_000, 2))
    simulated = (guesses == truth).all(1).mean()
    assert f(3, 2) == pytest.approx(1 / 9) and simulated == pytest.approx(f(3, 2), abs=0.005)


def test_exercise_span_f1_matches_the_library():
    import numpy as np

    from transformer_anatomy.tasks.metrics import span_f1

    f = load("results/exercises.py").span_f1
    rng = np.random.default_rng(1)
    for _ in range(200):
        s, ps = rng.integers(0, 10, size=2)
        e, pe = s + rng.integers(0, 4), ps + rng.integers(0, 4)
        assert f((ps, pe), (s, e)) == pytest.approx(span_f1([ps], [pe], [s], [e]))


def _fake(tmp_path, task, backend, value, base):
    run = {"model": {"class": "X"}, "headline": {"metric": "accuracy", "split": "test", "value": value,
                                                 "baseline": "majority_class", "baseline_value": base,
                                                 "others": {"bag_of_words": 0.6}}}
    r = {"runs": {"encoder_classifier": run}, "baselines": {"majority_class": {"what": "always the most frequent"}}}
    (tmp_path / f"{task}-{backend}.json").write_text(json.dumps(r))


def test_report_task_reads_metric_baseline_and_gap(tmp_path, capsys):
    m = load("results/interpret.py")
    _fake(tmp_path, "sentiment", "torch", 0.9, 0.5)
    m.report_task("sentiment", tmp_path)
    out = capsys.readouterr().out
    assert "**0.500**" in out and "**0.900**, +0.400 over the baseline" in out and "removes 80%" in out
    assert "`bag_of_words` 0.600" in out
    m.report_task("qa", tmp_path)
    assert "python scripts/reproduce.py --task qa" in capsys.readouterr().out
    fig, d = m.gap_figure(tmp_path)
    assert d["model"] == [0.9] and d["baseline"] == [0.5]


# ---- per-head statistics beside the maps (docs/snippets/results/heads.py) ----------------------------------


def test_pattern_heads_have_their_known_statistics():
    heads = load("results/heads.py")
    _, st = heads.pattern_table(n=5)
    itself, previous, mirror, uniform = range(4)
    assert st["diagonal"][0, itself] == 1.0 and st["mirror"][0, mirror] == 1.0
    assert st["mean_offset"][0, previous] == pytest.approx(-4 / 5)  # four of five queries look one back
    assert st["entropy"][0, :3] == pytest.approx([0.0, 0.0, 0.0], abs=1e-15)
    assert st["entropy"][0, uniform] == pytest.approx(np.log(5)) and st["first_token"][0, uniform] == pytest.approx(1 / 5)


def test_exercise_split_head_entropy_matches_head_statistics():
    from transformer_anatomy.viz.reading import head_statistics

    f = load("results/exercises.py").split_head_entropy
    for k, n in ((2, 10), (3, 7), (2, 100)):
        w = np.zeros((1, 1, n, n))
        w[..., :k] = 1.0 / k  # every row: k keys, equal weights
        st = head_statistics(w, [n], [n])
        assert f(k, n) == pytest.approx((st["entropy"][0, 0], st["entropy_normalized"][0, 0]))


def _fake_reading(tmp_path, with_stats, task="reversal", backend="torch"):
    """A results file with an attention reading, with or without head_stats, and a tiny attention PNG."""
    from transformer_anatomy.viz import reading as R

    layers = ["dec.0.multihead_attn", "dec.1.multihead_attn"]
    reading = {"split": "test", "examples": 3, "correct": 3, "wrong": 0, "attention": "cross-attention (x)",
               "layers": layers, "figure_example": 1, "figure_layer": layers[-1], "statistics": {}}
    if with_stats:
        rng = np.random.default_rng(0)
        lens = np.array([3, 4, 2])
        parts = {name: [R.head_statistics(rng.dirichlet(np.ones(4), size=(3, 2, 5)), lens + 1, lens)]
                 for name in layers}
        w = np.zeros((3, 2, 5, 4))
        for i, n in enumerate(lens):  # head 0 of the last layer: a perfect mirror
            w[i, 0, np.arange(n), n - 1 - np.arange(n)] = 1.0
            w[i, 0, n, 0] = 1.0
            w[i, 1, : n + 1, :n] = 1.0 / n
        parts[layers[-1]] = [R.head_statistics(w, lens + 1, lens)]
        uniform = [R.head_statistics(R.uniform_weights(lens + 1, lens, 5, 4), lens + 1, lens)]
        reading["head_stats"] = R.summarize_head_statistics(parts, uniform, shown=1)
    run = {"model": {"class": "X"}, "attention_reading": reading}
    (tmp_path / f"{task}-{backend}.json").write_text(json.dumps({"runs": {"encoder_decoder": run}}))
    import base64

    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    (tmp_path / f"{task}-attention-{backend}.png").write_bytes(png)
    return reading


def test_report_heads_without_head_stats_shows_the_map_and_says_so(tmp_path, capsys):
    heads = load("results/heads.py")
    _fake_reading(tmp_path, with_stats=False)
    heads.report_heads("reversal", results=tmp_path)
    out = capsys.readouterr().out
    assert "<img" in out and "no per-head statistics yet" in out and "<table>" not in out
    heads.report_heads("qa", results=tmp_path)  # no file at all
    assert "no results yet" in capsys.readouterr().out


def test_report_heads_with_head_stats_puts_the_table_beside_the_map(tmp_path, capsys):
    heads = load("results/heads.py")
    reading = _fake_reading(tmp_path, with_stats=True)
    heads.report_heads("reversal", results=tmp_path)
    out = capsys.readouterr().out
    grid = out[out.index('<div class="grid"'): out.index("</div>")]
    assert "<img" in grid and "<table>" in grid  # map and table side by side
    assert all(f">{h}</th>" in grid for h in ("statistic", "head 0", "head 1", "uniform"))
    hs = reading["head_stats"]
    last = hs["layers"]["dec.1.multihead_attn"]
    assert last["mirror"][0] == pytest.approx(1.0)  # the hand-made mirror head
    table = heads.stats_table(hs, "dec.1.multihead_attn")
    assert table.splitlines()[0] == "| statistic | head 0 | head 1 | uniform |"
    assert f"| mean offset | {last['mean_offset'][0]:+.2f} | {last['mean_offset'][1]:+.2f} |" in table
    row = f"| mirror | 1.00 | {last['mirror'][1]:.2f} | {hs['uniform']['mirror']:.2f} |"
    assert row in table
    import re

    html_rows = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r) for r in re.findall(r"<tr>(.*?)</tr>", grid)]
    assert [c.strip() for c in row.strip("|").split("|")] in html_rows  # the HTML table beside the map = the table
    assert "head 0 puts 1.00 on the mirrored key" in out and "the other heads at most" in out  # read from the numbers
    assert "Layer 1 of 2" in out and "test example 1 only" in out  # the other layer and the drawn example


def test_notice_says_when_every_head_shares_a_pattern_and_when_none_has_one():
    heads = load("results/heads.py")
    u = {"mean_offset": 0.0, "entropy": 1.6, "entropy_normalized": 1.0, "diagonal": 0.2, "mirror": 0.2,
         "first_token": 0.2}
    same = dict(u, mirror=[0.8, 0.9], diagonal=[0.2, 0.2], first_token=[0.1, 0.2], mean_offset=[0.0, 0.1],
                entropy=[0.5, 0.4], entropy_normalized=[0.3, 0.25])
    text = heads.notice({"layers": {"L": same}, "uniform": u}, "L")
    assert "all 2 heads put 0.80–0.90 on the mirrored key (uniform: 0.20), the same pattern" in text
    assert "from 0.25 (head 1, the sharpest) to 0.30 (head 0)" in text
    flat = dict(same, mirror=[0.2, 0.21])
    assert "no head puts more than 1.5 × the uniform mass" in heads.notice({"layers": {"L": flat}, "uniform": u}, "L")


def test_stats_backend_prefers_a_file_with_head_stats(tmp_path):
    heads = load("results/heads.py")
    _fake_reading(tmp_path, with_stats=False, backend="torch")
    _fake_reading(tmp_path, with_stats=True, backend="numpy")
    assert heads.stats_backend("reversal", results=tmp_path) == "numpy"
