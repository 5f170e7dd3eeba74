"""Trace the shape of every tensor, forward and backward, through our models on a real batch.

PyTorch side: forward hooks on the named submodules record input and output shapes and call
``retain_grad()`` on each output, so after ``loss.backward()`` the gradient that reached that
output can be read from ``.grad``. NumPy side: the same submodules of the NumPy copy of the
model (``from_torch``) get their ``forward`` and ``backward`` wrapped, so the shapes going in
and out of each call (and of each backward call) are recorded as the model runs.
"""

import functools

import torch
import torch.nn.functional as F

from transformer_anatomy import numpy as tnp
from transformer_anatomy import torch as tt
from transformer_anatomy.tasks import (
    make_qa_task,
    make_reversal_task,
    make_sentiment_task,
    make_tagging_task,
)

N = 4  # batch size of the traced batch
SIZES = dict(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0)  # E=32, H=4, F=64: small, distinct


def _shape(x):
    """Shape of an array/tensor as a tuple, or a tuple of shapes for a tuple of them."""
    if isinstance(x, (tuple, list)):
        return tuple(_shape(v) for v in x if v is not None and hasattr(v, "shape"))
    return tuple(x.shape)


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


# ---------------------------------------------------------------------------------------------
# Task specifications: which batch, which model, which submodules to trace, and the edges of
# the flow between them (an edge (a, b) means "the output of a is an input of b").

def _encoder_steps(head):
    return ["tok_emb", "pos_emb", "encoder.layers.0", "encoder.layers.1", "encoder.norm", head]


def _chain(names):
    return list(zip(names, names[1:]))


ENC = ["src_tok_emb", "src_pos_emb", "transformer.encoder.layers.0", "transformer.encoder.layers.1",
       "transformer.encoder.norm"]
DEC = ["tgt_tok_emb", "tgt_pos_emb", "transformer.decoder.layers.0", "transformer.decoder.layers.1",
       "transformer.decoder.norm", "generator"]
SEQ2SEQ_EDGES = _chain(ENC) + _chain(DEC) + [
    ("transformer.encoder.norm", "transformer.decoder.layers.0"),  # memory feeds every decoder layer
    ("transformer.encoder.norm", "transformer.decoder.layers.1"),
]


def task_spec(task):
    """(data, torch model, traced module names, edges, inputs dict) for a task name."""
    torch.manual_seed(0)
    if task == "classification":
        data = make_sentiment_task(n_train=64, n_valid=8, n_test=8)
        model = tt.TransformerClassifier(len(data.src_vocab), len(data.label_names), **SIZES)
        steps = _encoder_steps("classifier")
    elif task == "tagging":
        data = make_tagging_task(n_train=64, n_valid=8, n_test=8)
        model = tt.TransformerTagger(len(data.src_vocab), len(data.tgt_vocab), **SIZES)
        steps = _encoder_steps("tagger")
    elif task == "qa":
        data = make_qa_task(n_train=64, n_valid=8, n_test=8)
        model = tt.TransformerQA(len(data.src_vocab), **SIZES)
        steps = _encoder_steps("qa_outputs")
    elif task in ("generation", "tagging_seq2seq"):
        data = (make_reversal_task if task == "generation" else make_tagging_task)(
            n_train=64, n_valid=8, n_test=8)
        model = tt.Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), **SIZES)
        steps = ENC + DEC
        batch = next(data.batches("train", N, rng=0))
        return data, model, steps, SEQ2SEQ_EDGES, batch
    else:
        raise ValueError(f"unknown task {task!r}")
    batch = next(data.batches("train", N, rng=0))
    return data, model, steps, _chain(steps), batch


def torch_loss(task, model, batch):
    """Run the model on the batch and return (output, loss) with our training losses."""
    if task == "classification":
        out = model(torch.from_numpy(batch["src"]))  # (N, C)
        return out, F.cross_entropy(out, torch.from_numpy(batch["label"]))
    if task == "tagging":
        # --8<-- [start:tagging_loss]
        out = model(torch.from_numpy(batch["src"]))  # (N, S) -> (N, S, C): a tag score vector per position
        tags = torch.from_numpy(batch["tags"])  # (N, S), 0 at pads
        loss = F.cross_entropy(out.flatten(0, 1), tags.flatten(), ignore_index=0)  # (N*S, C) vs (N*S,)
        # --8<-- [end:tagging_loss]
        return out, loss
    if task == "qa":
        start, end = model(torch.from_numpy(batch["src"]))  # 2 x (N, S)
        loss = (F.cross_entropy(start, torch.from_numpy(batch["start"]))
                + F.cross_entropy(end, torch.from_numpy(batch["end"]))) / 2
        return (start, end), loss
    # seq2seq: teacher forcing, decoder input shifted right, loss on the unshifted target
    out = model(torch.from_numpy(batch["src"]), torch.from_numpy(batch["tgt_in"]))  # (N, T, V)
    return out, F.cross_entropy(out.flatten(0, 1), torch.from_numpy(batch["tgt_out"]).flatten(), ignore_index=0)


