"""The model configuration: one typed dataclass and the named sizes the site uses.

A :class:`ModelConfig` holds the architecture hyperparameters that every model of the library
takes (the encoder–decoder ``Seq2SeqTransformer`` and the encoder-only ``TransformerClassifier``
/ ``TransformerTagger`` / ``TransformerQA``, in both backends), with the models' own defaults.
``__post_init__`` refuses a bad value with the message the models give (the checks of
:mod:`transformer_anatomy.errors`). :meth:`ModelConfig.seq2seq_kwargs` and
:meth:`ModelConfig.encoder_kwargs` are the keyword arguments of the two kinds of model.

:data:`PRESETS` names the sizes: ``quick`` (a test-sized model: the ``--quick`` runs),
``small`` (the library's defaults: what the site trains), ``base`` and ``big`` (the base and
big models of Vaswani et al., 2017, Table 3). One home: ``scripts/reproduce.py``,
``scripts/bench.py`` and the pages' snippets read them here.

Examples:
    >>> from transformer_anatomy.config import PRESETS, ModelConfig, preset
    >>> base = preset("base")
    >>> base.d_model, base.nhead, base.head_dim, base.dim_feedforward
    (512, 8, 64, 2048)
    >>> sorted(PRESETS)
    ['base', 'big', 'quick', 'small']
    >>> ModelConfig(d_model=32, nhead=2).encoder_kwargs()["num_layers"]
    2
    >>> ModelConfig(d_model=30, nhead=4)
    Traceback (most recent call last):
    ...
    ValueError: d_model must be divisible by nhead, got d_model=30, nhead=4
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from transformer_anatomy.errors import check_bool, check_positive_int, check_probability

ACTIVATIONS = ("relu", "gelu")
POSITIONALS = ("sinusoidal", "learned")
# The fields an encoder-only model does not take (it has one stack: num_layers).
_SEQ2SEQ_ONLY = ("num_encoder_layers", "num_decoder_layers", "tie_weights")


# --8<-- [start:model_config]
@dataclass(frozen=True)
class ModelConfig:
    """The architecture of one model: sizes, dropout, norm placement, positions, embeddings.

    The defaults are the library's models' defaults (``small``). Letters as on the notation
    page: ``E`` = ``d_model``, ``H`` = ``nhead``, ``F`` = ``dim_feedforward``.

    Examples:
        >>> cfg = ModelConfig(d_model=128, nhead=4, num_encoder_layers=3)
        >>> cfg.head_dim
        32
        >>> cfg.replace(norm_first=True).norm_first
        True
        >>> ModelConfig(dropout=1.5)
        Traceback (most recent call last):
        ...
        ValueError: dropout must be in [0, 1], got dropout=1.5
    """

    d_model: int = 64  # E: width of every token vector (embeddings, attention, residual stream)
    nhead: int = 4  # H: attention heads; each is E / H wide, so E must be divisible by H
    num_encoder_layers: int = 2  # encoder layers (the encoder-only models' num_layers)
    num_decoder_layers: int = 2  # decoder layers (encoder-decoder models only)
    dim_feedforward: int = 256  # F: hidden width of each position-wise feed-forward network
    dropout: float = 0.1  # dropout rate on attention weights, sublayer outputs and embeddings
    activation: str = "relu"  # the feed-forward network's non-linearity: relu | gelu
    norm_first: bool = False  # False: post-norm (the paper's); True: pre-norm (LayerNorm before each sublayer)
    positional: str = "sinusoidal"  # sinusoidal (fixed table, the paper's) | learned (an embedding per position)
    max_len: int = 512  # longest sequence the positional table covers
    scale_embedding: bool = True  # multiply token embeddings by sqrt(E) before adding positions (the paper's)
    tie_weights: bool = False  # encoder-decoder only: the generator reuses the target embedding matrix

    def __post_init__(self) -> None:
        for name in ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward", "max_len"):
            check_positive_int(name, getattr(self, name))
        check_probability("dropout", self.dropout)
        for name in ("norm_first", "scale_embedding", "tie_weights"):
            check_bool(name, getattr(self, name))
        for name, allowed in (("activation", ACTIVATIONS), ("positional", POSITIONALS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {name}={getattr(self, name)!r}")
        if self.d_model % self.nhead:
            raise ValueError(f"d_model must be divisible by nhead, got d_model={self.d_model}, nhead={self.nhead}")

    @property
    def head_dim(self) -> int:
        """``E / H``: the width of one head's queries, keys and values."""
        return self.d_model // self.nhead

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-friendly (what a results file records)."""
        return dataclasses.asdict(self)

    def seq2seq_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``Seq2SeqTransformer(src_vocab_size, tgt_vocab_size, **kwargs)``."""
        return self.to_dict()

    def encoder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the encoder-only models (``num_layers`` = ``num_encoder_layers``)."""
        kw = {k: v for k, v in self.to_dict().items() if k not in _SEQ2SEQ_ONLY}
        return {"num_layers": self.num_encoder_layers, **kw}

    def reference_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``training.ReferenceSeq2Seq`` (``nn.Transformer`` inside).

        It always uses sinusoidal positions and an untied generator, so it takes neither
        ``positional`` nor ``tie_weights``; a config that asks for others is refused.
        """
        if self.positional != "sinusoidal" or self.tie_weights:
            raise ValueError(f"ReferenceSeq2Seq has sinusoidal positions and an untied generator only, got "
                             f"positional={self.positional!r}, tie_weights={self.tie_weights}")
        return {k: v for k, v in self.to_dict().items() if k not in ("positional", "tie_weights")}

    def kwargs(self, kind: str) -> dict[str, Any]:
        """The model keyword arguments for a task kind: ``seq2seq`` or an encoder-only kind."""
        return self.seq2seq_kwargs() if kind == "seq2seq" else self.encoder_kwargs()
# --8<-- [end:model_config]


# --8<-- [start:presets]
PRESETS: dict[str, ModelConfig] = {
    # tiny: every --quick run (checks that a pipeline runs; not expected to converge)
    "quick": ModelConfig(d_model=32, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64),
    # the library's defaults: what the site trains on its tasks
    "small": ModelConfig(),
    # Vaswani et al. (2017), Table 3, "base": N = 6 layers, d_model = 512, d_ff = 2048, h = 8, P_drop = 0.1
    "base": ModelConfig(d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048),
    # Vaswani et al. (2017), Table 3, "big": d_model = 1024, d_ff = 4096, h = 16, P_drop = 0.3
    "big": ModelConfig(d_model=1024, nhead=16, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=4096,
                       dropout=0.3),
}
# --8<-- [end:presets]


def preset(name: str, **changes: Any) -> ModelConfig:
    """The named :data:`PRESETS` entry, with ``changes`` applied.

    Raises:
        ValueError: ``name`` is not a preset.

    Examples:
        >>> preset("small").d_model
        64
        >>> preset("base", dropout=0.0).dropout
        0.0
    """
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got preset={name!r}")
    return PRESETS[name].replace(**changes) if changes else PRESETS[name]


__all__ = ["ACTIVATIONS", "ModelConfig", "POSITIONALS", "PRESETS", "preset"]
