"""The claims of docs/internals-pytorch.md, checked by importing the page's snippet files."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

SNIPPETS = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "internals_pytorch"


def test_in_proj_weight_packs_q_k_v_in_that_order(snippet):
    diffs = snippet("internals_pytorch", "mha_storage").packing_check()
    assert diffs["q, k, v"] < 1e-6
    assert diffs["k, q, v"] > 1e-2


def test_separate_projection_weights_when_kdim_or_vdim_differ(snippet):
    packed = snippet("internals_pytorch", "mha_storage").mha_parameters(8, 2)
    split = snippet("internals_pytorch", "mha_storage").mha_parameters(8, 2, kdim=5, vdim=3)
    assert packed["in_proj_weight"] == (24, 8) and packed["q_proj_weight"] is None
    assert split["in_proj_weight"] is None
    assert (split["q_proj_weight"], split["k_proj_weight"], split["v_proj_weight"]) == ((8, 8), (8, 5), (8, 3))
    assert split["in_proj_bias"] == (24,)


@pytest.mark.parametrize("E,H", [(64, 4), (256, 8)])
def test_mha_init_is_xavier_on_the_packed_matrix_with_zero_biases(snippet, E, H):
    s = snippet("internals_pytorch", "mha_init").init_statistics(E, H)
    assert (s["fan_in"], s["fan_out"]) == (E, 3 * E)
    assert s["bound"] == pytest.approx(math.sqrt(6 / (4 * E)))
    assert s["max_abs"] <= s["bound"]
    assert s["max_abs"] > 0.99 * s["bound"]  # uniform over the whole interval
    assert s["std"] == pytest.approx(s["std_theory"], rel=0.03)
    assert s["in_proj_bias_zero"] and s["out_proj_bias_zero"]
    assert s["out_proj_max_abs"] <= s["out_proj_bound"]


def test_nn_transformer_reinitialises_every_matrix_with_xavier(snippet):
    r = snippet("internals_pytorch", "mha_init").transformer_reinit()
    assert r["lone linear1 max|w|"] <= r["kaiming bound 1/sqrt(E)"]
    assert r["kaiming bound 1/sqrt(E)"] < r["nn.Transformer linear1 max|w|"] <= r["xavier bound sqrt(6/(E+F))"]
    assert r["nn.Transformer out_proj max|w|"] <= r["xavier bound sqrt(6/(2E))"]
    assert r["lone out_proj max|w|"] <= r["kaiming bound 1/sqrt(E)"]


@pytest.mark.parametrize("kw", [{}, dict(d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=3, dim_feedforward=24)])
def test_transformer_parameter_formula_equals_numel(snippet, kw):
    m = snippet("internals_pytorch", "transformer_structure")
    with torch.device("meta"):
        model = nn.Transformer(**kw, batch_first=True)
    _, total = m.transformer_parameter_formula(**kw)
    assert total == m.count_parameters(model)


def test_default_transformer_count_and_compact_tree(snippet):
    m = snippet("internals_pytorch", "transformer_structure")
    model, warned = m.default_transformer()
    assert m.count_parameters(model) == m.transformer_parameter_formula()[1] == 44_140_544
    lines = m.compact_tree(model)
    assert any("6 x TransformerEncoderLayer" in line for line in lines)
    assert any("6 x TransformerDecoderLayer" in line for line in lines)
    assert any("batch_first" in w for w in warned)


def test_ours_equals_nn_multihead_attention(snippet):
    m = snippet("internals_pytorch", "ours_vs_nn_mha")
    assert m.same_seed_same_init()
    for name, (d_out, d_w) in m.compare_mha().items():
        assert d_out < 1e-5 and d_w < 1e-5, name
    for name, (d_out, d_w) in m.compare_mha(dtype=torch.float64).items():
        assert d_out < 1e-12 and d_w < 1e-12, name


def test_fastpath_reasons_are_read_from_torch_source(snippet):
    m = snippet("internals_pytorch", "fast_path")
    layer = m.fastpath_reasons(nn.TransformerEncoderLayer.forward)
    assert "training is enabled" in layer
    assert any("requires_grad" in r for r in layer)
    assert any("batch_first" in r for r in m.fastpath_reasons(nn.MultiheadAttention.forward))


def test_fast_path_runs_only_in_inference_without_grad(snippet):
    m = snippet("internals_pytorch", "fast_path")
    rows, cpu_autocast_seen = m.scenarios()
    rows = dict(rows)
    assert rows["train mode"] == [] and rows["eval, grad enabled"] == []
    assert rows["eval, no_grad"] == ["_transformer_encoder_layer_fwd"]
    assert rows["eval, inference_mode"] == ["_transformer_encoder_layer_fwd"]
    assert rows["eval, no_grad, fast path disabled"] == []
    assert rows["eval, no_grad, batch_first=False"] == []
    assert rows["eval, no_grad, nhead=1 (odd)"] == []
    assert rows["eval, no_grad, hook on the layer"] == ["_native_multi_head_attention"]
    assert rows["MHA self-attention, eval, no_grad"] == ["_native_multi_head_attention"]
    assert rows["MHA cross-attention, eval, no_grad"] == []
    assert cpu_autocast_seen is False
    assert torch.backends.mha.get_fastpath_enabled()  # the context manager restored the flag


def test_nested_tensor_fast_path_zeroes_padded_positions(snippet):
    d = snippet("internals_pytorch", "fast_path").nested_tensor_demo()
    assert d["fused"] == ["_transformer_encoder_layer_fwd"] and d["fused_off"] == []
    assert torch.count_nonzero(d["fast_pad_rows"]) == 0
    assert torch.count_nonzero(d["slow_pad_rows"]) > 0
    assert d["fast_vs_slow_real"] < 1e-5
    assert d["ours_vs_slow_all"] < 1e-5
    assert d["ours_vs_fast_real"] < 1e-5


def test_sdpa_backends_probe_and_default_choice(snippet):
    m = snippet("internals_pytorch", "sdpa_backends")
    results = m.probe_backends(dtypes=(torch.float32,))
    assert results["MATH", "float32"].startswith("ok")
    assert all(r.startswith(("ok", "error")) for r in results.values())
    for (backend, _), r in results.items():
        if r.startswith("ok"):
            assert float(r.split(", ")[1]) < 1e-5, backend
    chosen = m.default_kernel()
    assert chosen["dropout_p=0.1"][0] == "math"  # attention dropout needs the explicit weights
    assert all(family in ("math", "flash", "efficient", "cudnn") for family, _ in chosen.values())


def test_saved_tensors_of_one_encoder_layer(snippet):
    m = snippet("internals_pytorch", "saved_tensors")
    N, S, E, H, F = 2, 6, 8, 2, 16
    d = m.encoder_layer_memory(N, S, E, H, F)
    assert d["no_grad"] == []
    train, evaluation = m.summarize(d["train"]), m.summarize(d["eval"])
    assert train["activation"]["bytes"] > evaluation["activation"]["bytes"] > 0
    assert train["parameter"]["saved"] > 0  # weights are saved by reference, not copied
    assert any(r["shape"] in ((N, H, S, S), (N * H, S, S)) for r in d["train"])  # dropout -> math kernel


def test_adam_keeps_two_parameter_sized_buffers(snippet):
    m = snippet("internals_pytorch", "optimizer_state")
    adam = m.optimizer_state_bytes(torch.optim.Adam, lr=1e-3)
    assert adam["state"]["exp_avg"] == adam["state"]["exp_avg_sq"] == adam["params"]
    assert adam["state"]["step"] == 4 * adam["n_tensors"]  # one float32 scalar per parameter tensor
    assert m.optimizer_state_bytes(torch.optim.SGD, lr=0.1)["state"] == {}
    momentum = m.optimizer_state_bytes(torch.optim.SGD, lr=0.1, momentum=0.9)
    assert momentum["state"] == {"momentum_buffer": momentum["params"]}


def test_exercise_split_in_proj_reproduces_the_module(snippet):
    ex = snippet("internals_pytorch", "exercises")
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(12, 3, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        x = torch.randn(2, 5, 12)
        q, k, v = ex.project_qkv(mha, x, x, x)
        ref = nn.functional._in_projection_packed(x, x, x, mha.in_proj_weight, mha.in_proj_bias)
        for a, b in zip((q, k, v), ref):
            torch.testing.assert_close(a, b)
        # and the whole attention, written from the three blocks, equals the module's output
        N, L, E, H = 2, 5, 12, 3
        heads = [t.reshape(N, L, H, E // H).transpose(1, 2) for t in (q, k, v)]
        out = nn.functional.scaled_dot_product_attention(*heads).transpose(1, 2).reshape(N, L, E)
        torch.testing.assert_close(mha.out_proj(out), mha(x, x, x, need_weights=False)[0], rtol=1e-5, atol=1e-6)


def test_exercise_adam_state_bytes_equals_measured(snippet):
    ex, m = snippet("internals_pytorch", "exercises"), snippet("internals_pytorch", "optimizer_state")
    torch.manual_seed(0)
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 256, batch_first=True), num_layers=2)
    measured = m.optimizer_state_bytes(torch.optim.Adam, lr=1e-3)
    assert ex.adam_state_bytes(model) == sum(measured["state"].values())


def test_figures_and_their_readings(snippet):
    assert len(snippet("internals_pytorch", "mha_storage").packing_figure().axes) >= 4
    assert len(snippet("internals_pytorch", "mha_init").init_figure(64, 4).axes) == 1
    w, bound = snippet("internals_pytorch", "mha_init").packed_init(64, 4)
    assert w.abs().max() <= bound and w.shape == (192, 64)
    times = snippet("internals_pytorch", "sdpa_backends").time_backends(N=1, H=2, L=32, D=8, rounds=1)
    assert "MATH" in times and all(t > 0 for t in times.values())
    m = snippet("internals_pytorch", "saved_tensors")
    d = m.encoder_layer_memory(2, 6, 8, 2, 16)
    _, kib = m.memory_figure(d, 2, 6, 8, 2)
    assert kib["no_grad"] == (0.0, 0.0) and kib["train"][1] > 0 and kib["eval"][1] == 0


def test_oplog_and_saved_tensors_have_one_home(snippet):
    assert snippet("internals_pytorch", "sdpa_backends").OpLog is not None
    assert "class OpLog" not in (SNIPPETS / "sdpa_backends.py").read_text()
    assert "def pack" not in (SNIPPETS.parent / "complexity" / "memory.py").read_text()  # it uses record_saved
