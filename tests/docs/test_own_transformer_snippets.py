"""The claims of docs/own-transformer.md, checked by importing the page's snippet files."""

import ast

import numpy as np
import pytest
import torch

def test_constructor_has_nn_transformers_arguments_and_defaults(snippet):
    m = snippet("own_transformer", "skeleton")
    rows = m.signatures()
    assert len(rows) >= len(m.SKELETON)
    assert all(a == b for _, a, b in rows), rows
    src = m.skeleton_source()
    ast.parse(src)  # valid Python
    for piece in ("d_model=512", "nhead=8", "dim_feedforward=2048", "activation='relu'", "memory_key_padding_mask=None"):
        assert piece in src


def test_nn_transformer_state_dict_loads_strictly_and_outputs_match(snippet):
    m = snippet("own_transformer", "load_state_dict")
    theirs, _, result = m.pair()
    assert not result.missing_keys and not result.unexpected_keys
    for grad in (False, True):
        assert m.compare(torch.float64, grad) < 1e-12
        assert m.compare(torch.float32, grad) < 1e-5


def test_wrong_key_error_names_every_problem(snippet):
    msg = snippet("own_transformer", "load_state_dict").wrong_key_message()
    assert msg.startswith("StateDictError")
    assert "encoder.layers.0.self_attn.in_proj_weight" in msg  # missing
    assert "encoder.layers.0.self_attn.qkv_weight" in msg  # unexpected
    assert "decoder.norm.weight" in msg and "(33,)" in msg  # mis-sized


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_sdpa_path_equals_explicit_path_and_nn_mha(snippet, dtype, tol):
    o = snippet("own_transformer", "sdpa_vs_explicit").outputs(dtype)
    assert (o["SDPA"] - o["explicit"]).abs().max() < tol
    assert (o["SDPA"] - o["nn.MultiheadAttention"]).abs().max() < tol


def test_mask_conventions_table(snippet):
    # the page runs the probe from its one home, the attention page's conventions.py
    home = snippet("attention", "conventions")
    found = home.float_probe()
    assert found.pop("F.scaled_dot_product_attention(attn_mask=)") == "attend"
    assert {"nn.MultiheadAttention(attn_mask=)", "nn.TransformerEncoderLayer(src_mask=)",
            "transformer_anatomy.torch.MultiheadAttention(attn_mask=)",
            "transformer_anatomy.numpy.scaled_dot_product_attention(attn_mask)"} <= set(found)
    assert len(found) == 6 and set(found.values()) == {"blocked"}


def test_fully_masked_row_nan_in_nn_transformer_inference_only_and_never_in_ours(snippet):
    m = snippet("own_transformer", "fully_masked")
    theirs, ours = m.nan_rows(training=False, grad=False)
    assert all(theirs[1]) and not any(theirs[0])  # the left-padded sequence is all NaN
    assert not any(any(r) for r in ours)
    for training, grad in ((True, True), (False, True)):
        theirs, ours = m.nan_rows(training, grad)
        assert not any(any(r) for r in theirs + ours)


def test_fully_masked_row_weights_nan_vs_zeros(snippet):
    rows = {(r["module"], r["need_weights"], r["mode"]): r for r in snippet("own_transformer", "fully_masked").row_cases()}
    theirs, ours = rows[("nn.MultiheadAttention", True, "train, grad")], rows[("ours", True, "train, grad")]
    assert np.isnan(theirs["weights"]).all() and theirs["output_nan"]
    assert (ours["weights"] == 0).all()
    assert np.array_equal(ours["output"], ours["bias"])


def test_kv_cache_equals_full_recomputation_and_beam_one_is_greedy(snippet):
    m = snippet("own_transformer", "kv_cache_check")
    d, steps, nbytes, k_shape = m.cached_vs_full()
    assert d < 1e-12 and steps == m.MAX_LEN - 1 and nbytes > 0
    assert k_shape[2] == steps
    agree = m.decoders_agree()
    assert agree["greedy, cache == greedy, no cache"] and agree["beam_search(beam_size=1) == greedy"]


def test_numpy_ours_pytorch_triangle(snippet):
    m = snippet("own_transformer", "triangle")
    assert all(d < 1e-12 for d in m.transformer_triangle().values())
    d, cls = m.seq2seq_triangle()
    assert d < 1e-12 and cls.endswith("numpy.seq2seq.Seq2SeqTransformer")  # numpy/seq2seq.py, as torch/seq2seq.py


