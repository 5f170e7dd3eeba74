"""Trained models kept: save a task's trained model in one file, load it back and try it on text.

``save_trained(path, model, data, model_kwargs=...)`` writes one ``torch.save`` file holding
only tensors and plain Python values, so it loads with ``torch.load(path, weights_only=True)``
(no pickled code runs): the state dict, the model class name and its constructor arguments,
the vocabularies (token lists), the label names and the task settings (longest input, longest
output, what a valid input looks like). The write is atomic (temporary file, ``fsync``,
rename), as :mod:`transformer_anatomy.training.checkpoint` does, so a crash leaves no half
file.

``load_trained(path)`` gives a :class:`TrainedModel`: ``.task``, ``.kind``, ``.model`` (the
torch module, in eval mode) and ``.predict(text)``, which returns the tokens, the ids, the
prediction, its probabilities, for encoder–decoder models and character language models
(``GPT2LMHeadModel`` / ``LlamaForCausalLM``, kind ``"causal_lm"``) every greedy step's top-5
next tokens, and every layer's and head's attention weights, as plain JSON-ready values. The
browser playground's ``window.anatomy.run(task, text)`` returns the same JSON.

Page: the playground page; ``docs/training.md`` (the models the site trains).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from transformer_anatomy.errors import CheckpointError

__all__ = [
    "FORMAT", "KIND_OF_CLASS", "MAX_NEW_TOKENS", "TrainedModel", "attention_groups", "causal_weights", "load_trained",
    "record_attention", "save_trained",
]

FORMAT = "transformer_anatomy/trained-v1"
"""The ``"format"`` entry of a trained-model file (a training checkpoint has another)."""

KIND_OF_CLASS: dict[str, str] = {
    "Seq2SeqTransformer": "seq2seq",
    "TransformerClassifier": "classification",
    "TransformerTagger": "tagging",
    "TransformerQA": "qa",
    "LlamaForCausalLM": "causal_lm",
    "GPT2LMHeadModel": "causal_lm",
}
"""Model class name -> the kind of task it solves (what ``predict`` returns)."""

TOP_K = 5
"""Next-token candidates reported per greedy step."""

MAX_ANSWER_LEN = 30
"""Longest QA answer span considered, in tokens (as ``training.evaluation.best_spans``)."""

MAX_NEW_TOKENS = 32
"""Characters a language model (kind ``"causal_lm"``) generates per :meth:`TrainedModel.predict`, by default."""

LM_TASK = "lm"
"""The task name of a language model saved without one (its data has no ``name``)."""

SEP = "<sep>"
"""The QA separator between question and context (``tasks/qa.py``)."""

_AS_UNK = ("<pad>", "<sos>", "<eos>")
"""Specials that never appear in a source: typed in a text they become ``<unk>`` (a typed ``<pad>``
would otherwise be masked out, and ``<sos>``/``<eos>`` are decoder tokens)."""


def _model_classes() -> dict[str, type[nn.Module]]:
    from transformer_anatomy.torch.encoder_models import TransformerClassifier, TransformerQA, TransformerTagger
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel
    from transformer_anatomy.torch.llama import LlamaForCausalLM
    from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer

    return {c.__name__: c for c in (Seq2SeqTransformer, TransformerClassifier, TransformerTagger, TransformerQA,
                                    LlamaForCausalLM, GPT2LMHeadModel)}


# --------------------------------------------------------------------------------------------
# attention capture
# --------------------------------------------------------------------------------------------
def _attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if type(m).__name__ == "MultiheadAttention"]


_CAUSAL_ATTENTION = ("LlamaAttention", "GPT2Attention")


def _causal_attention_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if type(m).__name__ in _CAUSAL_ATTENTION]


def causal_weights(q: Tensor, k: Tensor) -> Tensor:
    """Causal attention weights ``softmax(q kᵀ / √D + mask)``, key/value heads shared as HF's ``repeat_kv``.

    Query ``i`` sees keys ``j <= i`` (no cache: ``T`` queries, ``T`` keys); query head ``h``
    reads key head ``h // (H // Hk)``. The mask is built from ``arange`` of the traced length,
    so an exported graph keeps ``T`` dynamic.

    Shape:
        q ``(N, H, T, D)``, k ``(N, Hk, T, D)`` -> ``(N, H, T, T)``, rows summing to 1, zero above
        the diagonal.

    Examples:
        >>> w = causal_weights(torch.zeros(1, 2, 3, 4), torch.zeros(1, 1, 3, 4))
        >>> w[0, 1].tolist()
        [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]]
    """
    H, Hk = q.shape[1], k.shape[1]
    if H != Hk:
        k = k.repeat_interleave(H // Hk, dim=1)  # (N, Hk, T, D) -> (N, H, T, D)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (N, H, T, T)
    T = q.shape[2]
    pos = torch.arange(T, device=q.device)
    future = pos[None, :] > pos[:, None]  # (T, T): True above the diagonal (keys after the query)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _recorded_causal_forward(module: nn.Module, records: dict[str, Tensor], name: str) -> Any:
    """A ``forward`` for a ``LlamaAttention`` / ``GPT2Attention`` that computes the module's own
    queries, keys (after RoPE for Llama) and values, the explicit weights (:func:`causal_weights`),
    records them, and returns ``o_proj(weights @ v)`` (``c_proj`` for GPT-2): the module's output."""
    from transformer_anatomy.torch.llama import apply_rotary

    def merge(a: Tensor) -> Tensor:  # (N, H, T, D) -> (N, T, H*D)
        return a.transpose(1, 2).reshape(a.shape[0], a.shape[2], a.shape[1] * a.shape[3])

    def finish(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        w = causal_weights(q, k)  # (N, H, T, T)
        records[name] = w
        if v.shape[1] != q.shape[1]:
            v = v.repeat_interleave(q.shape[1] // v.shape[1], dim=1)  # (N, Hk, T, D) -> (N, H, T, D)
        return merge(w @ v)  # (N, T, H*D)

    def no_cache(key_padding_mask: Any, layer_cache: Any) -> None:
        if key_padding_mask is not None or layer_cache is not None:
            raise ValueError("record_attention records an unpadded forward without a KV cache "
                             "(attention_mask=None, cache=None)")

    if type(module).__name__ == "LlamaAttention":
        def forward(x: Tensor, cos: Tensor, sin: Tensor, key_padding_mask: Tensor | None = None, *,
                    layer_cache: dict | None = None) -> Tensor:
            no_cache(key_padding_mask, layer_cache)
            N, T, _ = x.shape
            H, Hk, D = module.num_heads, module.num_key_value_heads, module.head_dim
            q = module.q_proj(x).view(N, T, H, D).transpose(1, 2)  # (N, H, T, D)
            k = module.k_proj(x).view(N, T, Hk, D).transpose(1, 2)  # (N, Hk, T, D)
            v = module.v_proj(x).view(N, T, Hk, D).transpose(1, 2)
            q, k = apply_rotary(q, k, cos, sin)  # the module's own rotation
            return module.o_proj(finish(q, k, v))
    else:
        def forward(x: Tensor, key_padding_mask: Tensor | None = None, *, layer_cache: dict | None = None) -> Tensor:
            no_cache(key_padding_mask, layer_cache)
            N, T, E = x.shape
            H, D = module.n_head, module.head_dim
            q, k, v = (a.view(N, T, H, D).transpose(1, 2) for a in module.c_attn(x).split(E, dim=-1))
            return module.c_proj(finish(q, k, v))
    return forward


@contextmanager
def record_attention(model: nn.Module) -> Iterator[dict[str, Tensor]]:
    """Make every attention layer of ``model`` compute and record its per-head weights.

    Inside the ``with`` block each ``MultiheadAttention`` runs with ``need_weights=True,
    average_attn_weights=False`` (the explicit matmul–softmax–matmul, not SDPA), and each
    ``LlamaAttention`` / ``GPT2Attention`` of a decoder-only model computes its own queries and
    keys (after RoPE for Llama), the weights :func:`causal_weights` and its output as
    ``o_proj(weights @ v)`` instead of SDPA (unpadded, no KV cache). The dict it yields maps the
    module name (``"encoder.layers.0.self_attn"``, ``"model.layers.0.self_attn"``,
    ``"transformer.h.0.attn"``) to the weights of its latest call, as tensors (traceable: the
    ONNX export uses this too).

    Shape:
        each recorded weight: ``(N, H, T, S)`` (``S = T`` for a decoder-only model), rows summing to 1.

    Examples:
        >>> from transformer_anatomy.torch.encoder_models import TransformerClassifier
        >>> m = TransformerClassifier(vocab_size=10, num_classes=2, d_model=8, nhead=2, num_layers=1).eval()
        >>> with record_attention(m) as weights:
        ...     _ = m(torch.tensor([[4, 5, 6]]))
        >>> {name: tuple(w.shape) for name, w in weights.items()}
        {'encoder.layers.0.self_attn': (1, 2, 3, 3)}
    """
    records: dict[str, Tensor] = {}
    patched = []
    for name, m in _attention_modules(model):
        original = m.forward

        def forward(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            kwargs["need_weights"] = True
            kwargs["average_attn_weights"] = False
            out, weights = _original(*args, **kwargs)
            records[_name] = weights  # (N, H, T, S)
            return out, weights

        m.forward = forward  # an instance attribute shadows the class's method
        patched.append(m)
    for name, m in _causal_attention_modules(model):
        m.forward = _recorded_causal_forward(m, records, name)
        patched.append(m)
    try:
        yield records
    finally:
        for m in patched:
            del m.forward


def _layer_index(name: str) -> int:
    return int(re.search(r"(?:layers|h)\.(\d+)\.", name).group(1))


def attention_groups(kind: str, records: Mapping[str, Tensor]) -> dict[str, list[Tensor]]:
    """Recorded weights grouped as ``predict`` reports them: ``encoder_self`` (and, for seq2seq,
    ``decoder_self`` and ``cross``; for ``causal_lm`` only ``self``), each a list over layers of
    ``(N, H, T, S)`` tensors."""
    if kind == "causal_lm":
        return {"self": [w for _, w in sorted(((_layer_index(n), w) for n, w in records.items()),
                                              key=lambda p: p[0])]}
    groups: dict[str, list[tuple[int, Tensor]]] = {}
    for name, w in records.items():
        if ".decoder." in f".{name}":
            group = "cross" if name.endswith("multihead_attn") else "decoder_self"
        else:
            group = "encoder_self"
        groups.setdefault(group, []).append((_layer_index(name), w))
    names = ("encoder_self", "decoder_self", "cross") if kind == "seq2seq" else ("encoder_self",)
    return {g: [w for _, w in sorted(groups.get(g, []), key=lambda p: p[0])] for g in names}


# --------------------------------------------------------------------------------------------
# plain values
# --------------------------------------------------------------------------------------------
def _plain(x: Any, where: str) -> Any:
    """``x`` as plain Python (dict / list / str / int / float / bool / None): tuples become lists,
    NumPy scalars become Python numbers; anything else raises ``TypeError`` naming ``where``."""
    import numpy as np

    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        out = {}
        for k, v in x.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}; only str keys are stored")
            out[k] = _plain(v, f"{where}[{k!r}]")
        return out
    if isinstance(x, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
    raise TypeError(f"{where} is a {type(x).__name__}; a trained-model file holds plain values only")


def _vocab_entry(vocab: Any) -> dict[str, Any]:
    from transformer_anatomy.tasks.vocab import CharVocab

    return {"tokens": list(vocab.tokens), "specials": list(vocab.specials),
            "tokenizer": "char" if isinstance(vocab, CharVocab) else "word"}


def _rebuild_vocab(entry: Any, where: str) -> Any:
    from transformer_anatomy.tasks.vocab import SPECIALS, CharVocab, Vocab

    if not isinstance(entry, Mapping) or not {"tokens", "specials", "tokenizer"} <= set(entry):
        raise ValueError(f"{where} is not a vocabulary entry")
    tokens, specials = list(entry["tokens"]), list(entry["specials"])
    if tuple(specials[: len(SPECIALS)]) != SPECIALS or tokens[: len(specials)] != specials:
        raise ValueError(f"{where}: the specials {specials[:6]} do not start with {list(SPECIALS)}")
    cls = CharVocab if entry["tokenizer"] == "char" else Vocab
    vocab = cls(tokens[len(specials):], extra_specials=specials[len(SPECIALS):])
    if vocab.tokens != tokens:
        raise ValueError(f"{where}: the token list has duplicates")
    return vocab


def _full_kwargs(model: nn.Module, model_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor's keyword arguments: the vocabulary / class sizes read off ``model``, then
    ``model_kwargs`` (what ``ModelConfig.kwargs(kind)`` gives: sizes, dropout, positions, ...)."""
    name = type(model).__name__
    if name == "Seq2SeqTransformer":
        sizes = {"src_vocab_size": model.src_vocab_size, "tgt_vocab_size": model.tgt_vocab_size}
    elif KIND_OF_CLASS.get(name) == "causal_lm":
        sizes = {"vocab_size": model.vocab_size}
    elif name == "TransformerClassifier":
        sizes = {"vocab_size": model.vocab_size, "num_classes": model.classifier.out_features}
    elif name == "TransformerTagger":
        sizes = {"vocab_size": model.vocab_size, "num_classes": model.tagger.out_features}
    else:
        sizes = {"vocab_size": model.vocab_size}
    clash = {k for k in sizes if k in model_kwargs and model_kwargs[k] != sizes[k]}
    if clash:
        raise ValueError(f"model_kwargs disagree with the model on {sorted(clash)}")
    return {**sizes, **_plain(dict(model_kwargs), "model_kwargs")}


# --------------------------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------------------------
def save_trained(
    path: str | os.PathLike,
    model: nn.Module,
    data: Any,
    *,
    model_kwargs: Mapping[str, Any],
    task: str | None = None,
    max_decode_len: int | None = None,
    max_new_tokens: int | None = None,
) -> Path:
    """Save a trained task model, its vocabularies and task settings in one file.

    The file is a ``torch.save`` dict of tensors and plain values (``torch.load(path,
    weights_only=True)`` reads it): ``format``, ``task``, ``kind``, ``model_class``,
    ``model_kwargs`` (every constructor argument, vocabulary sizes included), ``state_dict``
    (float tensors on the CPU), ``src_vocab`` / ``tgt_vocab`` (``{"tokens": [...] in id order,
    "specials": [...], "tokenizer": "word" | "char"}``; ``tgt_vocab`` is ``None`` without an
    output vocabulary), ``label_names`` (or ``None``) and ``settings`` (``max_src_len``,
    ``max_decode_len``, ``max_answer_len``, ``input_format``, ``as_unk``, ``sep`` and the task
    generator's ``params``; a language model adds ``block_size`` and ``max_new_tokens``, its
    ``max_src_len`` being the longest prompt, ``block_size - max_new_tokens``). Before writing,
    the model is rebuilt from ``model_kwargs`` and the state dict loaded into it (strict), so a
    file that saves also loads. The write is atomic.

    Args:
        path: the file to write (folders are created).
        model: a trained :class:`Seq2SeqTransformer`, :class:`TransformerClassifier`,
            :class:`TransformerTagger`, :class:`TransformerQA`, or a character language model
            (:class:`~transformer_anatomy.torch.llama.LlamaForCausalLM`,
            :class:`~transformer_anatomy.torch.gpt2.GPT2LMHeadModel`: kind ``"causal_lm"``);
            its kind follows from its class.
        data: the task's :class:`~transformer_anatomy.tasks.TaskData` (vocabularies, labels,
            widths); for a language model its
            :class:`~transformer_anatomy.tasks.language_model.LanguageModelData` (the vocabulary).
        model_kwargs: the constructor's keyword arguments besides the vocabulary / class sizes
            (``ModelConfig.kwargs(kind)``, as ``scripts/reproduce.py``'s ``build_model`` uses).
        task: the task's name (default ``data.name``; ``"lm"`` for a language model).
        max_decode_len: longest decoder output, ``<sos>`` included (seq2seq; default the
            data's target width + 1, as the trainers decode).
        max_new_tokens: characters a language model generates per prediction (default
            :data:`MAX_NEW_TOKENS`; fewer than the model's positions).

    Shape:
        ``state_dict`` tensors keep their shapes (e.g. ``src_tok_emb.weight``: ``(V_src, E)``).

    Examples:
        >>> import tempfile
        >>> from transformer_anatomy.tasks import make_sentiment_task
        >>> from transformer_anatomy.torch.encoder_models import TransformerClassifier
        >>> data = make_sentiment_task(n_train=16, n_valid=4, n_test=4)
        >>> kw = dict(d_model=16, nhead=2, num_layers=1, dim_feedforward=32)
        >>> m = TransformerClassifier(len(data.src_vocab), 2, **kw)
        >>> path = save_trained(Path(tempfile.mkdtemp()) / "sentiment.pt", m, data, model_kwargs=kw)
        >>> sorted(torch.load(path, weights_only=True))[:4]
        ['format', 'kind', 'label_names', 'model_class']
    """
    from transformer_anatomy.training.checkpoint import _check_torch_safe, _write, write_torch

    name = type(model).__name__
    if name not in KIND_OF_CLASS:
        raise TypeError(f"model must be one of {sorted(KIND_OF_CLASS)}, got a {name}")
    kind = KIND_OF_CLASS[name]
    task = _task_name(kind, data, task)
    if not isinstance(task, str) or not task:
        raise ValueError(f"task must be a non-empty string, got {task!r}")
    if kind in ("seq2seq", "tagging") and data.tgt_vocab is None:
        raise ValueError(f"a {name} needs data with a tgt_vocab; task {data.name!r} has none")
    if kind == "classification" and data.label_names is None:
        raise ValueError(f"a {name} needs data with label_names; task {data.name!r} has none")
    src_vocab = _src_vocab(kind, data)  # a language model needs its LanguageModelData
    kwargs = _full_kwargs(model, model_kwargs)
    state = _cpu_state(model)
    rebuilt = _model_classes()[name](**kwargs)
    rebuilt.load_state_dict(state, strict=True)  # model_kwargs describe this model: it will load
    settings = _settings(kind, data, max_decode_len, max_new_tokens, model)
    obj = {
        "format": FORMAT,
        "task": task,
        "kind": kind,
        "model_class": name,
        "model_kwargs": kwargs,
        "state_dict": state,
        "src_vocab": _vocab_entry(src_vocab),
        "tgt_vocab": _vocab_entry(data.tgt_vocab) if kind in ("seq2seq", "tagging") else None,
        "label_names": list(data.label_names) if kind == "classification" else None,
        "settings": settings,
        "torch_version": str(torch.__version__),  # a str subclass that weights_only refuses
    }
    _check_torch_safe(obj, "trained model")
    return _write(path, lambda f: write_torch(obj, f))


def _cpu_state(model: nn.Module) -> dict[str, Tensor]:
    """The state dict on the CPU, detached; tensors shared on the device (tied weights) stay shared."""
    copies: dict[tuple[int, str], Tensor] = {}
    state = {}
    for k, v in model.state_dict().items():
        key = (v.data_ptr(), str(v.device))
        if key not in copies or copies[key].shape != v.shape:
            copies[key] = v.detach().to("cpu")
        state[k] = copies[key]
    return state


def _task_name(kind: str, data: Any, task: str | None) -> Any:
    if task is not None:
        return task
    return getattr(data, "name", LM_TASK if kind == "causal_lm" else None)


def _src_vocab(kind: str, data: Any) -> Any:
    """The input vocabulary: a task's ``src_vocab``, a language model's ``vocab``."""
    if kind == "causal_lm":
        if not hasattr(data, "vocab"):
            raise ValueError(f"a language model needs its LanguageModelData (with .vocab), got a {type(data).__name__}")
        return data.vocab
    return data.src_vocab


_INPUT_FORMAT = {
    "causal_lm": "a prompt of characters (spaces and line breaks count)",
    "seq2seq": "source tokens separated by spaces",
    "classification": "words separated by spaces",
    "tagging": "words separated by spaces (one tag per word)",
    "qa": "question words <sep> context words, separated by spaces",
}


def _settings(kind: str, data: Any, max_decode_len: int | None, max_new_tokens: int | None = None,
              model: nn.Module | None = None) -> dict[str, Any]:
    """The task settings ``predict`` (and the browser) need, from the task data."""
    if kind == "causal_lm":
        block = int(model._max_positions)  # the positions the model embeds: its context
        k = MAX_NEW_TOKENS if max_new_tokens is None else max_new_tokens
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < block:
            raise ValueError(f"max_new_tokens must be an integer in [1, {block - 1}] (the model has {block} "
                             f"positions), got {k!r}")
        return {"max_src_len": block - k, "block_size": block, "max_new_tokens": k, "max_decode_len": None,
                "max_answer_len": None, "sep": None, "as_unk": [], "input_format": _INPUT_FORMAT[kind],
                "top_k": TOP_K, "params": _plain(dict(getattr(data, "params", {}) or {}), "data.params")}
    if kind == "seq2seq":
        if max_decode_len is None:
            max_decode_len = int(data.train["tgt_out"].shape[1]) + 1  # as the trainers decode
        if isinstance(max_decode_len, bool) or not isinstance(max_decode_len, int) or max_decode_len < 2:
            raise ValueError(f"max_decode_len must be an integer >= 2, got {max_decode_len!r}")
    else:
        max_decode_len = None
    return {
        "max_src_len": int(data.train["src"].shape[1]),  # the widest source of every split
        "max_decode_len": max_decode_len,
        "max_answer_len": MAX_ANSWER_LEN if kind == "qa" else None,
        "sep": SEP if kind == "qa" else None,
        "as_unk": list(_AS_UNK),
        "input_format": _INPUT_FORMAT[kind],
        "top_k": TOP_K if kind == "seq2seq" else None,
        "params": _plain(dict(data.params), "data.params"),
    }


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def load_trained(path: str | os.PathLike, task: str | None = None) -> TrainedModel:
    """Load a file written by :func:`save_trained`: a :class:`TrainedModel` in eval mode.

    Args:
        path: the ``.pt`` file.
        task: if given, the task the file must hold (``"reversal"``, ...).

    Raises:
        CheckpointError: naming the file, if it is missing, truncated or corrupt, not a
            trained-model file (a training checkpoint, another format), holds another task than
            ``task``, or its contents do not build a model.

    Shape:
        a file -> a :class:`TrainedModel`; its ``predict(text)`` gives lists shaped as documented there (attention ``[layer][head][query][key]``).

    Examples:
        >>> import tempfile
        >>> from transformer_anatomy.tasks import make_sentiment_task
        >>> from transformer_anatomy.torch.encoder_models import TransformerClassifier
        >>> data = make_sentiment_task(n_train=16, n_valid=4, n_test=4)
        >>> kw = dict(d_model=16, nhead=2, num_layers=1, dim_feedforward=32)
        >>> path = save_trained(Path(tempfile.mkdtemp()) / "s.pt", TransformerClassifier(len(data.src_vocab), 2, **kw),
        ...                     data, model_kwargs=kw)
        >>> trained = load_trained(path, task="sentiment")
        >>> trained.task, trained.kind, trained.model.training
        ('sentiment', 'classification', False)
    """
    from transformer_anatomy.training.checkpoint import _verify_zip

    path = Path(path)
    if task is not None and (not isinstance(task, str) or not task):
        raise ValueError(f"task must be a non-empty string or None, got {task!r}")
    if not path.is_file():
        raise CheckpointError(f"trained model not found: {path}")
    _verify_zip(path)  # names the file; torch.load does not check the CRC of tensor data
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, refused type, ...
        raise CheckpointError(f"cannot read trained model {path}: {type(e).__name__}: {e}") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path} is not a trained-model file (format {FORMAT!r}); it holds {found!r}")
    if task is not None and obj.get("task") != task:
        raise CheckpointError(f"{path} holds the model of task {obj.get('task')!r}, not {task!r}")
    try:
        return TrainedModel._from_file(obj, path)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"cannot build the model of {path}: {type(e).__name__}: {e}") from e


class TrainedModel:
    """A trained task model with its vocabularies: ``predict(text)`` runs it on text.

    Made by :func:`load_trained` (or :meth:`from_model`, without a file).

    Attributes:
        task (str): the task's name (``"reversal"``, ``"sentiment"``, ...).
        kind (str): ``"seq2seq"``, ``"classification"``, ``"tagging"``, ``"qa"`` or ``"causal_lm"``.
        model (nn.Module): the torch model, in eval mode.
        src_vocab, tgt_vocab (Vocab): the input and output vocabularies (``tgt_vocab`` is ``None``
            for classification and QA).
        label_names (list of str or None): the classes (classification).
        settings (dict): ``max_src_len``, ``max_decode_len``, ``max_answer_len``, ``sep``,
            ``as_unk``, ``input_format``, ``top_k``, ``params`` (see :func:`save_trained`); a
            language model's also ``block_size`` and ``max_new_tokens``.
        path (Path or None): the file it came from.

    Shape:
        ``predict`` takes one text of ``S <= settings["max_src_len"]`` tokens (a language model:
        characters of the prompt; see its docstring for every output's shape).

    Examples:
        >>> from transformer_anatomy.tasks import make_tagging_task
        >>> from transformer_anatomy.torch.encoder_models import TransformerTagger
        >>> data = make_tagging_task(n_train=8, n_valid=2, n_test=2)
        >>> m = TransformerTagger(len(data.src_vocab), len(data.tgt_vocab), d_model=16, nhead=2, num_layers=1)
        >>> trained = TrainedModel.from_model(m, data)
        >>> out = trained.predict("the dog runs .")
        >>> len(out["prediction"]), len(out["probabilities"][0]) == len(data.tgt_vocab)
        (4, True)
    """

    def __init__(self, task: str, kind: str, model: nn.Module, src_vocab: Any, tgt_vocab: Any,
                 label_names: Sequence[str] | None, settings: Mapping[str, Any], path: Path | None = None) -> None:
        self.task, self.kind, self.model = task, kind, model.eval()
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.label_names = None if label_names is None else list(label_names)
        self.settings, self.path = dict(settings), path

    @classmethod
    def _from_file(cls, obj: Mapping[str, Any], path: Path) -> TrainedModel:
        name, kind = obj["model_class"], obj["kind"]
        if KIND_OF_CLASS.get(name) != kind:
            raise ValueError(f"model_class {name!r} does not solve a {kind!r} task")
        model = _model_classes()[name](**obj["model_kwargs"])
        model.load_state_dict(obj["state_dict"], strict=True)
        src = _rebuild_vocab(obj["src_vocab"], "src_vocab")
        tgt = None if obj["tgt_vocab"] is None else _rebuild_vocab(obj["tgt_vocab"], "tgt_vocab")
        V_src = model.src_vocab_size if kind == "seq2seq" else model.vocab_size  # causal_lm: vocab_size too
        if len(src) != V_src:
            raise ValueError(f"src_vocab has {len(src)} tokens but the model embeds {V_src}")
        return cls(obj["task"], kind, model, src, tgt, obj["label_names"], obj["settings"], path)

    @classmethod
    def from_model(cls, model: nn.Module, data: Any, *, task: str | None = None,
                   max_decode_len: int | None = None, max_new_tokens: int | None = None) -> TrainedModel:
        """Wrap an in-memory model and its task data (the settings :func:`save_trained` would store;
        for a language model ``data`` is its ``LanguageModelData``)."""
        name = type(model).__name__
        if name not in KIND_OF_CLASS:
            raise TypeError(f"model must be one of {sorted(KIND_OF_CLASS)}, got a {name}")
        kind = KIND_OF_CLASS[name]
        settings = _settings(kind, data, max_decode_len, max_new_tokens, model)
        tgt = data.tgt_vocab if kind in ("seq2seq", "tagging") else None
        labels = data.label_names if kind == "classification" else None
        return cls(_task_name(kind, data, task), kind, model, _src_vocab(kind, data), tgt, labels, settings)

    def __repr__(self) -> str:
        return (f"TrainedModel(task={self.task!r}, kind={self.kind!r}, model={type(self.model).__name__}, "
                f"parameters={self.model.num_parameters()})")

    # ----------------------------------------------------------------------------------------
    def encode(self, text: str) -> tuple[list[str], list[int], list[int]]:
        """Text -> (tokens as the model sees them, their ids, positions that became ``<unk>``).

        Tokens are split as the source vocabulary does (whitespace for words); a token outside
        the vocabulary, or one of ``settings["as_unk"]`` (``<pad>``, ``<sos>``, ``<eos>``), becomes
        ``<unk>``. Raises ``ValueError`` for an empty text, a text longer than
        ``settings["max_src_len"]`` tokens (naming the length and the limit) or, for QA, a text
        without exactly one ``<sep>``.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        words = self.src_vocab.tokenize(text)
        limit = int(self.settings["max_src_len"])
        if not words:
            raise ValueError(f"text has no tokens; task {self.task!r} expects {self.settings['input_format']}")
        if len(words) > limit and self.kind == "causal_lm":
            raise ValueError(f"prompt has {len(words)} characters, more than the limit of {limit} for task "
                             f"{self.task!r} (block_size {self.settings['block_size']} - max_new_tokens "
                             f"{self.settings['max_new_tokens']})")
        if len(words) > limit:
            raise ValueError(f"text has {len(words)} tokens, more than the limit of {limit} for task {self.task!r}")
        sep = self.settings.get("sep")
        if sep is not None and words.count(sep) != 1:
            raise ValueError(f"text must contain {sep} exactly once ({self.settings['input_format']}), "
                             f"found it {words.count(sep)} times")
        as_unk = set(self.settings.get("as_unk", ()))
        unk = self.src_vocab.word2idx.get("<unk>")
        missing = [w for w in words if w not in self.src_vocab.word2idx]
        if unk is None and missing:
            raise ValueError(f"{missing[0]!r} is not in the vocabulary of task {self.task!r}, which has no <unk>")
        ids = [unk if w in as_unk else self.src_vocab.word2idx.get(w, unk) for w in words]
        tokens = [self.src_vocab.idx2word[i] for i in ids]
        unknown = [i for i, (w, t) in enumerate(zip(words, tokens)) if w != t]
        return tokens, ids, unknown

    @torch.no_grad()
    def predict(self, text: str) -> dict[str, Any]:
        """Run the model on ``text``: tokens, ids, prediction, probabilities and attention, as plain values.

        Every kind returns ``task``, ``kind``, ``tokens`` (the source tokens as the model sees
        them: unknown words as ``"<unk>"``), ``ids`` (their ids), ``unknown`` (positions of the
        tokens that became ``<unk>``), ``prediction``, ``probabilities`` and ``attention``.
        ``S`` is the number of source tokens, ``L`` layers, ``H`` heads; attention weights are
        nested lists ``[layer][head][query][key]``, each row summing to 1.

        - ``seq2seq`` (greedy decoding, one full decoder pass per step, ``argmax`` taking the
          lowest id on a tie, until ``<eos>`` or ``settings["max_decode_len"]`` tokens with
          ``<sos>``; ``T`` steps):

          - ``prediction``: the output text (tokens up to ``<eos>``, joined by spaces);
          - ``output_tokens`` / ``output_ids``: the ``T`` generated tokens (``<eos>`` included
            when generated);
          - ``probabilities``: ``[T]``, the probability of each generated token;
          - ``steps``: ``T`` dicts ``{"step": t, "token", "id", "probability",
            "top": [{"token", "id", "probability"} x 5, most likely first]}``;
          - ``decoder_tokens``: the ``T`` decoder inputs ``["<sos>", generated tokens but the
            last]`` (the query labels of ``decoder_self`` and ``cross``);
          - ``attention``: ``{"encoder_self": [L_enc][H][S][S], "decoder_self": [L_dec][H][T][T],
            "cross": [L_dec][H][T][S]}`` (the decoder's from the last step, whose row ``t`` is the
            query that chose step ``t``'s token).

        - ``classification``: ``prediction`` the label name, ``label`` its index, ``labels``
          the label names, ``probabilities`` ``[C]``.
        - ``tagging``: ``prediction`` ``[S]`` tag names, ``labels`` the tag vocabulary (``C``
          tokens, specials included), ``probabilities`` ``[S][C]``.
        - ``qa``: ``prediction`` the answer (span tokens joined by spaces), ``span`` ``[start,
          end]`` (inclusive token positions: the best ``start_logit + end_logit`` with
          ``start <= end < start + settings["max_answer_len"]``), ``probabilities`` ``[2][S]``
          (softmax of the start logits, then of the end logits).
        - encoder-only kinds: ``attention`` is ``{"encoder_self": [L][H][S][S]}``.
        - ``causal_lm`` (a character language model): the text is the prompt, ``S`` characters
          (``1 <= S <= settings["max_src_len"] = block_size - max_new_tokens``; a character
          outside the vocabulary becomes ``<unk>``); then greedy generation of ``K =
          settings["max_new_tokens"]`` characters, one full forward pass over the prompt and the
          characters so far per step (no KV cache, as the browser runs its graph), ``argmax``
          taking the lowest id on a tie, never stopping early (``<eos>``, the boundary between
          help topics, is generated like a character):

          - ``prediction``: the ``K`` generated characters joined (specials written out, as
            ``LanguageModelData.decode``);
          - ``output_tokens`` / ``output_ids``: ``[K]``; ``probabilities``: ``[K]``, each
            chosen character's probability;
          - ``steps``: ``K`` dicts ``{"step": t, "token", "id", "probability", "top":
            [{"token", "id", "probability"} x 5, most likely first, ties by id]}``;
          - ``attention_tokens``: the ``T = S + K - 1`` tokens of the last pass (prompt, then
            the generated characters but the last): the labels of both attention axes;
          - ``attention``: ``{"self": [L][H][T][T]}`` of that last pass (row ``t`` is the query
            that chose the character at position ``t + 1``; zero above the diagonal).

        Raises:
            TypeError: ``text`` is not a str. ValueError: see :meth:`encode`.

        Examples:
            >>> from transformer_anatomy.tasks import make_reversal_task
            >>> from transformer_anatomy.torch.seq2seq import Seq2SeqTransformer
            >>> data = make_reversal_task(n_train=8, n_valid=2, n_test=2, min_len=3, max_len=3, num_symbols=4)
            >>> _ = torch.manual_seed(0)
            >>> m = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=16, nhead=2)
            >>> out = TrainedModel.from_model(m, data).predict("a b zzz")
            >>> out["tokens"], out["unknown"], len(out["steps"][0]["top"]), sorted(out["attention"])
            (['a', 'b', '<unk>'], [2], 5, ['cross', 'decoder_self', 'encoder_self'])
        """
        tokens, ids, unknown = self.encode(text)
        src = torch.tensor([ids], dtype=torch.long)  # (1, S)
        out: dict[str, Any] = {"task": self.task, "kind": self.kind, "tokens": tokens, "ids": ids, "unknown": unknown}
        m = self.model.eval()
        if self.kind == "seq2seq":
            out.update(self._greedy(src))
            return out
        if self.kind == "causal_lm":
            out.update(self._generate(ids))
            return out
        with record_attention(m) as rec:
            result = m(src)
        attention = {"encoder_self": [_nested(w[0]) for w in attention_groups(self.kind, rec)["encoder_self"]]}
        if self.kind == "classification":
            p = _softmax(result[0])  # (C,)
            label = int(result[0].argmax())
            out.update(prediction=self.label_names[label], label=label, labels=list(self.label_names),
                       probabilities=p.tolist())
        elif self.kind == "tagging":
            p = _softmax(result[0])  # (S, C)
            tags = result[0].argmax(dim=-1).tolist()
            out.update(prediction=[self.tgt_vocab.idx2word[t] for t in tags], labels=self.tgt_vocab.tokens,
                       probabilities=p.tolist())
        else:
            from transformer_anatomy.training.evaluation import best_spans

            start, end = result[0][0], result[1][0]  # (S,), (S,)
            s, e = best_spans(start[None].numpy(), end[None].numpy(), int(self.settings["max_answer_len"]))
            s, e = int(s[0]), int(e[0])
            out.update(prediction=self.src_vocab.detokenize(tokens[s : e + 1]), span=[s, e],
                       probabilities=[_softmax(start).tolist(), _softmax(end).tolist()])
        out["attention"] = attention
        return out

    def _generate(self, ids: list[int]) -> dict[str, Any]:
        """A language model's greedy continuation of ``ids``: one full pass per new character."""
        m, vocab = self.model, self.src_vocab
        K = int(self.settings["max_new_tokens"])
        k = min(int(self.settings.get("top_k") or TOP_K), len(vocab))
        seq, steps = list(ids), []
        for t in range(K):
            logits = m(torch.tensor([seq], dtype=torch.long))[0, -1]  # (1, S + t, V) -> (V,)
            p = _softmax(logits)  # (V,)
            nxt = int(logits.argmax())  # the first maximum: the lowest id on a tie
            top_p, top_i = p.topk(k)
            order = sorted(range(k), key=lambda j: (-float(top_p[j]), int(top_i[j])))
            steps.append({"step": t, "token": vocab.idx2word[nxt], "id": nxt, "probability": float(p[nxt]),
                          "top": [{"token": vocab.idx2word[int(top_i[j])], "id": int(top_i[j]),
                                   "probability": float(top_p[j])} for j in order]})
            seq.append(nxt)
        last = seq[:-1]  # the input of the last step: prompt + generated but the last
        with record_attention(m) as rec:
            m(torch.tensor([last], dtype=torch.long))
        generated = seq[len(ids):]
        tokens = [vocab.idx2word[i] for i in generated]
        return {
            "prediction": "".join(tokens),
            "output_tokens": tokens,
            "output_ids": generated,
            "probabilities": [s["probability"] for s in steps],
            "steps": steps,
            "attention_tokens": [vocab.idx2word[i] for i in last],
            "attention": {"self": [_nested(w[0]) for w in attention_groups("causal_lm", rec)["self"]]},
        }

    def _greedy(self, src: Tensor) -> dict[str, Any]:
        """Greedy decoding with the top-``k`` candidates and the attention of every step."""
        m, tgt = self.model, self.tgt_vocab
        sos, eos = tgt.sos_id, tgt.eos_id
        max_len = int(self.settings["max_decode_len"])
        k = min(int(self.settings.get("top_k") or TOP_K), len(tgt))
        with record_attention(m) as rec:
            memory = m.encode(src)  # (1, S) -> (1, S, E)
            encoder = attention_groups("seq2seq", rec)["encoder_self"]
        ys, steps = [sos], []
        decoder: dict[str, list[Tensor]] = {}
        for t in range(max_len - 1):
            with record_attention(m) as rec:
                logits = m.decode(torch.tensor([ys]), memory, src)[0, -1]  # (1, t+1, V) -> (V,)
                groups = attention_groups("seq2seq", rec)
            decoder = {g: groups[g] for g in ("decoder_self", "cross")}
            p = _softmax(logits)  # (V,)
            nxt = int(logits.argmax())
            top_p, top_i = p.topk(k)  # most likely first; ties: lower id first (stable sort below)
            order = sorted(range(k), key=lambda j: (-float(top_p[j]), int(top_i[j])))
            steps.append({"step": t, "token": tgt.idx2word[nxt], "id": nxt, "probability": float(p[nxt]),
                          "top": [{"token": tgt.idx2word[int(top_i[j])], "id": int(top_i[j]),
                                   "probability": float(top_p[j])} for j in order]})
            ys.append(nxt)
            if nxt == eos:
                break
        generated = ys[1:]
        return {
            "prediction": tgt.detokenize(tgt.decode(generated)),
            "output_tokens": [tgt.idx2word[i] for i in generated],
            "output_ids": generated,
            "probabilities": [s["probability"] for s in steps],
            "steps": steps,
            "decoder_tokens": [tgt.idx2word[i] for i in ys[:-1]],
            "attention": {"encoder_self": [_nested(w[0]) for w in encoder],
                          "decoder_self": [_nested(w[0]) for w in decoder["decoder_self"]],
                          "cross": [_nested(w[0]) for w in decoder["cross"]]},
        }


def _softmax(logits: Tensor) -> Tensor:
    """Softmax over the last axis, computed in float64 from the model's logits."""
    return torch.softmax(logits.double(), dim=-1)


def _nested(w: Tensor) -> list:
    """``(H, T, S)`` weights -> nested lists of Python floats."""
    return w.double().tolist()


def file_size_estimate(model: nn.Module) -> int:
    """Bytes of the parameters and buffers in the state dict (4 per float32 value); the file adds a few KiB.

    Examples:
        >>> file_size_estimate(nn.Linear(3, 2))
        32
    """
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())

