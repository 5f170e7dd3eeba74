"""The two backends behave alike: every name exported by both ``transformer_anatomy.numpy`` and
``transformer_anatomy.torch`` takes the same arguments with the same defaults, and every shared
module gives the same numbers on the same weights and input.

Signatures: ``inspect.signature`` of every shared function, and of ``__init__``, ``forward`` and
every other public method the two classes both define, compared parameter by parameter (name,
kind, default), ignoring ``self``, ``rng``, ``dtype``, ``device`` and the keyword-only extras
that only the NumPy side has (documented there as NumPy-only: ``key_padding_mask``,
``return_cache``, ...). Where the torch name is ``torch.nn``'s own class (``Linear``,
``LayerNorm``, ...), the NumPy parameters must be a prefix of torch's, with torch's defaults.

Behaviour: each shared module is built **with its defaults** in both backends (so a default
such as ``batch_first`` that differs shows up), the torch weights are loaded into the NumPy
module with ``load_state_dict``, and both run on the same float64 input.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import transformer_anatomy.numpy as tn
import transformer_anatomy.torch as tt

IGNORED = {"self", "rng", "dtype", "device"}
TOL = dict(rtol=1e-10, atol=1e-10)  # float64 in both backends

SHARED = sorted(set(tn.__all__) & set(tt.__all__))
EXCEPTIONS = {"StateDictError", "TokenIdError"}  # the same classes (transformer_anatomy.errors)
CONSTANTS = {"QA_PAD_LOGIT"}


def _default(value: object) -> object:
    """Defaults that mean the same thing compare equal: ``F.relu`` and ``"relu"``."""
    if callable(value) and getattr(value, "__name__", None) in ("relu", "gelu"):
        return value.__name__
    return value


def _params(fn: object, other: inspect.Signature | None = None) -> list[tuple[str, str, object]]:
    """``(name, kind, default)`` of the compared parameters of ``fn``. With ``other`` (the torch
    signature), keyword-only parameters that ``other`` lacks are left out (NumPy-only extras)."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name in IGNORED or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if other is not None and p.kind == p.KEYWORD_ONLY and p.name not in other.parameters:
            continue
        out.append((p.name, p.kind.name, _default(p.default)))
    return out


MODULE_API = {"load_state_dict", "state_dict", "train", "eval", "to", "zero_grad", "named_parameters",
              "named_modules", "clone"}
"""``torch.nn.Module``'s own API, which the NumPy ``Module`` mirrors only in part (no ``assign=``
in ``load_state_dict``: NumPy copies into its arrays); not compared."""


def _public_methods(cls: type) -> set[str]:
    """Public methods defined in this library (not ``torch.nn.Module``'s API)."""
    names = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("transformer_anatomy."):
            names |= {n for n, v in vars(klass).items() if callable(v) and not n.startswith("_")}
    return names - MODULE_API


def _compare(np_obj: object, torch_obj: object, where: str, from_torch_nn: bool) -> list[str]:
    torch_sig = inspect.signature(torch_obj)
    ours, theirs = _params(np_obj, torch_sig), _params(torch_obj)
    if from_torch_nn:  # torch.nn's own class: ours must be a prefix of it (names may differ in forward)
        theirs = theirs[: len(ours)]
        if where.endswith(".forward"):
            ours = [(k, d) for _, k, d in ours]  # type: ignore[misc]
            theirs = [(k, d) for _, k, d in theirs]  # type: ignore[misc]
    return [] if ours == theirs else [f"{where}:\n  numpy {ours}\n  torch {theirs}"]


def _signature_differences(name: str) -> list[str]:
    a, b = getattr(tn, name), getattr(tt, name)
    if not inspect.isclass(a):
        return _compare(a, b, name, from_torch_nn=False)
    from_torch_nn = b.__module__.startswith("torch.")
    methods = {"__init__", "forward"} | (_public_methods(a) & _public_methods(b))
    diffs = []
    for m in sorted(methods):
        if hasattr(a, m) and hasattr(b, m):
            diffs += _compare(getattr(a, m), getattr(b, m), f"{name}.{m}", from_torch_nn)
    return diffs


