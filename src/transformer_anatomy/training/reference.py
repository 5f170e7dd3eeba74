"""The reference model: ``torch.nn.Transformer`` dressed exactly like our ``Seq2SeqTransformer``.

It *is* a :class:`~transformer_anatomy.torch.Seq2SeqTransformer` with PyTorch's
``nn.Transformer`` in the middle: the same embeddings (and their initialisation), the same
sinusoidal positions, the same generator, the same parameter names and the same greedy decoding,
so the two train under one :class:`~transformer_anatomy.training.TorchTrainer` with one config
and their wall times can be set side by side. Only the middle differs, and with it
``encode``/``decode`` (``nn.Transformer`` has no ``encode``/``decode`` methods and wants an explicit
causal mask) and decoding: ``nn.Transformer`` has no key/value cache, so every step recomputes
every position, and there is no beam search.

Page: ``docs/training.md`` (ours vs ``nn.Transformer``, timed in one run).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from transformer_anatomy.torch.embeddings import check_token_ids
from transformer_anatomy.torch.kv_cache import KVCache
from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer

__all__ = ["ReferenceSeq2Seq"]


class ReferenceSeq2Seq(Seq2SeqTransformer):
    """``nn.Transformer`` (batch-first) between token embeddings and a generator.

    ``x = dropout(tok_emb(ids) · √E + PE)``; ``logits = generator(nn.Transformer(x_src, x_tgt))``
    with a causal target mask and key-padding masks built from ``pad_id``.

    Args: as :class:`~transformer_anatomy.torch.Seq2SeqTransformer` (the same defaults).

    Shape:
        src_ids: ``(N, S)``, tgt_ids: ``(N, T)`` -> logits ``(N, T, V_tgt)``.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> m = ReferenceSeq2Seq(12, 10, d_model=16, nhead=2).eval()
        >>> type(m.transformer).__name__, m(torch.tensor([[4, 5, 6]]), torch.tensor([[1, 7]])).shape
        ('Transformer', torch.Size([1, 2, 10]))
        >>> m.greedy_decode(torch.tensor([[4, 5, 6]]), max_len=4, sos_id=1, eos_id=2).shape[1] <= 4
        True
    """

    transformer_class = nn.Transformer

    def encode(self, src_ids: Tensor) -> Tensor:
        """Shape: src_ids ``(N, S)`` -> memory ``(N, S, E)``."""
        src_ids = check_token_ids(src_ids, self.src_vocab_size, "src_ids")
        x = self._embed(src_ids, self.src_tok_emb, self.src_pos_emb)  # (N, S, E)
        return self.transformer.encoder(x, src_key_padding_mask=self._pad_mask(src_ids))

    def decode(self, tgt_ids: Tensor, memory: Tensor, src_ids: Tensor) -> Tensor:
        """Shape: tgt_ids ``(N, T)``, memory ``(N, S, E)``, src_ids ``(N, S)`` -> logits ``(N, T, V_tgt)``.

        ``nn.MultiheadAttention`` takes ``is_causal`` as a hint only: the causal mask is built.
        """
        tgt_ids = check_token_ids(tgt_ids, self.tgt_vocab_size, "tgt_ids")
        T = tgt_ids.size(1)
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_ids.device).triu(1)  # (T, T), True above: the future
        h = self.transformer.decoder(
            self._embed(tgt_ids, self.tgt_tok_emb, self.tgt_pos_emb),
            memory,
            tgt_mask=causal,
            tgt_key_padding_mask=self._pad_mask(tgt_ids),
            memory_key_padding_mask=self._pad_mask(src_ids),
            tgt_is_causal=True,
        )
        return self.generator(h)  # (N, T, E) -> (N, T, V_tgt)

    def init_cache(self, memory: Tensor, src_ids: Tensor) -> KVCache:
        """Refused: ``nn.Transformer`` has no key/value cache (so no cached greedy decoding and no beam search)."""
        raise NotImplementedError("ReferenceSeq2Seq (nn.Transformer) has no key/value cache: decode with use_cache=False")

    @torch.no_grad()
    def greedy_decode(self, src_ids: Tensor, max_len: int, sos_id: int, eos_id: int, use_cache: bool = False) -> Tensor:
        """:meth:`Seq2SeqTransformer.greedy_decode` without a cache: every step recomputes every position.

        Shape: src_ids ``(N, S)`` -> ids ``(N, L)``, ``L <= max_len``, ``ids[:, 0] == sos_id``.
        """
        return super().greedy_decode(src_ids, max_len, sos_id, eos_id, use_cache=use_cache)
