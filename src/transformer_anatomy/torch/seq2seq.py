"""A sequence-to-sequence model around :class:`Transformer`: token embeddings, positions, the
encoder–decoder, and a generator (the output projection to the target vocabulary), with
greedy decoding, beam search and incremental decoding with a key/value cache.

Page: ``docs/own-transformer.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_anatomy.errors import check_bool, check_int, check_number, check_positive_int, check_token_id
from transformer_anatomy.torch.embeddings import check_token_ids, embed_tokens, init_token_embedding, make_positional
from transformer_anatomy.torch.kv_cache import KVCache
from transformer_anatomy.torch.masks import padding_mask_or_none
from transformer_anatomy.torch.module import ModuleMixin, eval_mode
from transformer_anatomy.torch.transformer import Transformer

__all__ = ["Seq2SeqTransformer"]


class Seq2SeqTransformer(ModuleMixin, nn.Module):
    """Encoder–decoder model from token ids to next-token logits.

    ``x = dropout(tok_emb(ids) · √E + position)`` (no ``√E`` when ``scale_embedding=False``),
    then :class:`Transformer` (batch-first, causal target self-attention, key padding masks
    built from ``pad_id``), then ``generator`` (Linear ``E -> V_tgt``).

    Args:
        src_vocab_size, tgt_vocab_size: ``V_src``, ``V_tgt``.
        d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout,
        activation, norm_first: as :class:`Transformer` (defaults 64, 4, 2, 2, 256, 0.1, relu, False).
        positional: ``"sinusoidal"`` (fixed, not in the state_dict) or ``"learned"``
            (``src_pos_emb.weight``, ``tgt_pos_emb.weight``, each ``(max_len, E)``).
        max_len: longest sequence the positions cover.
        scale_embedding: multiply token embeddings by √E (and initialise them N(0, 1/E)).
        tie_weights: ``generator.weight`` is ``tgt_tok_emb.weight`` (one tensor).
        pad_id: padding token id; padded keys are masked everywhere.

    Shape:
        src_ids: ``(N, S)`` int, tgt_ids: ``(N, T)`` int -> logits ``(N, T, V_tgt)``.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> m = Seq2SeqTransformer(src_vocab_size=12, tgt_vocab_size=10, d_model=16, nhead=2)
        >>> src, tgt = torch.tensor([[4, 5, 6, 0]]), torch.tensor([[1, 7, 8]])  # 0 = pad, 1 = <sos>
        >>> m(src, tgt).shape
        torch.Size([1, 3, 10])
        >>> m.greedy_decode(src, max_len=5, sos_id=1, eos_id=2).shape[1] <= 5
        True
        >>> m.num_parameters()
        41290
    """

    transformer_class: type[nn.Module] = Transformer
    """The encoder–decoder in the middle, built with ``Transformer``'s arguments (batch-first)."""

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
    ) -> None:
        super().__init__()
        check_positive_int("src_vocab_size", src_vocab_size)  # the NumPy backend's checks and wording
        check_positive_int("tgt_vocab_size", tgt_vocab_size)
        check_token_id("pad_id", pad_id, min(src_vocab_size, tgt_vocab_size))  # valid in both vocabularies
        check_positive_int("max_len", max_len)
        check_int("num_encoder_layers", num_encoder_layers, 0)
        check_int("num_decoder_layers", num_decoder_layers, 0)
        self.d_model, self.pad_id = d_model, pad_id
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.scale_embedding, self.positional = scale_embedding, positional
        # Registration order gives the state_dict order of CONTRACTS.md.
        self.src_tok_emb = nn.Embedding(src_vocab_size, d_model)
        self.tgt_tok_emb = nn.Embedding(tgt_vocab_size, d_model)
        self.src_pos_emb = make_positional(positional, max_len, d_model)
        # a fixed table is shared; learned positions are separate parameters
        self.tgt_pos_emb = self.src_pos_emb if positional == "sinusoidal" else make_positional(positional, max_len, d_model)
        self.transformer = self.transformer_class(
            d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, dropout, activation,
            batch_first=True, norm_first=norm_first,
        )
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)
        init_token_embedding(self.src_tok_emb, scale_embedding)
        init_token_embedding(self.tgt_tok_emb, scale_embedding)
        if tie_weights:
            self.generator.weight = self.tgt_tok_emb.weight

    # ----------------------------------------------------------------------------------------
    def _embed(self, ids: Tensor, tok: nn.Embedding, pos: nn.Module, offset: int = 0) -> Tensor:
        """``(N, L)`` ids -> ``(N, L, E)`` vectors: token · √E + position, then dropout."""
        return embed_tokens(ids, tok, pos, self.dropout, self.scale_embedding, offset)

    def _pad_mask(self, ids: Tensor) -> Tensor | None:
        """``(N, L)`` bool, True at pad; None when there is no padding (lets SDPA go unmasked)."""
        return padding_mask_or_none(ids, self.pad_id)

    # --8<-- [start:seq2seq_forward]
    def forward(self, src_ids: Tensor, tgt_ids: Tensor) -> Tensor:
        """Teacher forcing: logits for every target position at once.

        ``tgt_ids`` is the target shifted right (starting with ``<sos>``); the causal mask
        keeps position ``t`` from seeing positions after ``t``.
        """
        memory = self.encode(src_ids)  # (N, S) -> (N, S, E)
        return self.decode(tgt_ids, memory, src_ids)  # -> (N, T, V_tgt)

    def encode(self, src_ids: Tensor) -> Tensor:
        """Shape: src_ids ``(N, S)`` -> memory ``(N, S, E)``."""
        src_ids = check_token_ids(src_ids, self.src_vocab_size, "src_ids")
        x = self._embed(src_ids, self.src_tok_emb, self.src_pos_emb)  # (N, S, E)
        return self.transformer.encode(x, src_key_padding_mask=self._pad_mask(src_ids))

    def decode(self, tgt_ids: Tensor, memory: Tensor, src_ids: Tensor) -> Tensor:
        """Shape: tgt_ids ``(N, T)``, memory ``(N, S, E)``, src_ids ``(N, S)`` -> logits ``(N, T, V_tgt)``."""
        tgt_ids = check_token_ids(tgt_ids, self.tgt_vocab_size, "tgt_ids")
        y = self._embed(tgt_ids, self.tgt_tok_emb, self.tgt_pos_emb)  # (N, T, E)
        h = self.transformer.decode(
            y,
            memory,
            tgt_key_padding_mask=self._pad_mask(tgt_ids),
            memory_key_padding_mask=self._pad_mask(src_ids),
            tgt_is_causal=True,  # causal self-attention without building a (T, T) mask
        )
        return self.generator(h)  # (N, T, E) -> (N, T, V_tgt)
    # --8<-- [end:seq2seq_forward]

    # ----------------------------------------------------------------------------------------
    def init_cache(self, memory: Tensor, src_ids: Tensor) -> KVCache:
        """An empty :class:`KVCache` holding each decoder layer's cross-attention keys/values.

        Shape: memory ``(N, S, E)``, src_ids ``(N, S)``.
        """
        memory_pad = self._pad_mask(src_ids)
        layers = []
        for layer in self.transformer.decoder.layers:
            k, v = layer.multihead_attn.project_kv(memory, memory)  # 2 x (N, H, S, E/H)
            entry = {"cross_k": k, "cross_v": v}
            if memory_pad is not None:
                entry["memory_pad"] = memory_pad
            layers.append(entry)
        return KVCache(layers=layers, length=0)

    def decode_step(self, tgt_ids: Tensor, cache: KVCache) -> Tensor:
        """Logits for the last position of ``tgt_ids``, computing only positions not yet cached.

        ``tgt_ids`` is the whole target prefix so far; positions ``cache.length:`` are new (one
        per call in greedy decoding, or the whole prefix on the first call). The result equals
        ``decode(tgt_ids, memory, src_ids)[:, -1]`` up to rounding.

        Shape: tgt_ids ``(N, t)`` -> logits ``(N, V_tgt)``.
        """
        tgt_ids = check_token_ids(tgt_ids, self.tgt_vocab_size, "tgt_ids")
        if tgt_ids.size(1) <= cache.length:
            raise ValueError(f"tgt_ids has {tgt_ids.size(1)} positions but the cache already holds {cache.length}")
        new = tgt_ids[:, cache.length :]  # (N, t_new)
        x = self._embed(new, self.tgt_tok_emb, self.tgt_pos_emb, offset=cache.length)  # (N, t_new, E)
        pad = self._pad_mask(new)
        for layer, layer_cache in zip(self.transformer.decoder.layers, cache.layers):
            x = layer.forward_step(x, layer_cache, pad)
        if self.transformer.decoder.norm is not None:
            x = self.transformer.decoder.norm(x)
        cache.length = tgt_ids.size(1)
        return self.generator(x[:, -1])  # (N, E) -> (N, V_tgt)

    def _check_decoding(self, src_ids: Tensor, max_len: int, sos_id: int, eos_id: int) -> Tensor:
        """The checks shared by both decoders (and the NumPy ``greedy_decode``), before any work."""
        src_ids = check_token_ids(src_ids, self.src_vocab_size, "src_ids")
        check_positive_int("max_len", max_len)
        check_token_id("sos_id", sos_id, self.tgt_vocab_size)
        check_token_id("eos_id", eos_id, self.tgt_vocab_size)
        return src_ids

    # ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def greedy_decode(self, src_ids: Tensor, max_len: int, sos_id: int, eos_id: int, use_cache: bool = True) -> Tensor:
        """Pick the most likely next token until every sequence has produced ``eos_id``.

        Decodes in eval mode (no dropout) and puts the model's train/eval mode back afterwards,
        as the NumPy ``greedy_decode`` does. After a sequence's ``eos_id`` the rest of its row is
        ``pad_id``.

        Args:
            src_ids: source token ids.
            max_len: the longest output, ``<sos>`` included.
            sos_id, eos_id: the start and end tokens of the target vocabulary.
            use_cache: decode with a :class:`KVCache` (one new position per step); ``False``
                recomputes every position at each step (the same ids, slower).

        Shape: src_ids ``(N, S)`` -> ids ``(N, L)`` with ``ids[:, 0] == sos_id`` and ``L <= max_len``.
        An empty batch (``N = 0``) gives an empty ``(0, 1)`` result, as torch's ops do.

        Examples:
            >>> _ = torch.manual_seed(0)
            >>> m = Seq2SeqTransformer(12, 10, d_model=16, nhead=2).train()
            >>> src = torch.tensor([[4, 5, 6], [7, 8, 0]])
            >>> ids = m.greedy_decode(src, max_len=6, sos_id=1, eos_id=2)
            >>> torch.equal(ids, m.greedy_decode(src, max_len=6, sos_id=1, eos_id=2, use_cache=False)), m.training
            (True, True)
        """
        src_ids = self._check_decoding(src_ids, max_len, sos_id, eos_id)
        check_bool("use_cache", use_cache)
        if src_ids.size(0) == 0:
            return torch.full((0, 1), sos_id, dtype=torch.long, device=src_ids.device)
        with eval_mode(self):
            memory = self.encode(src_ids)
            N = src_ids.size(0)
            ys = torch.full((N, 1), sos_id, dtype=torch.long, device=src_ids.device)
            done = torch.zeros(N, dtype=torch.bool, device=src_ids.device)
            cache = self.init_cache(memory, src_ids) if use_cache else None
            for _ in range(max_len - 1):
                if cache is not None:
                    logits = self.decode_step(ys, cache)  # (N, V): newest position only
                else:
                    logits = self.decode(ys, memory, src_ids)[:, -1]  # recompute all positions
                nxt = logits.argmax(dim=-1).masked_fill(done, self.pad_id)  # (N,)
                ys = torch.cat([ys, nxt.unsqueeze(1)], dim=1)  # (N, t) -> (N, t + 1)
                done = done | (nxt == eos_id)
                if bool(done.all()):
                    break
        return ys

    # --8<-- [start:beam_search]
    @torch.no_grad()
    def beam_search(
        self,
        src_ids: Tensor,
        beam_size: int,
        max_len: int,
        sos_id: int,
        eos_id: int,
        length_penalty: float = 0.0,
        return_scores: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Keep the ``beam_size`` best partial hypotheses per source sentence.

        A hypothesis' score is its summed log-probability divided by the GNMT length penalty
        ``((5 + len) / 6) ** length_penalty`` (``len`` counts generated tokens up to and
        including ``eos_id``; ``length_penalty=0`` ranks by the plain sum). A finished
        hypothesis stays in the beam with a frozen score and is extended by ``pad_id`` only.
        With ``beam_size=1`` this is greedy decoding. Uses the key/value cache; decodes in eval
        mode and puts the model's mode back afterwards.

        Args:
            src_ids, max_len, sos_id, eos_id: as :meth:`greedy_decode`.
            beam_size: hypotheses kept per source sentence (``B``).
            length_penalty: the GNMT exponent (0: no length normalisation).
            return_scores: also return the best hypotheses' scores.

        Shape: src_ids ``(N, S)`` -> best ids ``(N, L)`` (``ids[:, 0] == sos_id``, ``L <= max_len``)
        and, with ``return_scores``, their scores ``(N,)``.

        Examples:
            >>> _ = torch.manual_seed(0)
            >>> m = Seq2SeqTransformer(12, 10, d_model=16, nhead=2)
            >>> src = torch.tensor([[4, 5, 6]])
            >>> ids, score = m.beam_search(src, beam_size=4, max_len=6, sos_id=1, eos_id=2, return_scores=True)
            >>> torch.equal(m.beam_search(src, 1, 6, 1, 2), m.greedy_decode(src, 6, 1, 2)), score.shape
            (True, torch.Size([1]))
        """
        src_ids = self._check_decoding(src_ids, max_len, sos_id, eos_id)
        check_positive_int("beam_size", beam_size)
        check_number("length_penalty", length_penalty)
        if src_ids.size(0) == 0:  # an empty batch: empty results, as torch's ops give
            empty = torch.full((0, 1), sos_id, dtype=torch.long, device=src_ids.device)
            return (empty, torch.zeros(0, device=src_ids.device)) if return_scores else empty
        with eval_mode(self):
            beams = _Beams(self, src_ids, beam_size, sos_id, eos_id, length_penalty)
            for _ in range(max_len - 1):
                if beams.step():
                    break
        best_ids, best_score = beams.best()
        return (best_ids, best_score) if return_scores else best_ids


class _Beams:
    """The state of a beam search: ``N*B`` hypotheses (the ``B`` beams of a sentence adjacent),
    their scores, lengths, finished flags and the key/value cache."""

    def __init__(self, model: Seq2SeqTransformer, src_ids: Tensor, B: int, sos_id: int, eos_id: int,
                 length_penalty: float) -> None:
        N, V, dev = src_ids.size(0), model.tgt_vocab_size, src_ids.device
        self.model, self.N, self.B, self.V, self.eos_id, self.lp = model, N, B, V, eos_id, length_penalty
        memory = model.encode(src_ids)
        src_rep = src_ids.repeat_interleave(B, dim=0)  # (N, S) -> (N*B, S), beams of a sentence adjacent
        self.cache = model.init_cache(memory.repeat_interleave(B, dim=0), src_rep)  # memory (N*B, S, E)
        self.ys = torch.full((N * B, 1), sos_id, dtype=torch.long, device=dev)
        score = torch.zeros(N, B, device=dev, dtype=memory.dtype)
        score[:, 1:] = float("-inf")  # all beams start identical: let only beam 0 expand
        self.score = score.view(N * B)
        self.done = torch.zeros(N * B, dtype=torch.bool, device=dev)
        self.length = torch.zeros(N * B, device=dev, dtype=memory.dtype)  # generated tokens so far
        self.pad_only = torch.full((V,), float("-inf"), device=dev, dtype=memory.dtype)
        self.pad_only[model.pad_id] = 0.0  # a finished beam continues with pad at no cost

    def _penalised(self, score: Tensor, length: Tensor) -> Tensor:
        return score / ((5.0 + length) / 6.0).pow(self.lp)

    def step(self) -> bool:
        """Extend every hypothesis by one token, keep the best ``B`` per sentence; True when all are done."""
        N, B, V = self.N, self.B, self.V
        logp = F.log_softmax(self.model.decode_step(self.ys, self.cache), dim=-1)  # (N*B, V)
        logp = torch.where(self.done.unsqueeze(1), self.pad_only, logp)
        cand = self.score.unsqueeze(1) + logp  # (N*B, V) summed log-probabilities
        cand_len = self.length + (~self.done).to(self.length.dtype)  # (N*B,)
        ranked = self._penalised(cand, cand_len.unsqueeze(1))
        _, flat = ranked.view(N, B * V).topk(B, dim=1)  # best B of the B*V candidates per sentence
        parent = flat // V + torch.arange(N, device=flat.device).unsqueeze(1) * B  # (N, B) rows in N*B
        parent, token = parent.view(-1), (flat % V).view(-1)  # (N*B,)
        self.score = cand.view(-1)[parent * V + token]
        self.length, self.done = cand_len[parent], self.done[parent] | (token == self.eos_id)
        self.ys = torch.cat([self.ys[parent], token.unsqueeze(1)], dim=1)  # (N*B, t) -> (N*B, t + 1)
        self.cache.reorder(parent)
        return bool(self.done.all())

    def best(self) -> tuple[Tensor, Tensor]:
        """The best finished-or-not hypothesis per sentence: ids ``(N, L)`` and score ``(N,)``."""
        final = self._penalised(self.score, self.length).view(self.N, self.B)
        best_score, best = final.max(dim=1)  # (N,)
        rows = torch.arange(self.N, device=best.device)
        return self.ys.view(self.N, self.B, -1)[rows, best], best_score  # (N, B, L) -> (N, L)
# --8<-- [end:beam_search]
