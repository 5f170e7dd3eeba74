"""Softmax: our NumPy code against torch.softmax on three inputs (executed by the page, imported by tests)."""

import numpy as np
import torch

from transformer_anatomy.numpy import softmax

EXAMPLES = {
    "small logits": np.array([2.0, 1.0, 0.1]),
    "large logits": np.array([1000.0, 0.0, -1000.0]),
    "a batch of rows": np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 1.0, 50.0]]),
}


def compare_softmax(examples=EXAMPLES):
    """Return one row per example: input, ours, torch's, and the maximum absolute difference."""
    rows = []
    for name, x in examples.items():
        ours = softmax(x, axis=-1)
        ref = torch.softmax(torch.from_numpy(x), dim=-1).numpy()
        rows.append({"name": name, "x": x, "ours": ours, "torch": ref,
                     "max_diff": float(np.max(np.abs(ours - ref)))})
    return rows


def report():
    """Print each comparison (the page runs this at build time)."""
    with np.printoptions(precision=6, suppress=False):
        for row in compare_softmax():
            print(f"--- {row['name']}")
            print("x              =", row["x"].tolist())
            print("ours           =", row["ours"])
            print("torch.softmax  =", row["torch"])
            print(f"max |ours - torch| = {row['max_diff']:.3e}")
