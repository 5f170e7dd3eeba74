"""What a boolean ``True`` means to each PyTorch attention API, found by running them.

A float mask is unambiguous: ``-inf`` added to a score blocks that key. So each API is run three
times on the same inputs: with a boolean mask that is ``True`` at key 0 only, with a float mask
that blocks key 0, and with a float mask that blocks every key *except* 0. The boolean run equals
one of the two float runs, which tells whether ``True`` meant "blocked" or "attend".
"""

import torch
import torch.nn.functional as F
from torch import nn

from transformer_anatomy.torch import MultiheadAttention

N, L, E, H = 1, 4, 8, 2  # batch, length (queries = keys), width, heads


def _masks():
    hot = torch.zeros(L, L, dtype=torch.bool)
    hot[:, 0] = True  # (T, S): True at key 0 for every query
    block0 = torch.zeros(L, L).masked_fill(hot, float("-inf"))  # float: key 0 blocked
    only0 = torch.zeros(L, L).masked_fill(~hot, float("-inf"))  # float: only key 0 allowed
    return hot, block0, only0


def _apis(seed=0):
    """name -> function(mask of shape (T, S), bool or float) -> output."""
    torch.manual_seed(seed)
    x = torch.randn(N, L, E)
    theirs = nn.MultiheadAttention(E, H, batch_first=True)
    ours = MultiheadAttention(E, H, batch_first=True)
    ours.load_state_dict(theirs.state_dict())
    q = k = v = x.view(N, L, H, E // H).transpose(1, 2)  # (N, L, E) -> (N, H, L, E/H)
    return {
        "ours: MultiheadAttention(attn_mask=...)": lambda m: ours(x, x, x, attn_mask=m)[0],
        "ours: MultiheadAttention(key_padding_mask=...)": lambda m: ours(x, x, x, key_padding_mask=m[:1])[0],
        "nn.MultiheadAttention(attn_mask=...)": lambda m: theirs(x, x, x, attn_mask=m)[0],
        "nn.MultiheadAttention(key_padding_mask=...)": lambda m: theirs(x, x, x, key_padding_mask=m[:1])[0],
        "F.scaled_dot_product_attention(attn_mask=...)": lambda m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
    }


@torch.no_grad()
def conventions():
    """name -> "blocked" or "attend": what a boolean True means to that API."""
    hot, block0, only0 = _masks()
    found = {}
    for name, run in _apis().items():
        out = run(hot)
        if torch.allclose(out, run(block0), atol=1e-6):
            found[name] = "blocked"
        elif torch.allclose(out, run(only0), atol=1e-6):
            found[name] = "attend"
        else:
            raise RuntimeError(f"{name}: the boolean mask matches neither float mask")
    return found


def report():
    """Print the result as a Markdown table."""
    print("| API (run on this page) | boolean `True` means |")
    print("|---|---|")
    for name, meaning in conventions().items():
        print(f"| `{name}` | **{meaning}** |")
