"""Label smoothing: nn.CrossEntropyLoss(label_smoothing=ε) against the formula, computed."""

import torch
from torch import nn


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
    print(f"ε = 0.1, 6 positions, V = 5 classes (float64)")
    print(f"by hand                              {ours:.12f}")
    print(f"nn.CrossEntropyLoss(label_smoothing) {theirs:.12f}")
    print(f"difference                           {abs(ours - theirs):.1e}")
    b = best_possible()
    print()
    print("one position, true class 0, V = 5, ε = 0.1")
    print(f"confident logits (20, 0, 0, 0, 0): plain CE {b['confident_plain']:.2e}, smoothed {b['confident_smoothed']:.4f}")
    print(f"predicting q itself (p_true = {b['q_true_prob']:.2f}):      smoothed {b['q_smoothed']:.4f} "
          f"= entropy of q {b['entropy_of_q']:.4f} (the minimum)")
