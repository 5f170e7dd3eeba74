"""What each library means by its mask, found by running it, and what a fully masked row gives.

The one home of the boolean-mask probe (the notation and own-transformer pages run it from here).
Two ways to ask, both with a mask that is True/1 at key 0 only:

- :func:`conventions` (every library, HuggingFace and Keras included): run self-attention on four
  positions, then change the input at position 0 and run again. If the outputs of the *other*
  positions (1, 2, 3) move, they could see key 0, so True/1 meant "attend"; if they stay the
  same, key 0 was hidden from them, so True/1 meant "blocked".
- :func:`float_probe` (the PyTorch-side functions, which also take float masks): run each with the
  boolean mask, with a float mask that blocks key 0 (-inf) and with one that blocks every key
  except 0. Float masks are unambiguous; the boolean run equals one of them.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on the torch backend; set before importing keras

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from transformer_anatomy.numpy import scaled_dot_product_attention as np_sdpa  # noqa: E402
from transformer_anatomy.torch import MultiheadAttention  # noqa: E402

L, E, H = 4, 8, 2  # positions, width, heads


def _bert(attn_implementation="eager", seed=0):
    """A tiny random BertModel (1 layer, hidden 8): built from a config, nothing downloaded."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=32, hidden_size=E, num_hidden_layers=1, num_attention_heads=H,
                        intermediate_size=16, max_position_embeddings=16,
                        attn_implementation=attn_implementation)
    return BertModel(config).eval()  # eval: no dropout


