"""Why warmup: what Adam's first steps do (the training runs come from ``advanced_training/warmup.py``).

Adam divides the gradient by a running root-mean-square of itself. At step 1 both running
averages hold one gradient (after bias correction ``m̂ = g``, ``v̂ = g²``), so the update is
``lr · g / (|g| + eps) ≈ lr · sign(g)``: **every** parameter moves by the full learning rate,
however small or noisy its gradient. With a large learning rate and no warmup, those first
sign-steps can push a post-norm model somewhere it does not recover from within the run.
"""


import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from transformer_anatomy.torch import Seq2SeqTransformer
from transformer_anatomy.viz import figure_to_svg

# The warmup experiment has one home, the advanced-training page's snippet; this file adds
# Adam's first step and re-exports the experiment for this page and its tests.
from advanced_training._threads import one_thread  # noqa: E402,F401
from advanced_training.warmup import (  # noqa: E402,F401
    BATCH, EOS, FIRST_SYMBOL, LENGTH, RUNS, SOS, VOCAB, experiment, report_training, reversal_batch, train,
    unigram_floor,
)


def first_step(lr=1e-3, seed=0):
    """One Adam step on a fresh model: how far each parameter tensor moves.

    Returns rows ``(name, fraction of entries that moved by lr within 1%, |Δθ| / |θ| for Adam,
    the same for plain SGD with the same learning rate)`` and the largest |gradient| of any key
    bias (the middle third of each ``in_proj_bias``).
    """
    with one_thread():
        return _first_step(lr, seed)


def _first_step(lr, seed):
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(VOCAB, VOCAB, dropout=0.0)
    src, tgt_in, tgt_out = reversal_batch(torch.Generator().manual_seed(seed))
    F.cross_entropy(model(src, tgt_in).flatten(0, 1), tgt_out.flatten()).backward()
    E = model.d_model
    key_bias = max(float(p.grad[E:2 * E].abs().max()) for n, p in model.named_parameters() if n.endswith("in_proj_bias"))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9).step()
    rows = []
    for name, p in model.named_parameters():
        step = (p.detach() - before[name]).abs()
        used = grads[name] != 0  # entries the batch touched (embedding rows of absent ids get no gradient)
        at_lr = float(((step - lr).abs() <= 0.01 * lr)[used].float().mean()) if used.any() else float("nan")
        rel_adam = float(step.norm() / before[name].norm()) if before[name].norm() > 0 else float("inf")
        rel_sgd = float(lr * grads[name].norm() / before[name].norm()) if before[name].norm() > 0 else float("inf")
        rows.append((name, at_lr, rel_adam, rel_sgd))
    return rows, key_bias


SHOWN = ("src_tok_emb.weight", "transformer.encoder.layers.0.self_attn.in_proj_weight",
         "transformer.encoder.layers.0.linear1.weight", "transformer.encoder.layers.0.norm1.weight",
         "transformer.decoder.layers.1.linear2.weight", "generator.weight")


def report_first_step():
    """Print the first-step table (Markdown)."""
    rows, key_bias = first_step()
    rows = {r[0]: r for r in rows}
    print("| parameter | entries that moved by exactly lr (±1%) | Adam: ‖Δθ‖/‖θ‖ | SGD, same lr: ‖Δθ‖/‖θ‖ |")
    print("|---|---:|---:|---:|")
    for name in SHOWN:
        _, at_lr, adam, sgd = rows[name]
        print(f"| `{name}` | {at_lr:.2%} | {adam:.2e} | {sgd:.2e} |")
    name, at_lr, _, _ = min((r for r in rows.values() if r[1] == r[1]), key=lambda r: r[1])
    print(f"\nOver all {len(rows)} parameter tensors, the smallest fraction of entries that moved by "
          f"lr ± 1% is {at_lr:.1%}, in `{name}`. Its missing third is the key bias $b_k$: adding "
          f"$q \\cdot b_k$ to every score of a row changes no softmax, so its gradient is zero in exact "
          f"arithmetic; measured, the largest is {key_bias:.1e} (rounding noise), which Adam turns into "
          f"steps of a sizeable fraction of lr: `eps` is all that keeps them from being full steps.")


def show_first_step():
    """Bars: |Δθ|/|θ| of Adam's first step against SGD's at the same lr, per parameter tensor (HTML)."""
    rows, _ = first_step()
    rows = {r[0]: r for r in rows}
    short = [n.replace("transformer.", "").replace(".weight", "").replace("layers.", "") for n in SHOWN]
    adam = [rows[n][2] for n in SHOWN]
    sgd = [rows[n][3] for n in SHOWN]
    fig = Figure(figsize=(7.0, 3.2), layout="constrained")
    ax = fig.subplots()
    y = list(range(len(SHOWN)))
    ax.barh([i - 0.2 for i in y], adam, 0.4, label="Adam", color="C0")
    ax.barh([i + 0.2 for i in y], sgd, 0.4, label="SGD, same lr", color="C1")
    ax.set_yticks(y, short, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("first step's relative change ‖Δθ‖ / ‖θ‖")
    ax.legend(frameon=False, fontsize=8)
    print(figure_to_svg(fig, alt="Relative size of the first update of each parameter tensor, Adam against SGD",
                        caption="One step on a fresh model, lr the same for both optimizers (log scale)."))
    ratio = min(a / s for a, s in zip(adam, sgd))
    print(f"<p>On every tensor shown, Adam's first step is at least {ratio:.0f} times SGD's.</p>")
