"""Sinusoidal vs learned positions in PyTorch: parameters, and what happens past max_len."""

import numpy as np
import torch
from matplotlib.figure import Figure

from transformer_anatomy.torch import LearnedPositionalEmbedding, PositionalEncoding, sinusoidal_table
from transformer_anatomy.viz import figure_to_svg

E, MAX_LEN = 16, 32


# --8<-- [start:make_both]
def make_both(seed=0):
    """One of each, for sequences of up to MAX_LEN tokens of width E."""
    torch.manual_seed(seed)
    fixed = PositionalEncoding(E, max_len=MAX_LEN)  # a (MAX_LEN, E) buffer, no parameters
    learned = LearnedPositionalEmbedding(MAX_LEN, E)  # a (MAX_LEN, E) parameter, N(0, 1) init
    return fixed, learned
# --8<-- [end:make_both]


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


@torch.no_grad()
def similarities(seed=0):
    """Cosine similarity of every pair of position vectors, for both tables as built (before training)."""
    fixed, learned = make_both(seed)
    out = {}
    for name, table in (("sinusoidal", fixed.pe.double()), ("learned, at initialisation", learned.weight.double())):
        unit = table / table.norm(dim=1, keepdim=True)  # (max_len, E), rows of norm 1
        out[name] = (unit @ unit.T).numpy()  # (max_len, max_len)
    return out


def neighbour_similarity(sim):
    """Mean cosine similarity of positions p and p + 1, and of pairs at least MAX_LEN // 2 apart."""
    L = sim.shape[0]
    near = float(np.mean([sim[p, p + 1] for p in range(L - 1)]))
    far = float(np.mean([sim[p, q] for p in range(L) for q in range(L) if q - p >= L // 2]))
    return near, far


def similarity_figure(seed=0):
    sims = similarities(seed)
    fig = Figure(figsize=(7.6, 3.4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (name, sim) in zip(axes, sims.items()):
        image = ax.imshow(sim, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("position q")
        ax.set_ylabel("position p")
    fig.colorbar(image, ax=axes, label="cosine similarity", shrink=0.85)
    return fig, {name: neighbour_similarity(sim) for name, sim in sims.items()}


def report_similarity_figure():
    fig, _ = similarity_figure()
    print(figure_to_svg(fig, alt="Two heatmaps of the cosine similarity between position vectors. Sinusoidal: a smooth "
                                 "band around the diagonal, the same along every diagonal. Learned at initialisation: "
                                 "a bright diagonal on noise",
                        caption=f"Position p against position q, for max_len = {MAX_LEN}, E = {E}: the formula "
                                "builds in nearness, a fresh learned table does not."))


def notice_similarity():
    _, stats = similarity_figure()
    (s_near, s_far), (l_near, l_far) = stats.values()
    print(f"Neighbouring positions have a mean cosine similarity of {s_near:.2f} in the sinusoidal table and "
          f"{round(l_near, 2) + 0.0:.2f} in the learned one before training; pairs at least {MAX_LEN // 2} positions apart "
          f"{s_far:.2f} and {round(l_far, 2) + 0.0:.2f}. Sinusoids start out knowing that neighbours are alike; a learned table "
          f"has to learn it from the data.")
