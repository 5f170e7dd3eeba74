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


# --8<-- [start:example_masks]
def example_masks(L=4, pads=1):
    """The masks of one batch in our convention (True = may not attend) and their other spellings.

    Two sequences of length L; the second ends in ``pads`` <pad> tokens. Returns name -> (rows, cols) array.
    """
    causal = torch.ones(L, L, dtype=torch.bool).triu(1)  # (T, T): True above the diagonal = the future
    key_padding = torch.zeros(2, L, dtype=torch.bool)
    key_padding[1, L - pads:] = True  # (N, S): True at the pads of sequence 1
    combined = causal | key_padding[1]  # (T, S) for sequence 1: blocked if future OR pad
    return {
        "causal attn_mask (T, T)": causal,
        "key_padding_mask (N, S)": key_padding,
        "combined, seq. 1 (T, S)": combined,
        "SDPA: ~combined": ~combined,
        "float: added to scores": torch.zeros(L, L).masked_fill(combined, float("-inf")),
    }
# --8<-- [end:example_masks]


def mask_figure():
    """The masks as small grids: blocked cells dark and hatched, each cell labelled with its value."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    masks = example_masks()
    fig = Figure(figsize=(8.4, 2.5), layout="constrained")
    axes = fig.subplots(1, len(masks))
    for ax, (name, m) in zip(axes, masks.items()):
        blocked = torch.isinf(m) if m.is_floating_point() else (~m if name.startswith("SDPA") else m)
        rows, cols = m.shape
        for i in range(rows):
            for j in range(cols):
                b = bool(blocked[i, j])
                ax.add_patch(Rectangle((j, i), 1, 1, facecolor="tab:gray" if b else "tab:blue", alpha=0.45,
                                       hatch="//" if b else None, edgecolor="black", lw=0.6))
                v = m[i, j].item()
                label = ("−∞" if v == float("-inf") else "0") if m.is_floating_point() else ("T" if v else "F")
                ax.text(j + 0.5, i + 0.5, label, ha="center", va="center", fontsize=8)
        ax.set_xlim(0, cols)
        ax.set_ylim(rows, 0)
        ax.set_aspect("equal")
        ax.set_xticks([j + 0.5 for j in range(cols)], [str(j) for j in range(cols)], fontsize=7)
        ax.set_yticks([i + 0.5 for i in range(rows)], [str(i) for i in range(rows)], fontsize=7)
        ax.set_xlabel("key", fontsize=8)
        ax.set_ylabel("sequence" if rows == 2 else "query", fontsize=8)
        ax.set_title(name, fontsize=7.5, wrap=True)
    return fig, masks


def report_mask_figure():
    from transformer_anatomy.viz import figure_to_svg

    fig, _ = mask_figure()
    print(figure_to_svg(fig, alt="Five small grids: a causal mask True above the diagonal; a key padding mask True at "
                                 "the last key of the second sequence; their combination for that sequence; the same "
                                 "combination inverted for scaled_dot_product_attention; and as a float mask with "
                                 "minus infinity at the blocked cells",
                        caption="One set of blocked cells (hatched), three spellings: our bool (True = blocked), "
                                "SDPA's bool (True = attend), and the float mask added to the scores."))


def notice_masks():
    m = example_masks()
    combined = m["combined, seq. 1 (T, S)"]
    print(f"The combined mask of the padded sequence blocks {int(combined.sum())} of its "
          f"{combined.numel()} cells; the last query row may still attend to "
          f"{int((~combined[-1]).sum())} keys, so no row is fully masked here. SDPA's mask is the exact "
          f"negation (`~mask`), and the float mask has $-\\infty$ exactly where ours is `True`: "
          f"{bool(torch.equal(torch.isinf(m['float: added to scores']), combined))}.")
