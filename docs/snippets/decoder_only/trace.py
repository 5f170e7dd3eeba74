"""Shapes traced from a real forward pass of our GPT-2-style model (torch) and of its NumPy twin,
the causal mask, and one head's attention, recomputed from the traced tensors
(docs/decoder-only.md; checked by tests/docs/test_decoder_only_snippets.py).

The text is real: a window of the Python help topics (``transformer_anatomy.tasks.language_model``),
one character per token. The model is untrained (its weights are HF's initialisation,
normal(0, 0.02)); the shapes, the mask and the equality of the two backends do not depend on it.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from transformer_anatomy.numpy.masks import causal_mask
from transformer_anatomy.tasks.language_model import make_language_model_data
from transformer_anatomy.viz import figure_to_svg, plot_attention, plot_mask_grid

N, T, E, H = 2, 10, 32, 4  # batch, context length, width, heads: distinct numbers, so each size names its letter
LAYERS = 2


@functools.cache
def data():
    return make_language_model_data()


def batch(seed=0):
    """``(N, T)`` input ids and their targets (the inputs shifted by one) from the training topics."""
    return data().batch("train", batch_size=N, block_size=T, rng=seed)


@functools.cache
def models(seed=0):
    """Our torch GPT-2-style model and its NumPy twin with the same weights, float64."""
    from transformer_anatomy.numpy.gpt2 import GPT2LMHeadModel as NumpyGPT2
    from transformer_anatomy.torch.gpt2 import GPT2LMHeadModel

    torch.manual_seed(seed)
    V = data().vocab_size
    ours = GPT2LMHeadModel(V, n_embd=E, n_layer=LAYERS, n_head=H, n_positions=64, dtype=torch.float64).eval()
    twin = NumpyGPT2(V, n_embd=E, n_layer=LAYERS, n_head=H, n_positions=64, dtype=np.float64)
    twin.load_state_dict({k: v.detach().numpy() for k, v in ours.state_dict().items()})
    return ours, twin.eval()


def _first(out):
    return out[0] if isinstance(out, (tuple, list)) else out


# --8<-- [start:trace_torch]
def trace_torch(model, ids):
    """[(module name, class, output shape)] in call order, from forward hooks."""
    rows, hooks = [], []

    def record(module, args, out, name):
        rows.append((name, type(module).__name__, tuple(_first(out).shape)))

    for name, m in model.named_modules():
        if name:  # every submodule ("" is the model itself)
            hooks.append(m.register_forward_hook(functools.partial(record, name=name)))
    try:
        with torch.no_grad():
            logits = model(torch.as_tensor(ids))  # (N, T) -> (N, T, V)
    finally:
        for h in hooks:
            h.remove()
    return rows, logits
# --8<-- [end:trace_torch]


def trace_numpy(model, ids):
    """The same for the NumPy twin: every module's ``forward`` wrapped for one call."""
    rows, wrapped = [], []
    for name, m in model.named_modules():
        name = name.rstrip(".")  # NumPy module names end in "."
        if name:
            def forward(*args, _m=m, _fwd=m.forward, _name=name, **kwargs):
                out = _fwd(*args, **kwargs)
                rows.append((_name, type(_m).__name__, tuple(np.shape(_first(out)))))
                return out

            m.forward = forward  # an instance attribute shadows the method
            wrapped.append(m)
    try:
        logits = model(np.asarray(ids))
    finally:
        for m in wrapped:
            del m.forward
    return rows, logits


@functools.cache
def hf_logits_diff():
    """Max |logits(ours) - logits(HF ``GPT2LMHeadModel``)| with our weights loaded (``strict=True``)."""
    import transformers

    ours, _ = models()
    cfg = transformers.GPT2Config(vocab_size=data().vocab_size, n_embd=E, n_layer=LAYERS, n_head=H,
                                  n_positions=64, bos_token_id=None, eos_token_id=None, pad_token_id=None)
    hf = transformers.GPT2LMHeadModel(cfg).to(torch.float64).eval()
    hf.load_state_dict(ours.state_dict(), strict=True)  # the same keys, the same layout
    ids = torch.as_tensor(batch()[0])
    with torch.no_grad():
        return float((hf(ids).logits - ours(ids)).abs().max())


