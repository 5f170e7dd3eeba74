"""Load a PyTorch module into its NumPy twin: ``from_torch(module)``.

Works for ``torch.nn.MultiheadAttention``, ``TransformerEncoderLayer``,
``TransformerDecoderLayer``, ``TransformerEncoder``, ``TransformerDecoder``, ``Transformer`` and
for the classes of the same names in :mod:`transformer_anatomy.torch` (plus
``Seq2SeqTransformer``, ``TransformerClassifier``, ``TransformerTagger``, ``TransformerQA``).
The configuration is read from the module's attributes (where ``nn.Transformer`` keeps it:
``layer.self_attn.num_heads``, ``layer.norm_first``, ``layer.norm1.eps``,
``layer.linear1.out_features``, the activation function, ...), the weights are copied with
``load_state_dict(strict=True)``, in the module's dtype; the result is in the module's mode
(train/eval).

torch is imported inside :func:`from_torch` only: this package never needs it otherwise.

Page: ``docs/internals-pytorch.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .module import Module, check_dtype
from .normalization import LayerNorm
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)


def _torch_dtype_of(module: Any) -> Any:
    for _, p in module.state_dict().items():
        if p.is_floating_point():
            return p.dtype
    return None


def _dtype_of(module: Any) -> np.dtype:
    tdt = _torch_dtype_of(module)
    if tdt is None:
        return np.dtype(np.float32)
    name = str(tdt).replace("torch.", "")
    if name not in ("float32", "float64"):
        raise TypeError(
            f"from_torch: the module has dtype {name}; the NumPy backend is float32 or float64 "
            f"(pass dtype=np.float32 to convert it, or call module.float() first)"
        )
    return np.dtype(name)


def _convert_layers(np_stack: Module, torch_stack: Any, dt: np.dtype, where: str) -> None:
    """Give the NumPy stack one layer converted from each torch layer (they may differ in
    ``nhead``, ``norm_first``, the activation, ...), not copies of ``layers[0]``."""
    if len(torch_stack.layers) == 0:
        raise ValueError(
            f"from_torch: {where} has 0 layers; the NumPy {type(np_stack).__name__} needs num_layers >= 1"
        )
    from .transformer import ModuleList

    np_stack.layers = ModuleList([_build(layer, dt) for layer in torch_stack.layers])


def _activation(layer: Any) -> Module:
    act = layer.activation
    name = getattr(act, "__name__", None) or type(act).__name__
    name = name.lower()
    if name == "relu":
        return ReLU()
    if name == "gelu":
        return GELU(getattr(act, "approximate", "none"))
    raise ValueError(f"cannot convert activation {act!r}: only relu and gelu are supported")


def _dropout_p(layer: Any) -> float:
    return float(layer.dropout.p)


def _check_mha(mha: Any) -> None:
    for attr in ("bias_k", "bias_v"):
        if getattr(mha, attr, None) is not None:
            raise ValueError(f"MultiheadAttention with {attr} is not supported")
    if getattr(mha, "add_zero_attn", False):
        raise ValueError("MultiheadAttention with add_zero_attn=True is not supported")


def _layer_kwargs(layer: Any, dt: np.dtype) -> dict[str, Any]:
    sa = layer.self_attn
    _check_mha(sa)
    return dict(
        d_model=int(sa.embed_dim),
        nhead=int(sa.num_heads),
        dim_feedforward=int(layer.linear1.out_features),
        dropout=_dropout_p(layer),
        activation=_activation(layer),
        layer_norm_eps=float(layer.norm1.eps),
        batch_first=bool(getattr(layer, "batch_first", getattr(sa, "batch_first", False))),
        norm_first=bool(layer.norm_first),
        bias=layer.linear1.bias is not None,
        dtype=dt,
    )


def _build(module: Any, dt: np.dtype) -> Module:
    """Construct the NumPy module with the torch module's configuration (weights not copied)."""
    name = type(module).__name__
    if name == "MultiheadAttention":
        _check_mha(module)
        return MultiheadAttention(
            int(module.embed_dim), int(module.num_heads), float(module.dropout),
            bias=module.in_proj_bias is not None, kdim=int(module.kdim), vdim=int(module.vdim),
            batch_first=bool(module.batch_first), dtype=dt,
        )
    if name == "TransformerEncoderLayer":
        return TransformerEncoderLayer(**_layer_kwargs(module, dt))
    if name == "TransformerDecoderLayer":
        return TransformerDecoderLayer(**_layer_kwargs(module, dt))
    if name in ("TransformerEncoder", "TransformerDecoder"):
        if len(module.layers) == 0:
            raise ValueError(f"from_torch: {name} has 0 layers; the NumPy {name} needs num_layers >= 1")
        layer = _build(module.layers[0], dt)
        norm = None
        if module.norm is not None:
            norm = _build(module.norm, dt)
        cls = TransformerEncoder if name == "TransformerEncoder" else TransformerDecoder
        stack = cls(layer, len(module.layers), norm)  # type: ignore[arg-type]
        _convert_layers(stack, module, dt, name)
        return stack
    if name == "LayerNorm":
        shape = tuple(module.normalized_shape)
        if len(shape) != 1:
            raise ValueError(f"only LayerNorm over the last axis is supported, got {shape}")
        return LayerNorm(shape[0], float(module.eps), bias=module.bias is not None, dtype=dt)
    if name == "Transformer":
        enc = _build(module.encoder, dt)
        dec = _build(module.decoder, dt)
        layer = module.encoder.layers[0]
        return Transformer(
            int(layer.self_attn.embed_dim), int(layer.self_attn.num_heads),
            custom_encoder=enc, custom_decoder=dec,
            batch_first=bool(getattr(module, "batch_first", getattr(layer.self_attn, "batch_first", False))),
            dtype=dt,
        )
    if name in ("Seq2SeqTransformer", "TransformerClassifier", "TransformerTagger", "TransformerQA"):
        return _build_model(module, name, dt)
    raise TypeError(f"from_torch does not know how to convert {name}")


