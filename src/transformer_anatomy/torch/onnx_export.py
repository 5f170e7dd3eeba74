"""A trained model as ONNX graphs with every layer's and head's attention as extra outputs.

The site's build exports each kept model (:func:`transformer_anatomy.torch.trained.load_trained`)
to ONNX so the page can run it in the reader's browser (onnxruntime-web), and checks with
onnxruntime (Python, CPU) that the graphs give the torch model's numbers before the page is
written (:func:`check_onnx`).

Graphs (batch ``N``, source length ``S``, target prefix ``T``, ``L`` layers, ``H`` heads, all
sequence axes dynamic; inputs never padded, so no padding mask is built in the graph):

- encoder-only models, ``<task>.onnx``: ``ids (N, S) int64`` -> ``logits (N, C)``
  (classification) or ``logits (N, S, C)`` (tagging) or ``start_logits, end_logits (N, S)``
  (QA), and ``encoder_attention (N, L, H, S, S)``;
- encoder–decoder models, ``<task>.encoder.onnx``: ``src_ids (N, S) int64`` -> ``memory (N, S,
  E)``, ``encoder_attention (N, L, H, S, S)``; ``<task>.decoder.onnx``: ``memory (N, S, E)``,
  ``tgt_ids (N, T) int64`` (``<sos>`` and the tokens chosen so far) -> ``logits (N, V)`` of the
  next token, ``decoder_attention (N, L, H, T, T)``, ``cross_attention (N, L, H, T, S)``;
- character language models (kind ``causal_lm``: ``LlamaForCausalLM``, ``GPT2LMHeadModel``),
  ``<task>.onnx``: ``ids (1, T) int64`` (the prompt and the characters generated so far) ->
  ``logits (1, T, V)``, ``attention (L, H, T, T)`` (causal: zero above the diagonal); one run
  per generated character, no KV cache, as :meth:`TrainedModel.predict` generates.

Beside the graphs, ``<task>.card.json`` (:func:`model_card`) tells the JavaScript side what it
needs: vocabularies, specials, limits, kind, file and tensor names.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``. The ``dynamo=True``
exporter (torch.export + onnxscript) also works offline; :data:`EXPORTER` records the choice
and :func:`export_onnx` takes ``dynamo=`` to switch.

Page: the playground page.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from transformer_anatomy.torch.trained import TrainedModel, attention_groups, record_attention

__all__ = ["ONNX_ATOL", "ONNX_RTOL", "OPSET", "OnnxMismatchError", "export_onnx", "check_onnx", "model_card"]

ONNX_ATOL = 1e-5
ONNX_RTOL = 1e-5
""":func:`check_onnx` accepts ``|onnxruntime - torch| <= ONNX_ATOL + ONNX_RTOL * |torch|`` per
element: TESTING.md's float32 forward tolerance (rounding grows with the magnitude: a trained
QA model's start logits of ~14 differ by ~1e-5, about ten float32 steps there)."""

OPSET = 18
"""ONNX opset of the exported graphs."""

CARD_FORMAT = "transformer_anatomy/onnx-card-v1"


class OnnxMismatchError(AssertionError):
    """onnxruntime's outputs differ from the torch model's by more than :data:`ONNX_ATOL`."""


# --------------------------------------------------------------------------------------------
# the graphs: the model's own layers, no padding masks, attention recorded
# --------------------------------------------------------------------------------------------
def _stack(weights: Sequence[Tensor]) -> Tensor:
    """``L`` x ``(N, H, T, S)`` -> ``(N, L, H, T, S)``."""
    return torch.stack(list(weights), dim=1)


class _EncoderOnly(nn.Module):
    """ids -> the head's outputs and the encoder self-attention (unpadded input)."""

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model, self.kind = model, kind

    def forward(self, ids: Tensor) -> tuple[Tensor, ...]:
        m = self.model
        from transformer_anatomy.torch.embeddings import embed_tokens

        with record_attention(m) as rec:
            x = embed_tokens(ids, m.tok_emb, m.pos_emb, m.dropout, m.scale_embedding)  # (N, S, E)
            h = m.encoder(x, src_key_padding_mask=None)  # (N, S, E)
        attn = _stack(attention_groups(self.kind, rec)["encoder_self"])  # (N, L, H, S, S)
        if self.kind == "classification":
            return m.classifier(h.mean(dim=1)), attn  # no pads: the mean over all positions
        if self.kind == "tagging":
            return m.tagger(h), attn  # (N, S, C)
        start, end = m.qa_outputs(h).unbind(dim=-1)  # (N, S, 2) -> 2 x (N, S)
        return start, end, attn


