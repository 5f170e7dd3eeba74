"""LSTMSeq2Seq and LSTMClassifier: shapes, the trainer's interface, padding, causality, bad inputs,
a tiny batch overfitted (docs/rnn-vs-transformer.md)."""

import doctest

import pytest
import torch
import torch.nn.functional as F

from transformer_anatomy.errors import StateDictError, TokenIdError
from transformer_anatomy.tasks import EOS_ID, PAD_ID, SOS_ID, make_task
from transformer_anatomy.torch import recurrent
from transformer_anatomy.torch.recurrent import LSTMClassifier, LSTMSeq2Seq, right_padded_lengths
from transformer_anatomy.training import TorchTrainer, TrainConfig

V_SRC, V_TGT = 11, 13


def src_batch():
    return torch.tensor([[5, 6, 7, 8], [9, 4, 0, 0], [4, 0, 0, 0]])  # right-padded, 0 = <pad>


def tgt_batch():
    return torch.tensor([[1, 8, 7, 6, 5], [1, 4, 9, 0, 0], [1, 4, 0, 0, 0]])


def seq2seq(**kw):
    torch.manual_seed(0)
    return LSTMSeq2Seq(V_SRC, V_TGT, d_model=16, **kw).eval()


def classifier(**kw):
    torch.manual_seed(0)
    return LSTMClassifier(V_SRC, 3, d_model=16, **kw).eval()


def test_doctests_pass():
    assert doctest.testmod(recurrent).failed == 0


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_seq2seq_shapes(attention, num_layers):
    m = seq2seq(attention=attention, num_layers=num_layers)
    logits = m(src_batch(), tgt_batch())
    assert logits.shape == (3, 5, V_TGT)
    memory, (h, c) = m.encode(src_batch())
    assert memory.shape == (3, 4, 16) and h.shape == c.shape == (num_layers, 3, 16)


