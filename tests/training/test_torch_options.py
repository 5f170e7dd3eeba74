"""The PyTorch-only step options: gradient checkpointing and a pinned SDPA kernel change how a
step is computed, not what it computes; the NumPy trainer refuses them by name."""

from __future__ import annotations

import pytest
import torch

from transformer_anatomy.torch import Seq2SeqTransformer, TransformerQA
from transformer_anatomy.training import NumpyTrainer, TorchTrainer, TrainConfig, enable_gradient_checkpointing

from .conftest import TINY, numpy_seq2seq


def _run(data, before_fit=None, **options):
    torch.manual_seed(0)
    V = len(data.src_vocab)
    model = Seq2SeqTransformer(V, V, dropout=0.1, **TINY)  # dropout on: recomputation must replay the masks
    cfg = TrainConfig(kind="seq2seq", max_steps=4, batch_size=16, lr=3e-3, schedule="constant", warmup=0,
                      eval_every=2, log_every=1, **options)
    trainer = TorchTrainer(model, data, cfg)
    if before_fit is not None:
        before_fit(trainer)
    trainer.fit()
    return trainer


@pytest.mark.parametrize("options", [dict(optimizer="adam"), dict(optimizer="adamw", weight_decay=0.1)])
def test_the_multi_tensor_optimizer_step_is_the_loop_s_arithmetic(tiny_reversal, options):
    """The trainer builds Adam/AdamW with foreach=True (one multi-tensor update; torch's CPU default
    is a Python loop over the parameters): the same numbers, bit for bit, as the loop gives."""
    def loop(trainer):
        for group in trainer.optimizer.param_groups:
            group["foreach"] = False

    multi = _run(tiny_reversal, **options)
    assert all(g["foreach"] is True for g in multi.optimizer.param_groups)
    single = _run(tiny_reversal, before_fit=loop, **options)
    assert [h["loss"] for h in multi.history["train"]] == [h["loss"] for h in single.history["train"]]
    for (name, a), b in zip(multi.model.state_dict().items(), single.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_gradient_checkpointing_gives_the_same_training(tiny_reversal):
    plain = _run(tiny_reversal)
    ckpt = _run(tiny_reversal, grad_checkpointing=True)
    # the same operations replayed in the same order: bit-identical on CPU
    assert [h["loss"] for h in ckpt.history["train"]] == [h["loss"] for h in plain.history["train"]]
    for (name, a), b in zip(plain.model.state_dict().items(), ckpt.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert plain.history["train"][-1]["loss"] < plain.history["train"][0]["loss"]


def test_checkpointed_layers_really_recompute(tiny_reversal):
    torch.manual_seed(0)
    model = enable_gradient_checkpointing(TransformerQA(20, d_model=16, nhead=2, num_layers=2, dim_feedforward=32))
    calls = []
    layer = model.encoder.layers[0]
    layer.self_attn.register_forward_hook(lambda *a: calls.append(1))
    start, end = model(torch.randint(1, 20, (2, 5)))
    assert len(calls) == 1
    (start.sum() + end.sum()).backward()
    assert len(calls) == 2  # the backward pass ran the layer's forward again
    with torch.no_grad():
        model(torch.randint(1, 20, (2, 5)))
    assert len(calls) == 3  # no recomputation machinery outside autograd
    enable_gradient_checkpointing(model)  # idempotent: wrapping twice would recompute twice
    model(torch.randint(1, 20, (2, 5))).__getitem__(0).sum().backward()
    assert len(calls) == 5


def test_math_sdpa_kernel_matches_the_default(tiny_reversal):
    auto = _run(tiny_reversal)
    math_ = _run(tiny_reversal, sdpa_backend="math")
    assert math_.config.sdpa_backend == "math"
    assert [h["loss"] for h in math_.history["train"]] == pytest.approx(
        [h["loss"] for h in auto.history["train"]], rel=1e-5)


@pytest.mark.parametrize("field,value", [("compile", True), ("sdpa_backend", "flash"), ("grad_checkpointing", True)])
def test_numpy_trainer_refuses_torch_options(tiny_reversal, field, value):
    cfg = TrainConfig(kind="seq2seq", max_steps=1, batch_size=8, **{field: value})
    with pytest.raises(ValueError, match=rf"TrainConfig.{field}={value!r} is a PyTorch option"):
        NumpyTrainer(numpy_seq2seq(tiny_reversal), tiny_reversal, cfg)


def test_bad_sdpa_backend_is_named():
    with pytest.raises(ValueError, match=r"invalid TrainConfig.sdpa_backend: 'fast'"):
        TrainConfig(sdpa_backend="fast")


def test_checkpointing_needs_layers():
    with pytest.raises(ValueError, match="Linear has no encoder/decoder layers to checkpoint"):
        enable_gradient_checkpointing(torch.nn.Linear(2, 2))


def test_options_are_recorded_and_resumable(tmp_path, tiny_reversal):
    """A checkpoint made with one way of computing resumes under another (only the maths must match)."""
    t = _run(tiny_reversal, grad_checkpointing=True)
    path = t.save_checkpoint(tmp_path / "c.pt")
    torch.manual_seed(1)  # different weights from t's, so only loading can make them equal
    V = len(tiny_reversal.src_vocab)
    fresh = TorchTrainer(Seq2SeqTransformer(V, V, dropout=0.1, **TINY), tiny_reversal,
                         t.config.replace(grad_checkpointing=False))
    fresh.load_checkpoint(path)
    assert fresh.step == 4 and fresh.history == t.history
    for (name, a), b in zip(t.model.state_dict().items(), fresh.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.load(path, weights_only=True)["config"]["grad_checkpointing"] is True