@functools.cache  # one real run per task, shared by the tables and the flowchart
def trace_torch(task):
    """Forward and backward shapes of every traced submodule, from hooks on a real run."""
    data, model, steps, edges, batch = task_spec(task)
    calls, handles = {}, []  # id(module) -> [(input shapes, output tensor), ...] in call order

    def record(module, args, output):
        out = _first(output)
        if out.requires_grad:
            out.retain_grad()  # keep .grad of this non-leaf tensor after backward
        ins = [a for a in args if isinstance(a, torch.Tensor)]
        for a in ins:
            if a.requires_grad:
                a.retain_grad()
        calls[id(module)].append((_shape(args), out, ins))

    # get_submodule, not named_modules: the sinusoidal table is one module shared by
    # src_pos_emb and tgt_pos_emb, called once for each side (its calls are matched in order)
    mods = {name: model.get_submodule(name) for name in steps}
    for m in {id(m): m for m in mods.values()}.values():
        calls[id(m)] = []
        handles.append(m.register_forward_hook(record))
    try:
        model.train()
        out, loss = torch_loss(task, model, batch)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    rows = {}
    for name in steps:
        shapes_in, o, ins = calls[id(mods[name])].pop(0)
        rows[name] = {"in": shapes_in, "out": _shape(o), "grad": None if o.grad is None else tuple(o.grad.shape),
                      "in_grad": tuple(None if a.grad is None else tuple(a.grad.shape) for a in ins)}
    params = {n: tuple(p.grad.shape) for n, p in model.named_parameters() if p.grad is not None}
    return dict(task=task, data=data, model=model, batch=batch, steps=steps, edges=edges, rows=rows,
                out=out, loss=loss.item(), param_grads=params)


# ---------------------------------------------------------------------------------------------
# NumPy: the same model, converted, run on the same batch; forward and backward wrapped.

def numpy_loss_and_backward(task, model, batch):
    """Forward, our NumPy cross-entropy, and the model's backward; returns (output, loss)."""
    ce = tnp.CrossEntropyLoss(ignore_index=0 if task in ("tagging", "generation", "tagging_seq2seq") else -100)
    if task == "classification":
        out = model(batch["src"])
        loss = ce(out, batch["label"])
        model.backward(ce.backward())  # dlogits (N, C)
    elif task == "tagging":
        out = model(batch["src"])
        loss = ce(out, batch["tags"])
        model.backward(ce.backward())  # dlogits (N, S, C)
    elif task == "qa":
        out = model(batch["src"])
        ce_end = tnp.CrossEntropyLoss()
        loss = (ce(out[0], batch["start"]) + ce_end(out[1], batch["end"])) / 2
        model.backward(ce.backward(0.5), ce_end.backward(0.5))  # dstart, dend (N, S)
    else:
        out = model(batch["src"], batch["tgt_in"])
        loss = ce(out, batch["tgt_out"])
        model.backward(ce.backward())  # dlogits (N, T, V)
    return out, float(loss)


@functools.cache
def trace_numpy(task):
    """The NumPy copy of the same model on the same batch: shapes in and out of each call."""
    data, model_t, steps, edges, batch = task_spec(task)
    model = tnp.from_torch(model_t)
    model.train()
    modules = {name.rstrip("."): m for name, m in model.named_modules()}  # NumPy names end in "."
    rows = {}

    for name in steps:
        m = modules[name]
        fwd, bwd = m.forward, m.backward

        def forward(*args, _name=name, _fwd=fwd, **kwargs):
            out = _fwd(*args, **kwargs)
            rows[_name] = {"in": _shape(args), "out": _shape(_first(out))}
            return out

        def backward(dout, *args, _name=name, _bwd=bwd, **kwargs):
            rows[_name]["grad"] = _shape(dout)  # gradient arriving at this module's output
            return _bwd(dout, *args, **kwargs)

        m.forward, m.backward = forward, backward  # instance attributes shadow the methods
    out, loss = numpy_loss_and_backward(task, model, batch)
    params = {n: tuple(g.shape) for n, g in model.grads.items()}
    return dict(task=task, steps=steps, edges=edges, rows=rows, out=out, loss=loss, param_grads=params,
                model=model, batch=batch)


