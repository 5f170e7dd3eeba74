"""Mixed precision: what bf16 autocast changes, on a tiny model on the CPU."""

import torch
import torch.nn.functional as F
from torch import nn

from transformer_anatomy.torch import Seq2SeqTransformer

torch.set_num_threads(1)  # tiny models: one thread is fastest, and the build machine is shared


def dtypes_under_autocast():
    """The dtype each op produces inside torch.autocast("cpu", dtype=torch.bfloat16)."""
    torch.manual_seed(0)
    lin = nn.Linear(8, 8)
    x = torch.randn(4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = lin(x)  # matmul: autocast runs it in bf16
        s = torch.softmax(y, dim=-1)  # softmax: on CPU it stays bf16 (no fp32 autocast rule here)
        loss = F.cross_entropy(y, torch.tensor([0, 1, 2, 3]))  # fp32
    return {"input": x.dtype, "weight": lin.weight.dtype, "linear output": y.dtype, "softmax": s.dtype,
            "cross_entropy": loss.dtype}


def precision_of_formats():
    """Machine epsilon (gap after 1.0) and largest finite value of each format."""
    return {str(t).replace("torch.", ""): (torch.finfo(t).eps, torch.finfo(t).max)
            for t in (torch.float32, torch.bfloat16, torch.float16)}


def loss_and_grad_difference(seed=0):
    """One forward + backward of a small model in fp32 and under bf16 autocast: how far apart."""
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(16, 16, d_model=64, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=128, dropout=0.0)
    g = torch.Generator().manual_seed(seed)
    src, tgt = torch.randint(4, 16, (16, 10), generator=g), torch.randint(4, 16, (16, 11), generator=g)
    out = {}
    for name, ctx in (("fp32", torch.autocast("cpu", enabled=False)),
                      ("bf16", torch.autocast("cpu", dtype=torch.bfloat16))):
        model.zero_grad(set_to_none=True)
        with ctx:
            loss = F.cross_entropy(model(src, tgt[:, :-1]).flatten(0, 1).float(), tgt[:, 1:].flatten())
        loss.backward()
        out[name] = (loss.item(), torch.cat([p.grad.flatten() for p in model.parameters()]))
    g32, g16 = out["fp32"][1], out["bf16"][1]
    cos = float(F.cosine_similarity(g32, g16, dim=0))
    return {"loss_fp32": out["fp32"][0], "loss_bf16": out["bf16"][0],
            "grad_rel_err": float((g16 - g32).norm() / g32.norm()), "grad_cosine": cos,
            "param_dtype": next(model.parameters()).dtype, "grad_dtype": g16.dtype}


def report_dtypes():
    for k, v in dtypes_under_autocast().items():
        print(f"{k:<15} {v}")
    print()
    print(f"{'format':<9} {'eps (gap after 1)':>18} {'largest':>10}")
    for k, (eps, mx) in precision_of_formats().items():
        print(f"{k:<9} {eps:18.2e} {mx:10.2e}")


def report_difference():
    d = loss_and_grad_difference()
    print(f"loss fp32  {d['loss_fp32']:.6f}")
    print(f"loss bf16  {d['loss_bf16']:.6f}   (difference {abs(d['loss_bf16'] - d['loss_fp32']):.1e})")
    print(f"gradients: relative error {d['grad_rel_err']:.1e}, cosine {d['grad_cosine']:.5f}; "
          f"parameters and gradients stay {d['param_dtype']}")
