"""The claims of docs/internals-keras.md, checked by importing the page's snippet file (Keras on torch)."""

import math

import pytest


def test_keras_runs_on_torch_and_weight_shapes(snippet):
    m = snippet("internals_keras", "keras_mha")
    assert m.keras.backend.backend() == "torch"
    shapes = {path.split("/", 1)[1]: shape for path, shape in m.weight_table(m.keras_mha(12, 3))}
    assert shapes == {
        "query/kernel": (12, 3, 4), "query/bias": (3, 4),
        "key/kernel": (12, 3, 4), "key/bias": (3, 4),
        "value/kernel": (12, 3, 4), "value/bias": (3, 4),
        "attention_output/kernel": (3, 4, 12), "attention_output/bias": (12,),
    }


@pytest.mark.parametrize("E,H", [(8, 2), (12, 3), (16, 4)])
def test_ours_reproduces_keras_multi_head_attention(snippet, E, H):
    for name, diff in snippet("internals_keras", "keras_mha").compare(E, H).items():
        assert diff < 1e-5, name


def test_keras_initialises_each_projection_separately(snippet):
    b = snippet("internals_keras", "keras_mha").init_bounds(E=64, H=4)
    assert b["keras max |query kernel|"] <= b["keras bound sqrt(6/(E + E))"]
    assert b["keras max |query kernel|"] > b["torch bound sqrt(6/(E + 3E))"]
    assert b["keras bound sqrt(6/(E + E))"] == pytest.approx(math.sqrt(2) * b["torch bound sqrt(6/(E + 3E))"])
    assert b["keras biases all zero"]


def test_keras_mask_is_true_for_attend_torch_mask_is_true_for_blocked(snippet):
    d = snippet("internals_keras", "keras_mha").conventions()
    assert d["nn.MHA, mask inverted"] < 1e-5
    assert d["ours, mask inverted"] < 1e-5
    assert d["nn.MHA, Keras mask unchanged"] > 1e-1


def test_fully_masked_row_in_each_library(snippet):
    rows = {name: what for name, (what, _) in snippet("internals_keras", "keras_mha").fully_masked_row().items()}
    assert rows["keras, default call"].startswith("uniform")
    assert rows["keras, return_attention_scores"].startswith("output bias only")
    assert rows["nn.MHA, need_weights=True"] == "NaN"
    assert rows["ours"].startswith("output bias only")


def test_the_mask_has_exactly_one_empty_query_row_the_page_names(snippet):
    m = snippet("internals_keras", "keras_mha")
    *_, allowed = m.setup()
    empty = list(zip(*map(list, (~allowed.any(-1)).nonzero())))
    assert empty == [(1, 2)]  # "query q2 of sequence 1" on the page
    fig, _ = m.mask_figure()
    assert len(fig.axes) == 3


def test_weights_figure_numbers(snippet):
    import numpy as np

    keras_w, ours_w, allowed = snippet("internals_keras", "keras_mha").weights_side_by_side()
    assert np.abs(keras_w - ours_w).max() < 1e-5
    assert np.all(keras_w[1, :, 2] == 0)  # the empty row: zero weights in Keras' explicit path
    np.testing.assert_allclose(keras_w[0].sum(-1), 1.0, atol=1e-6)


def test_exercise_kernel_layout_matches_keras_to_ours(snippet):
    import numpy as np

    m, ex = snippet("internals_keras", "keras_mha"), snippet("internals_keras", "exercises")
    layer = m.keras_mha(12, 3)
    ours = m.keras_to_ours(layer)
    E = 12
    for i, dense in enumerate((layer.query_dense, layer.key_dense, layer.value_dense)):
        w = ex.torch_weight_from_kernel(m._np(dense.kernel))
        np.testing.assert_array_equal(w, ours.in_proj_weight.detach().numpy()[i * E:(i + 1) * E])


def test_exercise_keras_mask_from_key_padding_reproduces_keras(snippet):
    import numpy as np
    import torch

    m, ex = snippet("internals_keras", "keras_mha"), snippet("internals_keras", "exercises")
    layer = m.keras_mha(8, 2)
    ours = m.keras_to_ours(layer)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 8)).astype("float32")
    kv = rng.standard_normal((2, 6, 8)).astype("float32")
    pad = np.zeros((2, 6), dtype=bool)
    pad[0, 3:] = True
    k_out = m._np(layer(x, kv, attention_mask=ex.keras_mask_from_key_padding(pad, 4)))
    with torch.no_grad():
        t = torch.from_numpy
        o = ours(t(x), t(kv), t(kv), key_padding_mask=t(pad))[0].numpy()
    assert np.abs(k_out - o).max() < 1e-5
