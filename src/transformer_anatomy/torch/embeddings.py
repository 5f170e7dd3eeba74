"""Token embeddings and positions: the fixed sinusoidal encoding of the paper, a learned position
embedding, and the embedding step every model of this package shares.

Attention is permutation-equivariant: without positions an encoder cannot tell "ab" from "ba".
Both position modules **add** a position vector to each token vector: ``x[:, p] + P[p]``.
A model turns ids into vectors with :func:`embed_tokens`:
``dropout(tok_emb(ids) · √E + position)`` (no ``√E`` when ``scale_embedding=False``).

Page: ``docs/embeddings.md``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from transformer_anatomy.errors import TokenIdError, check_positive_int
from transformer_anatomy.torch._checks import check_tensor
from transformer_anatomy.torch.module import ModuleMixin

__all__ = [
    "PositionalEncoding",
    "LearnedPositionalEmbedding",
    "sinusoidal_table",
    "check_token_ids",
    "init_token_embedding",
    "make_positional",
    "embed_tokens",
]


# --8<-- [start:positional_encoding]
# --8<-- [start:sinusoidal_table]
def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """The paper's table (§3.5), computed in float64.

    ``PE[p, 2i] = sin(p / 10000^(2i/E))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/E))``.

    Shape:
        output: ``(max_len, E)``, float64.

    Examples:
        >>> sinusoidal_table(3, 4)[1]  # position 1: sin(1), cos(1), sin(1/100), cos(1/100)
        tensor([0.8415, 0.5403, 0.0100, 1.0000], dtype=torch.float64)
    """
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(E/2),): 0, 2, 4, ...
    inv_freq = torch.exp(two_i * (-math.log(10000.0) / d_model))  # 1 / 10000^(2i/E)
    angles = position * inv_freq  # (max_len, 1) * (ceil(E/2),) -> (max_len, ceil(E/2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)  # even columns
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # odd columns (one fewer when E is odd)
    return pe
# --8<-- [end:sinusoidal_table]


class PositionalEncoding(ModuleMixin, nn.Module):
    """Adds the fixed sinusoidal encoding: ``x + PE[offset : offset + L]``.

    The table is a non-persistent buffer: it moves with ``.to(device)`` but is not in the
    state_dict (it is a function of ``max_len`` and ``E``, not a parameter).

    Args:
        d_model: ``E``. max_len: the longest sequence (``offset + L``) it covers.
        device, dtype: where and in which precision the table lives.

    Shape:
        x: ``(N, L, E)`` or ``(L, E)`` -> output: same shape; ``offset + L <= max_len``.

    Examples:
        >>> pe = PositionalEncoding(4, max_len=8)
        >>> pe(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 3, 4])
        >>> torch.equal(pe(torch.zeros(1, 1, 4), offset=2)[0, 0], pe.pe[2])  # the position of the one new token
        True
    """

    def __init__(
        self, d_model: int, max_len: int = 512, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)  # the NumPy backend's checks and wording
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        pe = sinusoidal_table(max_len, d_model).to(device=device, dtype=dtype or torch.get_default_dtype())
        self.register_buffer("pe", pe, persistent=False)

    def _apply(self, fn, recurse=True):
        """After ``.to()`` / ``.double()`` / ``.cuda()``, recompute the table in the new dtype
        (so a float64 model gets the exact float64 table, not a widened float32 one)."""
        super()._apply(fn, recurse)
        self.pe = sinusoidal_table(self.max_len, self.d_model).to(device=self.pe.device, dtype=self.pe.dtype)
        return self

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``x + PE[offset : offset + L]`` (``offset``: position of ``x``'s first row)."""
        L = x.size(-2)
        _check_length(offset + L, self.max_len)
        return x + self.pe[offset : offset + L].to(x.dtype)  # (L, E) broadcast over N
# --8<-- [end:positional_encoding]


