"""The constructor to fill in: nn.Transformer's signature next to ours, read by inspect."""

import inspect

from torch import nn

import transformer_anatomy.torch as tt

SKELETON = ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward",
            "dropout", "activation", "custom_encoder", "custom_decoder")


def _default(p):
    d = p.default
    return getattr(d, "__name__", None) or repr(d)  # F.relu -> "relu"


def signatures():
    """Rows (argument, nn.Transformer default, our default) for every constructor argument."""
    theirs = inspect.signature(nn.Transformer.__init__).parameters
    ours = inspect.signature(tt.Transformer.__init__).parameters
    names = [n for n in theirs if n != "self"]
    return [(n, _default(theirs[n]), _default(ours[n]) if n in ours else "(missing)") for n in names]


def _arg(p):
    if p.default is inspect.Parameter.empty:
        return p.name
    return f"{p.name}={_default(p)!r}" if callable(p.default) else f"{p.name}={p.default!r}"


def skeleton_source():
    """The class to fill in, built from our class's own signatures: the constructor's first nine
    arguments (the activation written as a string) and ``forward`` up to the three padding masks."""
    init = inspect.signature(tt.Transformer.__init__).parameters
    fwd = list(inspect.signature(tt.Transformer.forward).parameters.values())
    fwd = fwd[: [p.name for p in fwd].index("memory_key_padding_mask") + 1]
    lines = ["class Transformer(nn.Module):", "    def __init__(", "        self,"]
    lines += [f"        {_arg(init[n])}," for n in SKELETON] + ["    ): ...", "", "    def forward("]
    lines += [f"        {_arg(p)}," for p in fwd] + ["    ): ..."]
    return "\n".join(lines)


def report_skeleton():
    """Print the skeleton."""
    print(skeleton_source())


def report():
    """Print the skeleton's arguments first, then the rest, with both defaults."""
    rows = signatures()
    print(f"{'argument':20s} {'nn.Transformer':16s} {'ours':16s}")
    for group, title in ((True, "the skeleton"), (False, "the rest")):
        print(f"--- {title}")
        for n, a, b in rows:
            if (n in SKELETON) == group:
                print(f"{n:20s} {a:16s} {b:16s}{'' if a == b else '  <- differs'}")
    same = sum(a == b for _, a, b in rows)
    print(f"\n{same} of {len(rows)} arguments have the same name and default")
