"""A query row with nothing to attend to: nn.Transformer returns NaN, ours returns finite numbers.

A realistic way to get one: a left-padded target. Its first position is <pad>, the causal mask
lets position 0 see only position 0, and the key padding mask hides position 0, so row 0 of
the decoder's self-attention has every key blocked.

Whether PyTorch returns NaN depends on the mode the module runs in, so every case below runs
in the mode it names, and the ops PyTorch dispatched are recorded: under ``eval()`` and
``torch.no_grad()`` ``nn.MultiheadAttention`` takes its inference fast path
(``aten._native_multi_head_attention``).
"""

import math
import warnings

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import transformer_anatomy.torch as tt

CONFIG = dict(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=2, dim_feedforward=32,
              dropout=0.0, batch_first=True)
N, S, T = 2, 5, 4  # batch, source length, target length
FAST_PATH_OP = "aten._native_multi_head_attention"
MODES = ((True, True), (False, True), (False, False))  # (training, autograd on)


def mode_name(training, grad):
    """'train, grad', 'eval, no_grad', ..."""
    return f"{'train' if training else 'eval'}, {'grad' if grad else 'no_grad'}"


class _Ops(TorchDispatchMode):
    """Record the name of every ATen op dispatched inside the block."""

    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


def setup(seed=0):
    """nn.Transformer, ours with its weights, inputs, and masks with one fully masked row."""
    torch.manual_seed(seed)
    theirs = nn.Transformer(**CONFIG).double()
    ours = tt.Transformer(**CONFIG).double()
    ours.load_state_dict(theirs.state_dict())
    src = torch.randn(N, S, 16, dtype=torch.float64)
    tgt = torch.randn(N, T, 16, dtype=torch.float64)
    masks = dict(tgt_mask=torch.ones(T, T, dtype=torch.bool).triu(1),  # causal, True = blocked
                 tgt_key_padding_mask=torch.tensor([[False] * T, [True] + [False] * (T - 1)]))  # left pad
    return theirs, ours, src, tgt, masks


def case_mask(n=1):
    """The decoder self-attention mask of sequence n, (T, T), True = blocked: causal | padding."""
    _, _, _, _, masks = setup()
    return (masks["tgt_mask"] | masks["tgt_key_padding_mask"][n][None, :]).numpy()


def _run(module, training, grad, *args, **kwargs):
    """module(*args) in the named mode; returns (output, fast path taken?)."""
    module.train(training)
    with torch.set_grad_enabled(grad), warnings.catch_warnings(), _Ops() as ops:
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        out = module(*args, **kwargs)
    return out, FAST_PATH_OP in ops.names


def nan_rows(training, grad):
    """Which output positions contain NaN, for nn.Transformer and for ours."""
    theirs, ours, src, tgt, masks = setup()
    a, _ = _run(theirs, training, grad, src, tgt, **masks)
    b, _ = _run(ours, training, grad, src, tgt, **masks)
    return torch.isnan(a).any(-1).tolist(), torch.isnan(b).any(-1).tolist()


def nan_map():
    """{(model, mode): (N, T) bool array, True where the output position holds NaN}."""
    out = {}
    for training, grad in MODES:
        theirs, ours = nan_rows(training, grad)
        out[("nn.Transformer", mode_name(training, grad))] = np.array(theirs)
        out[("ours", mode_name(training, grad))] = np.array(ours)
    return out


def row_cases(seed=0):
    """The fully masked row (sequence 1, query 0) of the first decoder layer's self-attention.

    One row per (module, need_weights, mode): the mode it ran in, whether PyTorch's fast path
    ran, the row's attention weights (None when not returned) and whether its output is NaN.
    """
    theirs, ours, src, tgt, masks = setup(seed)
    kw = dict(attn_mask=masks["tgt_mask"], key_padding_mask=masks["tgt_key_padding_mask"])
    rows = []
    for name, mha in (("nn.MultiheadAttention", theirs.decoder.layers[0].self_attn),
                      ("ours", ours.decoder.layers[0].self_attn)):
        for need_weights in (True, False):
            for training, grad in MODES:
                (out, w), fast = _run(mha, training, grad, tgt, tgt, tgt, need_weights=need_weights, **kw)
                rows.append(dict(module=name, need_weights=need_weights, mode=mode_name(training, grad),
                                 fast_path=fast, weights=None if w is None else w[1, 0].detach().numpy(),
                                 output_nan=bool(torch.isnan(out[1, 0]).any()),
                                 output=out[1, 0].detach().numpy(),
                                 bias=mha.out_proj.bias.detach().numpy()))
    return rows


