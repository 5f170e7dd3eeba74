"""HuggingFace's attention_mask (1 = attend) and what BERT turns it into before the softmax."""

import numpy as np
import torch
from transformers import BertConfig, BertModel
from transformers.masking_utils import create_bidirectional_mask

from transformer_anatomy.viz import figure_to_svg, plot_mask_grid


def small_config(**kw):
    args = dict(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=32, max_position_embeddings=32)
    args.update(kw)
    return BertConfig(**args)


# --8<-- [start:additive]
def additive_mask(attention_mask, dtype=torch.float32):
    """The classic "extended" mask: (1 - mask) * finfo.min, broadcast over heads and queries. (N, S) -> (N, 1, 1, S)."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
# --8<-- [end:additive]


def masks_bert_builds(attention_mask, E=16):
    """The 4-D mask BertModel passes to its attention layers, for each attention implementation."""
    N, S = attention_mask.shape
    embeddings = torch.zeros(N, S, E)  # only its shape, dtype and device are used
    return {impl: create_bidirectional_mask(config=small_config(hidden_size=E, attn_implementation=impl),
                                            inputs_embeds=embeddings, attention_mask=attention_mask)
            for impl in ("eager", "sdpa")}


def padding_invariance(seed=0):
    """A sentence alone vs the same sentence padded: with the mask the real positions agree, without they do not."""
    torch.manual_seed(seed)
    bert = BertModel(small_config()).eval()
    ids = torch.tensor([[5, 17, 42, 8]])
    padded = torch.tensor([[5, 17, 42, 8, 0, 0, 0]])  # pad_token_id = 0
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        alone = bert(input_ids=ids).last_hidden_state
        with_mask = bert(input_ids=padded, attention_mask=mask).last_hidden_state[:, :4]
        without = bert(input_ids=padded).last_hidden_state[:, :4]
    return (with_mask - alone).abs().max().item(), (without - alone).abs().max().item()


def report():
    """Print the masks and the padding check."""
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # second sequence: 2 real tokens, 2 pads
    print("attention_mask (1 = attend, 0 = padding):\n", attention_mask.numpy())
    built = masks_bert_builds(attention_mask)
    for impl, m in built.items():
        print(f"\nattn_implementation={impl!r}: {m.dtype}, shape {tuple(m.shape)}; sequence 2, every query row:\n", m[1, 0].numpy())
    manual = additive_mask(attention_mask).expand_as(built["eager"])
    print(f"\n(1 - mask) * finfo(float32).min == the eager mask: {torch.equal(manual, built['eager'])}")
    print(f"the sdpa mask is the 0/1 mask as bool (True = attend): {torch.equal(built['sdpa'][:, 0, 0], attention_mask.bool())}")
    no_pad = masks_bert_builds(torch.ones(2, 4, dtype=torch.long))
    print(f"with no padding at all, the mask passed on is: {no_pad}")
    print(f"BertModel has get_extended_attention_mask: {hasattr(BertModel, 'get_extended_attention_mask')}")
    d_with, d_without = padding_invariance()
    print(f"\nsentence alone vs padded + attention_mask : max |diff| at real positions = {d_with:.1e}")
    print(f"sentence alone vs padded, no attention_mask: max |diff| at real positions = {d_without:.1e}")


# --8<-- [start:four_d]
def causal_4d(N, T, dtype=torch.float32):
    """A prepared (N, 1, T, T) additive mask: 0 where query t may see key s <= t, finfo.min elsewhere."""
    blocked = ~torch.ones(T, T, dtype=torch.bool).tril()  # (T, T): True above the diagonal
    return torch.zeros(N, 1, T, T, dtype=dtype).masked_fill(blocked, torch.finfo(dtype).min)
# --8<-- [end:four_d]


def four_d_demo(seed=0):
    """What BertModel does with a 4-D attention_mask: used as given (create_bidirectional_mask returns it)."""
    ids = torch.tensor([[5, 17, 42, 8, 0, 0], [7, 9, 11, 13, 15, 19]])
    mask2 = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    changed = ids.clone()
    changed[:, 4:] = 3  # change the last two tokens
    N, T = ids.shape
    given = causal_4d(N, T)
    returned = create_bidirectional_mask(config=small_config(attn_implementation="sdpa"),
                                         inputs_embeds=torch.zeros(N, T, 16), attention_mask=given)
    out = {"passed through": returned is given}
    for impl in ("sdpa", "eager"):
        torch.manual_seed(seed)
        bert = BertModel(small_config(attn_implementation=impl)).eval()
        run = lambda i, m: bert(input_ids=i, attention_mask=m).last_hidden_state  # noqa: E731
        with torch.no_grad():
            same = (run(ids, mask2) - run(ids, additive_mask(mask2).expand(N, 1, T, T))).abs().max().item()
            causal, causal_changed = run(ids, causal_4d(N, T)), run(changed, causal_4d(N, T))
            bool_mask = torch.ones(T, T, dtype=torch.bool).tril().expand(N, 1, T, T)  # True = attend
            as_bool = (run(ids, bool_mask) - causal).abs().max().item()
        out[impl] = {"2-D vs equivalent 4-D": same,
                     "causal 4-D: earlier positions after changing later tokens": (causal - causal_changed)[:, :4].abs().max().item(),
                     "causal 4-D: the changed positions": (causal - causal_changed)[:, 4:].abs().max().item(),
                     "bool 4-D (True = attend) vs the additive causal mask": as_bool}
    return out


def report_four_d():
    d = four_d_demo()
    print(f"create_bidirectional_mask returns a 4-D mask unchanged: {d.pop('passed through')}")
    for impl, rows in d.items():
        print(f"attn_implementation={impl!r}")
        for name, value in rows.items():
            print(f"  {name:58s} max |diff| = {value:.1e}")


def mask_figure(attention_mask):
    """The 2-D attention_mask (sequence × key) and what BERT builds from it for one padded sequence."""
    built = masks_bert_builds(attention_mask)
    N, S = attention_mask.shape
    queries = [f"q{t}" for t in range(S)]
    panels = {  # title -> (may attend: (rows, S) bool, row labels)
        "attention_mask (N, S)\n1 = attend": (attention_mask.bool(), [f"seq {i}" for i in range(N)]),
        "eager: (1 − m)·finfo.min\nseq 1, (T, S)": (built["eager"][1, 0] == 0, queries),
        "sdpa: bool, True = attend\nseq 1, (T, S)": (built["sdpa"][1, 0], queries),
    }
    fig = plot_mask_grid({name: ~a for name, (a, _) in panels.items()},  # drawn: the cells that may not attend
                         row_labels={name: rows for name, (_, rows) in panels.items()},
                         col_labels=[f"k{s}" for s in range(S)],
                         cell_text={name: np.where(a.numpy(), "attend", "—") for name, (a, _) in panels.items()},
                         ylabel=None, figsize=(8, 2.8), fontsize=6)
    return fig, built


def report_figure():
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    fig, built = mask_figure(attention_mask)
    print(figure_to_svg(fig, alt="Grids: the 2-D attention_mask of two sequences, and the 4-D masks BERT builds "
                        "from it for the padded sequence, additive for eager and boolean for sdpa",
                        caption=f"Green: may attend; grey hatched: may not. Every query row of the padded sequence sees the same "
                        f"{int(attention_mask[1].sum())} keys."))
    eager = built["eager"][1, 0]
    print(f"<p>The eager mask holds {eager.max().item():g} where a query may attend and {eager.min().item():.3e} "
          f"(<code>finfo(float32).min</code>) at the padded keys; the sdpa mask holds "
          f"{int(built['sdpa'][1, 0].sum())} <code>True</code> entries out of {built['sdpa'][1, 0].numel()}.</p>")