def _keras_mha(seed=0):
    import keras

    layer = keras.layers.MultiHeadAttention(num_heads=H, key_dim=E // H,
                                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
    return layer


def _mha_pair(dtype=torch.float64):
    """nn.MultiheadAttention(E, H) (drawn from the current torch seed) and ours holding its weights, in eval mode."""
    ref = nn.MultiheadAttention(E, H, batch_first=True, dtype=dtype).eval()
    ours = MultiheadAttention(E, H, batch_first=True, dtype=dtype).eval()
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _t2n(x):
    x = getattr(x, "value", x)
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def runners(seed=0):
    """name -> (argument, run(mask_at_key0: bool (L,), changed: bool) -> (L, ·) output).

    ``mask_at_key0`` is True/1 at key 0 only; each runner expands it to the shape its API wants.
    """
    torch.manual_seed(seed)
    x0 = torch.randn(1, L, E, dtype=torch.float64)
    x1 = x0.clone()
    x1[0, 0] = torch.randn(E, dtype=torch.float64)  # a different vector at position 0
    ids0 = torch.tensor([[5, 6, 7, 8]])
    ids1 = torch.tensor([[9, 6, 7, 8]])  # a different token at position 0
    ref, ours = _mha_pair()
    bert = _bert(seed=seed)
    keras_layer = _keras_mha(seed)

    def x(changed):
        return x1 if changed else x0

    def heads(changed):  # (1, L, E) -> (1, H, L, E/H), used as q, k and v
        return x(changed).view(1, L, H, E // H).transpose(1, 2)

    def rows(m):  # (L,) key mask -> (T, S) = (L, L): the same keys for every query
        return m.expand(L, L)

    return {
        "ours (NumPy) `scaled_dot_product_attention`": (
            "attn_mask", lambda m, c: np_sdpa(x(c).numpy(), x(c).numpy(), x(c).numpy(), rows(m).numpy())[0][0]),
        "ours (PyTorch) `MultiheadAttention`": (
            "attn_mask", lambda m, c: ours(x(c), x(c), x(c), attn_mask=rows(m))[0][0]),
        "ours (PyTorch) `MultiheadAttention` ": (
            "key_padding_mask", lambda m, c: ours(x(c), x(c), x(c), key_padding_mask=m[None])[0][0]),
        "PyTorch `nn.MultiheadAttention`": (
            "attn_mask", lambda m, c: ref(x(c), x(c), x(c), attn_mask=rows(m))[0][0]),
        "PyTorch `nn.MultiheadAttention` ": (
            "key_padding_mask", lambda m, c: ref(x(c), x(c), x(c), key_padding_mask=m[None])[0][0]),
        "PyTorch `F.scaled_dot_product_attention`": (
            "attn_mask", lambda m, c: F.scaled_dot_product_attention(heads(c), heads(c), heads(c), attn_mask=rows(m))[0]
            .transpose(0, 1)),
        "HuggingFace `BertModel`": (
            "attention_mask", lambda m, c: bert(input_ids=ids1 if c else ids0, attention_mask=m[None].long())
            .last_hidden_state[0]),
        "Keras `MultiHeadAttention`": (
            "attention_mask", lambda m, c: keras_layer(x(c).float().numpy(), x(c).float().numpy(),
                                                       attention_mask=rows(m)[None].numpy())[0]),
    }


@torch.no_grad()
def conventions(seed=0):
    """One row per (library, argument): does a True/1 at key 0 let the other queries see key 0?"""
    key0 = torch.zeros(L, dtype=torch.bool)
    key0[0] = True  # True (or 1) at key 0 only
    table = []
    for name, (arg, run) in runners(seed).items():
        before, after = _t2n(run(key0, False)), _t2n(run(key0, True))
        moved = float(np.abs(after[1:] - before[1:]).max())  # queries 1..L-1 only
        table.append({"library": name.strip(), "argument": arg, "moved": moved,
                      "meaning": "attend" if moved > 1e-6 else "blocked"})
    return table


# --- the float-mask probe (run by the notation and the own-transformer pages) ----------------


def probe_masks():
    """The three masks of :func:`float_probe`, (L, L) each: boolean True at key 0 for every query,
    a float mask that blocks key 0 and a float mask that allows key 0 only."""
    hot = torch.zeros(L, L, dtype=torch.bool)
    hot[:, 0] = True  # (T, S): True at key 0 for every query
    block0 = torch.zeros(L, L, dtype=torch.float64).masked_fill(hot, float("-inf"))  # blocks key 0
    only0 = torch.zeros(L, L, dtype=torch.float64).masked_fill(~hot, float("-inf"))  # allows key 0 only
    return hot, block0, only0


def pytorch_functions(seed=0):
    """name -> run(mask (T, S), bool or float) -> output, for every PyTorch-side function probed."""
    torch.manual_seed(seed)
    x = torch.randn(1, L, E, dtype=torch.float64)
    ref, ours = _mha_pair()
    layer = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, batch_first=True, dtype=torch.float64).eval()
    q = x.view(1, L, H, E // H).transpose(1, 2)  # (N, L, E) -> (N, H, L, E/H), used as q, k and v
    return {
        "nn.MultiheadAttention(attn_mask=)": lambda m: ref(x, x, x, attn_mask=m, need_weights=False)[0],
        "nn.MultiheadAttention(key_padding_mask=)": lambda m: ref(x, x, x, key_padding_mask=m[:1])[0],
        "nn.TransformerEncoderLayer(src_mask=)": lambda m: layer(x, src_mask=m),
        "F.scaled_dot_product_attention(attn_mask=)": lambda m: F.scaled_dot_product_attention(q, q, q, attn_mask=m),
        "transformer_anatomy.torch.MultiheadAttention(attn_mask=)": lambda m: ours(x, x, x, attn_mask=m)[0],
        "transformer_anatomy.torch.MultiheadAttention(key_padding_mask=)": lambda m: ours(
            x, x, x, key_padding_mask=m[:1])[0],
        "transformer_anatomy.numpy.scaled_dot_product_attention(attn_mask)": lambda m: torch.from_numpy(
            np_sdpa(q.numpy(), q.numpy(), q.numpy(), m.numpy())[0]),
    }


@torch.no_grad()
def float_probe(seed=0):
    """name -> "blocked" or "attend": what a boolean True means to each PyTorch-side function."""
    hot, block0, only0 = probe_masks()
    found = {}
    for name, run in pytorch_functions(seed).items():
        out = run(hot)
        if torch.allclose(out, run(block0)):
            found[name] = "blocked"
        elif torch.allclose(out, run(only0)):
            found[name] = "attend"
        else:
            raise RuntimeError(f"{name}: the boolean mask matches neither float mask")
    return found


def report_float_probe():
    """Print :func:`float_probe` as a Markdown table."""
    print("| function (run on this page) | boolean `True` at a (query, key) pair means |")
    print("|---|---|")
    for name, meaning in float_probe().items():
        print(f"| `{name}` | **{'may not attend' if meaning == 'blocked' else 'may attend'}** |")


# --- a query row with nothing to attend to --------------------------------------------------


def _verdict(out, weights, uniform_out=None):
    """Describe a fully masked row in words."""
    if out is not None and np.isnan(out).any():
        return "NaN"
    if weights is not None and np.isnan(weights).any():
        return "NaN"
    if weights is not None and np.allclose(weights, 1.0 / L):
        return "uniform weights: attends to every key, the masked ones included"
    if uniform_out is not None and np.allclose(out, uniform_out, atol=1e-6):
        return "uniform weights (output = mean of all values): attends to every key, the masked ones included"
    if out is not None and not np.any(out) and (weights is None or not np.any(weights)):
        return "zeros"
    return "other finite values"


@torch.no_grad()
def fully_masked(seed=0):
    """Query 1 may attend to no key at all: its output row, its weights and a verdict, per library and call."""
    torch.manual_seed(seed)
    x = torch.randn(1, L, E)
    blocked = torch.zeros(L, L, dtype=torch.bool)
    blocked[1] = True  # (T, S): query 1 blocked from every key
    ref, ours = _mha_pair(torch.float32)
    q = x.view(1, L, H, E // H).transpose(1, 2)  # (1, H, L, E/H)
    res = []  # (library, call, output row, weights row or None, uniform reference or None)
    o, w = ref(x, x, x, attn_mask=blocked)
    res.append(("PyTorch `nn.MultiheadAttention`", "default (`need_weights=True`)", o[0, 1], w[0, 1], None))
    o, _ = ref(x, x, x, attn_mask=blocked, need_weights=False)
    res.append(("PyTorch `nn.MultiheadAttention`", "`need_weights=False`", o[0, 1], None, None))
    o = F.scaled_dot_product_attention(q, q, q, attn_mask=~blocked)  # SDPA: True = attend
    res.append(("PyTorch `F.scaled_dot_product_attention`", "bool `attn_mask`", o[0, :, 1].flatten(), None, None))
    o, w = ours(x, x, x, attn_mask=blocked)
    res.append(("ours (PyTorch) `MultiheadAttention`", "default (`need_weights=True`)", o[0, 1], w[0, 1], None))
    o, _ = ours(x, x, x, attn_mask=blocked, need_weights=False)
    res.append(("ours (PyTorch) `MultiheadAttention`", "`need_weights=False`", o[0, 1], None, None))
    xn = x.double().numpy()
    o, w = np_sdpa(xn, xn, xn, blocked.numpy())
    res.append(("ours (NumPy) `scaled_dot_product_attention`", "bool `attn_mask`", o[0, 1], w[0, 1], None))
    bert = _bert("eager", seed)
    out = bert(input_ids=torch.tensor([[5, 6, 7, 8]]), attention_mask=torch.zeros(1, L, dtype=torch.long),
               output_attentions=True)  # every key padded: every query row is fully masked
    res.append(("HuggingFace `BertModel` (eager)", "`attention_mask` all 0", out.last_hidden_state[0, 1],
                out.attentions[0][0, :, 1].mean(0), None))
    layer = _keras_mha(seed)
    allowed = (~blocked)[None].numpy()  # Keras: True = attend
    o = layer(x.numpy(), x.numpy(), attention_mask=allowed)  # the first call also builds the weights
    v = layer.value_dense(x)  # (1, L, H, E/H)
    uniform = layer.output_dense(v.mean(1, keepdim=True))[0, 0]  # what equal weights on every key give
    res.append(("Keras `MultiHeadAttention`", "default", o[0, 1], None, uniform))
    o, w = layer(x.numpy(), x.numpy(), attention_mask=allowed, return_attention_scores=True)
    res.append(("Keras `MultiHeadAttention`", "`return_attention_scores=True`", o[0, 1], w[0, :, 1].mean(0), None))
    rows = []
    for lib, call, o, w, u in res:
        o, w, u = _t2n(o), None if w is None else _t2n(w), None if u is None else _t2n(u)
        rows.append({"library": lib, "call": call, "output": o, "weights": w, "verdict": _verdict(o, w, u)})
    return rows


def fully_masked_gradients(seed=0):
    """Gradients through a fully masked row: nn.MultiheadAttention vs ours (PyTorch), and ours (NumPy)."""
    from transformer_anatomy.numpy import scaled_dot_product_attention_backward

    torch.manual_seed(seed)
    blocked = torch.zeros(L, L, dtype=torch.bool)
    blocked[1] = True
    ref = nn.MultiheadAttention(E, H, batch_first=True)
    ours = MultiheadAttention(E, H, batch_first=True)
    ours.load_state_dict(ref.state_dict())
    out = {}
    for name, m in (("PyTorch `nn.MultiheadAttention`", ref), ("ours (PyTorch) `MultiheadAttention`", ours)):
        x = torch.randn(1, L, E, requires_grad=True)
        m(x, x, x, attn_mask=blocked)[0].sum().backward()
        out[name] = bool(torch.isfinite(x.grad).all())
    xn = np.random.default_rng(seed).standard_normal((L, E))
    o, w, cache = np_sdpa(xn, xn, xn, blocked.numpy(), return_cache=True)
    grads = scaled_dot_product_attention_backward(np.ones_like(o), cache)
    out["ours (NumPy) `scaled_dot_product_attention`"] = bool(all(np.isfinite(g).all() for g in grads))
    return out


def _fmt(v):
    if v is None:
        return "(not returned)"
    return "[" + ", ".join("nan" if np.isnan(a) else f"{a:.2f}" for a in np.ravel(v)[:4]) + "]"


def report_table():
    """The mask-convention table, as Markdown."""
    print("| library | argument | max change of the other positions when key 0 changes | `True` / `1` means |")
    print("|---|---|---|---|")
    for r in conventions():
        print(f"| {r['library']} | `{r['argument']}` | {r['moved']:.1e} | **{r['meaning']}** |")


def report_fully_masked():
    """What the fully masked query row gets, as Markdown."""
    print("| library | call | output row (first 4 numbers) | weights row | the fully masked row gets |")
    print("|---|---|---|---|---|")
    for r in fully_masked():
        print(f"| {r['library']} | {r['call']} | {_fmt(r['output'])} | {_fmt(r['weights'])} | **{r['verdict']}** |")


def report_gradients():
    for name, finite in fully_masked_gradients().items():
        plain = name.replace("`", "")
        print(f"{plain:45} gradient with respect to the input finite: {finite}")