class _CausalLM(nn.Module):
    """A decoder-only LM: ids ``(1, T)`` -> logits ``(1, T, V)`` and its self-attention ``(L, H, T, T)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        with record_attention(self.model) as rec:
            logits = self.model(ids)  # (1, T, V); attention computed explicitly (weights @ v)
        return logits, torch.stack([w[0] for w in attention_groups("causal_lm", rec)["self"]], dim=0)


def _causal_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers of a ``LlamaForCausalLM`` (``model.layers``) or ``GPT2LMHeadModel`` (``transformer.h``)."""
    return model.model.layers if hasattr(model, "model") else model.transformer.h


class _Encoder(nn.Module):
    """Seq2seq source ids -> memory and the encoder self-attention."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src_ids: Tensor) -> tuple[Tensor, Tensor]:
        m = self.model
        with record_attention(m) as rec:
            x = m._embed(src_ids, m.src_tok_emb, m.src_pos_emb)  # (N, S, E)
            memory = m.transformer.encode(x, src_key_padding_mask=None)
        return memory, _stack(attention_groups("seq2seq", rec)["encoder_self"])


class _Decoder(nn.Module):
    """Memory and target prefix -> next-token logits, decoder self- and cross-attention."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, memory: Tensor, tgt_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        m = self.model
        with record_attention(m) as rec:
            y = m._embed(tgt_ids, m.tgt_tok_emb, m.tgt_pos_emb)  # (N, T, E)
            h = m.transformer.decode(y, memory, tgt_key_padding_mask=None, memory_key_padding_mask=None,
                                     tgt_is_causal=True)  # (N, T, E)
        groups = attention_groups("seq2seq", rec)
        return m.generator(h[:, -1]), _stack(groups["decoder_self"]), _stack(groups["cross"])  # (N, V), ...


GRAPHS: dict[str, dict[str, Any]] = {
    "classification": {"model": (["ids"], ["logits", "encoder_attention"])},
    "tagging": {"model": (["ids"], ["logits", "encoder_attention"])},
    "qa": {"model": (["ids"], ["start_logits", "end_logits", "encoder_attention"])},
    "causal_lm": {"model": (["ids"], ["logits", "attention"])},
    "seq2seq": {"encoder": (["src_ids"], ["memory", "encoder_attention"]),
                "decoder": (["memory", "tgt_ids"], ["logits", "decoder_attention", "cross_attention"])},
}
"""Per kind: graph name -> (input names, output names)."""

_AXES = {"ids": "S", "src_ids": "S", "tgt_ids": "T", "memory": "S", "logits": None, "start_logits": "S",
         "end_logits": "S", "encoder_attention": ("S", "S"), "decoder_attention": ("T", "T"),
         "cross_attention": ("T", "S")}


def _dynamic_axes(kind: str, names: Sequence[str]) -> dict[str, dict[int, str]]:
    """Legacy exporter's dynamic axes: the batch and every sequence axis of each tensor (a
    language model's graph: its one sequence axis ``T``; the batch is one prompt)."""
    if kind == "causal_lm":
        return {"ids": {1: "T"}, "logits": {1: "T"}, "attention": {2: "T", 3: "T"}}
    axes: dict[str, dict[int, str]] = {}
    for n in names:
        a: dict[int, str] = {0: "N"}
        spec = _AXES[n]
        if n in ("ids", "src_ids", "tgt_ids", "memory", "start_logits", "end_logits"):
            a[1] = spec
        elif n == "logits" and kind == "tagging":
            a[1] = "S"
        elif isinstance(spec, tuple):
            a[3], a[4] = spec
        axes[n] = a
    return axes


def _example_inputs(trained: TrainedModel, graph: str) -> tuple[Tensor, ...]:
    S = min(3, int(trained.settings["max_src_len"]))
    ids = torch.full((1, S), trained.src_vocab.unk_id, dtype=torch.long)
    if graph != "decoder":
        return (ids,)
    memory = torch.zeros(1, S, trained.model.d_model)
    return memory, torch.full((1, 2), trained.tgt_vocab.sos_id, dtype=torch.long)


