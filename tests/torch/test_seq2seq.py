"""Seq2SeqTransformer: contract keys and init, forward against an nn.Transformer pipeline,
key/value-cache decoding against full recomputation, greedy and beam search."""

from __future__ import annotations

import itertools
import math
import warnings

import pytest
import torch
from torch import nn

from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.torch.embeddings import sinusoidal_table

PAD, SOS, EOS = 0, 1, 2
V_SRC, V_TGT, E = 11, 13, 16


def model(seed=0, **kw):
    cfg = dict(d_model=E, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, dropout=0.0)
    vocab = kw.pop("src_vocab_size", V_SRC), kw.pop("tgt_vocab_size", V_TGT)
    cfg.update(kw)
    torch.manual_seed(seed)
    return Seq2SeqTransformer(*vocab, **cfg).double().eval()


def ids(n, length, vocab, pad_tail=(), seed=0, low=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(low, vocab, (n, length), generator=g)
    for row, k in enumerate(pad_tail):
        if k:
            x[row, length - k :] = PAD
    return x


# ------------------------------------------------------------------------------------------------
def test_state_dict_keys_follow_the_contract():
    m = Seq2SeqTransformer(V_SRC, V_TGT, d_model=E, nhead=4, dim_feedforward=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nn.Transformer(E, 4, 2, 2, 32)
    keys = list(m.state_dict())
    assert keys == ["src_tok_emb.weight", "tgt_tok_emb.weight"] + [f"transformer.{k}" for k in ref.state_dict()] + [
        "generator.weight", "generator.bias"]
    m.transformer.load_state_dict(ref.state_dict(), strict=True)
    learned = Seq2SeqTransformer(V_SRC, V_TGT, d_model=E, nhead=4, dim_feedforward=32, positional="learned", max_len=20)
    sd = learned.state_dict()
    assert list(sd)[:4] == ["src_tok_emb.weight", "tgt_tok_emb.weight", "src_pos_emb.weight", "tgt_pos_emb.weight"]
    assert sd["src_pos_emb.weight"].shape == (20, E) and sd["generator.weight"].shape == (V_TGT, E)
    assert sd["src_tok_emb.weight"].shape == (V_SRC, E) and sd["generator.bias"].shape == (V_TGT,)


def test_embedding_init_and_tied_weights():
    torch.manual_seed(0)
    scaled = Seq2SeqTransformer(2000, 2000, d_model=64, scale_embedding=True)
    plain = Seq2SeqTransformer(2000, 2000, d_model=64, scale_embedding=False)
    for w in (scaled.src_tok_emb.weight, scaled.tgt_tok_emb.weight):
        assert w.std().item() == pytest.approx(64**-0.5, rel=0.02) and abs(w.mean().item()) < 0.005
    assert plain.tgt_tok_emb.weight.std().item() == pytest.approx(1.0, rel=0.02)
    # the Transformer inside has nn.Transformer's init: xavier_uniform_ on every matrix
    w = scaled.transformer.encoder.layers[0].linear1.weight
    bound = math.sqrt(6 / (64 + 256))
    assert w.abs().max() <= bound and w.abs().max() > 0.99 * bound
    tied = Seq2SeqTransformer(V_SRC, V_TGT, d_model=E, nhead=4, tie_weights=True)
    assert tied.generator.weight is tied.tgt_tok_emb.weight
    assert "generator.weight" in tied.state_dict()
    assert len(list(tied.parameters())) == len(list(Seq2SeqTransformer(V_SRC, V_TGT, d_model=E, nhead=4).parameters())) - 1
    tied(ids(2, 5, V_SRC), ids(2, 4, V_TGT)).sum().backward()
    grad = tied.tgt_tok_emb.weight.grad  # embedding rows + every generator row, in one tensor
    assert tied.generator.weight.grad is grad and (grad != 0).all()
    fresh = Seq2SeqTransformer(V_SRC, V_TGT, d_model=E, nhead=4, tie_weights=True)
    fresh.load_state_dict(tied.state_dict(), strict=True)
    assert fresh.generator.weight is fresh.tgt_tok_emb.weight
    assert torch.equal(fresh.generator.weight, tied.tgt_tok_emb.weight)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("scale_embedding", [True, False])
def test_forward_equals_an_nn_transformer_pipeline(norm_first, scale_embedding):
    m = model(norm_first=norm_first, scale_embedding=scale_embedding)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nn.Transformer(E, 4, 2, 2, 32, dropout=0.0, batch_first=True, norm_first=norm_first, dtype=torch.float64)
    ref.load_state_dict(m.transformer.state_dict(), strict=True)
    src, tgt = ids(3, 7, V_SRC, pad_tail=(0, 2, 4), low=1), ids(3, 5, V_TGT, pad_tail=(1, 0, 2), seed=1, low=1)
    tgt[:, 0] = SOS
    pe = sinusoidal_table(32, E)
    scale = math.sqrt(E) if scale_embedding else 1.0
    x = m.src_tok_emb.weight[src] * scale + pe[:7]
    y = m.tgt_tok_emb.weight[tgt] * scale + pe[:5]
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bool padding + float causal mask: torch's deprecation warning
        h = ref(x, y, tgt_mask=causal, src_key_padding_mask=src == PAD, tgt_key_padding_mask=tgt == PAD,
                memory_key_padding_mask=src == PAD)
    expected = h @ m.generator.weight.T + m.generator.bias
    torch.testing.assert_close(m(src, tgt), expected, rtol=1e-10, atol=1e-10)


def test_causality_and_source_padding_invariance():
    m = model()
    src, tgt = ids(2, 6, V_SRC), ids(2, 5, V_TGT, seed=1)
    tgt2 = tgt.clone()
    tgt2[:, 3:] = torch.randint(3, V_TGT, (2, 2))
    torch.testing.assert_close(m(src, tgt)[:, :3], m(src, tgt2)[:, :3], rtol=1e-12, atol=1e-12)
    padded = torch.cat([src, torch.full((2, 3), PAD)], dim=1)
    torch.testing.assert_close(m(src, tgt), m(padded, tgt), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first,positional", [(False, "sinusoidal"), (True, "learned")])
def test_kv_cache_logits_equal_full_recomputation(norm_first, positional):
    m = model(norm_first=norm_first, positional=positional, max_len=32)
    src = ids(3, 7, V_SRC, pad_tail=(0, 3, 1))
    tgt = ids(3, 9, V_TGT, seed=2)
    tgt[:, 0] = SOS
    tgt[0, 3], tgt[1, 5:] = PAD, PAD  # pads inside the prefix: those keys must stay masked
    memory = m.encode(src)
    with torch.no_grad():
        for first in (1, 4):  # first call with one token, or with a whole prefix
            cache = m.init_cache(memory, src)
            for t in range(first, tgt.size(1) + 1):
                step = m.decode_step(tgt[:, :t], cache)
                full = m.decode(tgt[:, :t], memory, src)[:, -1]
                torch.testing.assert_close(step, full, rtol=1e-10, atol=1e-10, msg=f"first={first} t={t}")
                assert cache.length == t
    assert cache.layers[0]["self_k"].shape == (3, 4, tgt.size(1), E // 4)
    with pytest.raises(ValueError, match=r"cache already holds 9"):
        m.decode_step(tgt, cache)


def test_greedy_with_and_without_cache_agree_and_beam_one_is_greedy():
    m = model(seed=3)
    src = ids(4, 6, V_SRC, pad_tail=(0, 2, 0, 4), seed=3)
    cached = m.greedy_decode(src, max_len=10, sos_id=SOS, eos_id=EOS)
    plain = m.greedy_decode(src, max_len=10, sos_id=SOS, eos_id=EOS, use_cache=False)
    assert torch.equal(cached, plain)
    assert cached[:, 0].eq(SOS).all() and cached.size(1) <= 10
    for row in cached.tolist():  # after eos only pads
        if EOS in row[1:]:
            assert all(tok == PAD for tok in row[row.index(EOS, 1) + 1 :])
    beam = m.beam_search(src, beam_size=1, max_len=10, sos_id=SOS, eos_id=EOS)
    assert torch.equal(beam, cached)


def test_greedy_stops_when_all_sequences_end():
    m = model(seed=4)
    with torch.no_grad():
        m.generator.bias.fill_(-100.0)
        m.generator.bias[EOS] = 100.0  # eos is always the argmax
    out = m.greedy_decode(ids(2, 5, V_SRC), max_len=10, sos_id=SOS, eos_id=EOS)
    assert out.tolist() == [[SOS, EOS], [SOS, EOS]]


def brute_force_best(m, src_row, steps, length_penalty):
    """Score every continuation of ``steps`` tokens (pads after eos cost nothing)."""
    memory = m.encode(src_row)
    best = (-math.inf, None)
    for tail in itertools.product(range(5), repeat=steps):
        seq = [SOS]
        for tok in tail:
            seq.append(PAD if seq[-1] in (EOS, PAD) and EOS in seq[1:] else tok)
        if tuple(seq[1:]) != tail:
            continue  # not a distinct hypothesis (non-pad after eos)
        logp = torch.log_softmax(m.decode(torch.tensor([seq[:-1]]), memory, src_row)[0], dim=-1)
        n = seq[1:].index(EOS) + 1 if EOS in seq[1:] else steps
        score = sum(logp[i, seq[i + 1]].item() for i in range(n))
        score /= ((5 + n) / 6) ** length_penalty
        if score > best[0]:
            best = (score, seq)
    return best


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_exhaustive_beam_search_finds_the_best_sequence(length_penalty):
    """With beam_size >= every possible hypothesis nothing is pruned, so beam search must
    return the brute-force optimum (5-token vocabulary, 3 generated tokens: 125 hypotheses)."""
    m = model(seed=5, tgt_vocab_size=5)
    src = ids(2, 5, V_SRC, pad_tail=(0, 2), seed=5)
    got, score = m.beam_search(src, beam_size=125, max_len=4, sos_id=SOS, eos_id=EOS,
                               length_penalty=length_penalty, return_scores=True)
    for i in range(2):
        best_score, best_seq = brute_force_best(m, src[i : i + 1], 3, length_penalty)
        assert score[i].item() == pytest.approx(best_score, abs=1e-10)
        assert got[i, : len(best_seq)].tolist() == best_seq


def test_beam_scores_are_the_sequence_log_probabilities():
    m = model(seed=6)
    src = ids(3, 6, V_SRC, pad_tail=(0, 1, 3), seed=6)
    out, score = m.beam_search(src, beam_size=4, max_len=8, sos_id=SOS, eos_id=EOS, return_scores=True)
    logp = torch.log_softmax(m(src, out[:, :-1]), dim=-1)  # (N, L-1, V)
    for i in range(3):
        seq = out[i].tolist()
        n = seq[1:].index(EOS) + 1 if EOS in seq[1:] else len(seq) - 1
        total = sum(logp[i, j, seq[j + 1]].item() for j in range(n))
        assert score[i].item() == pytest.approx(total, abs=1e-10)
    # the beam's best is at least as likely as greedy's sequence here (fixed inputs; in general a
    # beam can prune greedy's prefix, so this is a property of these inputs, checked exactly)
    greedy = m.greedy_decode(src, max_len=8, sos_id=SOS, eos_id=EOS)
    for i in range(3):
        seq = greedy[i].tolist()
        n = seq[1:].index(EOS) + 1 if EOS in seq[1:] else len(seq) - 1
        g_logp = torch.log_softmax(m(src[i : i + 1], greedy[i : i + 1, :-1]), dim=-1)[0]
        g_total = sum(g_logp[j, seq[j + 1]].item() for j in range(n))
        assert score[i].item() >= g_total - 1e-10


# ------------------------------------------------------------------------------------------------
def test_input_and_config_errors():
    m = model()
    src, tgt = ids(2, 5, V_SRC), ids(2, 4, V_TGT)
    bad = tgt.clone()
    bad[1, 2] = V_TGT
    with pytest.raises(ValueError, match=r"tgt_ids: token id 13 is out of range for vocabulary size 13"):
        m(src, bad)
    bad = src.clone()
    bad[0, 0] = -1
    with pytest.raises(ValueError, match=r"src_ids: token id -1 is out of range for vocabulary size 11"):
        m(bad, tgt)
    with pytest.raises(TypeError, match=r"integer tensor"):
        m(src.float(), tgt)
    with pytest.raises(ValueError, match=r"shape \(N, L\)"):
        m(src[0], tgt)
    short = model(max_len=6)
    with pytest.raises(ValueError, match=r"sequence length 7 exceeds max_len=6"):
        short(ids(2, 7, V_SRC), tgt)
    with pytest.raises(ValueError, match=r"positional must be 'sinusoidal' or 'learned', got 'rotary'"):
        Seq2SeqTransformer(V_SRC, V_TGT, positional="rotary")
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by nhead=4"):
        Seq2SeqTransformer(V_SRC, V_TGT, d_model=10, nhead=4)
    with pytest.raises(ValueError, match=r"pad_id=20"):
        Seq2SeqTransformer(V_SRC, V_TGT, pad_id=20)
    with pytest.raises(ValueError, match=r"beam_size must be a positive integer"):
        m.beam_search(src, beam_size=0, max_len=5, sos_id=SOS, eos_id=EOS)


# ------------------------------------------------------------------------------------------------
# decoding runs in eval mode, as the NumPy greedy_decode does
def test_decoding_ignores_dropout_and_keeps_the_train_eval_mode():
    m = model(seed=6, dropout=0.5)
    src = ids(3, 6, V_SRC, pad_tail=(0, 2, 1), seed=6)
    expected = {
        "greedy": m.greedy_decode(src, max_len=8, sos_id=SOS, eos_id=EOS),
        "greedy, no cache": m.greedy_decode(src, max_len=8, sos_id=SOS, eos_id=EOS, use_cache=False),
        "beam": m.beam_search(src, beam_size=3, max_len=8, sos_id=SOS, eos_id=EOS),
    }
    m.train()
    m.transformer.decoder.layers[0].eval()  # a mixed mode is kept as it was
    for seed in range(3):  # dropout would draw differently each time
        torch.manual_seed(seed)
        got = {
            "greedy": m.greedy_decode(src, max_len=8, sos_id=SOS, eos_id=EOS),
            "greedy, no cache": m.greedy_decode(src, max_len=8, sos_id=SOS, eos_id=EOS, use_cache=False),
            "beam": m.beam_search(src, beam_size=3, max_len=8, sos_id=SOS, eos_id=EOS),
        }
        assert all(torch.equal(got[k], expected[k]) for k in expected), seed
    assert m.training and m.transformer.encoder.training and m.dropout.training
    assert not m.transformer.decoder.layers[0].training and m.transformer.decoder.layers[1].training


# ------------------------------------------------------------------------------------------------
# ReferenceSeq2Seq: this model with torch.nn.Transformer in the middle
def reference_pair(seed=0, **kw):
    from transformer_anatomy.training.reference import ReferenceSeq2Seq

    cfg = dict(d_model=E, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32, dropout=0.0)
    cfg.update(kw)
    torch.manual_seed(seed)
    ours = Seq2SeqTransformer(V_SRC, V_TGT, **cfg)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # nn's nested-tensor notice for norm_first
        ref = ReferenceSeq2Seq(V_SRC, V_TGT, **cfg)
    return ours.double().eval(), ref.double().eval()


@pytest.mark.parametrize("options", [dict(), dict(norm_first=True), dict(positional="learned", tie_weights=True)])
def test_reference_is_our_model_with_nn_transformer_in_the_middle(options):
    ours, ref = reference_pair(seed=7, **options)
    assert isinstance(ref.transformer, nn.Transformer) and isinstance(ref, Seq2SeqTransformer)
    sa, sb = ours.state_dict(), ref.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)  # same names, same init
    src, tgt = ids(3, 7, V_SRC, seed=7), ids(3, 5, V_TGT, seed=8, low=1)  # no padding: no nested tensors
    torch.testing.assert_close(ref(src, tgt), ours(src, tgt), rtol=1e-10, atol=1e-10)
    assert torch.equal(ref.greedy_decode(src, 8, SOS, EOS), ours.greedy_decode(src, 8, SOS, EOS, use_cache=False))
    assert ref.num_parameters() == ours.num_parameters()


def test_reference_has_no_key_value_cache():
    _, ref = reference_pair()
    src = ids(2, 5, V_SRC)
    with pytest.raises(NotImplementedError, match=r"no key/value cache"):
        ref.greedy_decode(src, 5, SOS, EOS, use_cache=True)
    with pytest.raises(NotImplementedError, match=r"no key/value cache"):
        ref.beam_search(src, 2, 5, SOS, EOS)
    with pytest.raises(ValueError, match=r"src_ids: token id 99 is out of range"):  # our checks, too
        ref(torch.tensor([[99]]), torch.tensor([[SOS]]))