class LearnedPositionalEmbedding(ModuleMixin, nn.Module):
    """Adds a learned vector per position: ``x + weight[offset : offset + L]``.

    ``weight`` is initialised N(0, 1), like ``nn.Embedding``: the same scale as token embeddings
    after their ``× √E`` (or unscaled N(0, 1) ones), so neither signal drowns the other at the
    start of training (see the embeddings page for the measured effect of a mismatch).

    Args:
        max_len: positions covered (``offset + L <= max_len``). d_model: ``E``. device, dtype.

    Shape:
        weight: ``(max_len, E)``; x: ``(N, L, E)`` or ``(L, E)`` -> output: same shape.

    Examples:
        >>> pos = LearnedPositionalEmbedding(8, 4)
        >>> pos(torch.zeros(2, 3, 4)).shape, pos.num_parameters()
        (torch.Size([2, 3, 4]), 32)
    """

    def __init__(
        self, max_len: int, d_model: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        check_positive_int("d_model", d_model)  # the NumPy backend's checks and wording
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.weight = nn.Parameter(torch.empty(max_len, d_model, device=device, dtype=dtype))
        nn.init.normal_(self.weight)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """``x + weight[offset : offset + L]`` (``offset``: position of ``x``'s first row)."""
        L = x.size(-2)
        _check_length(offset + L, self.max_len)
        return x + self.weight[offset : offset + L]  # (L, E) broadcast over N


def _check_length(length: int, max_len: int) -> None:
    if length > max_len:
        raise ValueError(f"sequence length {length} exceeds max_len={max_len} of the positional table")


def check_token_ids(ids: Tensor, vocab_size: int, name: str) -> Tensor:
    """Check a batch of token ids; return it as int64 if it had another integer dtype.

    ``nn.Embedding`` refuses uint8 or int16 ids; those are widened. Refused: anything that is
    not a 2-D integer tensor, and any id outside ``[0, vocab_size)``.

    Args:
        ids: ``(N, L)`` integer tensor.
        vocab_size: ``V``; valid ids are ``0 .. V-1``.
        name: the argument's name, for the messages.

    Raises:
        TypeError: not a tensor, or not an integer dtype.
        ValueError: not 2-D.
        TokenIdError: an id out of range (an ``IndexError`` and a ``ValueError``, as in NumPy).

    Examples:
        >>> check_token_ids(torch.tensor([[1, 2]], dtype=torch.uint8), 3, "src_ids").dtype
        torch.int64
        >>> try:
        ...     check_token_ids(torch.tensor([[1, 7]]), 3, "src_ids")
        ... except TokenIdError as e:
        ...     print(e)
        src_ids: token id 7 is out of range for vocabulary size 3 (valid ids: 0..2)
    """
    check_tensor(name, ids)
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of token ids, got dtype {str(ids.dtype).replace('torch.', '')}")
    if ids.dim() != 2:
        raise ValueError(f"{name} must have shape (N, L), got {tuple(ids.shape)}")
    if ids.dtype not in (torch.int64, torch.int32):
        ids = ids.long()
    if ids.numel() == 0:
        return ids
    lo, hi = (int(v) for v in torch.aminmax(ids))
    if hi >= vocab_size or lo < 0:
        bad = hi if hi >= vocab_size else lo
        raise TokenIdError(
            f"{name}: token id {bad} is out of range for vocabulary size {vocab_size} (valid ids: 0..{vocab_size - 1})"
        )
    return ids


def init_token_embedding(emb: nn.Embedding, scale_embedding: bool) -> None:
    """Initialise a token embedding for the scale it will be used at.

    N(0, 1/E) when the embedding will be multiplied by √E (so the product is ~N(0, 1)),
    N(0, 1) (``nn.Embedding``'s default) otherwise.

    Examples:
        >>> emb = nn.Embedding(1000, 64)
        >>> init_token_embedding(emb, scale_embedding=True)
        >>> round(float(emb.weight.detach().std() * 64 ** 0.5), 1)  # ~1 after the x sqrt(E)
        1.0
    """
    std = emb.embedding_dim ** -0.5 if scale_embedding else 1.0
    nn.init.normal_(emb.weight, mean=0.0, std=std)


def make_positional(positional: str, max_len: int, d_model: int) -> nn.Module:
    """The position module a model's ``positional`` argument names.

    Args:
        positional: ``"sinusoidal"`` -> :class:`PositionalEncoding` (fixed, no parameters);
            ``"learned"`` -> :class:`LearnedPositionalEmbedding` (a ``(max_len, E)`` weight).
        max_len, d_model: the table's size.

    Examples:
        >>> type(make_positional("learned", 16, 8)).__name__
        'LearnedPositionalEmbedding'
    """
    if positional == "sinusoidal":
        return PositionalEncoding(d_model, max_len)
    if positional == "learned":
        return LearnedPositionalEmbedding(max_len, d_model)
    raise ValueError(f"positional must be 'sinusoidal' or 'learned', got {positional!r}")


def embed_tokens(
    ids: Tensor, tok: nn.Embedding, pos: nn.Module, dropout: nn.Module, scale_embedding: bool, offset: int = 0
) -> Tensor:
    """Ids to the vectors the first layer sees: ``dropout(tok(ids) · √E + pos)``.

    The one embedding step of :class:`~transformer_anatomy.torch.Seq2SeqTransformer`, the
    encoder-only models and the ``nn.Transformer`` reference. ``offset`` is the position of the
    first id (incremental decoding feeds one new position at a time).

    Shape:
        ids: ``(N, L)`` -> output ``(N, L, E)``.

    Examples:
        >>> tok, pos = nn.Embedding(10, 4), PositionalEncoding(4, max_len=8)
        >>> embed_tokens(torch.tensor([[1, 2, 3]]), tok, pos, nn.Dropout(0.0), True).shape
        torch.Size([1, 3, 4])
    """
    x = tok(ids)  # (N, L) -> (N, L, E)
    if scale_embedding:
        x = x * math.sqrt(tok.embedding_dim)
    return dropout(pos(x, offset))
