"""What an optimizer keeps besides the parameters: the state of Adam, measured in bytes after one step."""

import torch
from torch import nn


def tensor_bytes(tensors):
    """Total bytes of an iterable of tensors."""
    return sum(t.numel() * t.element_size() for t in tensors)


# --8<-- [start:optimizer_state]
def optimizer_state_bytes(optimizer_cls, seed=0, **kwargs):
    """Bytes of parameters, gradients and optimizer state (by state name) after one step on a small encoder."""
    torch.manual_seed(seed)
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 256, batch_first=True), num_layers=2)
    opt = optimizer_cls(model.parameters(), **kwargs)
    model(torch.randn(4, 10, 64)).square().mean().backward()
    opt.step()
    params = list(model.parameters())
    by_name = {}
    for state in opt.state.values():
        for name, value in state.items():
            if torch.is_tensor(value):
                by_name[name] = by_name.get(name, 0) + value.numel() * value.element_size()
    return {"params": tensor_bytes(params), "grads": tensor_bytes(p.grad for p in params),
            "n_tensors": len(params), "state": by_name}
# --8<-- [end:optimizer_state]


def report():
    """Print the state of SGD, SGD with momentum and Adam relative to the parameter bytes."""
    for label, cls, kw in (("SGD", torch.optim.SGD, {"lr": 0.1}),
                           ("SGD(momentum=0.9)", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                           ("Adam", torch.optim.Adam, {"lr": 1e-3}),
                           ("AdamW(amsgrad=True)", torch.optim.AdamW, {"lr": 1e-3, "amsgrad": True})):
        m = optimizer_state_bytes(cls, **kw)
        total = sum(m["state"].values())
        print(f"{label:20s} state = {total / m['params']:.4f} x parameter bytes")
        for name, size in m["state"].items():
            print(f"  {name:16s} {size:>9,} bytes")
    print(f"parameters: {m['params']:,} bytes in {m['n_tensors']} tensors; gradients: {m['grads']:,} bytes")
