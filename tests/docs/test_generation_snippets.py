"""The claims of docs/generation.md, checked by importing the page's snippet files."""

import functools
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "generation.md"


@functools.cache
def snippet(name):
    """``docs/snippets/generation/<name>.py``, imported plainly (conftest.load_snippet's rule)."""
    return importlib.import_module(f"generation.{name}")


def hf_chain(logits, temperature=1.0, top_k=None, top_p=None):
    z = torch.as_tensor(logits)
    if temperature != 1.0:
        z = TemperatureLogitsWarper(temperature)(None, z)
    if top_k is not None:
        z = TopKLogitsWarper(top_k)(None, z)
    if top_p is not None:
        z = TopPLogitsWarper(top_p)(None, z)
    return z.numpy()


# ---------------------------------------------------------------- the warpers, by hand
@pytest.mark.parametrize("warp", [dict(temperature=0.5), dict(top_k=1), dict(top_k=7), dict(top_p=0.3),
                                  dict(top_p=0.95), dict(temperature=1.5, top_k=6, top_p=0.9),
                                  dict(temperature=0.7, top_k=20, top_p=0.5)])
def test_hand_written_warpers_equal_hf(warp):
    s = snippet("sampling")
    logits = np.random.default_rng(3).normal(0, 2, size=(4, 30))
    logits[0, :5] = 1.0  # ties at the top-k boundary: kept, as HF keeps them
    z = logits
    if "temperature" in warp:
        z = s.with_temperature(z, warp["temperature"])
    if "top_k" in warp:
        z = s.top_k_filter(z, warp["top_k"])
    if "top_p" in warp:
        z = s.top_p_filter(z, warp["top_p"])
    ref = hf_chain(logits, **warp)
    assert np.array_equal(np.isfinite(z), np.isfinite(ref))
    np.testing.assert_allclose(z[np.isfinite(z)], ref[np.isfinite(ref)], rtol=1e-12, atol=1e-12)


def test_temperature_claims():
    s = snippet("sampling")
    rows = s.temperature_table()
    assert len(s.WORDS) == len(s.LOGITS) == 10  # "ten words"
    ents = [rows[t]["entropy"] for t in s.TEMPERATURES]
    maxes = [rows[t]["max"] for t in s.TEMPERATURES]
    assert ents == sorted(ents) and maxes == sorted(maxes, reverse=True)
    assert all(0 < e < np.log(10) for e in ents)
    for r in rows.values():  # the order of the words never changes
        assert list(np.argsort(-r["probs"], kind="stable")) == list(np.argsort(-s.LOGITS, kind="stable"))
        assert r["probs"].sum() == pytest.approx(1.0)
    ts = np.geomspace(0.05, 20, 200)  # the curve: 0 at small T, log V at large T, rising
    curve = s.entropy(s.softmax(s.LOGITS[None] / ts[:, None], axis=-1))
    assert np.all(np.diff(curve) > 0) and curve[0] < 0.01 and np.log(10) - curve[-1] < 0.05


def test_top_p_set_is_the_smallest_with_enough_mass():
    s = snippet("sampling")
    r = s.top_p_set()
    n = len(r["words"])
    assert r["mass"] >= s.TOP_P > r["mass_before"]
    assert r["words"] == list(s.WORDS[:n])  # WORDS are sorted by logit
    assert len(r["words_k"]) == s.TOP_K and r["mass_k"] < r["mass"]
    assert r["renormalised"].max() > s.softmax(s.LOGITS).max()


def test_figures_have_alt_text_and_caption():
    s, k = snippet("sampling"), snippet("kv_speed")
    rows = k.measure(lengths=(16, 64), repeats=1)  # small: the figure, not the times
    for svg in (s.figure_temperature(), s.figure_top_p(), k.figure_speed(rows)):
        assert svg.startswith('<figure class="ta-figure"><svg role="img" aria-label="')
        assert "<figcaption>" in svg


def test_wider_initialisation_gives_peaked_distributions():
    m = snippet("models")
    import transformers

    from transformer_anatomy.numpy.softmax import softmax

    ids = m.prompt(N=4)
    torch.manual_seed(0)
    default = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=m.V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, **m.NO_SPECIAL)).eval()
    with torch.no_grad():
        flat = softmax(default(torch.as_tensor(ids)).logits[:, -1].double().numpy(), axis=-1).max(-1)
    peaked = softmax(np.asarray(m.ours("llama")(ids))[:, -1].astype(np.float64), axis=-1).max(-1)
    assert flat.max() < 1.5 / m.V  # almost uniform
    assert peaked.mean() > 5 / m.V


