"""The initial-loss sanity check: before training, the cross-entropy is about ln V.

A model that predicts the uniform distribution over V classes has loss exactly ln V on every
token. A freshly initialised model is close to that, and a little above: its logits have a small
spread s2, and for logits spread like a Gaussian the expected loss is about ln V + s2 / 2.
Checked here by computing, and on our committed training runs (their first logged losses).
"""

import json
import math

import torch
import torch.nn.functional as F

from results_io import RESULTS


# --8<-- [start:uniform]
def uniform_loss(V, N=8):
    """Cross-entropy of all-zero logits (a uniform prediction) over V classes: exactly ln V."""
    logits = torch.zeros(N, V, dtype=torch.float64)
    targets = torch.randint(0, V, (N,))
    return F.cross_entropy(logits, targets).item()


def spread_loss(V, s, N=20000, seed=0):
    """Cross-entropy of random logits of standard deviation ``s``: about ln V + s^2 / 2."""
    g = torch.Generator().manual_seed(seed)
    logits = s * torch.randn(N, V, generator=g, dtype=torch.float64)
    targets = torch.randint(0, V, (N,), generator=g)
    return F.cross_entropy(logits, targets).item()
# --8<-- [end:uniform]


def classes_of(data, kind):
    """The number of classes the run's softmax spreads over (None for QA: positions, not classes)."""
    if kind in ("seq2seq", "tagging"):
        return data["tgt_vocab_size"]
    if kind == "classification":
        return data["num_classes"]
    return None


def committed_runs(folder=None):
    """Rows ``(file, run, kind, V, ln V, first logged step, its mean loss)`` of every task results file."""
    folder = folder or RESULTS
    rows = []
    for path in sorted(folder.glob("*-numpy.json")) + sorted(folder.glob("*-torch.json")):
        r = json.loads(path.read_text())
        if "runs" not in r or "data" not in r:
            continue
        for name, run in r["runs"].items():
            kind = run["train_config"]["kind"]
            V = classes_of(r["data"], kind)
            first = run["history"]["train"][0]
            rows.append((path.name, name, kind, V, math.log(V) if V else None, first["step"], first["loss"]))
    return rows


def report_formula():
    for V in (2, 14, 1000):
        print(f"V = {V:>4}: uniform prediction {uniform_loss(V):.4f}, ln V = {math.log(V):.4f}; "
              f"logits of std 0.5: {spread_loss(V, 0.5):.4f} (ln V + 0.5²/2 = {math.log(V) + 0.125:.4f})")


def report_runs():
    rows = committed_runs()
    print("| results file | run | kind | V (classes) | ln V | first logged loss (mean of steps 1–10) | ratio |")
    print("|---|---|---|---:|---:|---:|---:|")
    for file, name, kind, V, lnV, step, loss in rows:
        if V is None:
            print(f"| {file} | {name} | {kind} | positions | — | {loss:.3f} | — |")
        else:
            print(f"| {file} | {name} | {kind} | {V} | {lnV:.3f} | {loss:.3f} | {loss / lnV:.2f} |")
    ratios = [loss / lnV for *_, V, lnV, step, loss in rows if V]
    print(f"\nAcross the {len(ratios)} runs with a vocabulary or classes, the first logged loss is "
          f"{min(ratios):.2f}–{max(ratios):.2f} times ln V.")
