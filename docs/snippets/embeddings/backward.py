"""Embedding backward: a token that appears k times gets the sum of its k gradients."""

import numpy as np
import torch

from transformer_anatomy.numpy import Embedding

IDS = np.array([[4, 5, 4, 6],
                [6, 4, 0, 0]])  # (N, S): id 4 three times, id 6 twice, <pad> (0) twice


def compare(V=8, E=3, ids=IDS, seed=0, scale=False):
    """Our hand-written backward vs torch autograd on the same weights and the same upstream gradient."""
    rng = np.random.default_rng(seed)
    ours = Embedding(V, E, scale=scale, dtype=np.float64, rng=seed)
    dy = rng.standard_normal(ids.shape + (E,))  # (N, S, E): dLoss/d(output)
    ours.forward(ids)
    ours.backward(dy)
    dW_ours = ours.grads["weight"]  # (V, E)

    ref = torch.nn.Embedding(V, E, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(ours.weight))
    out = ref(torch.from_numpy(ids)) * (E ** 0.5 if scale else 1.0)  # (N, S) -> (N, S, E)
    out.backward(torch.from_numpy(dy))  # autograd accumulates repeated rows itself
    dW_torch = ref.weight.grad.numpy()

    naive = np.zeros((V, E))
    naive[ids.reshape(-1)] += dy.reshape(-1, E)  # fancy-index += keeps ONE write per repeated id
    return {"dy": dy, "ours": dW_ours, "torch": dW_torch, "naive": naive,
            "max_diff": float(np.abs(dW_ours - dW_torch).max()),
            "naive_diff": float(np.abs(naive - dW_torch).max())}


def report():
    r = compare()
    with np.printoptions(precision=4, suppress=True):
        _print_rows(r)


def _print_rows(r):
    dy = r["dy"]
    print(f"ids =\n{IDS}")
    print(f"row 4 by hand: dy[0,0] + dy[0,2] + dy[1,1] = {dy[0, 0] + dy[0, 2] + dy[1, 1]}")
    print(f"ours  dW[4]  = {r['ours'][4]}")
    print(f"torch dW[4]  = {r['torch'][4]}")
    print(f"naive dW[4]  = {r['naive'][4]}   (dW[ids] += dy: only the last of the three survives)")
    print(f"max |ours - torch autograd| over all of dW = {r['max_diff']:.1e}")
    print(f"max |naive - torch autograd|              = {r['naive_diff']:.1e}")
    print(f"rows never looked up (ids 1, 2, 3, 7) get zero gradient: {bool(np.all(r['ours'][[1, 2, 3, 7]] == 0))}")
