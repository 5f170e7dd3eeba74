"""The online softmax on one row of scores, tile by tile, with every running number recorded;
and the size of the (T, S) matrix that naive attention builds."""

import numpy as np

from transformer_anatomy.numpy import softmax

ROW = np.array([1.0, 3.0, 2.0, 6.0, 0.5, 4.0])  # one query's scores against six keys
VALUES = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])  # one (scalar) value per key
TILE = 2  # keys per tile


# --8<-- [start:online]
def online_softmax(scores, values, tile):
    """softmax(scores) @ values in one pass over tiles of keys: (out, trace)."""
    m, l, acc, trace = -np.inf, 0.0, 0.0, []
    for j0 in range(0, len(scores), tile):
        s, v = scores[j0:j0 + tile], values[j0:j0 + tile]
        m_new = max(m, s.max())        # the running maximum
        alpha = np.exp(m - m_new)      # rescales what was summed under the old max
        p = np.exp(s - m_new)          # this tile, under the new maximum
        l = alpha * l + p.sum()        # running sum of e^(s - m)
        acc = alpha * acc + p @ v      # running, unnormalised output
        trace.append(dict(tile=s, m_old=m, m_new=m_new, alpha=alpha, l=l, acc=acc))
        m = m_new
    return acc / l, trace              # normalise once, at the very end
# --8<-- [end:online]


def report_trace(scores=ROW, values=VALUES, tile=TILE):
    """Print the trace as a Markdown table, then the result against the two-pass softmax."""
    out, trace = online_softmax(scores, values, tile)
    print(f"Scores {scores.tolist()}, values {values.tolist()}, tiles of {tile} keys.\n")
    print("| tile's scores | m: old → new | e^(m_old − m_new) | ℓ | acc |")
    print("|---|---:|---:|---:|---:|")
    for t in trace:
        print(f"| {t['tile'].tolist()} | {t['m_old']:g} → {t['m_new']:g} | {t['alpha']:.4f} "
              f"| {t['l']:.4f} | {t['acc']:.4f} |")
    exact = softmax(scores) @ values
    print(f"\nOnline: acc / ℓ = **{out:.10f}**; two-pass softmax(scores) @ values = **{exact:.10f}**; "
          f"difference {abs(out - exact):.1e}.")
    m, l = trace[-1]["m_new"], trace[-1]["l"]
    print(f"The log-sum-exp saved for the backward: m + log ℓ = {m + np.log(l):.6f} "
          f"(np.logaddexp.reduce: {np.logaddexp.reduce(scores):.6f}).")


# --8<-- [start:bytes]
def scores_bytes(T, S=None, heads=1, batch=1, itemsize=4):
    """Bytes of the (batch, heads, T, S) scores of naive attention (float32: 4 bytes each)."""
    S = T if S is None else S
    return batch * heads * T * S * itemsize  # a score per (query, key), head, sequence
# --8<-- [end:bytes]


def report_quadratic(lengths=(1024, 4096, 16384), heads=16, batch=8):
    """Print the size of the score matrix of one layer for a few lengths (float32)."""
    print(f"Float32 scores of one attention layer, batch {batch}, {heads} heads:\n")
    print("| T | one head, one sequence | the whole batch, every head |")
    print("|---:|---:|---:|")
    for T in lengths:
        one, full = scores_bytes(T), scores_bytes(T, heads=heads, batch=batch)
        print(f"| {T:,} | {one / 2**20:,.0f} MiB | {full / 2**30:,.1f} GiB |")
    grow = scores_bytes(lengths[-1]) / scores_bytes(lengths[0])
    print(f"\nFrom T = {lengths[0]:,} to T = {lengths[-1]:,} (×{lengths[-1] // lengths[0]}) the matrix grows ×{grow:,.0f}.")