# ---------------------------------------------------------------------------------------------
# Presentation: a table of shapes and a Mermaid flowchart drawn from the traced shapes.

def fmt(shape):
    if shape is None:
        return "—"
    if shape and isinstance(shape[0], tuple):
        return ", ".join(fmt(s) for s in shape)
    return f"({shape[0]},)" if len(shape) == 1 else "(" + ", ".join(str(d) for d in shape) + ")"


def shape_table(trace, field_names=None):
    """Text table: module, input shapes, output shape, shape of the gradient at the output."""
    lines = [f"{'module':<30} {'input':<34} {'output':<14} {'grad of output':<14}"]
    for name in trace["steps"]:
        r = trace["rows"][name]
        lines.append(f"{name:<30} {fmt(r['in']):<34} {fmt(r['out']):<14} {fmt(r.get('grad')):<14}")
    return "\n".join(lines)


def _node_id(name):
    return "n_" + name.replace(".", "_")


def mermaid(trace, inputs, head_out, loss_label="loss"):
    """A Mermaid flowchart: solid arrows carry activations (forward shape on the arrow),
    dashed arrows carry gradients (backward shape on the arrow), all from the trace."""
    rows = trace["rows"]
    lines = ["flowchart TD"]
    for key, (label, shape, to) in inputs.items():
        lines.append(f'  in_{key}["{label} {fmt(shape)}"]')
    for name in trace["steps"]:
        lines.append(f'  {_node_id(name)}["{name}"]')
    lines.append(f'  out["{head_out} {fmt(_shape(trace["out"]))}"]')
    lines.append(f'  loss(["{loss_label}"])')
    for key, (label, shape, to) in inputs.items():
        lines.append(f'  in_{key} -->|"{fmt(shape)}"| {_node_id(to)}')
    pooled = set()  # edges where a reduction sits between two modules (mean pooling)
    for a, b in trace["edges"]:
        if rows[b]["in"][0] != rows[a]["out"] and len(rows[b]["in"]) == 1:
            pooled.add((a, b))
            p = "p_" + _node_id(b)
            lines.append(f'  {p}(["mean over non-pad positions"])')
            lines.append(f'  {_node_id(a)} -->|"{fmt(rows[a]["out"])}"| {p} -->|"{fmt(rows[b]["in"][0])}"| {_node_id(b)}')
        else:
            lines.append(f'  {_node_id(a)} -->|"{fmt(rows[a]["out"])}"| {_node_id(b)}')
    last = trace["steps"][-1]
    lines.append(f'  {_node_id(last)} -->|"{fmt(rows[last]["out"])}"| out --> loss')
    for a, b in trace["edges"]:
        if (a, b) in pooled:
            p = "p_" + _node_id(b)
            lines.append(f'  {_node_id(b)} -.->|"∂ {fmt(rows[b]["in_grad"][0])}"| {p}')
            lines.append(f'  {p} -.->|"∂ {fmt(rows[a]["grad"])}"| {_node_id(a)}')
        else:
            lines.append(f'  {_node_id(b)} -.->|"∂ {fmt(rows[a]["grad"])}"| {_node_id(a)}')
    lines.append(f'  loss -.->|"∂ {fmt(rows[last]["grad"])}"| {_node_id(last)}')
    return "```mermaid\n" + "\n".join(lines) + "\n```"


def compare(task):
    """Both backends on the same batch: equal shapes everywhere, equal loss."""
    t, n = trace_torch(task), trace_numpy(task)
    same = all(t["rows"][k]["out"] == n["rows"][k]["out"] and t["rows"][k]["grad"] == n["rows"][k]["grad"]
               for k in t["steps"])
    return dict(torch=t, numpy=n, same_shapes=same, loss_diff=abs(t["loss"] - n["loss"]))


# ---------------------------------------------------------------------------------------------
# Reports printed by docs/data-flow.md.

def report_batch(task):
    t = trace_torch(task)
    d = t["data"]
    print(f"task {d.name!r} ({d.kind}), one training batch:")
    for k, v in t["batch"].items():
        print(f"  {k:<14} {str(v.shape):<10} {v.dtype}")
    return t


