"""Label smoothing: nn.CrossEntropyLoss(label_smoothing=ε) against the formula, computed."""

import torch
from matplotlib.figure import Figure
from torch import nn

from transformer_anatomy.viz import figure_to_svg

EPS, V = 0.1, 5  # the paper's ε (Vaswani et al., 2017, §5.4); a small vocabulary to draw


# --8<-- [start:by_hand]
def smoothed_cross_entropy(logits, target, eps):
    """Cross-entropy against q = (1 - ε)·one_hot(target) + ε/V (the uniform share goes to every class).

    Shape: logits (M, V), target (M,) -> scalar (mean over the M positions).
    """
    V = logits.size(-1)
    log_p = torch.log_softmax(logits, dim=-1)  # (M, V)
    q = torch.full_like(log_p, eps / V)  # (M, V): ε spread evenly, the true class included
    q.scatter_(1, target[:, None], 1 - eps + eps / V)  # the true class keeps the rest
    return -(q * log_p).sum(-1).mean()
# --8<-- [end:by_hand]


def compare(eps=0.1, M=6, V=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(M, V, generator=g, dtype=torch.float64)
    target = torch.randint(0, V, (M,), generator=g)
    ours = smoothed_cross_entropy(logits, target, eps)
    torch_loss = nn.CrossEntropyLoss(label_smoothing=eps)(logits, target)
    return float(ours), float(torch_loss)


def best_possible(eps=0.1, V=5):
    """The smallest smoothed loss any logits reach: predicting q itself gives the entropy of q."""
    q = torch.full((V,), eps / V, dtype=torch.float64)
    q[0] = 1 - eps + eps / V
    entropy = float(-(q * q.log()).sum())
    # and the confident prediction that plain cross-entropy rewards is punished:
    confident = torch.tensor([[20.0] + [0.0] * (V - 1)], dtype=torch.float64)
    target = torch.tensor([0])
    plain = float(nn.CrossEntropyLoss()(confident, target))
    smoothed = float(nn.CrossEntropyLoss(label_smoothing=eps)(confident, target))
    fitted = float(nn.CrossEntropyLoss(label_smoothing=eps)(q.log()[None], target))
    return {"entropy_of_q": entropy, "confident_plain": plain, "confident_smoothed": smoothed, "q_smoothed": fitted,
            "q_true_prob": float(q[0])}


def report():
    ours, theirs = compare()
    print(f"ε = {EPS}, 6 positions, V = {V} classes (float64)")
    print(f"by hand                              {ours:.12f}")
    print(f"nn.CrossEntropyLoss(label_smoothing) {theirs:.12f}")
    print(f"difference                           {abs(ours - theirs):.1e}")
    b = best_possible()
    print()
    print("one position, true class 0, V = 5, ε = 0.1")
    print(f"confident logits (20, 0, 0, 0, 0): plain CE {b['confident_plain']:.2e}, smoothed {b['confident_smoothed']:.4f}")
    print(f"predicting q itself (p_true = {b['q_true_prob']:.2f}):      smoothed {b['q_smoothed']:.4f} "
          f"= entropy of q {b['entropy_of_q']:.4f} (the minimum)")


def targets(eps=EPS, V=V, y=0):
    """The one-hot target and the smoothed target q of class ``y`` (float64 tensors of length V)."""
    one_hot = torch.zeros(V, dtype=torch.float64)
    one_hot[y] = 1.0
    return one_hot, (1 - eps) * one_hot + eps / V


def show_targets(eps=EPS, V=V):
    """Bars: one-hot against smoothed target (HTML), and a sentence of the checks' numbers."""
    one_hot, q = targets(eps, V)
    fig = Figure(figsize=(6.0, 2.8), layout="constrained")
    ax = fig.subplots()
    x = torch.arange(V).numpy()
    ax.bar(x - 0.2, one_hot.numpy(), 0.4, label="one-hot", color="C0")
    ax.bar(x + 0.2, q.numpy(), 0.4, label=f"smoothed, ε = {eps:g}", color="C1")
    ax.set_xticks(x, [f"class {c}" + (" (true)" if c == 0 else "") for c in range(V)])
    ax.set_ylabel("target probability")
    ax.legend(frameon=False)
    print(figure_to_svg(fig, alt=f"Target distribution over {V} classes: one-hot against label-smoothed",
                        caption=f"The smoothed target keeps {1 - eps + eps / V:.2f} on the true class and "
                                f"{eps / V:.2f} on each of the others."))
    ours, theirs = compare(eps=eps)
    b = best_possible(eps, V)
    print(f"<p>By hand and <code>nn.CrossEntropyLoss(label_smoothing={eps:g})</code> differ by "
          f"{abs(ours - theirs):.1e}. A confident prediction (logits 20, 0, 0, …) scores {b['confident_plain']:.1e} "
          f"without smoothing and {b['confident_smoothed']:.2f} with it; predicting q itself scores "
          f"{b['q_smoothed']:.4f}, the entropy of q and the minimum.</p>")
