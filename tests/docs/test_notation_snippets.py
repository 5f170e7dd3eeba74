"""The notation page's snippets: traced shapes equal their formulas, head slices are the module's."""

import pytest
import torch
import torch.nn.functional as F

@pytest.fixture(scope="module")
def trace_shapes(snippet):
    return snippet("notation", "trace_shapes")


@pytest.mark.parametrize("config", ["small", "base"])
def test_traced_shapes_equal_the_formulas(trace_shapes, config):
    rows, checks, values = trace_shapes.trace_config(config)
    assert [r[0] for r in rows] == [w for w, _ in trace_shapes.EXPECTED]
    for what, traced, formula, expected in rows:
        assert traced == expected, (what, traced, formula, expected)
    # The re-computed attention (scores -> weights -> heads -> concat -> out_proj) is the module's.
    assert set(checks) == {"enc self-attn", "dec self-attn", "cross-attn"}
    assert max(checks.values()) < 1e-5
    if config == "base":
        assert (values["E"], values["H"], values["F"], values["E/H"]) == (512, 8, 2048, 64)


def test_the_trace_reads_shapes_from_tensors(trace_shapes):
    # Sizes the snippet never mentions: the traced shapes must follow them.
    torch.manual_seed(1)
    model = trace_shapes.Seq2SeqTransformer(11, 29, d_model=24, nhead=3, num_encoder_layers=1,
                                            num_decoder_layers=3, dim_feedforward=40)
    src, tgt = trace_shapes.make_batch(model, 3, 4, 6)
    records, checks, logits = trace_shapes.trace(model, src, tgt)
    values = trace_shapes.letters(model, 3, 4, 6)
    assert values == {"N": 3, "S": 4, "T": 6, "E": 24, "H": 3, "E/H": 8, "F": 40, "V": 29, "1": 1}
    traced = dict(records)
    for what, formula in trace_shapes.EXPECTED:
        assert traced[what] == trace_shapes.expected_shape(formula, values), what
    assert tuple(logits.shape) == (3, 6, 29)
    # The tracer leaves the model as it found it: no hooks, no wrapped methods.
    for m in model.modules():
        assert not m._forward_hooks
        assert "attend" not in vars(m)
    with torch.no_grad():
        assert torch.equal(model(src, tgt), logits)


def test_head_weights_are_slices_of_in_proj_weight(snippet):
    hw = snippet("notation", "head_weights")
    slices, mha, diff = hw.check_heads(E=4, H=2)
    assert [tuple(W.shape) for W in slices["W_q"]] == [(4, 2), (4, 2)]
    assert [tuple(W.shape) for W in slices["W_o"]] == [(2, 4), (2, 4)]
    assert diff < 1e-6
    assert sum(p.numel() for p in mha.parameters()) == 4 * 4 * 4 + 4 * 4
    big = hw.MultiheadAttention(512, 8)
    assert tuple(hw.head_slices(big)["W_q"][0].shape) == (512, 64)


def test_mask_conventions_found_by_running(snippet):
    # the page runs the probe from its one home, the attention page's conventions.py
    home = snippet("attention", "conventions")
    found = home.float_probe()
    assert found.pop("F.scaled_dot_product_attention(attn_mask=)") == "attend"
    assert {"nn.MultiheadAttention(attn_mask=)", "nn.MultiheadAttention(key_padding_mask=)",
            "transformer_anatomy.torch.MultiheadAttention(attn_mask=)",
            "transformer_anatomy.torch.MultiheadAttention(key_padding_mask=)"} <= set(found)
    assert set(found.values()) == {"blocked"} and len(found) == 6


def test_notation_map_base_sizes_are_torch_defaults(snippet):
    sizes = snippet("notation", "notation_map").base_sizes()
    assert sizes == {"d_model": 512, "nhead": 8, "num_encoder_layers": 6, "num_decoder_layers": 6,
                     "dim_feedforward": 2048, "head": 64}


def test_shape_flow_rows_are_traced_rows(trace_shapes):
    fig, rows = trace_shapes.shape_flow_figure("small")
    names = [r[0] for r in rows]
    assert all(what in names for what in trace_shapes.FLOW)
    assert set(trace_shapes.LETTER_COLORS) >= {p.strip() for _, f in trace_shapes.EXPECTED for p in f.split(",")}


