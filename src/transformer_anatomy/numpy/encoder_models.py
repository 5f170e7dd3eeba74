"""The encoder-only task models: classification, tagging and extractive QA.

Names, parameter keys and shapes follow ``CONTRACTS.md`` and match the classes of the same
names in :mod:`transformer_anatomy.torch` (``torch/encoder_models.py``).

Page: ``docs/data-flow.md`` (data flow by task) and ``docs/training.md``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .dropout import Dropout
from .embeddings import check_token_ids, make_positional, make_token_embedding
from .init import xavier_uniform_matrices_
from .linear import Linear
from .masks import make_key_padding_mask
from .module import check_positive
from .normalization import LayerNorm
from .seq2seq import TokenInput
from .transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = ["QA_PAD_LOGIT", "TransformerClassifier", "TransformerTagger", "TransformerQA"]

QA_PAD_LOGIT = -1e4
"""Start/end logit given to pad positions by :class:`TransformerQA` (large, negative, finite)."""


class EncoderModelCache(NamedTuple):
    """What the backward of an encoder-only model needs besides its sub-modules' caches."""

    pad: np.ndarray  # (N, S) bool, True at pad positions
    keep_over_count: np.ndarray | None  # (N, S, 1): 1/count at real tokens (classifier only)


class _EncoderOnly(TokenInput):
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
        p, dt = self._check_model_args(d_model, nhead, dropout, dtype, pad_id, dict(vocab_size=vocab_size), rng)
        rng = self.rng
        self.tok_emb = make_token_embedding(vocab_size, d_model, scale_embedding, dt, rng)
        self.pos_emb = make_positional(positional, max_len, d_model, dt, rng)
        self.emb_dropout = Dropout(p, rng=rng)
        layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, p, activation,
                                        norm_first=norm_first, batch_first=True, dtype=dt, rng=rng)
        self.encoder = TransformerEncoder(layer, num_layers, LayerNorm(d_model, dtype=dt))
        xavier_uniform_matrices_(self.encoder, rng)  # re-initialise the cloned layers

    def _encode(self, ids: Any) -> tuple[np.ndarray, np.ndarray]:
        """Shape: ids ``(N, S)`` -> hidden states ``(N, S, E)``, pad mask ``(N, S)``."""
        ids = check_token_ids(ids, self.tok_emb.num_embeddings, "ids")
        pad = make_key_padding_mask(ids, self.pad_id)  # (N, S), True at pads
        x = self._embed(self.tok_emb, self.pos_emb, self.emb_dropout, ids)  # (N, S, E)
        return self.encoder(x, src_key_padding_mask=pad), pad  # (N, S, E)

    def _encode_backward(self, dh: np.ndarray) -> None:
        self._embed_backward(self.tok_emb, self.pos_emb, self.emb_dropout, self.encoder.backward(dh))


class _ClassHead(_EncoderOnly):
    """An encoder-only model with a ``Linear(E, num_classes)`` head named ``_head``."""

    _head: str

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 256, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, positional: str = "sinusoidal",
                 max_len: int = 512, scale_embedding: bool = True, pad_id: int = 0, *,
                 dtype: Any = np.float32, rng: np.random.Generator | int | None = None) -> None:
        check_positive("num_classes", num_classes)  # before any work
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation,
                         norm_first, positional, max_len, scale_embedding, pad_id, dtype, rng)
        setattr(self, self._head, Linear(d_model, num_classes, dtype=dtype, rng=self.rng))


class TransformerClassifier(_ClassHead):
    """Sequence classification: encoder, mean over non-pad positions, linear ``classifier``.

    Keys: ``tok_emb.weight``, [``pos_emb.weight``], ``encoder.*``, ``classifier.weight`` (C, E),
    ``classifier.bias`` (C,).

    Shape:
        ids: ``(N, S)`` -> logits ``(N, C)``. backward: dlogits ``(N, C)`` -> None.

    Examples:
        >>> m = TransformerClassifier(11, 3, d_model=16, nhead=2, dim_feedforward=32, rng=0)
        >>> logits = m(np.array([[4, 5, 6, 0]]))  # 0 = pad, left out of the mean
        >>> logits.shape
        (1, 3)
        >>> m.backward(np.ones_like(logits))
    """

    _head = "classifier"

    def forward(self, ids: Any) -> np.ndarray:
        h, pad = self._encode(ids)  # (N, S, E)
        keep = (~pad)[..., None].astype(h.dtype)  # (N, S, 1), 1 at real tokens
        count = np.maximum(keep.sum(axis=1), 1.0)  # (N, 1), guarded for all-pad rows
        keep_over_count = keep / count[:, None]  # (N, S, 1)
        pooled = (h * keep_over_count).sum(axis=1)  # mean over real tokens, (N, E)
        return self._forwarded(self.classifier(pooled), cache=EncoderModelCache(pad, keep_over_count))  # (N, C)

    def backward(self, dlogits: np.ndarray) -> None:
        """Shape: dlogits ``(N, C)`` -> None."""
        keep_over_count = self._cached().keep_over_count
        dpooled = self.classifier.backward(dlogits)  # (N, E)
        dh = dpooled[:, None, :] * keep_over_count  # (N, 1, E) * (N, S, 1) -> (N, S, E)
        self._encode_backward(dh)


class TransformerTagger(_ClassHead):
    """Sequence labelling: one ``tagger`` linear layer per position.

    Keys: ``tok_emb.weight``, [``pos_emb.weight``], ``encoder.*``, ``tagger.weight`` (C, E),
    ``tagger.bias`` (C,).

    Shape:
        ids: ``(N, S)`` -> logits ``(N, S, C)``. backward: dlogits ``(N, S, C)`` -> None.

    Examples:
        >>> m = TransformerTagger(11, 5, d_model=16, nhead=2, dim_feedforward=32, rng=0)
        >>> m(np.array([[4, 5, 6, 0]])).shape
        (1, 4, 5)
    """

    _head = "tagger"

    def forward(self, ids: Any) -> np.ndarray:
        h, pad = self._encode(ids)
        return self._forwarded(self.tagger(h), cache=EncoderModelCache(pad, None))  # (N, S, E) -> (N, S, C)

    def backward(self, dlogits: np.ndarray) -> None:
        """Shape: dlogits ``(N, S, C)`` -> None."""
        self._cached()  # BackwardError before forward
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

    Examples:
        >>> m = TransformerQA(11, d_model=16, nhead=2, dim_feedforward=32, rng=0)
        >>> start, end = m(np.array([[4, 5, 6, 0]]))
        >>> start.shape, float(start[0, 3]) == QA_PAD_LOGIT
        ((1, 4), True)
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
        h, pad = self._encode(ids)
        logits = self.qa_outputs(h)  # (N, S, E) -> (N, S, 2)
        logits[pad] = QA_PAD_LOGIT  # pads can be neither start nor end
        return self._forwarded(logits[..., 0], logits[..., 1], cache=EncoderModelCache(pad, None))  # (N, S), (N, S)

    def backward(self, dstart: np.ndarray, dend: np.ndarray) -> None:
        """Shape: dstart ``(N, S)``, dend ``(N, S)`` -> None."""
        pad = self._cached().pad
        dlogits = np.stack([dstart, dend], axis=-1)  # 2 x (N, S) -> (N, S, 2)
        dlogits[pad] = 0.0  # pad logits are constants
        self._encode_backward(self.qa_outputs.backward(dlogits))
