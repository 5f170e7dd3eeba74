"""The masks of one batch in our convention (True = may not attend) and their other spellings, as grids.

What a boolean ``True`` means to each API is found by running it: the probe lives on the attention
page's snippet, ``docs/snippets/attention/conventions.py`` (``float_probe``), and this page runs it
from there.
"""

import torch

from transformer_anatomy.viz import figure_to_svg, plot_mask_grid


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
    """The masks as small grids: blocked cells grey and hatched, each cell labelled with its value."""
    masks = example_masks()
    blocked = {name: torch.isinf(m) if m.is_floating_point() else (~m if name.startswith("SDPA") else m)
               for name, m in masks.items()}
    values = {name: [[("−∞" if v == float("-inf") else "0") if m.is_floating_point() else ("T" if v else "F")
                      for v in row] for row in m.tolist()] for name, m in masks.items()}
    fig = plot_mask_grid(blocked, cell_text=values, ylabel={"key_padding_mask (N, S)": "sequence"},
                         figsize=(8.4, 2.5), fontsize=8)
    return fig, masks


def report_mask_figure():
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
