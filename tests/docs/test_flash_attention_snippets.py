"""The claims of docs/flash-attention.md, checked by importing the page's snippet files."""

import contextlib
import functools
import importlib
import io
import itertools

import numpy as np
import pytest

from transformer_anatomy.numpy import softmax


@functools.cache
def snippet(name):
    """``docs/snippets/flash_attention/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"flash_attention.{name}")


def printed(fn, *args, **kwargs):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("tile", [1, 2, 3, 5, 6, 10])
def test_online_softmax_equals_two_pass(tile):
    m = snippet("online")
    rng = np.random.default_rng(tile)
    for scores in (m.ROW, rng.standard_normal(6) * 3, np.array([1000.0, -1000.0, 999.0, 0.0, 5.0, -3.0])):
        out, trace = m.online_softmax(scores, m.VALUES, tile)
        assert np.isfinite(out)
        np.testing.assert_allclose(out, softmax(scores) @ m.VALUES, rtol=1e-12, atol=1e-12)
        assert len(trace) == -(-len(scores) // tile)
        assert trace[0]["alpha"] == 0.0  # the first tile rescales nothing (m starts at -inf)
        assert all(t["alpha"] <= 1.0 for t in trace)  # the maximum never decreases
        last = trace[-1]
        np.testing.assert_allclose(last["m_new"] + np.log(last["l"]), np.logaddexp.reduce(scores), rtol=1e-12)


def test_the_worked_example_shows_a_rescale_and_a_factor_of_one():
    """The prose says one tile raises the maximum (factor < 1) and one does not (factor exactly 1)."""
    m = snippet("online")
    _, trace = m.online_softmax(m.ROW, m.VALUES, m.TILE)
    alphas = [t["alpha"] for t in trace[1:]]
    assert any(0 < a < 1 for a in alphas) and any(a == 1.0 for a in alphas)
    assert "difference" in printed(m.report_trace)


def test_scores_bytes_and_the_quadratic_table():
    m = snippet("online")
    assert m.scores_bytes(1024) == 1024 * 1024 * 4
    assert m.scores_bytes(8, 5, heads=3, batch=2, itemsize=8) == 2 * 3 * 8 * 5 * 8
    assert m.scores_bytes(2048) == 4 * m.scores_bytes(1024)
    assert "×256" in printed(m.report_quadratic)


@pytest.mark.parametrize("T,S,Bq,Bk", [(16, 16, 4, 4), (7, 10, 3, 2), (10, 7, 2, 3), (5, 5, 8, 8), (9, 4, 1, 1)])
def test_visited_tiles_are_exactly_the_tiles_with_a_visible_pair(T, S, Bq, Bk):
    m = snippet("tiles")
    needed = [(i0, j0) for i0 in range(0, T, Bq) for j0 in range(0, S, Bk)
              if any(j <= i for i in range(i0, min(i0 + Bq, T)) for j in range(j0, min(j0 + Bk, S)))]
    assert m.visited_tiles(T, S, Bq, Bk, True) == needed
    assert m.visited_tiles(T, S, Bq, Bk, False) == list(itertools.product(range(0, T, Bq), range(0, S, Bk)))
    grid = m.cell_kinds(T, S, Bq, Bk)
    i, j = np.ogrid[:T, :S]
    assert ((grid == 2) == (j <= i)).all()  # every visible score is computed, and only those are "visible"


@pytest.mark.parametrize("T,S,B", [(16, 16, 4), (7, 10, 3), (10, 7, 2), (9, 4, 1)])
@pytest.mark.parametrize("is_causal", [False, True])
def test_the_library_loop_computes_exactly_those_tiles(T, S, B, is_causal, monkeypatch):
    """Count the score tiles flash_attention_forward multiplies (one np.swapaxes of a key tile each)."""
    import types

    from transformer_anatomy.numpy import flash

    calls = []
    proxy = types.SimpleNamespace(**{n: getattr(np, n) for n in dir(np) if not n.startswith("__")})
    proxy.swapaxes = lambda a, *axes: calls.append(a.shape) or np.swapaxes(a, *axes)
    monkeypatch.setattr(flash, "np", proxy)
    x = np.ones((T, 2)), np.ones((S, 2)), np.ones((S, 2))
    flash.flash_attention_forward(*x, is_causal=is_causal, block_size=B)
    assert len(calls) == len(snippet("tiles").visited_tiles(T, S, B, B, is_causal))


def test_tiles_figure_has_alt_text():
    html = printed(snippet("tiles").report_tiles)
    assert 'aria-label="A 16 by 16 causal score matrix' in html and "<strong>10</strong> of the 16 tiles" in html


def test_flash_equals_naive_on_the_page_table():
    m = snippet("equality")
    for block, causal in ((1, False), (7, True), (128, True)):
        d = m.differences(block, causal)
        assert max(d.values()) < 1e-12, (block, causal, d)
        d32 = m.differences(block, causal, np.float32)
        assert max(d32.values()) < 1e-5, (block, causal, d32)


def test_saved_for_backward():
    text = printed(snippet("equality").report_saved, T=256, S=256, D=8)
    assert "(256 × less)" in text


def test_memory_flash_is_linear_and_far_below_naive():
    m = snippet("memory")
    (n1, f1), (n2, f2) = m.measure(512), m.measure(1024)
    assert n1 >= 512 * 512 * 4 and n2 >= 1024 * 1024 * 4  # the (T, T) float32 matrix is in the naive peak
    assert f2 < n2 / 5
    assert 1.8 < m.slope([512, 1024], [n1, n2]) < 2.1
    assert m.slope([512, 1024], [f1, f2]) < 1.0


def test_memory_small_T_flash_costs_more_than_naive():
    """The page says that at the shortest length the tiles cost more than the whole matrix."""
    m = snippet("memory")
    naive, flash = m.measure(m.LENGTHS[0])
    assert flash > naive


def test_timing_and_citations_print():
    m = snippet("memory")
    t = m.timing(128, blocks=(16, 64))
    assert set(t) == {"naive", 16, 64} and all(v >= 0 for v in t.values())
    cited = printed(m.report_cited)
    assert cited.count("Dao et al. 2022") == 4 and "README" in cited


def test_exercise_merge():
    m = snippet("exercises")
    for cut in (1, 3, 9):
        assert m.split_in_two(cut=cut) < 1e-12
    rng = np.random.default_rng(0)
    # merging is associative and commutative: any split, any order
    q, k, v = rng.standard_normal((4, 3)), rng.standard_normal((9, 3)), rng.standard_normal((9, 2))
    parts = [m.partial_state(q, k[a:b], v[a:b], 0.5) for a, b in ((0, 2), (2, 7), (7, 9))]
    left = m.merge(m.merge(parts[0], parts[1]), parts[2])
    right = m.merge(parts[2], m.merge(parts[1], parts[0]))
    full = m.partial_state(q, k, v, 0.5)
    for x, y, z in zip(left, right, full):
        np.testing.assert_allclose(x, z, rtol=1e-12)
        np.testing.assert_allclose(y, z, rtol=1e-12)


def test_exercise_one_big_tile_costs_more_than_naive():
    flash, naive = snippet("exercises").peak_by_block()  # the page's call
    assert flash[32] < naive < flash[1024]


def test_exercise_delta_identity():
    m = snippet("exercises")
    for seed in range(3):
        assert m.delta_two_ways(seed=seed) < 1e-12