def _graph_module(trained: TrainedModel, graph: str) -> nn.Module:
    if trained.kind == "causal_lm":
        return _CausalLM(trained.model)
    if graph == "encoder":
        return _Encoder(trained.model)
    if graph == "decoder":
        return _Decoder(trained.model)
    return _EncoderOnly(trained.model, trained.kind)


def export_onnx(trained: TrainedModel, folder: str | os.PathLike, *, dynamo: bool = False) -> dict[str, Path]:
    """Write the ONNX graph(s) of ``trained`` and its model card into ``folder``.

    Args:
        trained: a :class:`TrainedModel` (from :func:`load_trained`).
        folder: where to write (created).
        dynamo: use the ``torch.export``-based exporter instead of the TorchScript one.

    Returns:
        graph name (``"model"``; or ``"encoder"`` and ``"decoder"``) -> path, and ``"card"`` -> the
        model card's path.

    Shape:
        see the module docstring (inputs and outputs per kind; sequence axes dynamic).

    Examples:
        >>> import tempfile
        >>> from transformer_anatomy.tasks import make_sentiment_task
        >>> from transformer_anatomy.torch.encoder_models import TransformerClassifier
        >>> data = make_sentiment_task(n_train=16, n_valid=4, n_test=4)
        >>> m = TransformerClassifier(len(data.src_vocab), 2, d_model=16, nhead=2, num_layers=1, dim_feedforward=32)
        >>> trained = TrainedModel.from_model(m, data)
        >>> paths = export_onnx(trained, tempfile.mkdtemp())
        >>> sorted(paths), check_onnx(trained, paths, ["the plot was good"]) <= ONNX_ATOL
        (['card', 'model'], True)
    """
    m = trained.model.eval()
    if trained.kind == "seq2seq":
        stacks = (m.transformer.encoder.layers, m.transformer.decoder.layers)
    elif trained.kind == "causal_lm":
        stacks = (_causal_layers(m),)
    else:
        stacks = (m.encoder.layers,)
    if any(len(layers) == 0 for layers in stacks):
        raise ValueError("export_onnx needs at least one encoder (and decoder) layer: its attention is an output")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for graph, (inputs, outputs) in GRAPHS[trained.kind].items():
        path = folder / (f"{trained.task}.onnx" if graph == "model" else f"{trained.task}.{graph}.onnx")
        module = _graph_module(trained, graph).eval()
        args = _example_inputs(trained, graph)
        with torch.no_grad(), warnings.catch_warnings():
            # the shape checks of our layers read sizes as Python ints (TracerWarning): constants in
            # the trace, harmless; the TorchScript exporter says it is deprecated (DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            if dynamo:
                dims = {name: {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO} for name in inputs}  # N, S / T
                if trained.kind == "causal_lm":
                    dims = {"ids": {1: torch.export.Dim.AUTO}}
                prog = torch.onnx.export(module, args, input_names=inputs, output_names=outputs,
                                         dynamic_shapes=dims, opset_version=OPSET, dynamo=True,
                                         optimize=True, verbose=False)
                prog.save(str(path))
            else:
                torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                                  dynamic_axes=_dynamic_axes(trained.kind, inputs + outputs),
                                  opset_version=OPSET, dynamo=False, do_constant_folding=True)
        paths[graph] = path
    card = folder / f"{trained.task}.card.json"
    card.write_text(json.dumps(model_card(trained, paths, dynamo=dynamo), indent=1) + "\n")
    paths["card"] = card
    return paths


