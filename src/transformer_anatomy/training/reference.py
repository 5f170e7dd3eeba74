"""The reference model: ``torch.nn.Transformer`` dressed exactly like our ``Seq2SeqTransformer``.

Same embeddings (and their initialisation), same sinusoidal positions, same generator, same
parameter names, so the two train under one :class:`~transformer_anatomy.training.TorchTrainer`
with one config and their wall times can be set side by side. Only the middle differs:
PyTorch's ``nn.Transformer`` instead of ours. Its decoding recomputes every position at each
step (``nn.Transformer`` has no key/value cache).

Page: ``docs/training.md`` (ours vs ``nn.Transformer``, timed in one run).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from transformer_anatomy.torch.embeddings import PositionalEncoding
from transformer_anatomy.torch.seq2seq import init_token_embedding


class ReferenceSeq2Seq(nn.Module):
    """``nn.Transformer`` (batch-first) between token embeddings and a generator.

    ``x = dropout(tok_emb(ids) · √E + PE)``; ``logits = generator(nn.Transformer(x_src, x_tgt))``
    with a causal target mask and key-padding masks built from ``pad_id``.

    Shape:
        src_ids: ``(N, S)``, tgt_ids: ``(N, T)`` -> logits ``(N, T, V_tgt)``.
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
        max_len: int = 512,
        scale_embedding: bool = True,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.d_model, self.pad_id, self.scale_embedding = d_model, pad_id, scale_embedding
        self.src_tok_emb = nn.Embedding(src_vocab_size, d_model)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab_size, d_model)
        self.pos = PositionalEncoding(d_model, max_len)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward,
                                          dropout, activation, batch_first=True, norm_first=norm_first)
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)
        init_token_embedding(self.src_tok_emb, scale_embedding)
        init_token_embedding(self.tgt_tok_emb, scale_embedding)

    def _embed(self, ids: Tensor, tok: nn.Embedding) -> Tensor:
        x = tok(ids)  # (N, L) -> (N, L, E)
        if self.scale_embedding:
            x = x * math.sqrt(self.d_model)
        return self.dropout(self.pos(x))

    def _pad(self, ids: Tensor) -> Tensor | None:
        pad = ids == self.pad_id
        return pad if bool(pad.any()) else None

    def encode(self, src_ids: Tensor) -> Tensor:
        """Shape: src_ids ``(N, S)`` -> memory ``(N, S, E)``."""
        return self.transformer.encoder(self._embed(src_ids, self.src_tok_emb), src_key_padding_mask=self._pad(src_ids))

    def decode(self, tgt_ids: Tensor, memory: Tensor, src_ids: Tensor) -> Tensor:
        """Shape: tgt_ids ``(N, T)``, memory ``(N, S, E)`` -> logits ``(N, T, V_tgt)``."""
        T = tgt_ids.size(1)
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_ids.device).triu(1)  # (T, T), True above: the future
        h = self.transformer.decoder(self._embed(tgt_ids, self.tgt_tok_emb), memory, tgt_mask=causal,
                                     tgt_key_padding_mask=self._pad(tgt_ids),
                                     memory_key_padding_mask=self._pad(src_ids), tgt_is_causal=True)
        return self.generator(h)  # (N, T, E) -> (N, T, V)

    def forward(self, src_ids: Tensor, tgt_ids: Tensor) -> Tensor:
        return self.decode(tgt_ids, self.encode(src_ids), src_ids)

    @torch.no_grad()
    def greedy_decode(self, src_ids: Tensor, max_len: int, sos_id: int, eos_id: int) -> Tensor:
        """Most likely next token until every row has produced ``eos_id`` (pad afterwards).

        Shape: src_ids ``(N, S)`` -> ids ``(N, L)``, ``L <= max_len``, ``ids[:, 0] == sos_id``.
        """
        memory = self.encode(src_ids)
        N = src_ids.size(0)
        ys = torch.full((N, 1), sos_id, dtype=torch.long, device=src_ids.device)
        done = torch.zeros(N, dtype=torch.bool, device=src_ids.device)
        for _ in range(max_len - 1):
            nxt = self.decode(ys, memory, src_ids)[:, -1].argmax(-1).masked_fill(done, self.pad_id)  # (N,)
            ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)
            done = done | (nxt == eos_id)
            if bool(done.all()):
                break
        return ys
