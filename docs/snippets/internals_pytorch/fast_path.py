"""The inference fast path of nn.TransformerEncoderLayer / nn.MultiheadAttention: when it runs, what it returns."""

import ast
import contextlib
import inspect
import textwrap
import warnings

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from transformer_anatomy.torch import TransformerEncoder, TransformerEncoderLayer

FUSED_OPS = ("_transformer_encoder_layer_fwd", "_native_multi_head_attention")


class OpLog(TorchDispatchMode):
    """Record the name of every ATen operator that reaches the dispatcher (a debugging mode of torch)."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _text(node):
    """The text of a string expression: a literal, an f-string (fields kept as {expr}) or a sum of those."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return "{" + ast.unparse(node.value) + "}"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return ast.unparse(node)


def fastpath_reasons(function):
    """Every reason the installed torch gives for leaving the fast path, read from ``function``'s source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.startswith("why_not")):
            text = " ".join(_text(node.value).split())
            if text:
                found.append((node.lineno, text))
    return [text for _, text in sorted(found)]  # in source order


def ran_fast_path(fn):
    """Run ``fn()``; return (output, names of the fused fast-path operators it called)."""
    with OpLog() as log:
        out = fn()
    return out, sorted({op for op in log.ops if op in FUSED_OPS})


def _layer(**kw):
    """A small nn.TransformerEncoderLayer in eval mode; keyword arguments override the defaults below."""
    args = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.1, batch_first=True)
    args.update(kw)
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(**args).eval()


def scenarios():
    """(description, fused ops called) for one encoder layer under the conditions the source lists."""
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))  # (N, S, E)
    x_seq_first = x.transpose(0, 1)
    hooked = _layer()
    hooked.register_forward_hook(lambda module, inputs, output: None)
    cases = [
        ("train mode", lambda: _layer().train()(x), contextlib.nullcontext),
        ("eval, grad enabled", lambda: _layer()(x), contextlib.nullcontext),
        ("eval, no_grad", lambda: _layer()(x), torch.no_grad),
        ("eval, inference_mode", lambda: _layer()(x), torch.inference_mode),
        ("eval, no_grad, norm_first=True", lambda: _layer(norm_first=True)(x), torch.no_grad),
        ("eval, no_grad, batch_first=False", lambda: _layer(batch_first=False)(x_seq_first), torch.no_grad),
        ("eval, no_grad, nhead=1 (odd)", lambda: _layer(nhead=1)(x), torch.no_grad),
        ("eval, no_grad, hook on the layer", lambda: hooked(x), torch.no_grad),
        ("eval, no_grad, CPU autocast", lambda: _layer()(x),
         lambda: _stack(torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16))),
        ("eval, no_grad, fast path disabled", lambda: _layer()(x),
         lambda: _stack(torch.no_grad(), fastpath_disabled())),
    ]
    rows = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cpu_autocast_seen = torch.is_autocast_enabled()  # the check the fast path makes
    for name, fn, ctx in cases:
        with ctx():
            rows.append((name, ran_fast_path(fn)[1]))
    mha = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    with torch.no_grad():
        rows.append(("MHA self-attention, eval, no_grad", ran_fast_path(lambda: mha(x, x, x))[1]))
        rows.append(("MHA cross-attention, eval, no_grad",
                     ran_fast_path(lambda: mha(x, x.clone(), x.clone()))[1]))
    return rows, cpu_autocast_seen


@contextlib.contextmanager
def _stack(*contexts):
    """Enter several context managers as one."""
    with contextlib.ExitStack() as stack:
        for c in contexts:
            stack.enter_context(c)
        yield


@contextlib.contextmanager
def fastpath_disabled():
    """torch.backends.mha.set_fastpath_enabled(False) for the duration of the block."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


def nested_tensor_demo(seed=0):
    """A padded batch through nn.TransformerEncoder in eval + no_grad, with and without the fast path, and ours."""
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=True).eval()
    ours = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True), num_layers=2).eval()
    ours.load_state_dict(encoder.state_dict(), strict=True)
    x = torch.randn(2, 5, 8)
    pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])  # True = padding; sequence 2 has 3 real tokens
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fast, fused = ran_fast_path(lambda: encoder(x, src_key_padding_mask=pad))
        with fastpath_disabled():
            slow, fused_off = ran_fast_path(lambda: encoder(x, src_key_padding_mask=pad))
        mine = ours(x, src_key_padding_mask=pad)
    real = ~pad
    return {
        "fused": fused, "fused_off": fused_off,
        "fast_pad_rows": fast[1, 3:], "slow_pad_rows": slow[1, 3:],
        "fast_vs_slow_real": (fast - slow)[real].abs().max().item(),
        "ours_vs_slow_all": (mine - slow).abs().max().item(),
        "ours_vs_fast_real": (mine - fast)[real].abs().max().item(),
        "warnings": sorted({str(w.message).split(". ")[0] for w in caught}),
    }


def report_conditions():
    """Print the reasons torch's own source gives for not taking the fast path."""
    for fn in (nn.TransformerEncoder.forward, nn.TransformerEncoderLayer.forward, nn.MultiheadAttention.forward):
        reasons = fastpath_reasons(fn)
        print(f"{fn.__qualname__}: {len(reasons)} reasons")
        for r in reasons:
            print("  -", r)


def report_scenarios():
    """Print which scenarios reached a fused fast-path operator."""
    print(f"torch.backends.mha.get_fastpath_enabled() = {torch.backends.mha.get_fastpath_enabled()}")
    rows, cpu_autocast_seen = scenarios()
    for name, fused in rows:
        print(f"{name:35s} {'FAST: ' + ', '.join(fused) if fused else 'regular'}")
    print(f"inside torch.autocast('cpu'): torch.is_autocast_enabled() = {cpu_autocast_seen}")


def report_nested():
    """Print the nested-tensor demo."""
    d = nested_tensor_demo()
    print("fast path on : fused ops =", d["fused"])
    print("fast path off: fused ops =", d["fused_off"])
    print("padded positions of sequence 2, fast path on:\n", d["fast_pad_rows"].numpy().round(4))
    print("padded positions of sequence 2, fast path off:\n", d["slow_pad_rows"].numpy().round(4))
    print(f"max |on - off| at real positions      = {d['fast_vs_slow_real']:.2e}")
    print(f"max |ours - off| at all positions     = {d['ours_vs_slow_all']:.2e}")
    print(f"max |ours - on| at real positions     = {d['ours_vs_fast_real']:.2e}")
    for w in d["warnings"]:
        print("warning raised by torch:", w)
