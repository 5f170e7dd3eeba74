"""Sinusoidal vs learned positions in PyTorch: parameters, and what happens past max_len."""

import torch

from transformer_anatomy.torch import LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_table

E, MAX_LEN = 16, 32


def make_both(seed=0):
    """One of each, for sequences of up to MAX_LEN tokens of width E."""
    torch.manual_seed(seed)
    fixed = PositionalEncoding(E, max_len=MAX_LEN)  # a (MAX_LEN, E) buffer, no parameters
    learned = LearnedPositionalEmbedding(MAX_LEN, E)  # a (MAX_LEN, E) parameter, N(0, 1) init
    return fixed, learned


@torch.no_grad()
def usage(N=2, L=10, seed=0):
    """Both add a (L, E) table to a (N, L, E) batch; return shapes, parameter counts and state_dict keys."""
    fixed, learned = make_both(seed)
    x = torch.randn(N, L, E)
    return {
        "out_shapes": (tuple(fixed(x).shape), tuple(learned(x).shape)),
        "params": (sum(p.numel() for p in fixed.parameters()), sum(p.numel() for p in learned.parameters())),
        "state_dict": (list(fixed.state_dict()), list(learned.state_dict())),
        "is_x_plus_table": (torch.equal(fixed(x), x + fixed.pe[:L]), torch.equal(learned(x), x + learned.weight[:L])),
    }


def too_long(L=MAX_LEN + 8, seed=0):
    """Feed L > MAX_LEN positions to each; return the error messages, and the sinusoidal rows for L
    positions computed from the formula alone (the first MAX_LEN equal the module's buffer)."""
    fixed, learned = make_both(seed)
    x = torch.randn(1, L, E)
    errors = {}
    for name, module in (("PositionalEncoding", fixed), ("LearnedPositionalEmbedding", learned)):
        try:
            module(x)
        except ValueError as err:
            errors[name] = f"ValueError: {err}"
    table = sinusoidal_table(L, E).to(fixed.pe.dtype)  # (L, E): the formula has no length limit
    emb = torch.nn.Embedding(MAX_LEN, E)  # learned positions as many models write them (BERT, GPT-2)
    try:
        emb(torch.arange(L))
    except IndexError as err:
        errors["nn.Embedding(max_len, E)(arange(L))"] = f"IndexError: {err}"
    return errors, table, float((table[:MAX_LEN] - fixed.pe).abs().max())


def report():
    u = usage()
    print(f"E = {E}, max_len = {MAX_LEN}; x: (N, L, E) = (2, 10, {E})")
    print(f"{'':28} {'PositionalEncoding':>20} {'LearnedPositionalEmbedding':>28}")
    print(f"{'output shape':28} {str(u['out_shapes'][0]):>20} {str(u['out_shapes'][1]):>28}")
    print(f"{'trainable parameters':28} {u['params'][0]:>20} {u['params'][1]:>28}")
    print(f"{'state_dict keys':28} {str(u['state_dict'][0]):>20} {str(u['state_dict'][1]):>28}")
    print(f"{'out == x + table[:L]':28} {str(u['is_x_plus_table'][0]):>20} {str(u['is_x_plus_table'][1]):>28}")


def report_too_long():
    errors, table, diff = too_long()
    L = table.shape[0]
    print(f"a sequence of L = {L} tokens, max_len = {MAX_LEN}:")
    for name, msg in errors.items():
        print(f"  {name}: {msg}")
    print(f"\nsinusoidal_table({L}, {E}) from the formula: shape {tuple(table.shape)}; "
          f"rows 0..{MAX_LEN - 1} vs the module's buffer: max diff {diff:.1e}")
    print(f"rows {MAX_LEN}..{L - 1} are new positions with well-defined vectors, e.g. PE[{L - 1}, :4] = "
          f"{[round(v, 4) for v in table[L - 1, :4].tolist()]}")
