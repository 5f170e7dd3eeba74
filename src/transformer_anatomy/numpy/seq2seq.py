"""The encoder–decoder task model: :class:`Seq2SeqTransformer` (token ids in, logits out).

Names, parameter keys and shapes follow ``CONTRACTS.md`` and match
:class:`transformer_anatomy.torch.Seq2SeqTransformer` (``torch/seq2seq.py``).

Page: ``docs/data-flow.md`` (data flow by task) and ``docs/training.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transformer_anatomy.errors import check_token_id

from .attention import check_heads
from .dropout import Dropout, check_dropout
from .embeddings import Embedding, check_token_ids, make_positional, make_token_embedding
from .linear import Linear
from .masks import causal_mask, make_key_padding_mask
from .module import Module, check_dtype, check_positive, eval_mode, make_rng
from .transformer import Transformer

__all__ = ["Seq2SeqTransformer", "TokenInput"]


class TokenInput(Module):
    """Token embedding (× √E if scaled) + positional information + dropout, for one side;
    the base of the task models (:class:`Seq2SeqTransformer` and the encoder-only ones).

    Shape:
        ids: ``(N, L)`` -> ``(N, L, E)``.
    """

    def _embed(self, tok: Embedding, pos: Module, drop: Dropout, ids: np.ndarray) -> np.ndarray:
        return drop(pos(tok(ids)))  # (N, L) -> (N, L, E)

    @staticmethod
    def _embed_backward(tok: Embedding, pos: Module, drop: Dropout, dx: np.ndarray) -> None:
        tok.backward(pos.backward(drop.backward(dx)))

    def _check_model_args(self, d_model: int, nhead: int, dropout: float, dtype: Any, pad_id: int,
                          vocab_sizes: dict[str, int], rng: Any) -> tuple[float, np.dtype]:
        """The constructor checks of every task model (the torch backend's checks and wording);
        sets ``rng``, ``d_model`` and ``pad_id``; returns ``(dropout, dtype)``."""
        check_heads(d_model, nhead)
        p, dt = check_dropout(dropout), check_dtype(dtype)
        for name, size in vocab_sizes.items():
            check_positive(name, size)
        check_token_id("pad_id", pad_id, min(vocab_sizes.values()))  # valid in every vocabulary
        self.rng = make_rng(rng)
        self.d_model, self.pad_id = d_model, pad_id
        return p, dt


class Seq2SeqTransformer(TokenInput):
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

    Examples:
        >>> m = Seq2SeqTransformer(11, 11, d_model=16, nhead=2, dim_feedforward=32, rng=0)
        >>> src = np.array([[3, 4, 5, 0]])  # 0 = pad
        >>> m(src, np.array([[1, 5, 4]])).shape
        (1, 3, 11)
        >>> m.greedy_decode(src, max_len=4, sos_id=1, eos_id=2).shape[0]
        1
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
        p, dt = self._check_model_args(d_model, nhead, dropout, dtype, pad_id,
                                       dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size), rng)
        rng = self.rng
        self.tie_weights = bool(tie_weights)
        self.src_tok_emb = make_token_embedding(src_vocab_size, d_model, scale_embedding, dt, rng)
        self.tgt_tok_emb = make_token_embedding(tgt_vocab_size, d_model, scale_embedding, dt, rng)
        self.src_pos_emb = make_positional(positional, max_len, d_model, dt, rng)
        self.tgt_pos_emb = make_positional(positional, max_len, d_model, dt, rng)
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
        causal = causal_mask(T, T)  # True above the diagonal: the future
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

    def greedy_decode(self, src_ids: Any, max_len: int, sos_id: int, eos_id: int,
                      use_cache: bool = True) -> np.ndarray:
        """Autoregressive decoding, always picking the most likely next token.

        Decodes in evaluation mode (no dropout) and restores the previous train/eval mode
        afterwards, as the torch backend. Starts every sequence with ``sos_id`` and stops when
        all have produced ``eos_id`` or ``max_len`` tokens (``sos`` included) exist; positions
        after a sequence's ``eos`` are ``pad_id``.

        ``use_cache`` is accepted for the torch backend's signature: that backend keeps the
        keys and values of the decoded prefix (a KV cache, the same tokens either way); the
        NumPy backend has no KV cache and recomputes the prefix at every step, whatever
        ``use_cache`` says.

        Shape:
            src_ids: ``(N, S)`` -> ids ``(N, L)`` with ``L <= max_len``, ``ids[:, 0] == sos_id``.
        """
        src_ids = check_token_ids(src_ids, self.src_tok_emb.num_embeddings, "src_ids")
        check_positive("max_len", max_len)
        check_token_id("sos_id", sos_id, self.tgt_tok_emb.num_embeddings)
        check_token_id("eos_id", eos_id, self.tgt_tok_emb.num_embeddings)
        if src_ids.shape[0] == 0:  # an empty batch gives an empty result, as in the torch backend
            return np.full((0, 1), sos_id, dtype=np.int64)
        with eval_mode(self):  # no dropout; every submodule's mode is restored afterwards
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
