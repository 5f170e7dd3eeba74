"""The module pattern: params/grads keyed like torch state_dicts, strict loading with errors
that list missing/unexpected/mis-sized keys, dtype conversion, train/eval, zero_grad, no torch
import, and the gradient checker itself."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn
import transformer_anatomy.torch as tt


def test_transformer_keys_equal_nn_transformer_and_load_strict():
    ref = torch.nn.Transformer(8, 2, 2, 1, 16, batch_first=True)
    ours = tn.Transformer(8, 2, 2, 1, 16, rng=0, batch_first=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for k, v in ours.state_dict().items():
        assert v.shape == tuple(ref.state_dict()[k].shape), k
    ours.load_state_dict(ref.state_dict(), strict=True)  # torch tensors are accepted
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy())
    assert set(ours.params) == set(ours.grads) == {k for k, _ in ref.named_parameters()}


def test_load_state_dict_lists_missing_unexpected_and_mis_sized():
    m = tn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    sd = m.state_dict()
    del sd["norm1.weight"]
    sd["extra.weight"] = np.zeros(3)
    sd["linear1.weight"] = np.zeros((5, 5))
    with pytest.raises(tn.StateDictError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys (in the model, not in the state_dict): ['norm1.weight']" in msg
    assert "unexpected keys (in the state_dict, not in the model): ['extra.weight']" in msg
    assert "linear1.weight: model (16, 8) vs state_dict (5, 5)" in msg
    sd["linear1.weight"] = np.zeros((16, 8))
    m.load_state_dict(sd, strict=False)  # missing/unexpected tolerated when not strict
    np.testing.assert_array_equal(m.linear1.weight, 0.0)
    sd["linear1.weight"] = np.zeros((5, 5))
    with pytest.raises(tn.StateDictError, match="mis-sized"):
        m.load_state_dict(sd, strict=False)  # a wrong shape is always an error


def test_state_dict_is_a_copy_and_load_keeps_arrays():
    m = tn.Linear(3, 2)
    w = m.weight
    sd = m.state_dict()
    sd["weight"][...] = 7
    assert not np.any(m.weight == 7)
    m.load_state_dict(sd)
    assert m.weight is w and np.all(m.weight == 7)  # copied in place: optimizers keep working


def test_to_dtype_train_eval_zero_grad(rng):
    m = tn.Transformer(8, 2, 1, 1, 16, dropout=0.1, rng=0, batch_first=True)
    assert m.dtype == np.float32 and all(p.dtype == np.float32 for p in m.params.values())
    m.to(np.float64)
    assert all(p.dtype == np.float64 for p in m.params.values())
    assert all(g.dtype == np.float64 for g in m.grads.values())
    m.eval()
    assert all(not sub.training for _, sub in m.named_modules())
    m.train()
    assert all(sub.training for _, sub in m.named_modules())
    src, tgt = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 3, 8))
    out = m.forward(src, tgt)
    assert out.dtype == np.float64
    m.backward(np.ones_like(out))
    assert any(np.any(g != 0) for g in m.grads.values())
    m.zero_grad()
    assert all(np.all(g == 0) for g in m.grads.values())
    with pytest.raises(ValueError, match="float32 or float64"):
        m.to(np.int32)


def test_backward_overwrites_gradients(rng):
    lin = tn.Linear(3, 2, dtype=np.float64, rng=0)
    x = rng.standard_normal((4, 3))
    for _ in range(2):
        lin.forward(x)
        lin.backward(np.ones((4, 2)))
    np.testing.assert_allclose(lin.grads["weight"], np.ones((2, 4)) @ x)  # once, not twice


def test_encoder_clones_are_independent_but_share_rng():
    layer = tn.TransformerEncoderLayer(8, 2, 16, rng=0, batch_first=True)
    enc = tn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0], enc.layers[1]
    assert a.linear1.weight is not b.linear1.weight
    np.testing.assert_array_equal(a.linear1.weight, b.linear1.weight)  # deep copies, as torch
    assert a.dropout.rng is b.dropout.rng is layer.dropout.rng  # one generator: different masks


def test_numpy_package_does_not_import_torch():
    code = "import sys, transformer_anatomy.numpy as tn; tn.Transformer(8, 2, 1, 1, 16); " \
           "sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_gradient_check_catches_a_wrong_backward(rng, gradcheck):
    """The checker is not vacuous: a LayerNorm backward missing one term fails it."""
    ln = tn.LayerNorm(5, dtype=np.float64)
    x = rng.standard_normal((3, 5))
    out = ln.forward(x)
    G = rng.standard_normal(out.shape)
    good = ln.backward(G)
    wrong = ln._cached().rstd * (G - G.mean(-1, keepdims=True))  # forgets the x̂ · mean(dx̂ · x̂) term
    loss = lambda: float(np.sum(ln.forward(x) * G))  # noqa: E731
    gradcheck.fd(loss, x, good, rng)
    with pytest.raises(AssertionError, match="max relative error"):
        gradcheck.fd(loss, x, wrong, rng)
    with pytest.raises(AssertionError, match="numerical gradient is zero"):
        gradcheck.fd(lambda: 0.0, x, np.zeros_like(x), rng)


def test_from_torch_rejects_unknown_modules_and_options():
    with pytest.raises(TypeError, match="Conv1d"):
        tn.from_torch(torch.nn.Conv1d(2, 2, 1))
    with pytest.raises(ValueError, match="add_zero_attn"):
        tn.from_torch(torch.nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with pytest.raises(ValueError, match="bias_k"):
        tn.from_torch(torch.nn.MultiheadAttention(8, 2, add_bias_kv=True))
    layer = torch.nn.TransformerEncoderLayer(8, 2, 16, activation=torch.tanh)
    with pytest.raises(ValueError, match="activation"):
        tn.from_torch(layer)


def test_from_torch_our_torch_transformer_and_gelu_tanh(rng):
    import transformer_anatomy.torch as tt

    torch.manual_seed(0)
    ref = tt.Transformer(8, 2, 1, 2, 16, 0.0, torch.nn.GELU(approximate="tanh"), batch_first=True).double().eval()
    ours = tn.from_torch(ref)
    assert isinstance(ours, tn.Transformer) and len(ours.decoder.layers) == 2
    assert ours.encoder.layers[0].activation.approximate == "tanh"
    src, tgt = rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 3, 8))
    mask = tn.generate_square_subsequent_mask(3, bool)
    want = ref(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(mask)).detach().numpy()
    np.testing.assert_allclose(ours.forward(src, tgt, tgt_mask=mask), want, rtol=1e-10, atol=1e-10)


def test_every_public_name_documents_shapes():
    """STYLE.md: every public function and class has a ``Shape:`` section; classes with a
    backward pass state the gradient shapes."""
    import inspect

    missing = []
    for name in tn.__all__:
        obj = getattr(tn, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if inspect.isclass(obj) and issubclass(obj, Exception):
            continue
        doc = inspect.getdoc(obj) or ""
        if "Shape:" not in doc:
            missing.append(name)
        if inspect.isclass(obj) and "backward" in vars(obj) and obj is not tn.Module:
            if "backward" not in doc and "Shape:" not in (inspect.getdoc(obj.backward) or ""):
                missing.append(f"{name}.backward")
    assert not missing, f"no Shape: section in {missing}"


def test_snippet_sections_are_balanced_and_unique():
    import pathlib
    import re

    root = pathlib.Path(tn.__file__).parent
    for path in root.glob("*.py"):
        marks = re.findall(r"# --8<-- \[(start|end):([a-z][-_0-9a-z]*)\]", path.read_text())
        starts = [n for k, n in marks if k == "start"]
        ends = [n for k, n in marks if k == "end"]
        assert len(starts) == len(set(starts)), path
        assert sorted(starts) == sorted(ends), path


@pytest.mark.parametrize("which", ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer"])
def test_from_torch_our_torch_layers(which, rng):
    import transformer_anatomy.torch as tt

    torch.manual_seed(1)
    if which == "MultiheadAttention":
        ref = tt.MultiheadAttention(8, 2, batch_first=True).double().eval()
    else:
        ref = getattr(tt, which)(8, 2, 16, 0.0, "gelu", batch_first=True, norm_first=True).double().eval()
    ours = tn.from_torch(ref)
    assert type(ours).__name__ == which and list(ours.state_dict()) == list(ref.state_dict())
    x = rng.standard_normal((2, 4, 8))
    xt = torch.tensor(x)
    if which == "MultiheadAttention":
        want, got = ref(xt, xt, xt)[0], ours.forward(x, x, x)[0]
    elif which == "TransformerEncoderLayer":
        want, got = ref(xt), ours.forward(x)
    else:
        mem = rng.standard_normal((2, 3, 8))
        want, got = ref(xt, torch.tensor(mem)), ours.forward(x, mem)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-10)


def test_num_parameters_counts_a_tied_array_once():
    ours = tn.Seq2SeqTransformer(7, 9, d_model=8, nhead=2, dim_feedforward=12, tie_weights=True, rng=0)
    ref = tt.Seq2SeqTransformer(7, 9, d_model=8, nhead=2, dim_feedforward=12, tie_weights=True)
    assert ours.num_parameters() == sum(p.numel() for p in ref.parameters())
    assert ours.num_parameters() == sum(v.size for v in ours.state_dict().values()) - 9 * 8


def test_eval_mode_restores_every_submodule_mode():
    m = tn.Transformer(8, 2, 1, 1, 16, rng=0)
    m.decoder.eval()
    with tn.module.eval_mode(m):
        assert not any(sub.training for _, sub in m.named_modules())
    assert m.training and m.encoder.training and not m.decoder.training
    with pytest.raises(ZeroDivisionError), tn.module.eval_mode(m):
        1 / 0
    assert m.training and not m.decoder.training


@pytest.mark.parametrize("make,args", [
    (lambda: tn.Linear(4, 3), (np.ones((2, 3)),)),
    (lambda: tn.LayerNorm(4), (np.ones((2, 4)),)),
    (lambda: tn.ReLU(), (np.ones(3),)),
    (lambda: tn.GELU(), (np.ones(3),)),
    (lambda: tn.Embedding(5, 4), (np.ones((1, 2, 4)),)),
    (lambda: tn.LearnedPositionalEmbedding(8, 4), (np.ones((1, 2, 4)),)),
    (lambda: tn.MultiheadAttention(4, 2), (np.ones((2, 1, 4)),)),
    (lambda: tn.TransformerEncoderLayer(4, 2, 8), (np.ones((2, 1, 4)),)),
    (lambda: tn.TransformerDecoderLayer(4, 2, 8), (np.ones((2, 1, 4)),)),
    (lambda: tn.TransformerClassifier(7, 3, d_model=4, nhead=2), (np.ones((1, 3)),)),
    (lambda: tn.TransformerTagger(7, 3, d_model=4, nhead=2), (np.ones((1, 2, 3)),)),
    (lambda: tn.TransformerQA(7, d_model=4, nhead=2), (np.ones((1, 2)), np.ones((1, 2)))),
], ids=["linear", "layernorm", "relu", "gelu", "embedding", "learned-positions", "mha", "encoder-layer",
        "decoder-layer", "classifier", "tagger", "qa"])
def test_backward_before_forward_names_the_module(make, args):
    """Every module keeps its forward state in one cache; without a forward, backward says so."""
    m = make()
    with pytest.raises(tn.module.BackwardError, match=rf"{type(m).__name__}\.backward called before forward"):
        m.backward(*args)


def test_backward_uses_the_latest_forward():
    """A second forward replaces the cache (decoding and finite differences call forward many
    times): backward differentiates the last forward, not the first."""
    lin = tn.Linear(3, 2, dtype=np.float64, rng=0)
    lin.forward(np.ones((1, 3)))
    lin.forward(np.full((1, 3), 2.0))
    lin.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(lin.grads["weight"], np.full((2, 3), 2.0))
