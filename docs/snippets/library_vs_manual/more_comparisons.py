"""Library call vs our NumPy code: LayerNorm, single-head and multi-head attention, the
feed-forward network and a whole encoder layer (executed by the page, imported by tests).

Every comparison runs in float64 with the library module's own weights copied into ours.
"""

import numpy as np
import torch

from transformer_anatomy.numpy import (
    LayerNorm,
    Linear,
    ReLU,
    from_torch,
    scaled_dot_product_attention,
)

DT = torch.float64


def _max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def layernorm_examples():
    """LayerNorm on three inputs: a plain row, a row with a huge offset, a nearly constant row."""
    xs = {
        "plain row": np.array([[1.0, 2.0, 3.0, 4.0]]),
        "offset 1e6": np.array([[1e6 + 1.0, 1e6 + 2.0, 1e6 + 3.0, 1e6 + 4.0]]),
        "nearly constant": np.array([[1.0, 1.0, 1.0, 1.0 + 1e-4]]),
    }
    ref_ln = torch.nn.LayerNorm(4, dtype=DT)
    with torch.no_grad():  # non-trivial affine parameters, copied into ours
        ref_ln.weight.copy_(torch.tensor([1.0, 0.5, -1.0, 2.0]))
        ref_ln.bias.copy_(torch.tensor([0.0, 0.1, 0.2, 0.3]))
    ours = LayerNorm(4, dtype=np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in ref_ln.state_dict().items()})
    rows = []
    for name, x in xs.items():
        y = ours.forward(x)
        ref = ref_ln(torch.from_numpy(x)).detach().numpy()
        rows.append({"name": name, "x": x, "ours": y, "torch": ref, "max_diff": _max_diff(y, ref)})
    return rows


def single_head_attention():
    """One head on 4 tokens: our NumPy SDPA vs ``F.scaled_dot_product_attention`` and vs a
    one-head ``nn.MultiheadAttention`` whose projections we apply by hand."""
    torch.manual_seed(0)
    T, E = 4, 8
    x = torch.randn(1, T, E, dtype=DT)
    mha = torch.nn.MultiheadAttention(E, 1, batch_first=True, dtype=DT).eval()
    W, b = mha.in_proj_weight.detach().numpy(), mha.in_proj_bias.detach().numpy()
    X = x.numpy()
    q, k, v = (X @ W[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E] for i in range(3))  # (1, T, E) each
    ours, weights = scaled_dot_product_attention(q, k, v)
    lib = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v)).numpy()
    out = ours @ mha.out_proj.weight.detach().numpy().T + mha.out_proj.bias.detach().numpy()
    ref, ref_w = mha(x, x, x)
    return {
        "weights": weights[0],
        "diff_sdpa": _max_diff(ours, lib),
        "diff_mha_out": _max_diff(out, ref.detach().numpy()),
        "diff_mha_weights": _max_diff(weights, ref_w.detach().numpy()),
    }


def multi_head_attention():
    """Four heads: ``nn.MultiheadAttention`` vs our NumPy ``MultiheadAttention`` (weights via from_torch)."""
    torch.manual_seed(0)
    N, T, E, H = 2, 5, 16, 4
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True, dtype=DT).eval()
    x = torch.randn(N, T, E, dtype=DT)
    pad = torch.tensor([[False] * T, [False] * (T - 2) + [True] * 2])  # second sequence: 2 pads
    ref, ref_w = mha(x, x, x, key_padding_mask=pad, average_attn_weights=False)
    ours = from_torch(mha)
    out, w = ours.forward(x.numpy(), x.numpy(), x.numpy(), key_padding_mask=pad.numpy(),
                          average_attn_weights=False)
    return {"shape_out": out.shape, "shape_weights": w.shape,
            "diff_out": _max_diff(out, ref.detach().numpy()),
            "diff_weights": _max_diff(w, ref_w.detach().numpy())}


def feed_forward():
    """Position-wise FFN: ``nn.Sequential(Linear, ReLU, Linear)`` vs ours, built from our Linear."""
    torch.manual_seed(0)
    E, F = 8, 32
    ref = torch.nn.Sequential(torch.nn.Linear(E, F, dtype=DT), torch.nn.ReLU(), torch.nn.Linear(F, E, dtype=DT))
    lin1, act, lin2 = Linear(E, F, dtype=np.float64), ReLU(), Linear(F, E, dtype=np.float64)
    lin1.load_state_dict({k: v.numpy() for k, v in ref[0].state_dict().items()})
    lin2.load_state_dict({k: v.numpy() for k, v in ref[2].state_dict().items()})
    x = torch.randn(3, 6, E, dtype=DT)
    y = lin2.forward(act.forward(lin1.forward(x.numpy())))
    # Position-wise: the FFN of one position does not depend on the others.
    alone = lin2.forward(act.forward(lin1.forward(x.numpy()[:, 2:3])))
    return {"diff": _max_diff(y, ref(x).detach().numpy()), "diff_position_alone": _max_diff(alone, y[:, 2:3])}


def encoder_layer():
    """A whole ``nn.TransformerEncoderLayer`` (post-norm and pre-norm) vs ours, in eval mode."""
    torch.manual_seed(0)
    rows = []
    for norm_first in (False, True):
        ref = torch.nn.TransformerEncoderLayer(16, 4, 64, batch_first=True, norm_first=norm_first,
                                               dtype=DT).eval()
        x = torch.randn(2, 7, 16, dtype=DT)
        ours = from_torch(ref)
        ours.eval()
        y = ours.forward(x.numpy())
        with torch.no_grad():
            r = ref(x).numpy()
        rows.append({"norm_first": norm_first, "diff": _max_diff(y, r)})
    return rows


def report_layernorm():
    with np.printoptions(precision=6, suppress=True):
        for row in layernorm_examples():
            print(f"--- {row['name']}: x = {row['x'][0].tolist()}")
            print("  ours        =", row["ours"][0])
            print("  nn.LayerNorm=", row["torch"][0])
            print(f"  max |ours - torch| = {row['max_diff']:.2e}")


def report_single_head():
    r = single_head_attention()
    with np.printoptions(precision=3, suppress=True):
        print("attention weights (4 queries x 4 keys):\n", r["weights"])
    print(f"max |ours - F.scaled_dot_product_attention| = {r['diff_sdpa']:.2e}")
    print(f"max |ours + out_proj - nn.MultiheadAttention(E, 1)| = {r['diff_mha_out']:.2e} "
          f"(weights {r['diff_mha_weights']:.2e})")


def report_multi_head():
    r = multi_head_attention()
    print(f"output {r['shape_out']}, per-head weights {r['shape_weights']}")
    print(f"max |ours - nn.MultiheadAttention| output = {r['diff_out']:.2e}, weights = {r['diff_weights']:.2e}")


def report_feed_forward():
    r = feed_forward()
    print(f"max |ours - nn.Sequential(Linear, ReLU, Linear)| = {r['diff']:.2e}")
    print(f"one position computed alone vs inside the batch: max diff = {r['diff_position_alone']:.2e}")


def report_encoder_layer():
    for row in encoder_layer():
        name = "pre-norm (norm_first=True)" if row["norm_first"] else "post-norm (default)"
        print(f"{name:28s} max |ours - nn.TransformerEncoderLayer| = {row['diff']:.2e}")
