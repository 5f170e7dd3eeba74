"""Tiny tasks and models for the training tests (seconds each on 2 cores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transformer_anatomy.tasks import make_reversal_task

TINY = dict(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=32)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: bit-identity holds for a fixed thread count, and tiny models run
    faster without thread hand-offs on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_reversal():
    """Variable-length reversal (3..6 symbols, so batches are padded), 40 train examples."""
    return make_reversal_task(n_train=40, n_valid=16, n_test=16, min_len=3, max_len=6, num_symbols=6, rng=1)


def torch_seq2seq(data, seed=0, dropout=0.1, dtype=torch.float32):
    from transformer_anatomy.torch import Seq2SeqTransformer

    torch.manual_seed(seed)
    V = len(data.src_vocab)
    return Seq2SeqTransformer(V, V, dropout=dropout, **TINY).to(dtype)


def numpy_seq2seq(data, seed=0, dropout=0.1, dtype=np.float32):
    from transformer_anatomy.numpy import Seq2SeqTransformer

    V = len(data.src_vocab)
    return Seq2SeqTransformer(V, V, dropout=dropout, dtype=dtype, rng=seed, **TINY)


@pytest.fixture
def make_model():
    """``make_model(backend, data, seed=0, dropout=0.1, float64=False)`` -> a tiny Seq2SeqTransformer."""

    def make(backend, data, seed=0, dropout=0.1, float64=False):
        if backend == "torch":
            return torch_seq2seq(data, seed, dropout, torch.float64 if float64 else torch.float32)
        return numpy_seq2seq(data, seed, dropout, np.float64 if float64 else np.float32)

    return make


@pytest.fixture
def make_trainer():
    """``make_trainer(backend, model, data, config, **kw)`` -> TorchTrainer or NumpyTrainer."""
    from transformer_anatomy.training import NumpyTrainer, TorchTrainer

    def make(backend, model, data, config, **kw):
        cls = TorchTrainer if backend == "torch" else NumpyTrainer
        return cls(model, data, config, **kw)

    return make