def test_head_split_figure_blocks_are_the_slices(snippet):
    hw = snippet("notation", "head_weights")
    _, mha = hw.split_figure()
    E, D = mha.embed_dim, mha.head_dim
    W_q = mha.in_proj_weight.detach()[:E].T  # the right panel: the paper's W^Q
    for h, W in enumerate(hw.head_slices(mha)["W_q"]):
        assert torch.equal(W_q[:, h * D:(h + 1) * D], W)


def test_example_masks_are_one_mask_three_spellings(snippet):
    m = snippet("notation", "mask_conventions").example_masks()
    combined = m["combined, seq. 1 (T, S)"]
    assert torch.equal(m["SDPA: ~combined"], ~combined)
    assert torch.equal(torch.isinf(m["float: added to scores"]), combined)
    # the spellings give the same attention in the APIs that expect them
    torch.manual_seed(0)
    q = k = v = torch.randn(1, 2, 4, 3)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=m["SDPA: ~combined"])
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=m["float: added to scores"])
    assert torch.allclose(a, b, atol=1e-6)
    mha = torch.nn.MultiheadAttention(6, 2, batch_first=True)
    x = torch.randn(1, 4, 6)
    with torch.no_grad():
        out_bool = mha(x, x, x, attn_mask=combined)[0]
        out_float = mha(x, x, x, attn_mask=m["float: added to scores"])[0]
    assert torch.allclose(out_bool, out_float, atol=1e-6)


def test_exercise_split_and_merge_heads(snippet):
    ex = snippet("notation", "exercises")
    torch.manual_seed(0)
    for E, H in ((8, 2), (12, 3), (16, 4)):
        mha = snippet("notation", "head_weights").MultiheadAttention(E, H, batch_first=True)
        x = torch.randn(2, 5, E)
        with torch.no_grad():
            q = x @ mha.in_proj_weight[:E].T + mha.in_proj_bias[:E]
            assert torch.allclose(ex.split_heads(q, H), mha.project_q(x), atol=1e-6)
        assert torch.equal(ex.merge_heads(ex.split_heads(x, H)), x)
    # against torch's own layout: nn.MultiheadAttention's per-head view is the same reshape
    t = torch.arange(2 * 3 * 8.0).reshape(2, 3, 8)
    assert torch.equal(ex.split_heads(t, 2)[0, 1, 0], t[0, 0, 4:])


def test_exercise_mask_conversions(snippet):
    ex = snippet("notation", "exercises")
    torch.manual_seed(0)
    blocked = torch.ones(5, 5, dtype=torch.bool).triu(1)
    blocked[:, 0] = False
    q, k, v = torch.randn(3, 2, 2, 5, 4).unbind(0)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=ex.to_sdpa_mask(blocked))
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=ex.to_float_mask(blocked))
    c = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        assert torch.allclose(mha(x, x, x, attn_mask=blocked)[0], mha(x, x, x, attn_mask=ex.to_float_mask(blocked))[0],
                              atol=1e-6)


@pytest.mark.parametrize("E,H", [(4, 2), (512, 8), (512, 16), (96, 3)])
def test_exercise_param_count_is_torchs(snippet, E, H):
    ex = snippet("notation", "exercises")
    assert ex.mha_param_count(E, H) == sum(p.numel() for p in torch.nn.MultiheadAttention(E, H).parameters())
    assert ex.mha_param_count(E, H) == snippet("complexity", "params").attention_params(E)  # the reader's formula is the home's


def test_head_weights_report_prints_the_home_formula(snippet, capsys):
    snippet("notation", "head_weights").report(snippet("complexity", "params").attention_params)
    out = capsys.readouterr().out
    assert "parameters: 4E² + 4E = 80; sum(numel) = 80" in out  # E = 4


def test_notation_figures_and_notices_run(snippet, capsys, trace_shapes):
    snippet("notation", "mask_conventions").report_mask_figure()
    snippet("notation", "mask_conventions").notice_masks()
    snippet("notation", "head_weights").report_split_figure()
    snippet("notation", "head_weights").notice_heads()
    trace_shapes.report_shape_flow("small")
    trace_shapes.notice_shape_flow("small")
    out = capsys.readouterr().out
    assert out.count('<figure class="ta-figure">') == 3
    assert "max difference" in out