def model_card(trained: TrainedModel, paths: Mapping[str, Path], *, dynamo: bool = False) -> dict[str, Any]:
    """What the browser needs to run the exported graphs as :meth:`TrainedModel.predict` does.

    Keys: ``format``, ``task``, ``kind``, ``graphs`` (name -> ``{"file", "inputs", "outputs"}``),
    ``src_vocab`` / ``tgt_vocab`` (token lists in id order, or ``None``), ``specials`` (token ->
    id: ``<pad>``, ``<sos>``, ``<eos>``, ``<unk>`` and task specials), ``tokenizer`` (``"word"``:
    split on whitespace; ``"char"``), ``as_unk`` (typed tokens that become ``<unk>``),
    ``label_names``, ``labels`` (what ``predict`` reports as ``labels``), ``max_src_len``,
    ``max_decode_len``, ``max_answer_len``, ``sep``, ``top_k``, ``input_format``,
    ``num_layers``, ``num_heads``, ``d_model``, ``exporter``, ``opset``; a language model's
    also ``block_size`` and ``max_new_tokens`` (its ``num_layers`` are ``{"decoder": L}``).
    """
    from transformer_anatomy.tasks.vocab import CharVocab

    t, m = trained, trained.model
    labels = t.label_names if t.kind == "classification" else (t.tgt_vocab.tokens if t.kind == "tagging" else None)
    if t.kind == "causal_lm":
        layers = _causal_layers(m)
        attn = layers[0].self_attn if hasattr(layers[0], "self_attn") else layers[0].attn
        d_model = int(attn.num_heads * attn.head_dim) if hasattr(attn, "num_heads") else int(attn.n_embd)
        heads = int(getattr(attn, "num_heads", getattr(attn, "n_head", 0)))
        num_layers = {"encoder": 0, "decoder": len(layers)}
    else:
        enc_layers = m.transformer.encoder.layers if t.kind == "seq2seq" else m.encoder.layers
        d_model, heads = int(m.d_model), int(enc_layers[0].self_attn.num_heads)
        num_layers = {"encoder": len(enc_layers),
                      "decoder": len(m.transformer.decoder.layers) if t.kind == "seq2seq" else 0}
    card = {
        "format": CARD_FORMAT,
        "task": t.task,
        "kind": t.kind,
        "graphs": {g: {"file": paths[g].name, "inputs": GRAPHS[t.kind][g][0], "outputs": GRAPHS[t.kind][g][1]}
                   for g in GRAPHS[t.kind]},
        "tokenizer": "char" if isinstance(t.src_vocab, CharVocab) else "word",
        "src_vocab": t.src_vocab.tokens,
        "tgt_vocab": None if t.tgt_vocab is None else t.tgt_vocab.tokens,
        "specials": {s: t.src_vocab.word2idx[s] for s in t.src_vocab.specials},
        "as_unk": list(t.settings.get("as_unk", ())),
        "label_names": t.label_names,
        "labels": labels,
        "d_model": d_model,
        "num_heads": heads,
        "num_layers": num_layers,
        "exporter": "torch.onnx.export(dynamo=True)" if dynamo else "torch.onnx.export(dynamo=False)",
        "opset": OPSET,
        "torch_version": str(torch.__version__),
    }
    for k in ("max_src_len", "max_decode_len", "max_answer_len", "sep", "top_k", "input_format"):
        card[k] = t.settings.get(k)
    if t.kind == "causal_lm":
        card["block_size"] = t.settings["block_size"]
        card["max_new_tokens"] = t.settings["max_new_tokens"]
    return card


# --------------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------------
def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # deterministic sums, and the build machine's cores stay free
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _diff(a: Any, b: Tensor, what: str, atol: float = ONNX_ATOL, rtol: float = ONNX_RTOL) -> float:
    """The largest ``|a - b|``; :class:`OnnxMismatchError` if an element exceeds ``atol + rtol |b|``."""
    import numpy as np

    a = np.asarray(a)
    if tuple(a.shape) != tuple(b.shape):
        raise OnnxMismatchError(f"{what}: onnxruntime gives shape {a.shape}, torch {tuple(b.shape)}")
    if not a.size:
        return 0.0
    ref = b.double().numpy()
    err = np.abs(a.astype(np.float64) - ref)
    excess = err - (atol + rtol * np.abs(ref))
    if not (excess <= 0).all():  # NaN fails too
        i = np.unravel_index(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape)
        raise OnnxMismatchError(f"{what}: onnxruntime differs from torch by {err[i]:.3g} at {tuple(map(int, i))} "
                                f"(torch {ref[i]:.6g}) > atol {atol:g} + rtol {rtol:g} * |torch|")
    return float(err.max())


