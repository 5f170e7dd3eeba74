"""Task models built from the Transformer: sequence-to-sequence, classification, tagging, QA.

Names, parameter keys and shapes follow ``CONTRACTS.md`` and match the PyTorch versions in
:mod:`transformer_anatomy.torch`.

Page: ``docs/tasks.md`` (data flow by task) and ``docs/training.md``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .attention import check_heads, make_key_padding_mask
from .dropout import Dropout, check_dropout
from transformer_anatomy.errors import check_token_id

from .embedding import Embedding, TokenIdError, LearnedPositionalEmbedding, PositionalEncoding
from .linear import Linear
from .module import Module, check_dtype, check_positive, make_rng
from .normalization import LayerNorm
from .transformer import Transformer, TransformerEncoder, TransformerEncoderLayer

QA_PAD_LOGIT = -1e4
"""Start/end logit given to pad positions by :class:`TransformerQA` (large, negative, finite)."""


def _positional(kind: str, max_len: int, d_model: int, dt: np.dtype, rng: np.random.Generator) -> Module:
    if kind == "sinusoidal":
        return PositionalEncoding(d_model, max_len, dtype=dt)
    if kind == "learned":
        return LearnedPositionalEmbedding(max_len, d_model, dtype=dt, rng=rng)
    raise ValueError(f"positional must be 'sinusoidal' or 'learned', got positional={kind!r}")


def check_token_ids(ids: Any, vocab_size: int, name: str) -> np.ndarray:
    """``ids`` as an integer array of shape ``(N, L)`` with every id in ``[0, vocab_size)``;
    the torch backend's check of the same name, with its wording.

    Raises:
        TypeError: ``"src_ids must be an integer array of token ids, got dtype float64"``.
        ValueError: ``"src_ids must have shape (N, L), got (3,)"``.
        TokenIdError: ``"src_ids: token id 11 is out of range for vocabulary size 11 (valid ids: 0..10)"``.
    """
    if hasattr(ids, "detach") and hasattr(ids, "numpy"):  # a torch tensor
        ids = ids.detach().cpu().numpy()
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of token ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(f"{name} must have shape (N, L), got {ids.shape}")
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            bad = hi if hi >= vocab_size else lo
            raise TokenIdError(
                f"{name}: token id {bad} is out of range for vocabulary size {vocab_size} (valid ids: 0..{vocab_size - 1})"
            )
    return ids


class _TokenInput(Module):
    """Token embedding (× √E if scaled) + positional information + dropout, for one side."""

    def _embed(self, tok: Embedding, pos: Module, drop: Dropout, ids: np.ndarray) -> np.ndarray:
        return drop(pos(tok(ids)))  # (N, L) -> (N, L, E)

    @staticmethod
    def _embed_backward(tok: Embedding, pos: Module, drop: Dropout, dx: np.ndarray) -> None:
        tok.backward(pos.backward(drop.backward(dx)))


class Seq2SeqTransformer(_TokenInput):
    """Encoder–decoder model: token ids in, next-token logits out (teacher forcing).

    ``logits = generator(decoder(tgt_emb, encoder(src_emb)))`` with a causal target mask and
    key padding masks built from ``pad_id`` inside. Embeddings are initialised ``N(0, 1/E)``
    when ``scale_embedding`` (so ``x·√E`` is ``~N(0, 1)``), ``N(0, 1)`` otherwise. With
    ``tie_weights`` the generator reuses ``tgt_tok_emb.weight`` (one array, listed once in
    ``params`` and under both keys in ``state_dict``).

    Keys: ``src_tok_emb.weight`` (V_src, E), ``tgt_tok_emb.weight`` (V_tgt, E),
    [``src_pos_emb.weight``, ``tgt_pos_emb.weight`` (max_len, E) if learned],
    ``transformer.*`` (``nn.Transformer`` keys), ``generator.weight`` (V_tgt, E),
    ``generator.bias`` (V_tgt,).

    Shape:
        src_ids: ``(N, S)``, tgt_ids: ``(N, T)`` integers -> logits ``(N, T, V_tgt)``.
        backward: dlogits ``(N, T, V_tgt)`` -> None; fills every gradient.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        d_model: int = 64,
        nhead: int = 4,
        num_encoder_layers: int = 2,
        num_decoder_layers: int = 2,
        dim_feedforward: int = 256,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        positional: str = "sinusoidal",
        max_len: int = 512,
        scale_embedding: bool = True,
        tie_weights: bool = False,
        pad_id: int = 0,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | int | None = None,
    ) -> None:
        super().__init__()
        check_heads(d_model, nhead)
        p = check_dropout(dropout)
        dt = check_dtype(dtype)
        check_positive("src_vocab_size", src_vocab_size)  # the torch backend's checks and wording
        check_positive("tgt_vocab_size", tgt_vocab_size)
        check_token_id("pad_id", pad_id, min(src_vocab_size, tgt_vocab_size))  # valid in both vocabularies
        self.rng = rng = make_rng(rng)
        self.d_model, self.pad_id = d_model, pad_id
        self.tie_weights = bool(tie_weights)
        std = 1.0 / math.sqrt(d_model) if scale_embedding else 1.0
        self.src_tok_emb = Embedding(src_vocab_size, d_model, scale=scale_embedding, init_std=std, dtype=dt, rng=rng)
        self.tgt_tok_emb = Embedding(tgt_vocab_size, d_model, scale=scale_embedding, init_std=std, dtype=dt, rng=rng)
        self.src_pos_emb = _positional(positional, max_len, d_model, dt, rng)
        self.tgt_pos_emb = _positional(positional, max_len, d_model, dt, rng)
        self.src_dropout = Dropout(p, rng=rng)
        self.tgt_dropout = Dropout(p, rng=rng)
        self.transformer = Transformer(
            d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, p,
            activation, norm_first=norm_first, batch_first=True, dtype=dt, rng=rng,
        )
        self.generator = Linear(d_model, tgt_vocab_size, dtype=dt, rng=rng)
        if self.tie_weights:
            self.generator._params["weight"] = self.tgt_tok_emb.weight  # one shared array

    def encode(self, src_ids: Any) -> np.ndarray:
        """Shape: src_ids ``(N, S)`` -> memory ``(N, S, E)``."""
        src_ids = check_token_ids(src_ids, self.src_tok_emb.num_embeddings, "src_ids")
        x = self._embed(self.src_tok_emb, self.src_pos_emb, self.src_dropout, src_ids)  # (N, S, E)
        return self.transformer.encoder(x, src_key_padding_mask=make_key_padding_mask(src_ids, self.pad_id))

    def decode(self, tgt_ids: Any, memory: np.ndarray, src_ids: Any) -> np.ndarray:
        """Shape: tgt_ids ``(N, T)``, memory ``(N, S, E)``, src_ids ``(N, S)`` -> ``(N, T, V_tgt)``."""
        tgt_ids = check_token_ids(tgt_ids, self.tgt_tok_emb.num_embeddings, "tgt_ids")
        T = tgt_ids.shape[1]
        y = self._embed(self.tgt_tok_emb, self.tgt_pos_emb, self.tgt_dropout, tgt_ids)  # (N, T, E)
        causal = np.triu(np.ones((T, T), dtype=bool), k=1)  # True above the diagonal: the future
        h = self.transformer.decoder(
            y, memory, tgt_mask=causal,
            tgt_key_padding_mask=make_key_padding_mask(tgt_ids, self.pad_id),
            memory_key_padding_mask=make_key_padding_mask(src_ids, self.pad_id),
        )  # (N, T, E)
        return self.generator(h)  # (N, T, E) @ (E, V) -> (N, T, V)

    def forward(self, src_ids: Any, tgt_ids: Any) -> np.ndarray:
        src_ids, tgt_ids = np.asarray(src_ids), np.asarray(tgt_ids)
        if src_ids.ndim != 2 or tgt_ids.ndim != 2 or src_ids.shape[0] != tgt_ids.shape[0]:
            raise ValueError(
                f"expected src_ids (N, S) and tgt_ids (N, T) with the same N, got {src_ids.shape} "
                f"and {tgt_ids.shape}"
            )
        return self.decode(tgt_ids, self.encode(src_ids), src_ids)

    def backward(self, dlogits: np.ndarray) -> None:
        """Back through generator, decoder, encoder and both embeddings.

        Shape:
            dlogits: ``(N, T, V_tgt)`` -> None.
        """
        dh = self.generator.backward(dlogits)  # (N, T, E)
        dy, dmemory = self.transformer.decoder.backward(dh)
        self._embed_backward(self.tgt_tok_emb, self.tgt_pos_emb, self.tgt_dropout, dy)
        dx = self.transformer.encoder.backward(dmemory)
        self._embed_backward(self.src_tok_emb, self.src_pos_emb, self.src_dropout, dx)
        if self.tie_weights:  # the shared matrix collects both gradients
            self.tgt_tok_emb._grads["weight"] += self.generator._grads["weight"]

    def greedy_decode(self, src_ids: Any, max_len: int, sos_id: int, eos_id: int) -> np.ndarray:
        """Autoregressive decoding, always picking the most likely next token (dropout off).

        Starts every sequence with ``sos_id`` and stops when all have produced ``eos_id`` or
        ``max_len`` tokens (``sos`` included) exist; positions after a sequence's ``eos`` are
        ``pad_id``.

        Shape:
            src_ids: ``(N, S)`` -> ids ``(N, L)`` with ``L <= max_len``, ``ids[:, 0] == sos_id``.
        """
        src_ids = check_token_ids(src_ids, self.src_tok_emb.num_embeddings, "src_ids")
        check_positive("max_len", max_len)
        check_token_id("sos_id", sos_id, self.tgt_tok_emb.num_embeddings)
        check_token_id("eos_id", eos_id, self.tgt_tok_emb.num_embeddings)
        if src_ids.shape[0] == 0:  # an empty batch gives an empty result, as in the torch backend
            return np.full((0, 1), sos_id, dtype=np.int64)
        was_training = self.training
        self.eval()
        try:
            src_ids = np.asarray(src_ids)
            N = src_ids.shape[0]
            memory = self.encode(src_ids)  # (N, S, E), computed once
            ys = np.full((N, 1), sos_id, dtype=np.int64)
            done = np.zeros(N, dtype=bool)
            while ys.shape[1] < max_len and not done.all():
                logits = self.decode(ys, memory, src_ids)  # (N, t, V)
                nxt = logits[:, -1].argmax(axis=-1)  # (N,)
                nxt = np.where(done, self.pad_id, nxt)
                ys = np.concatenate([ys, nxt[:, None]], axis=1)  # (N, t) -> (N, t + 1)
                done |= nxt == eos_id
            return ys
        finally:
            self.train(was_training)