def test_both_backends_export_the_contract_names():
    """CONTRACTS.md lists the class and function names both backends export."""
    contract = {"Linear", "Embedding", "PositionalEncoding", "LearnedPositionalEmbedding", "Dropout", "ReLU",
                "GELU", "LayerNorm", "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
                "TransformerEncoder", "TransformerDecoder", "Transformer", "Seq2SeqTransformer",
                "TransformerClassifier", "TransformerTagger", "TransformerQA", "softmax", "log_softmax",
                "scaled_dot_product_attention", "generate_square_subsequent_mask", "make_key_padding_mask"}
    assert contract <= set(SHARED), sorted(contract - set(SHARED))


@pytest.mark.parametrize("name", [n for n in SHARED if n not in EXCEPTIONS | CONSTANTS])
def test_shared_names_take_the_same_arguments(name):
    diffs = _signature_differences(name)
    assert not diffs, "\n".join(diffs)


def test_shared_exceptions_and_constants_are_the_same():
    for name in EXCEPTIONS & set(SHARED):
        assert getattr(tn, name) is getattr(tt, name)
    for name in CONSTANTS & set(SHARED):
        assert getattr(tn, name) == getattr(tt, name)


# -- behaviour: the same weights and input give the same output ------------------------------
E, H, F, V = 8, 2, 16, 11


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x)


def _load(np_module: tn.Module, torch_module: torch.nn.Module) -> tn.Module:
    np_module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})
    return np_module


def _same(np_out, torch_out) -> None:
    np_out = np_out if isinstance(np_out, tuple) else (np_out,)
    torch_out = torch_out if isinstance(torch_out, tuple) else (torch_out,)
    assert len(np_out) == len(torch_out)
    for a, b in zip(np_out, torch_out):
        if a is None or b is None:
            assert a is None and b is None
            continue
        np.testing.assert_allclose(a, b.detach().numpy(), **TOL)


def _pair(name: str):
    """(NumPy module, torch module, inputs) with every constructor default except sizes and dropout."""
    torch.manual_seed(0)
    f64 = dict(dtype=torch.float64)
    if name == "Linear":
        return tn.Linear(E, F, dtype=np.float64), tt.Linear(E, F, **f64), (_x(3, E),)
    if name == "LayerNorm":
        ref = tt.LayerNorm(E, **f64)
        torch.nn.init.normal_(ref.weight), torch.nn.init.normal_(ref.bias)
        return tn.LayerNorm(E, dtype=np.float64), ref, (_x(3, E),)
    if name in ("ReLU", "GELU", "Dropout"):
        return getattr(tn, name)(), getattr(tt, name)(), (_x(3, E),)
    if name == "Embedding":
        return tn.Embedding(V, E, dtype=np.float64), tt.Embedding(V, E, **f64), (np.array([[1, 4, 4, 0]]),)
    if name == "PositionalEncoding":
        return tn.PositionalEncoding(E, dtype=np.float64), tt.PositionalEncoding(E, **f64), (_x(2, 5, E),)
    if name == "LearnedPositionalEmbedding":
        return tn.LearnedPositionalEmbedding(16, E, dtype=np.float64), tt.LearnedPositionalEmbedding(16, E, **f64), (_x(2, 5, E),)
    if name == "MultiheadAttention":  # default layout: (L, N, E), as torch.nn
        q, kv = _x(4, 3, E), _x(6, 3, E, seed=1)
        return tn.MultiheadAttention(E, H, dtype=np.float64), tt.MultiheadAttention(E, H, **f64), (q, kv, kv)
    if name in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        inputs = (_x(5, 3, E),) if "Encoder" in name else (_x(4, 3, E), _x(6, 3, E, seed=1))
        return (getattr(tn, name)(E, H, F, dropout=0.0, dtype=np.float64),
                getattr(tt, name)(E, H, F, dropout=0.0, **f64), inputs)
    if name in ("TransformerEncoder", "TransformerDecoder"):
        layer = name + "Layer"
        inputs = (_x(5, 3, E),) if "Encoder" in name else (_x(4, 3, E), _x(6, 3, E, seed=1))
        ours = getattr(tn, name)(getattr(tn, layer)(E, H, F, dropout=0.0, dtype=np.float64), 2,
                                 tn.LayerNorm(E, dtype=np.float64))
        ref = getattr(tt, name)(getattr(tt, layer)(E, H, F, dropout=0.0, **f64), 2, tt.LayerNorm(E, **f64))
        return ours, ref, inputs
    if name == "RMSNorm":
        ref = tt.RMSNorm(E, **f64)
        torch.nn.init.normal_(ref.weight)
        return tn.RMSNorm(E, dtype=np.float64), ref, (_x(3, E),)
    if name == "SwiGLU":
        return tn.SwiGLU(E, F, dtype=np.float64), tt.SwiGLU(E, F, **f64), (_x(3, E),)
    if name == "RotaryEmbedding":
        return tn.RotaryEmbedding(E, dtype=np.float64), tt.RotaryEmbedding(E, **f64), (np.arange(5)[None],)
    if name in DECODER_ONLY:
        return _decoder_only_pair(name, f64)
    if name == "Transformer":
        cfg = dict(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=F, dropout=0.0)
        return tn.Transformer(**cfg, dtype=np.float64), tt.Transformer(**cfg, **f64), (_x(5, 3, E), _x(4, 3, E, seed=1))
    ids = np.array([[3, 4, 5, 6, 0], [7, 8, 9, 0, 0]])
    small = dict(d_model=E, nhead=H, dim_feedforward=F, dropout=0.0)
    if name == "Seq2SeqTransformer":
        tgt = np.array([[1, 5, 6], [1, 9, 0]])
        return tn.Seq2SeqTransformer(V, V, **small, dtype=np.float64), tt.Seq2SeqTransformer(V, V, **small).double(), (ids, tgt)
    if name == "TransformerQA":
        return tn.TransformerQA(V, **small, dtype=np.float64), tt.TransformerQA(V, **small).double(), (ids,)
    return (getattr(tn, name)(V, 3, **small, dtype=np.float64), getattr(tt, name)(V, 3, **small).double(), (ids,))


