"""Load a randomly initialised nn.Transformer's state_dict into ours with strict=True and compare
outputs with masks, in float32 and float64; then show what a wrong key does."""

import warnings

import torch
from torch import nn

import transformer_anatomy.torch as tt

CONFIG = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=64,
              dropout=0.1, batch_first=True)
N, S, T = 2, 6, 5  # batch, source length, target length


def pair(seed=0, dtype=torch.float32):
    """nn.Transformer with random weights, and ours with its state_dict loaded (strict=True)."""
    torch.manual_seed(seed)
    theirs = nn.Transformer(**CONFIG).to(dtype)
    ours = tt.Transformer(**CONFIG).to(dtype)
    result = ours.load_state_dict(theirs.state_dict(), strict=True)
    return theirs, ours, result


def inputs(dtype=torch.float32, seed=1):
    """src, tgt and the masks of a padded batch: causal target mask, padding on both sides."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(N, S, CONFIG["d_model"], generator=g, dtype=dtype)
    tgt = torch.randn(N, T, CONFIG["d_model"], generator=g, dtype=dtype)
    masks = dict(
        tgt_mask=torch.ones(T, T, dtype=torch.bool).triu(1),  # (T, T), True = future (blocked)
        src_key_padding_mask=torch.tensor([[False] * S, [False] * (S - 2) + [True] * 2]),  # (N, S)
        tgt_key_padding_mask=torch.tensor([[False] * T, [False] * (T - 1) + [True]]),  # (N, T)
    )
    masks["memory_key_padding_mask"] = masks["src_key_padding_mask"]
    return src, tgt, masks


def compare(dtype, grad):
    """Max |nn.Transformer - ours| in eval mode, with or without autograd."""
    theirs, ours, _ = pair(dtype=dtype)
    theirs.eval(), ours.eval()
    src, tgt, masks = inputs(dtype)
    with torch.set_grad_enabled(grad), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        a = theirs(src, tgt, **masks)
        b = ours(src, tgt, **masks)
    return float((a - b).abs().max().detach())


def wrong_key_message():
    """The error of loading a state_dict with one renamed and one mis-sized entry."""
    theirs, ours, _ = pair()
    state = theirs.state_dict()
    state["encoder.layers.0.self_attn.qkv_weight"] = state.pop("encoder.layers.0.self_attn.in_proj_weight")
    state["decoder.norm.weight"] = torch.ones(CONFIG["d_model"] + 1)
    try:
        ours.load_state_dict(state, strict=True)
    except tt.StateDictError as e:
        return f"{type(e).__name__}: {e}"
    raise AssertionError("a wrong key must not load")


def report_load():
    """Print what load_state_dict returned and the comparisons."""
    theirs, _, result = pair()
    print(f"{len(theirs.state_dict())} tensors loaded with strict=True: {result}")
    print(f"{'dtype':8s} {'mode':28s} max |nn.Transformer - ours|")
    for dtype in (torch.float32, torch.float64):
        for grad, mode in ((False, "eval, torch.no_grad()"), (True, "eval, autograd on")):
            print(f"{str(dtype).replace('torch.', ''):8s} {mode:28s} {compare(dtype, grad):.1e}")


def report_wrong_key():
    """Print the error message."""
    print(wrong_key_message())