def report_shapes(task, backend="torch"):
    tr = trace_torch(task) if backend == "torch" else trace_numpy(task)
    print(shape_table(tr))
    print(f"loss = {tr['loss']:.4f}")


def report_compare(task):
    c = compare(task)
    print(f"same forward and gradient shapes in NumPy and PyTorch at every module: {c['same_shapes']}")
    print(f"loss: PyTorch {c['torch']['loss']:.6f}, NumPy {c['numpy']['loss']:.6f} "
          f"(|difference| = {c['loss_diff']:.1e})")


def report_param_grads(task, names):
    t = trace_torch(task)
    for n in names:
        p = dict(t["model"].named_parameters())[n]
        print(f"{n:<24} weight {fmt(tuple(p.shape)):<10} grad {fmt(t['param_grads'][n])}")


INPUTS = {
    # task: (inputs from the batch: key -> (label, shape, first module), output label, loss label)
    "classification": (lambda b: {"src": ("src ids", b["src"].shape, "tok_emb")},
                       "logits", "cross-entropy vs label"),
    "tagging": (lambda b: {"src": ("src ids", b["src"].shape, "tok_emb")},
                "logits", "cross-entropy vs tags, pads ignored"),
    "qa": (lambda b: {"src": ("question <sep> context ids", b["src"].shape, "tok_emb")},
           "start, end logits", "CE(start) + CE(end) over positions"),
    "generation": (lambda b: {"src": ("src ids", b["src"].shape, "src_tok_emb"),
                              "tgt": ("tgt_in ids (shifted right)", b["tgt_in"].shape, "tgt_tok_emb")},
                   "logits", "cross-entropy vs tgt_out, pads ignored"),
    "tagging_seq2seq": (lambda b: {"src": ("src ids", b["src"].shape, "src_tok_emb"),
                                   "tgt": ("tgt_in tags (shifted right)", b["tgt_in"].shape, "tgt_tok_emb")},
                        "logits", "cross-entropy vs tgt_out, pads ignored"),
}


def report_mermaid(task):
    t = trace_torch(task)
    inputs, head, loss = INPUTS[task]
    print(mermaid(t, inputs(t["batch"]), head, loss))


# ---------------------------------------------------------------------------------------------
# What each task head does with the encoder's output, on the same traced batches.

def mean_pool(task="classification"):
    """Mean over non-pad positions, by hand, vs the classifier's actual input."""
    data, model, _, _, batch = task_spec(task)
    model.eval()
    ids = torch.from_numpy(batch["src"])  # (N, S)
    seen = {}
    handle = model.classifier.register_forward_hook(lambda m, a, o: seen.update(pooled=a[0]))
    with torch.no_grad():
        logits = model(ids)  # (N, C)
        h, pad = model.encode(ids)  # (N, S, E), (N, S) True at pads
    handle.remove()
    # --8<-- [start:mean_pool]
    keep = (~pad).unsqueeze(-1).float()  # (N, S) -> (N, S, 1): 1 at real tokens, 0 at pads
    pooled = (h * keep).sum(1) / keep.sum(1)  # (N, S, E) -> (N, E): mean over real tokens only
    naive = h.mean(1)  # (N, S, E) -> (N, E): pads counted too
    # --8<-- [end:mean_pool]
    return dict(batch=batch, h=h, pad=pad, pooled=pooled, naive=naive, used=seen["pooled"], logits=logits)


def report_mean_pool():
    r = mean_pool()
    N, S, E = r["h"].shape
    print(f"hidden states h {fmt(tuple(r['h'].shape))}, pad mask {fmt(tuple(r['pad'].shape))}")
    print(f"real tokens per row (src_len): {r['batch']['src_len'].tolist()}  (padded to S = {S})")
    print(f"pooled = sum(h * keep, over S) / count: {fmt(tuple(r['pooled'].shape))}")
    print(f"max |pooled - classifier input|       = {(r['pooled'] - r['used']).abs().max().item():.1e}")
    print(f"max |plain mean over S - classifier input| = {(r['naive'] - r['used']).abs().max().item():.3f}"
          "  (the pads leak in)")
    print(f"logits {fmt(tuple(r['logits'].shape))}: one row of C scores per sentence")


