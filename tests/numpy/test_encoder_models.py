"""The encoder-only models (``numpy/encoder_models.py``): keys and outputs vs the PyTorch
versions (``transformer_anatomy.torch``), gradients vs torch.autograd and finite differences
(every parameter tensor)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn
import transformer_anatomy.torch as tt

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)  # NumPy float64 vs torch float64 (TESTING.md)
PAD = 0
SMALL = dict(d_model=8, nhead=2, dim_feedforward=12)


def padded_ids(rng, N: int, L: int, V: int, pad_tail: int) -> np.ndarray:
    """Random ids in ``[1, V)`` with the last ``pad_tail`` positions of the first row padded."""
    x = rng.integers(1, V, size=(N, L))
    x[0, L - pad_tail:] = PAD
    return x




# -- encoder-only models -------------------------------------------------------------------
def torch_encoder_model(kind, **kw):
    torch.manual_seed(5)
    cfg = dict(SMALL, num_layers=2, dropout=0.0, pad_id=PAD)
    cfg.update(kw)
    cls = {"classifier": tt.TransformerClassifier, "tagger": tt.TransformerTagger, "qa": tt.TransformerQA}[kind]
    args = (11,) if kind == "qa" else (11, 3)
    return cls(*args, **cfg).double()


def _encoder_loss_torch(kind, out, y):
    if kind == "qa":
        start, end = out
        return (start * y[0]).sum() + (end * y[1]).sum()
    return (out * y).sum()


@pytest.mark.parametrize("kind", ["classifier", "tagger", "qa"])
@pytest.mark.parametrize("kw", [dict(), dict(positional="learned", norm_first=True, activation="gelu")],
                         ids=["default", "learned_prenorm_gelu"])
def test_encoder_models_match_torch(kind, kw, rng):
    ref = torch_encoder_model(kind, **kw).train()
    ours = tn.from_torch(ref)
    assert type(ours).__name__ == type(ref).__name__
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = padded_ids(rng, 3, 6, 11, pad_tail=2)
    out_t = ref(torch.tensor(x))
    out = ours.forward(x)
    if kind == "qa":
        for a, b in zip(out, out_t):
            np.testing.assert_allclose(a, b.detach().numpy(), **TORCH_TOL)
        assert np.all(out[0][0, -2:] == tn.QA_PAD_LOGIT) and tn.QA_PAD_LOGIT == tt.QA_PAD_LOGIT
        G = (rng.standard_normal(out[0].shape), rng.standard_normal(out[1].shape))
        ours.backward(*G)
    else:
        np.testing.assert_allclose(out, out_t.detach().numpy(), **TORCH_TOL)
        G = rng.standard_normal(out.shape)
        ours.backward(G)
    _encoder_loss_torch(kind, out_t, tuple(torch.tensor(g) for g in G) if kind == "qa" else torch.tensor(G)).backward()
    for k, p in ref.named_parameters():
        np.testing.assert_allclose(ours.grads[k], p.grad.numpy(), **TORCH_TOL, err_msg=k)


@pytest.mark.parametrize("kind", ["classifier", "tagger", "qa"])
def test_encoder_models_fd_every_parameter(kind, rng, gradcheck):
    cls = {"classifier": tn.TransformerClassifier, "tagger": tn.TransformerTagger, "qa": tn.TransformerQA}[kind]
    args = (6,) if kind == "qa" else (6, 3)
    m = cls(*args, d_model=4, nhead=2, num_layers=1, dim_feedforward=6, dropout=0.0, dtype=np.float64, rng=0)
    x = padded_ids(rng, 2, 4, 6, pad_tail=1)
    out = m.forward(x)
    if kind == "qa":
        # pad logits are the constant -1e4: weighting them would add ~1e4 to the loss and
        # 1e-16 * 1e4 / h = 1e-6 of rounding noise to every difference quotient
        keep = x != PAD
        G = (rng.standard_normal(out[0].shape) * keep, rng.standard_normal(out[1].shape) * keep)

        def loss() -> float:
            s, e = m.forward(x)
            return float(np.sum(s * G[0]) + np.sum(e * G[1]))

        m.backward(*G)
    else:
        G = rng.standard_normal(out.shape)

        def loss() -> float:
            return float(np.sum(m.forward(x) * G))

        m.backward(G)
    grads = {k: g.copy() for k, g in m.grads.items()}
    for name, p in m.params.items():
        gradcheck.fd(loss, p, grads[name], rng, max_entries=8, name=name, allow_zero=name == "tok_emb.weight")


def test_classifier_all_pad_row_pools_to_zero():
    m = tn.TransformerClassifier(6, 3, **SMALL, dropout=0.0, dtype=np.float64, rng=0).eval()
    out = m.forward(np.array([[0, 0, 0], [1, 2, 0]]))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], m.classifier.bias)  # mean over nothing = 0 -> bias
