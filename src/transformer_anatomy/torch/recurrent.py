"""Recurrent baselines with the interfaces of our Transformer models: an LSTM encoder–decoder
(:class:`LSTMSeq2Seq`, the drop-in for :class:`~transformer_anatomy.torch.Seq2SeqTransformer`)
and an LSTM classifier (:class:`LSTMClassifier`, the drop-in for
:class:`~transformer_anatomy.torch.TransformerClassifier`). ``TorchTrainer`` trains them
unchanged: ``forward(src_ids, tgt_ids) -> logits`` and ``greedy_decode`` for seq2seq,
``forward(ids) -> logits`` for classification, padding from ``pad_id``.

The decoder attends over the encoder states with Luong et al.'s (2015) *dot* score,
``a_t = softmax(h_t · H_src)``, and combines context and state as
``tanh(W_c [a_t H_src; h_t])`` before the generator. Attention is there because it is what the
Transformer has too: without it the whole source must pass through one ``(h, c)`` pair
(Sutskever et al. 2014), and a comparison would measure that bottleneck rather than
recurrence. ``attention=False`` removes it (the generator then reads ``h_t``). There is no
"input feeding" (Luong's feeding of the previous attentional vector into the next step), so
teacher forcing runs the decoder LSTM over all ``T`` positions in one call.

Padding must come after the tokens (right padding, as every task of the site writes it): the
encoder packs each row to its length, so pads change nothing, and pad keys are masked in the
attention.

Page: ``docs/rnn-vs-transformer.md``.

Examples:
    >>> import torch
    >>> from transformer_anatomy.torch.recurrent import LSTMClassifier, LSTMSeq2Seq
    >>> _ = torch.manual_seed(0)
    >>> model = LSTMSeq2Seq(src_vocab_size=11, tgt_vocab_size=13, d_model=16)
    >>> src = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])  # 0 = <pad>, right-padded
    >>> tgt_in = torch.tensor([[1, 7, 6, 5], [1, 9, 8, 0]])
    >>> model(src, tgt_in).shape
    torch.Size([2, 4, 13])
    >>> LSTMClassifier(11, num_classes=2, d_model=16)(src).shape
    torch.Size([2, 2])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from transformer_anatomy.errors import check_bool, check_positive_int, check_probability, check_token_id
from transformer_anatomy.torch.embeddings import check_token_ids
from transformer_anatomy.torch.module import ModuleMixin, eval_mode

__all__ = ["LSTMClassifier", "LSTMSeq2Seq", "POOLINGS", "right_padded_lengths"]

POOLINGS = ("mean", "last")
"""How :class:`LSTMClassifier` turns ``(N, S, E)`` states into one vector per row."""


def right_padded_lengths(ids: Tensor, pad_id: int, name: str) -> Tensor:
    """Lengths ``(N,)`` of right-padded rows; ``ValueError`` if a pad precedes a token.

    Shape: ids ``(N, S)`` -> lengths ``(N,)`` int64 on the CPU (what packing wants).

    Examples:
        >>> import torch
        >>> right_padded_lengths(torch.tensor([[4, 5, 0], [6, 0, 0]]), 0, "ids").tolist()
        [2, 1]
    """
    real = ids != pad_id  # (N, S)
    lengths = real.sum(dim=1)  # (N,)
    if ids.numel() and bool((real[:, 1:] & ~real[:, :-1]).any()):
        row = int((real[:, 1:] & ~real[:, :-1]).any(dim=1).nonzero()[0])
        raise ValueError(f"{name}: row {row} has a token after a pad (pad_id={pad_id}); the LSTM models "
                         f"expect right padding: tokens first, then pads")
    return lengths.cpu()


def _check_size(d_model: int, num_layers: int, dropout: float) -> None:
    check_positive_int("d_model", d_model)
    check_positive_int("num_layers", num_layers)
    check_probability("dropout", dropout)


def _run_packed(lstm: nn.LSTM, x: Tensor, lengths: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run ``lstm`` over the first ``lengths[i]`` positions of each row only.

    Shape: x ``(N, S, E)`` -> outputs ``(N, S, E_out)`` (zeros after each row's length), final
    ``(h, c)`` each ``(layers · directions, N, E)`` taken at each row's last real position. A row of
    length 0 runs one step over its first (pad) vector; callers mask it. An empty batch or
    ``S = 0`` gives zeros.
    """
    N, S = x.shape[:2]
    if N == 0 or S == 0:  # an empty batch or zero-length rows: empty outputs, zero states
        D = 2 if lstm.bidirectional else 1
        zeros = x.new_zeros(lstm.num_layers * D, N, lstm.hidden_size)
        return x.new_zeros(N, S, D * lstm.hidden_size), (zeros, zeros.clone())
    packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
    out, state = lstm(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=S)  # (N, S, E_out)
    return out, state


