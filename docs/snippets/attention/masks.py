"""Causal and key-padding masks, boolean and float forms, on real tokens."""

import numpy as np
import torch
from torch import nn

from transformer_anatomy.numpy import (
    generate_square_subsequent_mask,
    make_key_padding_mask,
    scaled_dot_product_attention,
)
from transformer_anatomy.tasks import Vocab, pad_batch
from transformer_anatomy.torch import MultiheadAttention
from transformer_anatomy.viz import figure_to_svg, plot_mask_grid

SENTENCES = ["the cat sat down", "a dog barked"]
E = 8


def batch(sentences=SENTENCES):
    """Token ids (N, S) padded with 0, their tokens, and the key padding mask (True at <pad>)."""
    vocab = Vocab.build(sentences)
    ids, lengths = pad_batch([vocab.encode(s) for s in sentences])  # (N, S)
    tokens = [[vocab.idx2word[i] for i in row] for row in ids.tolist()]
    return ids, tokens, make_key_padding_mask(ids, vocab.pad_id), vocab


def causal_forms(T=4):
    """The causal mask in both forms: bool (True = blocked) and float (-inf = blocked)."""
    return generate_square_subsequent_mask(T, dtype=bool), generate_square_subsequent_mask(T, dtype=np.float64)


def vectors(ids, seed=0):
    """Seeded token vectors (N, S, E) for the ids."""
    table = np.random.default_rng(seed).standard_normal((int(ids.max()) + 1, E))
    return table[ids]


def bool_vs_float(seed=0):
    """Max |bool-mask output - float-mask output| for our NumPy SDPA, our torch MHA and nn.MultiheadAttention,
    with the causal mask and the key padding mask together."""
    ids, _, pad, _ = batch()
    N, S = ids.shape
    x = vectors(ids, seed)  # (N, S, E)
    causal_b, causal_f = causal_forms(S)
    pad_f = np.where(pad, -np.inf, 0.0)  # (N, S) float form of the key padding mask
    out = {}
    a, _ = scaled_dot_product_attention(x, x, x, causal_b, key_padding_mask=pad)
    b, _ = scaled_dot_product_attention(x, x, x, causal_f, key_padding_mask=pad_f)
    out["ours, NumPy scaled_dot_product_attention"] = float(np.abs(a - b).max())
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(E, 2, batch_first=True, dtype=torch.float64).eval()
    ours = MultiheadAttention(E, 2, batch_first=True, dtype=torch.float64).eval()
    ours.load_state_dict(ref.state_dict())
    t = torch.from_numpy
    with torch.no_grad():
        for name, m in (("ours, torch MultiheadAttention", ours), ("nn.MultiheadAttention", ref)):
            a = m(t(x), t(x), t(x), attn_mask=t(causal_b), key_padding_mask=t(pad))[0]
            b = m(t(x), t(x), t(x), attn_mask=t(causal_f), key_padding_mask=t(pad_f))[0]
            out[name] = float((a - b).abs().max())
    return out


def padding_invariance(seed=0):
    """Attention of the short sentence alone vs inside the padded batch: real positions agree
    with the key padding mask and disagree without it."""
    ids, tokens, pad, _ = batch()
    x = vectors(ids, seed)  # (N, S, E)
    n = int((~pad[1]).sum())  # real length of sentence 1
    alone, _ = scaled_dot_product_attention(x[1:, :n], x[1:, :n], x[1:, :n])  # (1, n, E)
    masked, w = scaled_dot_product_attention(x, x, x, key_padding_mask=pad)  # (N, S, E)
    unmasked, _ = scaled_dot_product_attention(x, x, x)
    return {"with": float(np.abs(masked[1, :n] - alone[0]).max()),
            "without": float(np.abs(unmasked[1, :n] - alone[0]).max()),
            "weights": w[1], "tokens": tokens[1]}


def report_causal():
    b, f = causal_forms()
    print("generate_square_subsequent_mask(4, dtype=bool)   True = may not attend:")
    print(b.astype(int))
    print("generate_square_subsequent_mask(4)               -inf is added to the score:")
    print(f)


def report_padding():
    ids, tokens, pad, _ = batch()
    print(f"ids =\n{ids}\ntokens = {tokens}\nkey_padding_mask (True at <pad>) =\n{pad.astype(int)}")
    r = padding_invariance()
    print("\nweights of the padded sentence, key padding mask applied (columns: keys):")
    print("        " + "".join(f"{k:>8}" for k in r["tokens"]))
    for q, row in zip(r["tokens"], r["weights"]):
        print(f"{q:>7} " + "".join(f"{v:8.3f}" for v in row))
    print(f"\nreal positions, alone vs padded batch: max diff with the mask {r['with']:.1e}, without it {r['without']:.1e}")


def report_bool_vs_float():
    for name, d in bool_vs_float().items():
        print(f"{name:45} max |bool - float| = {d:.1e}")


# --8<-- [start:combined]
def combined_mask(n=1):
    """Causal and key padding mask of sequence n merged into one (T, S) grid, True = may not attend."""
    ids, tokens, pad, _ = batch()
    S = ids.shape[1]
    causal = generate_square_subsequent_mask(S, dtype=bool)  # (S, S), True above the diagonal
    padding = np.broadcast_to(pad[n][None, :], (S, S))  # (S,) -> (S, S): the same keys for every query
    return tokens[n], causal, padding, causal | padding  # True wherever either mask blocks
# --8<-- [end:combined]


def figure_masks(n=1):
    """The causal, the key padding and the combined mask as grids, blocked cells marked."""
    tokens, causal, padding, both = combined_mask(n)
    fig = plot_mask_grid({"causal": causal, "key padding": padding, "combined (either blocks)": both},
                         row_labels=tokens, col_labels=tokens, figsize=(8.0, 3.0), fontsize=10)
    return figure_to_svg(fig, alt="Three 4 by 4 grids over the tokens a dog barked pad: the causal mask blocks "
                         "the cells above the diagonal, the key padding mask blocks the pad column, the "
                         "combined mask blocks both",
                         caption="Grey hatched × = True = may not attend; green ✓ = may attend. Rows are queries.")


def report_combined(n=1):
    tokens, causal, padding, both = combined_mask(n)
    print(f"<p>Of the {both.size} cells, the causal mask blocks {int(causal.sum())}, the padding mask "
          f"{int(padding.sum())} and the combined mask {int(both.sum())}: "
          f"{int((causal & padding).sum())} cells are blocked by both. The query <em>{tokens[0]}</em> may "
          f"attend to {int((~both[0]).sum())} key, itself.</p>")