@torch.no_grad()
def check_onnx(trained: TrainedModel, paths: Mapping[str, Path], texts: Sequence[str],
               atol: float = ONNX_ATOL, rtol: float = ONNX_RTOL) -> float:
    """Run the exported graphs with onnxruntime (Python, CPU) on ``texts``; the largest difference to torch.

    The torch side is the model's own ``forward`` / ``encode`` / ``decode`` (with its padding
    checks), attention recorded per layer and head; for seq2seq every greedy step is compared
    (logits and both attentions), the onnxruntime decoder reading onnxruntime's memory, as the
    browser does; for a language model every greedy step (``settings["max_new_tokens"]``) is
    compared: the logits at every position against the model's plain ``forward`` (SDPA), the
    attention against the recorded weights, and the chosen character.

    Args:
        trained: the model exported. paths: :func:`export_onnx`'s result. texts: inputs
            :meth:`TrainedModel.predict` accepts. atol, rtol: each element must satisfy
            ``|onnxruntime - torch| <= atol + rtol * |torch|``.

    Returns:
        the maximum absolute difference over every output compared.

    Raises:
        OnnxMismatchError: an element beyond the tolerance (naming the text, output and element)
            or a shape mismatch.
    """
    import numpy as np

    if not texts:
        raise ValueError("texts must hold at least one input")
    m = trained.model.eval()
    sessions = {g: _session(Path(paths[g])) for g in GRAPHS[trained.kind]}
    worst = 0.0

    def note(d: float, what: str) -> None:
        nonlocal worst
        worst = max(worst, d)

    for text in texts:
        _, ids, _ = trained.encode(text)
        src = torch.tensor([ids], dtype=torch.long)  # (1, S)
        if trained.kind == "causal_lm":
            seq = list(ids)
            for _ in range(int(trained.settings["max_new_tokens"])):
                x = torch.tensor([seq], dtype=torch.long)  # (1, T)
                logits = m(x)  # (1, T, V): the model's own forward
                with record_attention(m) as rec:
                    m(x)
                attn = torch.stack([w[0] for w in attention_groups("causal_lm", rec)["self"]], dim=0)
                got = sessions["model"].run(None, {"ids": x.numpy()})
                for name, a, b in zip(("logits", "attention"), got, (logits, attn)):
                    note(_diff(a, b, f"{text!r} step {len(seq) - len(ids)} {name}", atol, rtol), name)
                nxt, ort_nxt = int(logits[0, -1].argmax()), int(np.argmax(got[0][0, -1]))
                if ort_nxt != nxt:
                    raise OnnxMismatchError(f"{text!r} step {len(seq) - len(ids)}: onnxruntime picks id {ort_nxt}, "
                                            f"torch {nxt}")
                seq.append(nxt)
            continue
        if trained.kind != "seq2seq":
            with record_attention(m) as rec:
                out = m(src)
            ref = list(out) if isinstance(out, tuple) else [out]
            ref.append(_stack(attention_groups(trained.kind, rec)["encoder_self"]))
            got = sessions["model"].run(None, {"ids": src.numpy()})
            for name, a, b in zip(GRAPHS[trained.kind]["model"][1], got, ref):
                note(_diff(a, b, f"{text!r} {name}", atol, rtol), f"{text!r} {name}")
            continue
        with record_attention(m) as rec:
            memory = m.encode(src)
        enc_ref = _stack(attention_groups("seq2seq", rec)["encoder_self"])
        mem_ort, enc_ort = sessions["encoder"].run(None, {"src_ids": src.numpy()})
        note(_diff(mem_ort, memory, f"{text!r} memory", atol, rtol), f"{text!r} memory")
        note(_diff(enc_ort, enc_ref, f"{text!r} encoder_attention", atol, rtol), f"{text!r} encoder_attention")
        ys = [trained.tgt_vocab.sos_id]
        for _ in range(int(trained.settings["max_decode_len"]) - 1):
            tgt = torch.tensor([ys], dtype=torch.long)
            with record_attention(m) as rec:
                logits = m.decode(tgt, memory, src)[:, -1]  # (1, V)
            g = attention_groups("seq2seq", rec)
            got = sessions["decoder"].run(None, {"memory": mem_ort, "tgt_ids": tgt.numpy()})
            for name, a, b in zip(("logits", "decoder_attention", "cross_attention"), got,
                                  (logits, _stack(g["decoder_self"]), _stack(g["cross"]))):
                note(_diff(a, b, f"{text!r} step {len(ys)} {name}", atol, rtol), f"{text!r} step {len(ys)} {name}")
            nxt = int(logits[0].argmax())
            ort_nxt = int(np.argmax(got[0][0]))
            if ort_nxt != nxt:
                raise OnnxMismatchError(f"{text!r} step {len(ys)}: onnxruntime picks token {ort_nxt}, torch {nxt}")
            ys.append(nxt)
            if nxt == trained.tgt_vocab.eos_id:
                break
    return worst