@pytest.mark.parametrize("pooling", ["mean", "last"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_shapes(pooling, bidirectional):
    m = classifier(pooling=pooling, bidirectional=bidirectional)
    assert m(src_batch()).shape == (3, 3)
    assert m.classifier.in_features == 16 * (2 if bidirectional else 1)


def test_padding_changes_nothing():
    """Appending pads to the source (and to the classifier's input) leaves every output unchanged."""
    src, tgt = src_batch(), tgt_batch()
    longer = torch.cat([src, torch.zeros(3, 3, dtype=torch.long)], dim=1)
    m = seq2seq()
    torch.testing.assert_close(m(longer, tgt), m(src, tgt), rtol=1e-5, atol=1e-6)
    for pooling in ("mean", "last"):
        c = classifier(pooling=pooling, bidirectional=True)
        torch.testing.assert_close(c(longer), c(src), rtol=1e-5, atol=1e-6)


def test_padding_equals_running_each_row_alone():
    m, c = seq2seq(), classifier(pooling="last")
    src, tgt = src_batch(), tgt_batch()
    batch, labels = m(src, tgt), c(src)
    for i, n in enumerate((4, 2, 1)):
        torch.testing.assert_close(m(src[i : i + 1, :n], tgt[i : i + 1]), batch[i : i + 1], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(c(src[i : i + 1, :n]), labels[i : i + 1], rtol=1e-5, atol=1e-6)


def test_decoder_is_causal():
    """Changing target tokens after position t leaves the logits at positions <= t unchanged."""
    m = seq2seq()
    tgt = tgt_batch()
    changed = tgt.clone()
    changed[:, 3:] = 10
    a, b = m(src_batch(), tgt), m(src_batch(), changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_greedy_decode_follows_teacher_forcing_and_pads_after_eos():
    m = seq2seq()
    ids = m.greedy_decode(src_batch(), max_len=7, sos_id=SOS_ID, eos_id=EOS_ID)
    assert ids.shape[0] == 3 and ids.shape[1] <= 7 and bool((ids[:, 0] == SOS_ID).all())
    logits = m(src_batch(), ids[:, :-1])  # each decoded token is the argmax given the ones before
    for i in range(3):
        row = ids[i].tolist()
        end = row.index(EOS_ID) if EOS_ID in row else len(row) - 1
        assert logits[i, :end].argmax(-1).tolist() == row[1 : end + 1]
        assert all(t == PAD_ID for t in row[end + 1 :])


def test_greedy_decode_runs_in_eval_mode_and_restores_the_mode():
    m = LSTMSeq2Seq(V_SRC, V_TGT, d_model=16, dropout=0.5).train()
    a = m.greedy_decode(src_batch(), 7, SOS_ID, EOS_ID)
    assert m.training and m.dropout.training
    assert torch.equal(a, m.greedy_decode(src_batch(), 7, SOS_ID, EOS_ID))  # no dropout: deterministic
    assert torch.equal(a, m.eval().greedy_decode(src_batch(), 7, SOS_ID, EOS_ID))


def test_num_parameters_counts_every_weight():
    m = seq2seq()
    assert m.num_parameters() == sum(p.numel() for p in m.parameters())


def test_greedy_decode_stops_at_eos_and_handles_an_empty_batch():
    m = seq2seq()
    with torch.no_grad():
        m.generator.bias.fill_(0.0)
        m.generator.bias[EOS_ID] = 1e4  # every step predicts <eos>
    ids = m.greedy_decode(src_batch(), max_len=7, sos_id=SOS_ID, eos_id=EOS_ID)
    assert ids.tolist() == [[SOS_ID, EOS_ID]] * 3
    assert m.greedy_decode(torch.zeros(0, 4, dtype=torch.long), 5, SOS_ID, EOS_ID).shape == (0, 1)


def test_all_pad_row_pools_to_zeros_and_stays_finite():
    ids = torch.tensor([[0, 0, 0], [4, 5, 0]])
    for pooling in ("mean", "last"):
        c = classifier(pooling=pooling)
        out = c(ids)
        torch.testing.assert_close(out[0], c.classifier.bias)  # zero vector -> the bias
    m = seq2seq()
    logits = m(ids, torch.tensor([[1, 4], [1, 5]]))
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_empty_batch_and_zero_length():
    c = classifier()
    assert c(torch.zeros(0, 4, dtype=torch.long)).shape == (0, 3)
    assert c(torch.zeros(2, 0, dtype=torch.long)).shape == (2, 3)


def test_state_dict_round_trip_and_strict_errors():
    a, b = seq2seq(), LSTMSeq2Seq(V_SRC, V_TGT, d_model=16)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.eval()(src_batch(), tgt_batch()), a(src_batch(), tgt_batch()))
    state = a.state_dict()
    state["extra.weight"] = state.pop("generator.weight")
    with pytest.raises(StateDictError, match="generator.weight"):
        b.load_state_dict(state)
    assert "combine.weight" not in seq2seq(attention=False).state_dict()


@pytest.mark.parametrize("make, kwargs, error, match", [
    (LSTMSeq2Seq, dict(src_vocab_size=0, tgt_vocab_size=5), ValueError, "src_vocab_size=0"),
    (LSTMSeq2Seq, dict(src_vocab_size=5, tgt_vocab_size=5, d_model=16.0), TypeError, "d_model=16.0"),
    (LSTMSeq2Seq, dict(src_vocab_size=5, tgt_vocab_size=5, num_layers=0), ValueError, "num_layers=0"),
    (LSTMSeq2Seq, dict(src_vocab_size=5, tgt_vocab_size=5, dropout=1.5), ValueError, "dropout=1.5"),
    (LSTMSeq2Seq, dict(src_vocab_size=5, tgt_vocab_size=5, attention="yes"), TypeError, "attention='yes'"),
    (LSTMSeq2Seq, dict(src_vocab_size=5, tgt_vocab_size=9, pad_id=7), ValueError, "pad_id=7"),
    (LSTMClassifier, dict(vocab_size=5, num_classes=0), ValueError, "num_classes=0"),
    (LSTMClassifier, dict(vocab_size=5, num_classes=2, pooling="max"), ValueError, "pooling='max'"),
    (LSTMClassifier, dict(vocab_size=5, num_classes=2, bidirectional=1), TypeError, "bidirectional=1"),
])
def test_bad_config_is_refused_naming_the_argument(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        make(**kwargs)


def test_bad_inputs_are_refused():
    m, c = seq2seq(), classifier()
    with pytest.raises(TokenIdError, match="src_ids: token id 11 is out of range for vocabulary size 11"):
        m(torch.tensor([[11, 2]]), tgt_batch()[:1])
    with pytest.raises(TokenIdError, match="tgt_ids: token id 13"):
        m(src_batch(), torch.full((3, 2), 13))
    with pytest.raises(TypeError, match="integer tensor"):
        c(torch.ones(2, 3))
    with pytest.raises(ValueError, match="shape \\(N, L\\)"):
        c(torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match="right padding"):
        c(torch.tensor([[0, 4, 5]]))
    with pytest.raises(ValueError, match="max_len"):
        m.greedy_decode(src_batch(), 0, SOS_ID, EOS_ID)
    with pytest.raises(ValueError, match="eos_id=13"):
        m.greedy_decode(src_batch(), 5, SOS_ID, 13)


def test_right_padded_lengths():
    assert right_padded_lengths(src_batch(), 0, "ids").tolist() == [4, 2, 1]
    with pytest.raises(ValueError, match="ids: row 1 has a token after a pad"):
        right_padded_lengths(torch.tensor([[4, 5], [0, 6]]), 0, "ids")


def test_overfits_a_tiny_batch():
    """Eight reversal examples learnt to (almost) zero loss: the model can fit what it sees."""
    data = make_task("reversal", n_train=8, n_valid=8, n_test=8, min_len=5, max_len=5, rng=0)
    b = data.split("train")
    src, tgt_in, tgt_out = (torch.as_tensor(b[k]) for k in ("src", "tgt_in", "tgt_out"))
    torch.manual_seed(0)
    m = LSTMSeq2Seq(len(data.src_vocab), len(data.tgt_vocab), d_model=32, num_layers=1, dropout=0.0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(150):
        loss = F.cross_entropy(m(src, tgt_in).flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.02
    m.eval()
    ids = m.greedy_decode(src, tgt_out.shape[1] + 1, SOS_ID, EOS_ID)
    assert torch.equal(ids[:, 1:], tgt_out)


@pytest.mark.parametrize("task, kind", [("reversal", "seq2seq"), ("sentiment", "classification")])
def test_torch_trainer_runs_them_unchanged(task, kind):
    data = make_task(task, n_train=64, n_valid=32, n_test=32, rng=0)
    torch.manual_seed(0)
    if kind == "seq2seq":
        model = LSTMSeq2Seq(len(data.src_vocab), len(data.tgt_vocab), d_model=16, num_layers=1)
    else:
        model = LSTMClassifier(len(data.src_vocab), len(data.label_names), d_model=16, num_layers=1)
    trainer = TorchTrainer(model, data, TrainConfig(kind=kind, max_steps=3, batch_size=16, eval_every=3))
    summary = trainer.fit()
    assert summary["step"] == 3 and len(trainer.history["eval"]) == 1
    metrics = trainer.evaluate("test")
    assert 0.0 <= metrics[trainer.main_metric] <= 1.0 and torch.isfinite(torch.tensor(metrics["loss"]))