def test_fully_masked_row_table_runs_each_case_in_its_mode(snippet):
    rows = snippet("own_transformer", "fully_masked").row_cases()
    by = {(r["module"], r["need_weights"], r["mode"]): r for r in rows}
    assert len(by) == 12
    # PyTorch's fast path runs exactly under eval + no_grad, and gives NaN there
    for (module, nw, mode), r in by.items():
        assert r["fast_path"] == (module == "nn.MultiheadAttention" and mode == "eval, no_grad"), (module, nw, mode)
    assert by[("nn.MultiheadAttention", False, "eval, no_grad")]["output_nan"]
    for mode in ("train, grad", "eval, grad"):  # SDPA outside the fast path: zeros -> out_proj.bias
        r = by[("nn.MultiheadAttention", False, mode)]
        assert not r["output_nan"] and np.array_equal(r["output"], r["bias"])
    for mode in ("train, grad", "eval, grad", "eval, no_grad"):  # need_weights=True: NaN weights always
        assert np.isnan(by[("nn.MultiheadAttention", True, mode)]["weights"]).all()
    for (module, nw, mode), r in by.items():
        if module == "ours":
            assert not r["output_nan"] and np.array_equal(r["output"], r["bias"])
            assert r["weights"] is None or (r["weights"] == 0).all()


def test_nan_spreads_through_value_vector_not_through_attention(snippet):
    s = snippet("own_transformer", "fully_masked").spread()
    assert s["input NaN rows"].tolist() == [True, False, False, False]
    assert s["V row 0 is NaN"]
    assert (s["weight on key 0, rows 1.."] == 0).all()  # nobody attends to the padded key
    assert s["output NaN rows"].all() and s["nn.Transformer output NaN rows"].all()


def test_case_mask_blocks_row_zero_only_fully(snippet):
    blocked = snippet("own_transformer", "fully_masked").case_mask(1)
    assert blocked[0].all() and not any(blocked[t].all() for t in range(1, blocked.shape[0]))


def test_merged_mask_is_causal_or_padding(snippet):
    causal, pad, merged = snippet("own_transformer", "mask_figures").merged_example(T=5, padded=2)
    assert np.array_equal(merged, causal | pad)
    assert np.array_equal(causal, np.triu(np.ones((5, 5), dtype=bool), 1))
    assert pad[:, -2:].all() and not pad[:, :-2].any()


def test_kv_cache_per_step_differences_and_growth(snippet):
    diffs, sizes, cache = snippet("own_transformer", "kv_cache_check").step_diffs()
    assert len(diffs) == snippet("own_transformer", "kv_cache_check").MAX_LEN - 1
    assert max(diffs) < 1e-12
    assert all(b > a for a, b in zip(sizes, sizes[1:]))


def test_exercise_causal_mask_matches_pytorch(snippet):
    ex = snippet("own_transformer", "exercises")
    for T in (1, 2, 5, 9):
        ref = torch.isinf(torch.nn.Transformer.generate_square_subsequent_mask(T))
        assert torch.equal(ex.causal_mask(T), ref)


def test_exercise_sdpa_mask_conversion_gives_the_same_attention(snippet):
    ex = snippet("own_transformer", "exercises")
    torch.manual_seed(0)
    E, H, T = 8, 2, 5
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64).eval()
    x = torch.randn(1, T, E, dtype=torch.float64)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()  # SDPA convention: True = may attend
    with torch.no_grad():
        ours = mha(x, x, x, attn_mask=ex.sdpa_to_mha_mask(allowed), need_weights=False)[0]
        q, k, v = torch.nn.functional.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, -1)
        split = lambda t: t.view(1, T, H, E // H).transpose(1, 2)  # (N, T, E) -> (N, H, T, E/H)
        ref = torch.nn.functional.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=allowed)
        ref = mha.out_proj(ref.transpose(1, 2).reshape(1, T, E))
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_exercise_kv_cache_bytes_predicts_memory_bytes(snippet):
    ex, kv = snippet("own_transformer", "exercises"), snippet("own_transformer", "kv_cache_check")
    diffs, sizes, cache = kv.step_diffs()
    _, src = kv.setup()
    layer = cache.layers[0]
    N, H, t, hd = layer["self_k"].shape
    assert ex.kv_cache_bytes(len(cache.layers), N, H, t, src.shape[1], hd,
                             source_padding="memory_pad" in layer, target_padding="self_pad" in layer) == sizes[-1]
    assert ex.kv_cache_bytes(len(cache.layers), N, H, 1, src.shape[1], hd, source_padding=True) == sizes[0]