def greedy_trace(task="generation", backend="torch", max_len=None):
    """Shapes at each step of greedy decoding: the prefix grows by one token per step."""
    data, model, _, _, batch = task_spec(task)
    src = batch["src"]
    max_len = max_len or batch["tgt"].shape[1]
    steps = []
    if backend == "torch":
        model.eval()
        h = model.generator.register_forward_hook(lambda m, a, o: steps.append((tuple(a[0].shape), tuple(o.shape))))
        try:
            ys = model.greedy_decode(torch.from_numpy(src), max_len, data.tgt_vocab.sos_id, data.tgt_vocab.eos_id,
                                     use_cache=False).numpy()
        finally:
            h.remove()
    else:
        from transformer_anatomy.numpy import from_torch

        m = from_torch(model)
        gen = m.generator
        fwd = gen.forward

        def forward(x):
            out = fwd(x)
            steps.append((tuple(x.shape), tuple(out.shape)))
            return out

        gen.forward = forward
        ys = m.greedy_decode(src, max_len, data.tgt_vocab.sos_id, data.tgt_vocab.eos_id)
    return dict(src=src, ys=ys, steps=steps, max_len=max_len)


def report_greedy(backend="torch"):
    r = greedy_trace(backend=backend)
    print(f"src {fmt(r['src'].shape)}; start: ys = <sos> column {fmt((r['src'].shape[0], 1))}")
    n = len(r["steps"])
    for i, (h_shape, logits_shape) in enumerate(r["steps"], 1):
        if 3 < i < n:
            if i == 4:
                print("   ...")
            continue
        t = h_shape[1]
        print(f"step {i:>2}: decoder on ys {fmt((h_shape[0], t))} -> logits {fmt(logits_shape)}, "
              f"take the last position {fmt((logits_shape[0], logits_shape[2]))} -> argmax -> ys {fmt((h_shape[0], t + 1))}")
    print(f"final ys {fmt(r['ys'].shape)} (untrained model: the tokens are arbitrary; the shapes are the point)")


def qa_heads():
    """Per-position start/end logits vs a pooled head with 2 outputs, on the traced QA batch."""
    data, model, _, _, batch = task_spec("qa")
    model.eval()
    ids = torch.from_numpy(batch["src"])  # (N, S)
    with torch.no_grad():
        # --8<-- [start:qa_head]
        start, end = model(ids)  # (N, S) -> 2 x (N, S): a start and an end score per position
        target = torch.from_numpy(batch["start"])  # (N,): an index into the S positions
        per_position_loss = F.cross_entropy(start, target).item()  # softmax over positions
        # --8<-- [end:qa_head]
        h, pad = model.encode(ids)  # (N, S, E)
    keep = (~pad).unsqueeze(-1).float()
    pooled = (h * keep).sum(1) / keep.sum(1)  # (N, E)
    pooled_head = torch.nn.Linear(model.d_model, 2)
    with torch.no_grad():
        pooled_out = pooled_head(pooled)  # (N, E) -> (N, 2)
    try:
        F.cross_entropy(pooled_out, target)
        error = None
    except (IndexError, RuntimeError) as e:  # a class index >= 2 does not exist
        error = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    return dict(batch=batch, start=start, end=end, pooled=pooled_out, per_position_loss=per_position_loss,
                error=error, pad=pad, S=ids.shape[1])


def report_qa_heads():
    r = qa_heads()
    N, S = r["start"].shape
    print(f"per-position head: start logits {fmt((N, S))}, end logits {fmt((N, S))}: one score for every position")
    print(f"  gold start positions {r['batch']['start'].tolist()}, end {r['batch']['end'].tolist()} (indices into S = {S})")
    print(f"  cross-entropy over the S positions: {r['per_position_loss']:.3f} (≈ ln(real tokens) untrained)")
    print(f"  pad positions hold {r['start'][r['pad']].max().item():.0f}: softmax gives them probability 0")
    print(f"pooled head: {fmt(tuple(r['pooled'].shape))} — two numbers per example, no position axis left")
    print(f"  cross-entropy of the same targets against it: {r['error']}")


def report_sizes():
    """The sizes of the traced models, as a sentence for the page (Markdown)."""
    print(f"Every model here is small and untrained (E = {SIZES['d_model']} wide, H = {SIZES['nhead']} heads, "
          f"feed-forward F = {SIZES['dim_feedforward']}, dropout {SIZES['dropout']}) so the trace runs in a "
          f"moment; the shapes are the point, not the numbers. The batch holds N = {N} examples; S and T "
          "come from the batch.")
