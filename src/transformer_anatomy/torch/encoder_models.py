"""Encoder-only models: one encoder, three heads.

- :class:`TransformerClassifier`: mean of the non-pad positions -> class logits (sentiment, topic).
- :class:`TransformerTagger`: every position -> tag logits (part of speech, named entities).
- :class:`TransformerQA`: every position -> a start and an end logit (extractive QA, as BERT on
  SQuAD: the answer is the span ``[argmax start, argmax end]``).

Pages: the data-flow-by-task guide (classification, sequence labelling, question answering).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from transformer_anatomy.errors import check_int, check_positive_int, check_token_id
from transformer_anatomy.torch.embeddings import check_token_ids, embed_tokens, init_token_embedding, make_positional
from transformer_anatomy.torch.module import ModuleMixin
from transformer_anatomy.torch.init import xavier_uniform_matrices_
from transformer_anatomy.torch.transformer import TransformerEncoder, TransformerEncoderLayer, _check_config

__all__ = ["TransformerClassifier", "TransformerTagger", "TransformerQA", "QA_PAD_LOGIT"]

QA_PAD_LOGIT = -1e4
"""Start/end logit at pad positions: finite (no NaN in a loss), and exp(-1e4 - max) is 0."""


class _EncoderModel(ModuleMixin, nn.Module):
    """Token embedding + position + ``TransformerEncoder`` (with final norm); heads subclass it."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 256,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        positional: str = "sinusoidal",
        max_len: int = 512,
        scale_embedding: bool = True,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        _check_config(d_model, nhead, dropout, activation)
        check_positive_int("vocab_size", vocab_size)  # the NumPy backend's checks and wording
        check_token_id("pad_id", pad_id, vocab_size)
        check_positive_int("max_len", max_len)
        check_int("num_layers", num_layers, 0)
        self.vocab_size, self.d_model, self.pad_id = vocab_size, d_model, pad_id
        self.scale_embedding = scale_embedding
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = make_positional(positional, max_len, d_model)
        layer = TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout, activation, batch_first=True, norm_first=norm_first
        )
        self.encoder = TransformerEncoder(layer, num_layers, nn.LayerNorm(d_model))
        self.dropout = nn.Dropout(dropout)
        xavier_uniform_matrices_(self.encoder)  # nn.Transformer's init for the encoder's matrices
        init_token_embedding(self.tok_emb, scale_embedding)

    def encode(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Shape: ids ``(N, S)`` -> hidden states ``(N, S, E)`` and pad mask ``(N, S)`` (True = pad)."""
        ids = check_token_ids(ids, self.vocab_size, "ids")
        pad = ids == self.pad_id  # (N, S)
        x = embed_tokens(ids, self.tok_emb, self.pos_emb, self.dropout, self.scale_embedding)  # (N, S, E)
        h = self.encoder(x, src_key_padding_mask=pad if bool(pad.any()) else None)
        return h, pad


class TransformerClassifier(_EncoderModel):
    """Sequence classification: mean-pool the non-pad positions, then ``classifier`` (E -> C).

    Args:
        vocab_size: ``V``. num_classes: ``C``. The others as :class:`Seq2SeqTransformer`
        (``num_layers`` encoder layers, then a final LayerNorm).

    Shape:
        ids: ``(N, S)`` int -> logits ``(N, C)``. A row of only pads pools to zeros.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> m = TransformerClassifier(vocab_size=20, num_classes=3, d_model=16, nhead=2)
        >>> m(torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])).shape  # 0 = pad
        torch.Size([2, 3])
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.1, activation: str = "relu", norm_first: bool = False,
                 positional: str = "sinusoidal", max_len: int = 512, scale_embedding: bool = True, pad_id: int = 0) -> None:
        check_positive_int("num_classes", num_classes)
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation, norm_first,
                         positional, max_len, scale_embedding, pad_id)
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        """Mean of the non-pad hidden states, then ``classifier``: ``(N, S)`` -> ``(N, C)``."""
        h, pad = self.encode(ids)  # (N, S, E), (N, S)
        keep = (~pad).unsqueeze(-1).to(h.dtype)  # (N, S) -> (N, S, 1)
        pooled = (h * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)  # (N, S, E) -> (N, E)
        return self.classifier(pooled)  # (N, E) -> (N, C)


class TransformerTagger(_EncoderModel):
    """Sequence labelling: ``tagger`` (E -> C) at every position (pad positions included:
    the loss ignores them).

    Args: as :class:`TransformerClassifier` (``num_classes``: the number of tags).

    Shape:
        ids: ``(N, S)`` int -> logits ``(N, S, C)``.

    Examples:
        >>> m = TransformerTagger(vocab_size=20, num_classes=5, d_model=16, nhead=2)
        >>> m(torch.tensor([[5, 6, 7, 0]])).shape
        torch.Size([1, 4, 5])
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.1, activation: str = "relu", norm_first: bool = False,
                 positional: str = "sinusoidal", max_len: int = 512, scale_embedding: bool = True, pad_id: int = 0) -> None:
        check_positive_int("num_classes", num_classes)
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation, norm_first,
                         positional, max_len, scale_embedding, pad_id)
        self.tagger = nn.Linear(d_model, num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        """Tag logits at every position: ``(N, S)`` -> ``(N, S, C)``."""
        h, _ = self.encode(ids)
        return self.tagger(h)  # (N, S, E) -> (N, S, C)


class TransformerQA(_EncoderModel):
    """Extractive question answering: ``qa_outputs`` (E -> 2) gives a start and an end logit
    per position; pad positions get :data:`QA_PAD_LOGIT`.

    Args: as :class:`TransformerClassifier`, without ``num_classes``.

    Shape:
        ids: ``(N, S)`` int -> start_logits ``(N, S)``, end_logits ``(N, S)``.

    Examples:
        >>> m = TransformerQA(vocab_size=20, d_model=16, nhead=2)
        >>> start, end = m(torch.tensor([[5, 6, 7, 0]]))
        >>> start.shape, start[0, 3].item() == QA_PAD_LOGIT  # the pad position can never be chosen
        (torch.Size([1, 4]), True)
    """

    def __init__(self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 256, dropout: float = 0.1, activation: str = "relu", norm_first: bool = False,
                 positional: str = "sinusoidal", max_len: int = 512, scale_embedding: bool = True, pad_id: int = 0) -> None:
        super().__init__(vocab_size, d_model, nhead, num_layers, dim_feedforward, dropout, activation, norm_first,
                         positional, max_len, scale_embedding, pad_id)
        self.qa_outputs = nn.Linear(d_model, 2)

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """Start and end logits: ``(N, S)`` -> 2 x ``(N, S)``."""
        h, pad = self.encode(ids)
        logits = self.qa_outputs(h).masked_fill(pad.unsqueeze(-1), QA_PAD_LOGIT)  # (N, S, E) -> (N, S, 2)
        start, end = logits.unbind(dim=-1)  # (N, S, 2) -> 2 x (N, S)
        return start, end