def spread(seed=0):
    """How one NaN row reaches every position: the second decoder layer of nn.Transformer in
    eval + no_grad, sequence 1, recomputed step by step from the NaN input it receives."""
    theirs, _, src, tgt, masks = setup(seed)
    theirs.eval()
    seen = {}
    hook = theirs.decoder.layers[0].register_forward_hook(lambda m, a, out: seen.__setitem__("x", out))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        final = theirs(src, tgt, **masks)
    hook.remove()
    x = seen["x"][1]  # (T, E): the input of decoder layer 1, sequence 1
    attn = theirs.decoder.layers[1].self_attn
    E, H = CONFIG["d_model"], CONFIG["nhead"]
    with torch.no_grad():
        return _spread_from(x, attn, E, H, final)


def _spread_from(x, attn, E, H, final):
    """Layer 1's self-attention of one sequence, written out, from its input x (T, E)."""
    q, k, v = torch.nn.functional.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.view(T, H, E // H).transpose(0, 1) for t in (q, k, v))  # (T, E) -> (H, T, E/H)
    scores = q @ k.transpose(-2, -1) / math.sqrt(E // H)  # (H, T, T)
    blocked = torch.from_numpy(case_mask(1))  # (T, T)
    weights = torch.softmax(scores.masked_fill(blocked, float("-inf")), dim=-1)  # (H, T, T)
    out = weights @ v  # (H, T, T) x (H, T, E/H) -> (H, T, E/H)
    return {"input NaN rows": torch.isnan(x).any(-1).numpy(),
            "V row 0 is NaN": bool(torch.isnan(v[:, 0]).all()),
            "weight on key 0, rows 1..": weights[:, 1:, 0].numpy(),  # (H, T-1)
            "output NaN rows": torch.isnan(out).any(-1).any(0).numpy(),
            "nn.Transformer output NaN rows": torch.isnan(final[1]).any(-1).numpy()}


def _positions(rows):
    where = [(n, t) for n in range(rows.shape[0]) for t in range(rows.shape[1]) if rows[n, t]]
    return ", ".join(f"({n}, {t})" for n, t in where) if where else "none"


def report_modes():
    """A Markdown table: the NaN positions of both models in each mode."""
    m = nan_map()
    print("| mode | `nn.Transformer`: NaN at (sequence, position) | ours: NaN at |")
    print("|---|---|---|")
    for training, grad in MODES:
        name = mode_name(training, grad)
        print(f"| {name} | {_positions(m[('nn.Transformer', name)])} | {_positions(m[('ours', name)])} |")


def report_row():
    """A Markdown table: the fully masked row, every module in every mode (modes that gave the
    same result share a row)."""
    groups = {}
    with np.printoptions(precision=2, suppress=True):
        for r in row_cases():
            w = "not returned" if r["weights"] is None else str(r["weights"])
            if r["output_nan"]:
                o = "NaN"
            elif np.array_equal(r["output"], r["bias"]):
                o = "`out_proj.bias`"
            else:
                o = "finite"
            key = (r["module"], r["need_weights"], "yes" if r["fast_path"] else "no", w, o)
            groups.setdefault(key, []).append(r["mode"])
    print("| module | `need_weights` | mode | PyTorch fast path | weights of the row | output of the row |")
    print("|---|---|---|---|---|---|")
    for (module, nw, fast, w, o), modes in groups.items():
        print(f"| `{module}` | {nw} | {'; '.join(modes)} | {fast} | {w} | {o} |")


def report_spread():
    """Print, as Markdown, the numbers of the spread of the NaN."""
    s = spread()
    w = s["weight on key 0, rows 1.."]
    join = lambda mask: ", ".join(str(i) for i in np.flatnonzero(mask))
    v0 = "is NaN" if s["V row 0 is NaN"] else "is finite"
    print(f"Recomputed from the NaN input it receives, the second decoder layer's self-attention of "
          f"sequence 1 reads: its input is NaN only at position {join(s['input NaN rows'])}, so the value "
          f"vector of position 0 {v0}. Rows 1 to {T - 1} give key 0 a weight of exactly "
          f"{float(np.abs(w).max()):g} in every head (the padding mask hides it), and still their output "
          f"is NaN: at positions {join(s['output NaN rows'])}. `weights @ V` adds "
          f"{float(w.max()):g} × NaN to every row, and 0 × NaN is NaN. The model's final output for "
          f"that sequence is NaN at positions {join(s['nn.Transformer output NaN rows'])}.")
