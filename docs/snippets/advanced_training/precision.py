"""Mixed precision: what bf16 autocast changes, on a tiny model on the CPU."""


import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.viz import figure_to_svg

from advanced_training._threads import one_thread


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
    with one_thread():
        return _loss_and_grad_difference(seed)


def _loss_and_grad_difference(seed):
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


FORMATS = (torch.float32, torch.bfloat16, torch.float16)


def rounding_error(magnitudes, dtype):
    """Relative error of storing each float64 magnitude in ``dtype`` (1 = lost: overflow or underflow)."""
    x = torch.as_tensor(magnitudes, dtype=torch.float64)
    y = x.to(dtype).to(torch.float64)
    err = ((y - x).abs() / x).clamp(max=1.0)
    return torch.where(torch.isfinite(y), err, torch.ones_like(err)).numpy()


def show_rounding():
    """Relative rounding error against magnitude for the three formats (HTML)."""
    mags = np.logspace(-44, 39, 2000) * (1 + 1 / 3)  # not powers of ten: no accidental exact values
    fig = Figure(figsize=(6.8, 3.0), layout="constrained")
    ax = fig.subplots()
    for i, dt in enumerate(FORMATS):
        ax.loglog(mags, np.maximum(rounding_error(mags, dt), 1e-10), label=str(dt).replace("torch.", ""),
                  color=f"C{i}", lw=1)
    ax.set_xlabel("magnitude of the value")
    ax.set_ylabel("relative rounding error")
    ax.set_ylim(1e-9, 2)
    ax.legend(frameon=False, loc="lower left")
    print(figure_to_svg(fig, alt="Relative rounding error against magnitude for float32, bfloat16 and float16",
                        caption="An error of 1 means the value is lost: it overflows to inf or underflows to zero."))
    fp16, bf16 = torch.finfo(torch.float16), torch.finfo(torch.bfloat16)
    print(f"<p>bfloat16 rounds every value it can hold by at most {bf16.eps / 2:.1e} (half its eps) across "
          f"float32's whole range; float16 rounds more finely ({fp16.eps / 2:.1e}) but holds nothing above "
          f"{fp16.max:g} and loses precision below {fp16.tiny:.1e} (its smallest normal number), where small "
          f"gradients live.</p>")