# ---------------------------------------------------------------- the loop and sampling
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_every_greedy_loop_equals_hf(family):
    r = snippet("loop").loops(family)
    ref = r.pop("HF generate")
    r.pop("prompt")
    for name, ids in r.items():
        assert np.array_equal(ids, ref), name


def test_greedy_gpt2_repeats_itself():
    loop = snippet("loop")
    for _, _, count in loop.repetition():
        assert count > loop.K // 2


def test_seeded_sampling():
    loop = snippet("loop")
    r = loop.seeded()
    assert np.array_equal(r["seed 0"], r["seed 0 again"]) and not np.array_equal(r["seed 0"], r["seed 1"])
    by_hand, lib = loop.sampled_loop_vs_generate()
    assert np.array_equal(by_hand, lib)


def test_sampling_frequencies_follow_the_warped_distribution():
    s = snippet("sampling")
    rng = np.random.default_rng(0)
    logits = np.repeat(s.LOGITS[None], 20000, axis=0)
    draws = s.next_token(logits, rng, temperature=0.8, top_p=0.9)
    p = s.softmax(s.top_p_filter(s.with_temperature(s.LOGITS, 0.8), 0.9))
    freq = np.bincount(draws, minlength=10) / len(draws)
    assert np.all(freq[p == 0] == 0)
    np.testing.assert_allclose(freq, p, atol=0.015)  # > 4 standard deviations of a frequency


# ---------------------------------------------------------------- beam search
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_beam_search_equals_hf_with_early_stopping(family):
    rows = snippet("beam").versus_hf(family)
    for r in rows:
        assert r["equal"] == r["prompts"], r
    assert sum(r["ended_early"] for r in rows if r["eos_token_id"] is not None) > 0  # eos really exercised


def test_beam_search_other_early_stopping_values():
    b, m = snippet("beam"), snippet("models")
    model = m.ours("gpt2")
    differ = 0
    for seed in range(3):
        ids = m.prompt(seed=seed)
        for es in (False, "never"):
            # without eos every hypothesis ends at max_new_tokens: every setting agrees
            theirs = m.hf_generate("gpt2", ids, 8, num_beams=3, do_sample=False, early_stopping=es, length_penalty=2.0)
            assert np.array_equal(theirs, b.beam_search(model, ids, 3, 8, length_penalty=2.0))
            kw = dict(eos_token_id=b.EOS["gpt2"], pad_token_id=b.EOS["gpt2"])
            theirs = m.hf_generate("gpt2", ids, 10, num_beams=3, do_sample=False, early_stopping=es,
                                   length_penalty=2.0, **kw)
            mine = b.beam_search(model, ids, 3, 10, eos_token_id=b.EOS["gpt2"], length_penalty=2.0)
            if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
                differ += 1
                assert theirs.shape[1] > mine.shape[1]  # HF went on and found a longer hypothesis
    assert differ > 0  # "the test of this page finds such a case"


def test_beams_against_greedy():
    rows = snippet("beam").greedy_vs_beam()
    assert sum(r["beam 4"] > r["greedy"] + 1e-9 for r in rows) > len(rows) / 2  # usually better
    assert any(r["beam 2"] < r["greedy"] - 1e-9 for r in rows)  # ... not always


def test_sequence_log_prob_is_the_sum_of_steps():
    b, m = snippet("beam"), snippet("models")
    model = m.ours("llama")
    ids = np.asarray(model.generate(m.prompt(), max_new_tokens=3))
    logp = sum(b._last_log_probs(model, ids[:, :t], None)[0, ids[0, t]] for t in range(6, 9))
    assert b.sequence_log_prob(model, ids, 6) == pytest.approx(float(logp), abs=1e-5)


# ---------------------------------------------------------------- ours = HF
def test_generate_equals_hf_in_both_backends():
    _, rows = snippet("versus_hf").generate_table()
    assert len(rows) == 8 and all(r["equal"] for r in rows)


