"""What a boolean True means to each attention function, found by running it.

Each function runs on the same q, k, v three times: with a boolean mask that is True at key 0
only, with a float mask that blocks key 0 (-inf), and with a float mask that blocks every key
except 0. Float masks are unambiguous; the boolean run equals one of them.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import transformer_anatomy.numpy as tnp
import transformer_anatomy.torch as tt

E, H, L = 8, 2, 4  # width, heads, length (queries = keys)


def _functions(seed=0):
    torch.manual_seed(seed)
    x = torch.randn(1, L, E, dtype=torch.float64)
    ref = nn.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    ours = tt.MultiheadAttention(E, H, batch_first=True, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    layer = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0, batch_first=True, dtype=torch.float64).eval()
    q = x.view(1, L, H, E // H).transpose(1, 2)  # (N, L, E) -> (N, H, L, E/H)
    return {
        "nn.MultiheadAttention(attn_mask=)": lambda m: ref(x, x, x, attn_mask=m, need_weights=False)[0],
        "nn.TransformerEncoderLayer(src_mask=)": lambda m: layer(x, src_mask=m),
        "F.scaled_dot_product_attention(attn_mask=)": lambda m: F.scaled_dot_product_attention(q, q, q, attn_mask=m),
        "transformer_anatomy.torch.MultiheadAttention(attn_mask=)": lambda m: ours(x, x, x, attn_mask=m)[0],
        "transformer_anatomy.numpy.scaled_dot_product_attention(attn_mask)": lambda m: torch.from_numpy(
            tnp.scaled_dot_product_attention(q.numpy(), q.numpy(), q.numpy(), m.numpy())[0]),
    }


def probe_masks():
    """The three masks of the probe, (L, L) each: boolean True at key 0, and two float masks."""
    hot = torch.zeros(L, L, dtype=torch.bool)
    hot[:, 0] = True
    block0 = torch.zeros(L, L, dtype=torch.float64).masked_fill(hot, float("-inf"))  # blocks key 0
    only0 = torch.zeros(L, L, dtype=torch.float64).masked_fill(~hot, float("-inf"))  # allows key 0 only
    return hot, block0, only0


def conventions():
    """name -> "blocked" or "attend" for a boolean True."""
    hot, block0, only0 = probe_masks()
    found = {}
    with torch.no_grad():
        for name, run in _functions().items():
            out = run(hot)
            if torch.allclose(out, run(block0)):
                found[name] = "blocked"
            elif torch.allclose(out, run(only0)):
                found[name] = "attend"
            else:
                raise RuntimeError(f"{name}: the boolean mask matches neither float mask")
    return found


def report():
    """Print a Markdown table."""
    print("| function | boolean `True` at a (query, key) pair means |")
    print("|---|---|")
    for name, meaning in conventions().items():
        shown = f"`{name}`"
        word = "**may not attend**" if meaning == "blocked" else "**may attend**"
        print(f"| {shown} | {word} |")