class LSTMSeq2Seq(ModuleMixin, nn.Module):
    """LSTM encoder–decoder with dot-product (Luong) attention, from token ids to next-token logits.

    Encoder: ``nn.LSTM`` over the embedded source (packed: pads are skipped). Decoder: ``nn.LSTM``
    started from the encoder's final ``(h, c)``, over the embedded target shifted right; at every
    position ``t`` it attends over the encoder states (pad keys masked), ``h̃_t = tanh(W_c [a_t · H_src; h_t])``,
    then ``generator`` (Linear ``E -> V_tgt``).

    Args:
        src_vocab_size, tgt_vocab_size: ``V_src``, ``V_tgt``.
        d_model: ``E``, the embedding width and the LSTMs' hidden size (default 64).
        num_layers: stacked LSTM layers in the encoder and in the decoder (default 2).
        dropout: on the embeddings, between LSTM layers and before the generator (default 0.1).
        attention: Luong dot attention over the encoder states (default True); False leaves the
            final encoder state as the decoder's only view of the source.
        pad_id: padding token id (default 0); sources must be right-padded.

    Shape:
        src_ids: ``(N, S)`` int, tgt_ids: ``(N, T)`` int -> logits ``(N, T, V_tgt)``.

    Examples:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> m = LSTMSeq2Seq(10, 10, d_model=8, num_layers=1)
        >>> ids = m.greedy_decode(torch.tensor([[4, 5, 6]]), max_len=5, sos_id=1, eos_id=2)
        >>> ids.shape[0], int(ids[0, 0])
        (1, 1)
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 64, num_layers: int = 2,
                 dropout: float = 0.1, attention: bool = True, pad_id: int = 0) -> None:
        super().__init__()
        check_positive_int("src_vocab_size", src_vocab_size)
        check_positive_int("tgt_vocab_size", tgt_vocab_size)
        _check_size(d_model, num_layers, dropout)
        check_bool("attention", attention)
        check_token_id("pad_id", pad_id, min(src_vocab_size, tgt_vocab_size))
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.d_model, self.num_layers, self.pad_id, self.attention = d_model, num_layers, pad_id, attention
        between = dropout if num_layers > 1 else 0.0  # nn.LSTM warns about dropout with one layer
        self.src_tok_emb = nn.Embedding(src_vocab_size, d_model)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab_size, d_model)
        self.encoder = nn.LSTM(d_model, d_model, num_layers, batch_first=True, dropout=between)
        self.decoder = nn.LSTM(d_model, d_model, num_layers, batch_first=True, dropout=between)
        self.combine = nn.Linear(2 * d_model, d_model) if attention else None  # W_c [context; h_t]
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)

    # --8<-- [start:lstm_seq2seq]
    def encode(self, src_ids: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Shape: src_ids ``(N, S)`` -> memory ``(N, S, E)`` and the final ``(h, c)``, each ``(L, N, E)``."""
        src_ids = check_token_ids(src_ids, self.src_vocab_size, "src_ids")
        lengths = right_padded_lengths(src_ids, self.pad_id, "src_ids")
        x = self.dropout(self.src_tok_emb(src_ids))  # (N, S) -> (N, S, E)
        return _run_packed(self.encoder, x, lengths)

    def decode(self, tgt_ids: Tensor, memory: Tensor, src_ids: Tensor,
               state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits for every position of ``tgt_ids``, continuing from ``state``; and the new state.

        Shape: tgt_ids ``(N, T)``, memory ``(N, S, E)``, src_ids ``(N, S)`` -> logits ``(N, T, V_tgt)``.
        """
        tgt_ids = check_token_ids(tgt_ids, self.tgt_vocab_size, "tgt_ids")
        y = self.dropout(self.tgt_tok_emb(tgt_ids))  # (N, T) -> (N, T, E)
        h, state = self.decoder(y, state)  # (N, T, E): position t has read tgt[:t + 1] only
        if self.attention:
            scores = h @ memory.transpose(1, 2)  # (N, T, E) x (N, E, S) -> (N, T, S)
            scores = scores.masked_fill((src_ids == self.pad_id).unsqueeze(1), float("-inf"))
            weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # an all-pad source: zeros
            context = weights @ memory  # (N, T, S) x (N, S, E) -> (N, T, E)
            h = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))  # (N, T, 2E) -> (N, T, E)
        return self.generator(self.dropout(h)), state  # (N, T, E) -> (N, T, V_tgt)

    def forward(self, src_ids: Tensor, tgt_ids: Tensor) -> Tensor:
        """Teacher forcing: ``tgt_ids`` is the target shifted right (``<sos>`` first)."""
        memory, state = self.encode(src_ids)  # (N, S, E), 2 x (L, N, E)
        return self.decode(tgt_ids, memory, src_ids, state)[0]  # (N, T, V_tgt)
    # --8<-- [end:lstm_seq2seq]

    @torch.no_grad()
    def greedy_decode(self, src_ids: Tensor, max_len: int, sos_id: int, eos_id: int) -> Tensor:
        """Pick the most likely next token, one LSTM step at a time, until every row has ``eos_id``.

        Decodes in eval mode (no dropout) and puts the model's train/eval mode back afterwards;
        after a row's ``eos_id`` the rest of it is ``pad_id``: as :meth:`Seq2SeqTransformer.greedy_decode`.

        Shape: src_ids ``(N, S)`` -> ids ``(N, L)`` with ``ids[:, 0] == sos_id`` and ``L <= max_len``.
        """
        src_ids = check_token_ids(src_ids, self.src_vocab_size, "src_ids")
        check_positive_int("max_len", max_len)
        check_token_id("sos_id", sos_id, self.tgt_vocab_size)
        check_token_id("eos_id", eos_id, self.tgt_vocab_size)
        N = src_ids.size(0)
        ys = torch.full((N, 1), sos_id, dtype=torch.long, device=src_ids.device)
        if N == 0:
            return ys
        with eval_mode(self):
            memory, state = self.encode(src_ids)
            done = torch.zeros(N, dtype=torch.bool, device=src_ids.device)
            for _ in range(max_len - 1):
                logits, state = self.decode(ys[:, -1:], memory, src_ids, state)  # the newest token only
                nxt = logits[:, -1].argmax(dim=-1).masked_fill(done, self.pad_id)  # (N,)
                ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)  # (N, t) -> (N, t + 1)
                done = done | (nxt == eos_id)
                if bool(done.all()):
                    break
        return ys


class LSTMClassifier(ModuleMixin, nn.Module):
    """Sequence classification with an LSTM encoder: pool the states, then ``classifier``.

    Args:
        vocab_size: ``V``. num_classes: ``C``.
        d_model: ``E``, the embedding width and hidden size per direction (default 64).
        num_layers: stacked LSTM layers (default 2).
        dropout: on the embeddings, between layers and before the classifier (default 0.1).
        pooling: ``"mean"`` (of the non-pad positions, as :class:`TransformerClassifier`) or
            ``"last"`` (the final state at each row's last real token; both directions'
            when bidirectional).
        bidirectional: a second LSTM reads each row right to left; the pooled vector is ``2E``.
        pad_id: padding token id (default 0); rows must be right-padded.

    Shape:
        ids: ``(N, S)`` int -> logits ``(N, C)``. A row of only pads pools to zeros.

    Examples:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> m = LSTMClassifier(20, 3, d_model=8, pooling="last", bidirectional=True)
        >>> m(torch.tensor([[4, 5, 6, 0]])).shape
        torch.Size([1, 3])
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, num_layers: int = 2,
                 dropout: float = 0.1, pooling: str = "mean", bidirectional: bool = False, pad_id: int = 0) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("num_classes", num_classes)
        _check_size(d_model, num_layers, dropout)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got pooling={pooling!r}")
        check_bool("bidirectional", bidirectional)
        check_token_id("pad_id", pad_id, vocab_size)
        self.vocab_size, self.d_model, self.pad_id = vocab_size, d_model, pad_id
        self.pooling, self.bidirectional = pooling, bidirectional
        between = dropout if num_layers > 1 else 0.0
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.encoder = nn.LSTM(d_model, d_model, num_layers, batch_first=True, dropout=between,
                               bidirectional=bidirectional)
        self.classifier = nn.Linear(d_model * (2 if bidirectional else 1), num_classes)
        self.dropout = nn.Dropout(dropout)

    # --8<-- [start:lstm_classifier]
    def forward(self, ids: Tensor) -> Tensor:
        ids = check_token_ids(ids, self.vocab_size, "ids")
        lengths = right_padded_lengths(ids, self.pad_id, "ids")
        x = self.dropout(self.tok_emb(ids))  # (N, S) -> (N, S, E)
        out, (h, _) = _run_packed(self.encoder, x, lengths)  # (N, S, D·E), h (L·D, N, E)
        keep = (ids != self.pad_id).unsqueeze(-1).to(out.dtype)  # (N, S, 1)
        if self.pooling == "mean":
            pooled = (out * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)  # (N, S, D·E) -> (N, D·E)
        else:
            last = h[-2:] if self.bidirectional else h[-1:]  # top layer: (D, N, E)
            pooled = last.transpose(0, 1).reshape(ids.size(0), -1)  # (D, N, E) -> (N, D·E)
            pooled = pooled * (lengths > 0).to(pooled.device, pooled.dtype).unsqueeze(1)  # an all-pad row: zeros
        return self.classifier(self.dropout(pooled))  # (N, D·E) -> (N, C)
    # --8<-- [end:lstm_classifier]