def _model_config(module: Any, enc_layer: Any, num_layers: dict[str, int]) -> dict[str, Any]:
    pos = module.src_pos_emb if hasattr(module, "src_pos_emb") else module.pos_emb
    positional = "learned" if type(pos).__name__ == "LearnedPositionalEmbedding" else "sinusoidal"
    return dict(
        d_model=int(enc_layer.self_attn.embed_dim),
        nhead=int(enc_layer.self_attn.num_heads),
        dim_feedforward=int(enc_layer.linear1.out_features),
        dropout=_dropout_p(enc_layer),
        activation=_activation(enc_layer).__class__.__name__.lower(),
        norm_first=bool(enc_layer.norm_first),
        positional=positional,
        max_len=int(pos.max_len),
        scale_embedding=bool(module.scale_embedding),
        pad_id=int(module.pad_id),
        **num_layers,
    )


def _build_model(module: Any, name: str, dt: np.dtype) -> Module:
    from . import encoder_models, seq2seq

    if name == "Seq2SeqTransformer":
        tf = module.transformer
        for where, stack in (("transformer.encoder", tf.encoder), ("transformer.decoder", tf.decoder)):
            if len(stack.layers) == 0:
                raise ValueError(f"from_torch: {where} has 0 layers; the NumPy Seq2SeqTransformer needs >= 1")
        cfg = _model_config(module, tf.encoder.layers[0],
                            dict(num_encoder_layers=len(tf.encoder.layers),
                                 num_decoder_layers=len(tf.decoder.layers)))
        tied = module.generator.weight is module.tgt_tok_emb.weight
        out = seq2seq.Seq2SeqTransformer(
            int(module.src_tok_emb.weight.shape[0]), int(module.tgt_tok_emb.weight.shape[0]),
            tie_weights=tied, dtype=dt, **cfg,
        )
        _convert_layers(out.transformer.encoder, tf.encoder, dt, "transformer.encoder")
        _convert_layers(out.transformer.decoder, tf.decoder, dt, "transformer.decoder")
        return out
    if len(module.encoder.layers) == 0:
        raise ValueError(f"from_torch: encoder has 0 layers; the NumPy {name} needs >= 1")
    cfg = _model_config(module, module.encoder.layers[0], dict(num_layers=len(module.encoder.layers)))
    V = int(module.tok_emb.weight.shape[0])
    if name == "TransformerClassifier":
        out = encoder_models.TransformerClassifier(V, int(module.classifier.out_features), dtype=dt, **cfg)
    elif name == "TransformerTagger":
        out = encoder_models.TransformerTagger(V, int(module.tagger.out_features), dtype=dt, **cfg)
    else:
        out = encoder_models.TransformerQA(V, dtype=dt, **cfg)
    _convert_layers(out.encoder, module.encoder, dt, "encoder")
    return out


def _fix_activations(np_module: Module, torch_module: Any) -> None:
    """Give every converted layer the exact activation (e.g. GELU's tanh form) of its twin."""
    torch_layers = {n: m for n, m in torch_module.named_modules()}
    for name, m in np_module.named_modules():
        if isinstance(m, (TransformerEncoderLayer, TransformerDecoderLayer)):
            tm = torch_layers.get(name.rstrip("."))
            if tm is not None:
                m.activation = _activation(tm)


def from_torch(module: Any, dtype: Any = None) -> Module:
    """The NumPy equivalent of a PyTorch Transformer module, with its weights copied.

    Args:
        module: a ``torch.nn`` module (or one of :mod:`transformer_anatomy.torch`) listed in
            the module docstring.
        dtype: float32 or float64; default: the module's parameter dtype.

    Every layer of a stack is converted from itself (layers may differ in ``nhead``,
    ``norm_first``, ...). A bfloat16 / float16 module needs ``dtype=`` (float32 or float64).

    Raises:
        TypeError: for a module class it cannot convert, or a bfloat16 / float16 module
            without ``dtype``.
        ValueError: for an unsupported option (``bias_k``, ``add_zero_attn``, a custom
            activation) or a stack with 0 layers (the NumPy stacks need at least one).

    Shape:
        the NumPy module takes and returns the same shapes as ``module`` (``batch_first`` is
        copied).

    Examples:
        >>> import torch
        >>> ref = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).double().eval()
        >>> ours = from_torch(ref)
        >>> x = np.random.default_rng(0).normal(size=(2, 3, 8))
        >>> bool(np.allclose(ours(x), ref(torch.from_numpy(x)).detach().numpy()))
        True
    """
    import torch  # noqa: F401  (lazy: only this function needs torch)

    import torch as _torch

    if not isinstance(module, _torch.nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    dt = check_dtype(dtype) if dtype is not None else _dtype_of(module)
    out = _build(module, dt)
    _fix_activations(out, module)
    state = {k: (v.detach().cpu().double() if v.is_floating_point() else v.detach().cpu()).numpy()
             for k, v in module.state_dict().items()}  # via float64: bfloat16 has no NumPy dtype
    out.load_state_dict(state, strict=True)
    out.train(bool(module.training))
    return out