def letters(shape):
    """A traced shape in the page's letters: ``(2, 10, 96)`` -> ``(N, T, 3E)``."""
    V = data().vocab_size
    names = {N: "N", T: "T", E: "E", 3 * E: "3E", 4 * E: "4E", V: "V", E // H: "E/H", H: "H"}
    return "(" + ", ".join(names.get(d, str(d)) for d in shape) + ")"


SHOWN = ("transformer.wte", "transformer.wpe", "transformer.h.0.ln_1", "transformer.h.0.attn.c_attn",
         "transformer.h.0.attn", "transformer.h.0.ln_2", "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp",
         "transformer.h.0", "transformer.h.1", "transformer.ln_f", "lm_head")


@functools.cache
def traced():
    ids, _ = batch()
    ours, twin = models()
    rows_t, logits_t = trace_torch(ours, ids)
    rows_n, logits_n = trace_numpy(twin, ids)
    first_t = {}
    for name, cls, shape in rows_t:
        first_t.setdefault(name, (cls, shape))  # the first call of each module
    first_n = {}
    for name, cls, shape in rows_n:
        first_n.setdefault(name, (cls, shape))
    return dict(ids=ids, torch=first_t, numpy=first_n, order=[r[0] for r in rows_t],
                diff=float(np.abs(logits_t.numpy() - logits_n).max()), logits_shape=tuple(logits_t.shape))


def report_trace():
    t = traced()
    print(f"| module | class | output shape (torch) | in letters | NumPy twin |")
    print("|---|---|---|---|---|")
    print(f"| input_ids | — | {tuple(t['ids'].shape)} | {letters(t['ids'].shape)} | same |")
    for name in SHOWN:
        cls, shape = t["torch"][name]
        twin = t["numpy"].get(name, (None, None))[1]
        same = "same" if twin is not None and tuple(twin) == tuple(shape) else f"{twin} = {letters(twin)}"
        print(f"| `{name}` | `{cls}` | {shape} | {letters(shape)} | {same} |")
    print(f"\n{len(t['torch'])} modules ran; max |logits(torch) − logits(NumPy)| = {t['diff']:.1e}, and "
          f"HuggingFace's `GPT2LMHeadModel` with the same weights: {hf_logits_diff():.1e} (float64). "
          f"N = {N}, T = {T}, E = {E}, H = {H}, V = {data().vocab_size}.")


def report_trace_all():
    """Every module's first call, torch beside NumPy (for the collapsed block)."""
    t = traced()
    seen = []
    for name in t["order"]:
        if name not in seen:
            seen.append(name)
    print("module".ljust(34) + "torch".ljust(16) + "NumPy")
    for name in seen:
        print(name.ljust(34) + str(t["torch"][name][1]).ljust(16) + str(t["numpy"].get(name, ("", "—"))[1]))


def shape_differences():
    """Modules whose first output has another shape in the NumPy twin: ``{name: (torch, numpy)}``."""
    t = traced()
    return {n: (tuple(t["torch"][n][1]), tuple(t["numpy"][n][1])) for n in t["torch"]
            if n in t["numpy"] and tuple(t["numpy"][n][1]) != tuple(t["torch"][n][1])}


# ------------------------------------------------------------------------- one head's attention
# --8<-- [start:head_weights]
def head_weights(model, ids, layer=0):
    """Attention weights (N, H, T, T) of transformer.h[layer].attn, recomputed from
    its input (caught by a hook) with its own c_attn; the output must match the module's."""
    attn, caught = model.transformer.h[layer].attn, {}
    save = lambda m, args, out: caught.update(x=args[0], out=_first(out))
    hook = attn.register_forward_hook(save)
    with torch.no_grad():
        model(torch.as_tensor(ids))
        hook.remove()
        x = caught["x"]  # (N, T, E): ln_1's output
        Nb, Tb, Eb = x.shape
        qkv = x @ attn.c_attn.weight + attn.c_attn.bias  # (N, T, E) @ (E, 3E) -> (N, T, 3E)
        q, k, v = (z.reshape(Nb, Tb, H, Eb // H).transpose(1, 2)  # -> (N, H, T, E/H)
                   for z in qkv.split(Eb, dim=-1))
        scores = q @ k.transpose(-2, -1) / (Eb // H) ** 0.5  # (N, H, T, T)
        blocked = torch.as_tensor(causal_mask(Tb, Tb))  # True where key s > query t
        w = scores.masked_fill(blocked, float("-inf")).softmax(dim=-1)  # 0 above the diagonal
        merged = (w @ v).transpose(1, 2).reshape(Nb, Tb, Eb)  # (N, H, T, E/H) -> (N, T, E)
        out = merged @ attn.c_proj.weight + attn.c_proj.bias
    return w, float((out - caught["out"]).abs().max())
# --8<-- [end:head_weights]


def chars(ids):
    """Characters as axis labels (space and newline made visible)."""
    return [{" ": "␣", "\n": "\\n"}.get(c, c) for c in (data().vocab.idx2word[int(i)] for i in ids)]


@functools.cache
def weights():
    ids, _ = batch()
    w, diff = head_weights(models()[0], ids)
    return w.numpy(), diff


def figure_mask_and_head(n=0):
    ids, _ = batch()
    w, _ = weights()
    labels = chars(ids[n])
    fig = plot_mask_grid({"causal mask (True = may not attend)": causal_mask(T, T)}, row_labels=labels,
                         col_labels=labels, figsize=(4.2, 4.2), fontsize=8)
    mask_svg = figure_to_svg(fig, alt=f"A {T} by {T} grid over the characters of the input: the cells above "
                                      "the diagonal are blocked",
                             caption="Row t (query) may read columns 0..t (keys): its own character and those "
                                     "before it.")
    fig = plot_attention(w[n], labels, labels, head_labels=[f"layer 0, head {h}" for h in range(H)])
    head_svg = figure_to_svg(fig, alt="Four heatmaps of attention weights over the characters: every weight "
                                      "above the diagonal is zero, and each row spreads nearly evenly over the "
                                      "characters up to its own",
                             caption="Layer 0 of the untrained model: the weights it used, recomputed from the "
                                     "traced tensors.")
    return mask_svg + head_svg


def notice_head(n=0):
    w, diff = weights()
    above = float(np.abs(np.triu(w[n], k=1)).max())  # (H, T, T): the weights above the diagonal
    uniform = np.tril(1.0 / np.arange(1, T + 1)[:, None] * np.ones((T, T)))  # 1/(t+1) on the visible keys
    dev = float(np.abs(w[n] - uniform).max())
    print(f"Largest weight above the diagonal: {above:.1e}. Rows sum to 1 "
          f"(largest error {np.abs(w[n].sum(-1) - 1).max():.1e}). The recomputed weights reproduce the "
          f"module's output to {diff:.1e}. Untrained, every row is close to uniform over its visible keys, "
          f"1/(t + 1): the largest deviation is {dev:.3f}.")