class _EncoderOnly(_TokenInput):
    """Token + position embedding and a ``TransformerEncoder`` (with final norm)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int,
        dropout: float,
        activation: str,
        norm_first: bool,
        positional: str,
        max_len: int,
        scale_embedding: bool,
        pad_id: int,
        dtype: Any,
        rng: np.random.Generator | int | None,
    ) -> None:
        super().__init__()
        check_heads(d_model, nhead)
        p = check_dropout(dropout)
        dt = check_dtype(dtype)
        check_positive("vocab_size", vocab_size)  # the torch backend's checks and wording
        check_token_id("pad_id", pad_id, vocab_size)
        self.rng = rng = make_rng(rng)
        self.d_model, self.pad_id = d_model, pad_id
        std = 1.0 / math.sqrt(d_model) if scale_embedding else 1.0
        self.tok_emb = Embedding(vocab_size, d_model, scale=scale_embedding, init_std=std, dtype=dt, rng=rng)
        self.pos_emb = _positional(positional, max_len, d_model, dt, rng)
        self.emb_dropout = Dropout(p, rng=rng)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, p, activation,
                                        norm_first=norm_first, batch_first=True, dtype=dt, rng=rng)
        self.encoder = TransformerEncoder(layer, num_layers, LayerNorm(d_model, dtype=dt))
        for _, prm in self.encoder.named_parameters():  # re-initialise the cloned layers
            if prm.ndim > 1:
                fan_out, fan_in = prm.shape
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                prm[...] = rng.uniform(-bound, bound, prm.shape)

    def _encode(self, ids: Any) -> np.ndarray:
        ids = check_token_ids(ids, self.tok_emb.num_embeddings, "ids")
        self._pad = make_key_padding_mask(ids, self.pad_id)  # (N, S), True at pads
        x = self._embed(self.tok_emb, self.pos_emb, self.emb_dropout, ids)  # (N, S, E)
        return self.encoder(x, src_key_padding_mask=self._pad)  # (N, S, E)

    def _encode_backward(self, dh: np.ndarray) -> None:
        self._embed_backward(self.tok_emb, self.pos_emb, self.emb_dropout, self.encoder.backward(dh))


class TransformerClassifier(_EncoderOnly):
    """Sequence classification: encoder, mean over non-pad positions, linear ``classifier``.

    Keys: ``tok_emb.weight``, [``pos_emb.weight``], ``encoder.*``, ``classifier.weight`` (C, E),
    ``classifier.bias`` (C,).

    Shape:
        ids: ``(N, S)`` -> logits ``(N, C)``. backward: dlogits ``(N, C)`` -> None.
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 256, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, positional: str = "sinusoidal",
                 max_len: int = 512, scale_embedding: bool = True, pad_id: int = 0, *,
                 dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        check_positive("num_classes", num_classes)  # before any work
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation,
                         norm_first, positional, max_len, scale_embedding, pad_id, dtype, rng)
        self.classifier = Linear(d_model, num_classes,
                                 dtype=dtype, rng=self.rng)

    def forward(self, ids: Any) -> np.ndarray:
        h = self._encode(ids)  # (N, S, E)
        keep = (~self._pad)[..., None].astype(h.dtype)  # (N, S, 1), 1 at real tokens
        count = np.maximum(keep.sum(axis=1), 1.0)  # (N, 1), guarded for all-pad rows
        self._keep_over_count = keep / count[:, None]  # (N, S, 1)
        pooled = (h * self._keep_over_count).sum(axis=1)  # mean over real tokens, (N, E)
        return self.classifier(pooled)  # (N, E) -> (N, C)

    def backward(self, dlogits: np.ndarray) -> None:
        """Shape: dlogits ``(N, C)`` -> None."""
        dpooled = self.classifier.backward(dlogits)  # (N, E)
        dh = dpooled[:, None, :] * self._keep_over_count  # (N, 1, E) * (N, S, 1) -> (N, S, E)
        self._encode_backward(dh)