def test_torch_sampling_equals_hf_after_manual_seed():
    v = snippet("versus_hf")
    _, rows = v.sampled_table()
    assert all(r["equal"] == r["seeds"] for r in rows)
    from transformers import GenerationConfig  # "HF samples with top_k=50 unless told otherwise"

    assert GenerationConfig._get_default_generation_params()["top_k"] == 50
    import transformers

    from transformer_anatomy.torch.hf import from_hf

    with torch.random.fork_rng():  # a vocabulary of 80: HF's plain sampling is top-50 sampling
        torch.manual_seed(0)
        hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
            vocab_size=80, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            initializer_range=0.05, **snippet("models").NO_SPECIAL)).eval()
        ids = torch.zeros((4, 2), dtype=torch.long)
        torch.manual_seed(1)
        with torch.no_grad():
            theirs = hf.generate(ids, max_new_tokens=24, do_sample=True)
    ours = from_hf(hf)
    assert torch.equal(ours.generate(ids, max_new_tokens=24, do_sample=True, seed=1, top_k=50), theirs)
    assert not torch.equal(ours.generate(ids, max_new_tokens=24, do_sample=True, seed=1), theirs)


def test_warp_logits_equal_hf():
    v = snippet("versus_hf")
    r = v.warp_comparison()
    for name, d in r.items():
        assert d["same_kept"] and d["max_diff"] < 1e-12, name
    s = snippet("sampling")  # "each of the three removes something here"
    z = s.with_temperature(s.LOGITS, v.WARP["temperature"])
    k = np.isfinite(s.top_k_filter(z, v.WARP["top_k"])).sum()
    assert len(s.WORDS) > k > len(r["HF"]["kept"])
    assert not np.allclose(z, s.LOGITS)


# ---------------------------------------------------------------- the KV cache
def test_positions_processed():
    k = snippet("kv_speed")
    assert k.positions_processed(8, 1, True) == k.positions_processed(8, 1, False) == 8
    assert k.positions_processed(4, 3, False) == 4 + 5 + 6 and k.positions_processed(4, 3, True) == 6


def test_kv_cache_same_tokens_both_ways():
    k = snippet("kv_speed")
    equal, shape = k.same_tokens()
    assert equal and shape == (2, 8 + k.K_CHECK)
    rows = k.measure(lengths=(16, 64), repeats=1)  # small: the numbers, not the times
    for r in rows:
        assert r["same_token"] and r["max_logit_diff"] < 1e-4


# ---------------------------------------------------------------- exercises
def test_exercises():
    e, m = snippet("exercises"), snippet("models")
    sampled, greedy = e.cold_sampling_is_greedy(m.ours("llama"), m.prompt(N=2))
    assert np.array_equal(sampled, greedy)
    logits = snippet("sampling").LOGITS
    assert e.nucleus_size(logits, 1e-6) == 1 and e.nucleus_size(logits, 1.0) == len(logits)
    c = m.hf_model("llama").config
    D = c.hidden_size // c.num_attention_heads
    assert e.measured_kv_bytes_per_token() == e.kv_bytes_per_token(c.num_hidden_layers, c.num_key_value_heads, D)
    assert c.num_key_value_heads < c.num_attention_heads  # the page's Llama has GQA
    assert all(e.one_beam_is_greedy())


# ---------------------------------------------------------------- the trained model's samples
def test_lm_samples(tmp_path, capsys):
    lm = snippet("lm_samples")
    lm.report_samples(tmp_path)
    assert "not produced yet" in capsys.readouterr().out
    assert lm.diversity("aab") == (2, 2 / 3) and lm.diversity("") == (0, 0.0)
    data = lm.load_lm()
    if data is None:
        pytest.skip("docs/results/lm.json not produced yet")
    rows = lm.sample_rows(data)
    assert {r["name"] for r in rows} >= {"greedy"}
    names, distinct, _ = lm.temperature_trend(rows)
    assert names[0] == "greedy" and len(distinct) == len(names)
    lm.report_samples()
    out = capsys.readouterr().out
    assert "<table>" in out and data["samples"]["run"] in out


# ---------------------------------------------------------------- the page itself
def _section(path, name):
    text = (ROOT / path).read_text()
    m = re.search(rf"# --8<-- \[start:{name}\]\n(.*?)# --8<-- \[end:{name}\]", text, re.S)
    return m.group(1).splitlines()


def test_visible_code_blocks_are_short_and_beam_search_is_thirty_lines():
    for include in re.findall(r'^\s*--8<-- "(docs/snippets/generation/[^"]+):(\w+)"$', PAGE.read_text(), re.M):
        assert len(_section(*include)) <= 40, include
    assert 25 <= len(_section("docs/snippets/generation/beam.py", "beam_search")) <= 36  # "thirty lines"