DECODER_ONLY = ["Conv1D", "GPT2MLP", "GPT2Attention", "GPT2Block", "GPT2Model", "GPT2LMHeadModel",
                "LlamaAttention", "LlamaDecoderLayer", "LlamaModel", "LlamaForCausalLM"]


def _decoder_only_pair(name: str, f64: dict):
    """The GPT-2 and Llama modules (defaults except the sizes), on float64 input or token ids."""
    x, ids = _x(2, 5, E), np.array([[3, 4, 5, 6, 0], [7, 8, 9, 1, 2]])
    a, b = getattr(tn, name), getattr(tt, name)
    if name == "Conv1D":
        return a(F, E, dtype=np.float64), b(F, E, **f64), (x,)
    if name == "GPT2MLP":
        return a(E, F, dtype=np.float64), b(E, F, **f64), (x,)
    if name in ("GPT2Attention", "GPT2Block"):
        return a(E, H, dtype=np.float64), b(E, H, **f64), (x,)
    if name.startswith("GPT2"):
        return a(V, n_embd=E, n_head=H, dtype=np.float64), b(V, n_embd=E, n_head=H, **f64), (ids,)
    cos, sin = tn.RotaryEmbedding(E // H, dtype=np.float64)(np.arange(5))  # (T, D) each
    if name == "LlamaAttention":
        return a(E, H, dtype=np.float64), b(E, H, **f64), (x, cos, sin)
    if name == "LlamaDecoderLayer":
        return a(E, F, H, dtype=np.float64), b(E, F, H, **f64), (x, cos, sin)
    sizes = dict(hidden_size=E, intermediate_size=F, num_attention_heads=H)
    return a(V, **sizes, dtype=np.float64), b(V, **sizes, **f64), (ids,)


MODULES = DECODER_ONLY + ["Linear", "LayerNorm", "ReLU", "GELU", "Dropout", "Embedding", "PositionalEncoding",
           "LearnedPositionalEmbedding", "MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerDecoder", "Transformer", "Seq2SeqTransformer", "TransformerClassifier",
           "TransformerTagger", "TransformerQA", "RMSNorm", "SwiGLU", "RotaryEmbedding"]


ABSTRACT = {"CausalLM"}  # the decoder-only models' base (generate); checked through its subclasses


def test_every_shared_module_is_checked():
    modules = {n for n in SHARED if inspect.isclass(getattr(tn, n)) and issubclass(getattr(tn, n), tn.Module)}
    assert modules == set(MODULES) | ABSTRACT


@pytest.mark.parametrize("name", MODULES)
def test_shared_modules_agree_on_the_same_weights_and_input(name):
    ours, ref, inputs = _pair(name)
    _load(ours, ref.eval()).eval()
    with torch.no_grad():
        expected = ref(*(_t(x) for x in inputs))
    _same(ours(*inputs), expected)
    count = ref.num_parameters() if hasattr(ref, "num_parameters") else sum(p.numel() for p in ref.parameters())
    assert ours.num_parameters() == count


@pytest.mark.parametrize("name", ["PositionalEncoding", "LearnedPositionalEmbedding"])
def test_positions_take_the_same_offset(name):
    ours, ref, (x,) = _pair(name)
    _load(ours, ref)
    with torch.no_grad():
        _same(ours(x, offset=3), ref(_t(x), offset=3))


def test_the_functions_agree():
    x = _x(2, 3, 5)
    _same(tn.softmax(x), tt.softmax(_t(x)))
    _same(tn.log_softmax(x, axis=1), tt.log_softmax(_t(x), axis=1))
    _same(tn.sinusoidal_table(7, E), tt.sinusoidal_table(7, E))
    q4, k4 = _x(2, H, 5, 4), _x(2, H, 5, 4, seed=1)
    cos, sin = tn.RotaryEmbedding(4, dtype=np.float64)(np.arange(5)[None])
    _same(tn.rotate_half(q4), tt.rotate_half(_t(q4)))
    _same(tn.apply_rotary(q4, k4, cos, sin), tt.apply_rotary(_t(q4), _t(k4), _t(cos), _t(sin)))
    ids = np.array([[3, 0, 0]])
    assert (tn.make_key_padding_mask(ids, 0) == tt.make_key_padding_mask(_t(ids), 0).numpy()).all()
    assert np.array_equal(tn.generate_square_subsequent_mask(4, dtype=np.float64),
                          tt.generate_square_subsequent_mask(4, dtype=torch.float64).numpy())
    q, k, v = _x(2, H, 4, 3), _x(2, H, 5, 3, seed=1), _x(2, H, 5, 3, seed=2)
    mask = np.random.default_rng(3).random((4, 5)) < 0.3
    for kwargs in (dict(), dict(attn_mask=mask), dict(is_causal=True, scale=0.7), dict(attn_mask=mask, is_causal=True)):
        t_kwargs = {k_: (_t(a) if isinstance(a, np.ndarray) else a) for k_, a in kwargs.items()}
        _same(tn.scaled_dot_product_attention(q, k, v, **kwargs),
              tt.scaled_dot_product_attention(_t(q), _t(k), _t(v), **t_kwargs))


@pytest.mark.parametrize("training", [True, False])
def test_greedy_decode_gives_the_same_tokens_and_keeps_the_mode(training):
    ours, ref, (src, _) = _pair("Seq2SeqTransformer")
    _load(ours, ref)
    ours.train(training), ref.train(training)
    ours.transformer.encoder.eval(), ref.transformer.encoder.eval()  # a mixed mode is kept too
    with torch.no_grad():
        expected = ref.greedy_decode(_t(src), max_len=6, sos_id=1, eos_id=2)
    got = ours.greedy_decode(src, max_len=6, sos_id=1, eos_id=2)
    assert got.tolist() == expected.tolist()
    for backend in (ours, ref):
        assert backend.training == training and not backend.transformer.encoder.training
        assert backend.transformer.decoder.training == training


def test_the_decoder_only_functions_agree():
    q, k, v = _x(2, 4, 3, 5), _x(2, 2, 6, 5, seed=1), _x(2, 2, 6, 5, seed=2)  # GQA: H = 4, Hk = 2, T < S
    pad = np.zeros((2, 6), dtype=bool)
    pad[1, -2:] = True
    _same(tn.causal_attention(q, k, v, pad), tt.causal_attention(_t(q), _t(k), _t(v), _t(pad)))
    logits = _x(3, V, seed=4)
    for kwargs in (dict(), dict(temperature=0.7), dict(top_k=3), dict(top_p=0.8), dict(temperature=1.3, top_k=5, top_p=0.6)):
        np.testing.assert_array_equal(tn.warp_logits(logits, **kwargs), tt.warp_logits(_t(logits), **kwargs).numpy())


@pytest.mark.parametrize("name", ["GPT2LMHeadModel", "LlamaForCausalLM"])
@pytest.mark.parametrize("training", [True, False])
def test_generate_gives_the_same_tokens_and_keeps_the_mode(name, training):
    ours, ref, (ids,) = _pair(name)
    _load(ours, ref)
    ours.train(training), ref.train(training)
    for use_cache in (True, False):
        with torch.no_grad():
            expected = ref.generate(_t(ids), max_new_tokens=6, use_cache=use_cache)
        assert ours.generate(ids, max_new_tokens=6, use_cache=use_cache).tolist() == expected.tolist()
    assert ours.training == training and ref.training == training
