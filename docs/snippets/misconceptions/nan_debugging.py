"""Where NaNs come from in a Transformer, each one reproduced.

1. A query whose keys are all masked: softmax over a row of ``-inf`` is 0/0.
2. ``-inf`` vs a large finite negative number as the mask value.
3. float16: ``exp`` overflows above ln(65504), and an unscaled dot product overflows too.
4. Finding the first module that produced a non-finite value, with forward hooks, and how the
   hooks themselves can make a NaN disappear.
"""

import math

import torch
from torch import nn

from transformer_anatomy.torch import MultiheadAttention

E, H, L = 8, 2, 3


def fully_masked_row(seed=0):
    """Output row 0 of a batch whose only sequence is entirely padding, per implementation."""
    torch.manual_seed(seed)
    x = torch.randn(1, L, E)
    pad = torch.ones(1, L, dtype=torch.bool)  # every key is padding
    theirs = nn.MultiheadAttention(E, H, batch_first=True)
    ours = MultiheadAttention(E, H, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    out = {
        "nn.MultiheadAttention, need_weights=True (default)": theirs(x, x, x, key_padding_mask=pad)[0],
        "nn.MultiheadAttention, need_weights=False": theirs(x, x, x, key_padding_mask=pad, need_weights=False)[0],
    }
    theirs.eval()
    with torch.no_grad():  # eval + no_grad + batch_first: the inference fast path
        out["nn.MultiheadAttention, eval fast path"] = theirs(x, x, x, key_padding_mask=pad, need_weights=False)[0]
    finite_grads = True
    for need_weights in (True, False):
        xg = x.clone().requires_grad_(True)
        y = ours(xg, xg, xg, key_padding_mask=pad, need_weights=need_weights)[0]
        y.sum().backward()
        out[f"ours, need_weights={need_weights}"] = y
        finite_grads = finite_grads and bool(torch.isfinite(xg.grad).all())
    return {k: v[0, 0].detach() for k, v in out.items()}, finite_grads


def mask_values():
    """softmax of a fully masked row with -inf, with a large finite value, and a half-masked row."""
    scores = torch.tensor([2.0, 1.0, 0.5])
    blocked = torch.tensor([True, True, True])
    half = torch.tensor([False, True, True])
    return {
        "all blocked, -inf": torch.softmax(scores.masked_fill(blocked, float("-inf")), -1),
        "all blocked, -1e9": torch.softmax(scores.masked_fill(blocked, -1e9), -1),
        "two blocked, -inf": torch.softmax(scores.masked_fill(half, float("-inf")), -1),
        "two blocked, -1e9": torch.softmax(scores.masked_fill(half, -1e9), -1),
    }


def float16_limits(head_width=64, entry=40.0):
    """float16's largest value, where exp overflows, and an unscaled dot product that overflows."""
    fmax = torch.finfo(torch.float16).max
    x = torch.tensor([11.0, 11.1], dtype=torch.float16)
    q = torch.full((head_width,), entry, dtype=torch.float16)
    return {
        "largest float16": fmax,
        "ln(largest)": math.log(fmax),
        "exp([11.0, 11.1]) in float16": torch.exp(x).tolist(),
        f"q·k, {head_width} entries of {entry:g}, float16": float(q @ q),
        f"q·k / sqrt({head_width}), float16": float((q / math.sqrt(head_width)) @ q),
        "softmax of float16 scores [12, 0] (max subtracted inside)": torch.softmax(
            torch.tensor([12.0, 0.0], dtype=torch.float16), -1).tolist(),
    }


# --8<-- [start:first_nonfinite]
def first_nonfinite(model, *inputs):
    """Run ``model(*inputs)``; return ``(name of the first module whose output is not finite, output)``."""
    found = []

    def hook(name):
        def check(module, args, out):
            t = out[0] if isinstance(out, tuple) else out
            if not found and torch.is_tensor(t) and not torch.isfinite(t).all():
                found.append(name)
        return check

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return (found[0] if found else None), out
# --8<-- [end:first_nonfinite]


class TinyBlock(nn.Module):
    """Attention (``nn.MultiheadAttention`` with its default ``need_weights=True``), then a Linear."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, batch_first=True)
        self.ff = nn.Linear(E, E)

    def forward(self, x, pad):
        return self.ff(x + self.attn(x, x, x, key_padding_mask=pad)[0])


def _all_pad_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, L, E, generator=g)
    pad = torch.zeros(2, L, dtype=torch.bool)
    pad[1] = True  # the second sequence is all padding (an empty line in the data)
    return x, pad


def locate_demo(seed=0):
    """The first module that produced a NaN in TinyBlock, found with forward hooks."""
    torch.manual_seed(seed)
    x, pad = _all_pad_batch(seed)
    name, _ = first_nonfinite(TinyBlock(), x, pad)
    return name


def heisenbug_demo(seed=0):
    """nn.TransformerEncoder in inference: NaN without hooks, but not with them.

    A forward hook disables nn.TransformerEncoderLayer's fused fast path (PyTorch checks for
    hooks), and the slow path happens to give zeros where the fast path gives NaN.
    """
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x, pad = _all_pad_batch(seed)
    with torch.no_grad():
        plain = enc(x, src_key_padding_mask=pad)
        name, hooked = first_nonfinite(enc, x, None, pad)  # positional: src, mask, src_key_padding_mask
    return bool(torch.isfinite(plain).all()), bool(torch.isfinite(hooked).all()), name


def _fmt(values):
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def report_masked_row():
    """1: the fully masked row, per implementation (Markdown)."""
    rows, grad_ok = fully_masked_row()
    print("| implementation | output row of the all-padding query (first 3 numbers) |")
    print("|---|---|")
    for name, row in rows.items():
        print(f"| {name} | `{_fmt(row[:3].tolist())}` |")
    print(f"\nOurs, gradients with respect to the input finite on both paths: **{grad_ok}**.")


def report_mask_values():
    """2: -inf against a large finite mask value (Markdown)."""
    print("| scores [2, 1, 0.5], mask | softmax |")
    print("|---|---|")
    for name, p in mask_values().items():
        print(f"| {name} | `{_fmt(p.tolist())}` |")


def report_float16():
    """3: float16 limits (Markdown)."""
    print("| quantity | value |")
    print("|---|---|")
    for name, v in float16_limits().items():
        shown = _fmt(v) if isinstance(v, list) else f"{v:.6g}"
        print(f"| {name} | `{shown}` |")


def report_locate():
    """4: hooks find the module; hooks also hide the fast path's NaN."""
    print(f"TinyBlock, first module with a non-finite output: {locate_demo()!r}")
    plain, hooked, name = heisenbug_demo()
    print("nn.TransformerEncoder, eval + no_grad, all-padding sequence:")
    print(f"  output finite without hooks: {plain}")
    print(f"  output finite with hooks:    {hooked}  (first non-finite module: {name})")