class TransformerTagger(_EncoderOnly):
    """Sequence labelling: one ``tagger`` linear layer per position.

    Keys: ``tok_emb.weight``, [``pos_emb.weight``], ``encoder.*``, ``tagger.weight`` (C, E),
    ``tagger.bias`` (C,).

    Shape:
        ids: ``(N, S)`` -> logits ``(N, S, C)``. backward: dlogits ``(N, S, C)`` -> None.
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 256, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, positional: str = "sinusoidal",
                 max_len: int = 512, scale_embedding: bool = True, pad_id: int = 0, *,
                 dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        check_positive("num_classes", num_classes)  # before any work
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation,
                         norm_first, positional, max_len, scale_embedding, pad_id, dtype, rng)
        self.tagger = Linear(d_model, num_classes, dtype=dtype, rng=self.rng)

    def forward(self, ids: Any) -> np.ndarray:
        return self.tagger(self._encode(ids))  # (N, S, E) -> (N, S, C)

    def backward(self, dlogits: np.ndarray) -> None:
        """Shape: dlogits ``(N, S, C)`` -> None."""
        self._encode_backward(self.tagger.backward(dlogits))


class TransformerQA(_EncoderOnly):
    """Extractive question answering: a start and an end logit per position.

    ``qa_outputs`` (2, E) maps each position to (start, end); pad positions get
    ``QA_PAD_LOGIT`` (= -1e4, finite) so a softmax over positions ignores them.

    Keys: ``tok_emb.weight``, [``pos_emb.weight``], ``encoder.*``, ``qa_outputs.weight`` (2, E),
    ``qa_outputs.bias`` (2,).

    Shape:
        ids: ``(N, S)`` -> start_logits ``(N, S)``, end_logits ``(N, S)``.
        backward: dstart ``(N, S)``, dend ``(N, S)`` -> None.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.1, activation: str = "relu",
                 norm_first: bool = False, positional: str = "sinusoidal", max_len: int = 512,
                 scale_embedding: bool = True, pad_id: int = 0, *, dtype: Any = np.float32,
                 rng: np.random.Generator | int | None = None) -> None:
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation,
                         norm_first, positional, max_len, scale_embedding, pad_id, dtype, rng)
        self.qa_outputs = Linear(d_model, 2, dtype=dtype, rng=self.rng)

    def forward(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        logits = self.qa_outputs(self._encode(ids))  # (N, S, E) -> (N, S, 2)
        logits[self._pad] = QA_PAD_LOGIT  # pads can be neither start nor end
        return logits[..., 0], logits[..., 1]  # (N, S), (N, S)

    def backward(self, dstart: np.ndarray, dend: np.ndarray) -> None:
        """Shape: dstart ``(N, S)``, dend ``(N, S)`` -> None."""
        dlogits = np.stack([dstart, dend], axis=-1)  # 2 x (N, S) -> (N, S, 2)
        dlogits[self._pad] = 0.0  # pad logits are constants
        self._encode_backward(self.qa_outputs.backward(dlogits))
