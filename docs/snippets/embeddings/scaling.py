"""The ×√E scaling of token embeddings: how large token vectors are next to the positional encoding."""

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from transformer_anatomy.numpy import sinusoidal_table
from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.viz import figure_to_svg


def norm_ratios(E=64, V=1000, L=50, seed=0):
    """Mean row norm of token embeddings (three set-ups) and of the sinusoidal table PE[:L].

    Returns a list of rows (set-up, init std, multiplier, mean ‖token‖, mean ‖PE‖, ratio).
    """
    rng = np.random.default_rng(seed)
    pe_norm = float(np.linalg.norm(sinusoidal_table(L, E), axis=1).mean())  # each row: sqrt(E/2)
    rows = []
    for name, std, mult in (
        ("N(0, 1), no scaling", 1.0, 1.0),
        ("N(0, 1) × √E  (nn.Embedding default + the paper's scaling)", 1.0, math.sqrt(E)),
        ("N(0, 1/E) × √E  (our contract)", E ** -0.5, math.sqrt(E)),
    ):
        W = rng.normal(0.0, std, (V, E)) * mult  # (V, E): every token vector as the model sees it
        tok_norm = float(np.linalg.norm(W, axis=1).mean())
        rows.append({"setup": name, "std": std, "mult": mult, "token": tok_norm, "pe": pe_norm,
                     "ratio": tok_norm / pe_norm})
    return rows


def model_embedding_std(E=64, seed=0):
    """Std of Seq2SeqTransformer's token table, and of the table times √E, with scale_embedding=True."""
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(100, 100, d_model=E, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=4 * E, scale_embedding=True)
    w = model.src_tok_emb.weight.detach()
    return float(w.std()), float((w * math.sqrt(E)).std())


def report(E=64):
    print(f"E = {E}; mean vector norm over 1000 tokens and over PE rows 0..49")
    print(f"{'token embedding as the model sees it':62} {'‖token‖':>8} {'‖PE‖':>6} {'ratio':>6}")
    for r in norm_ratios(E):
        print(f"{r['setup']:62} {r['token']:8.2f} {r['pe']:6.2f} {r['ratio']:6.2f}")
    w_std, scaled_std = model_embedding_std(E)
    print(f"\nour Seq2SeqTransformer(d_model={E}, scale_embedding=True): "
          f"std(weight) = {w_std:.4f} (1/√E = {E ** -0.5:.4f}), std(weight · √E) = {scaled_std:.3f}")


# --8<-- [start:tied]
@torch.no_grad()
def tied_measurement(E=64, V=1000, N=4096, seed=0):
    """A matrix built to be a good *output projection*, measured as an *embedding table*.

    ``nn.Linear(E, V)``'s default init makes logits of order 1 for unit-variance inputs; the
    same (V, E) weight read as V token vectors is then far shorter than a PE row, until × √E.
    """
    torch.manual_seed(seed)
    proj = torch.nn.Linear(E, V, bias=False)  # pre-softmax projection: (N, E) -> (N, V) logits
    x = torch.randn(N, E)  # decoder outputs of unit variance per coordinate
    pe = torch.from_numpy(sinusoidal_table(50, E)).float()  # (50, E)
    tok = proj.weight.norm(dim=1).mean()  # the same weight as V token vectors (V, E)
    return {"logit_std": float(proj(x).std()),
            "pe_norm": float(pe.norm(dim=1).mean()),
            "ratio_unscaled": float(tok / pe.norm(dim=1).mean()),
            "ratio_scaled": float(tok * math.sqrt(E) / pe.norm(dim=1).mean()),
            "logit_std_if_N01": float((x @ torch.randn(V, E).T).std())}  # an N(0, 1) table as projection
# --8<-- [end:tied]


def report_tied(E=64):
    t = tied_measurement(E)
    print(f"E = {E}; the weight of nn.Linear(E, V) (default init), used both ways")
    print(f"as output projection: std of the logits           {t['logit_std']:6.3f}")
    print(f"as embedding table:   ‖token‖ / ‖PE‖ without √E   {t['ratio_unscaled']:6.3f}")
    print(f"                      ‖token‖ / ‖PE‖ with × √E    {t['ratio_scaled']:6.3f}")
    print(f"an N(0, 1) table as output projection: logit std {t['logit_std_if_N01']:6.2f}")


def notice_tied(E=64):
    t = tied_measurement(E)
    print(f"Measured for $E = {E}$: used as the output projection, the default-initialised matrix gives logits "
          f"of standard deviation {t['logit_std']:.2f}, a sensible start; read as token vectors, the same rows "
          f"are {t['ratio_unscaled']:.2f} times as long as a positional-encoding row, and "
          f"{t['ratio_scaled']:.2f} times after $\\times\\sqrt{{E}}$. An $N(0, 1)$ table, the size that needs no "
          f"scaling as an embedding, would give logits of standard deviation {t['logit_std_if_N01']:.1f} as a "
          f"projection. One matrix cannot be the right size for both jobs without a factor of $\\sqrt{{E}}$ "
          f"between them, which is what the paper's multiplication supplies.")


def entries(E=64, V=1000, L=50, seed=0):
    """Entries of PE[:L] and of token tables as the model sees them (three set-ups), flattened."""
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, E ** -0.5, (V, E))  # our contract: N(0, 1/E)
    return {"PE": sinusoidal_table(L, E).ravel(),
            "W ~ N(0, 1/E), no scaling": W.ravel(),
            "W ~ N(0, 1/E), × √E": (W * math.sqrt(E)).ravel(),
            "W ~ N(0, 1), × √E": (rng.normal(0.0, 1.0, (V, E)) * math.sqrt(E)).ravel()}


def scaling_figure(E=64):
    """Histograms of the entries: PE against token vectors before and after × √E."""
    e = entries(E)
    fig = Figure(figsize=(8.0, 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    bins = np.linspace(-3, 3, 61)
    colors = {"PE": "tab:orange", "W ~ N(0, 1/E), no scaling": "tab:blue", "W ~ N(0, 1/E), × √E": "tab:green"}
    for name, c in colors.items():
        left.hist(e[name], bins=bins, density=True, histtype="step", lw=1.6, color=c, label=name)
    left.set_xlabel("entry value")
    left.set_ylabel("density")
    left.set_title(f"entries, E = {E}", fontsize=9)
    left.legend(fontsize=7)
    norms = {k: float(np.sqrt((v ** 2).sum() / (v.size / E))) for k, v in e.items()}  # RMS row norm
    names = list(norms)
    right.barh(range(len(names)), [norms[n] for n in names], color=["tab:orange", "tab:blue", "tab:green", "tab:red"])
    right.set_yticks(range(len(names)), names, fontsize=8)
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("vector norm (log scale)")
    right.set_title("row norm as the model adds them", fontsize=9)
    return fig, norms


def report_scaling_figure(E=64):
    fig, norms = scaling_figure(E)
    print(figure_to_svg(fig, alt="Left: histograms of entries; the unscaled N(0, 1/E) embedding entries form a narrow "
                                 "peak, the scaled ones spread like the positional-encoding entries. Right: row norms "
                                 "on a log axis; the N(0, 1) table times root E is far longer than the rest",
                        caption="× √E brings N(0, 1/E) token vectors to the size of the position vectors; "
                                "N(0, 1) × √E overshoots."))
