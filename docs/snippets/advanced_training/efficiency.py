"""Two efficiency tips measured: length bucketing, and the sliding-window (local) attention mask.

Bucketing: batches of similar lengths need less padding. We measure the share of padded
positions, and the time of a forward + backward pass over the same examples batched at random or
by length (each batch is trimmed to its own longest sequence, as ``TaskData.batches`` does).

Sliding window: query ``i`` may attend only to keys ``j`` with ``|i - j| <= window``. With a dense
kernel the masked scores are still computed, so the mask saves nothing (we time it); what it
saves is in a kernel that skips every key block that is masked for a whole query block, and we
count the FLOPs such a kernel would skip.
"""

import time

import numpy as np
import torch
from matplotlib.figure import Figure

from advanced_training._threads import one_thread
from transformer_anatomy.torch import sliding_window_mask  # the library's, in both backends
from transformer_anatomy.viz import figure_to_svg


# --8<-- [start:bucketing]
def random_batches(lengths, batch_size, rng):
    """Index arrays of a shuffled split, ``batch_size`` examples each."""
    order = np.random.default_rng(rng).permutation(len(lengths))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def bucketed_batches(lengths, batch_size, rng, pool=None):
    """Sort by length (within pools of ``pool`` batches, or the whole split), cut into batches,
    then shuffle the batches: each batch holds similar lengths, the order stays random."""
    g = np.random.default_rng(rng)
    order = g.permutation(len(lengths))
    size = len(order) if pool is None else pool * batch_size
    batches = []
    for lo in range(0, len(order), size):
        chunk = order[lo:lo + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]  # similar lengths side by side
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in g.permutation(len(batches))]


def padding_share(lengths, batches):
    """Share of the positions of the padded batches that are padding."""
    padded = sum(len(b) * lengths[b].max() for b in batches)  # each batch padded to its longest
    return 1 - lengths.sum() / padded
# --8<-- [end:bucketing]


def qa_lengths(n=2000, seed=0):
    """Source ids and lengths of the QA task's training split (contexts of 2-6 facts: lengths vary)."""
    from transformer_anatomy.tasks import make_task

    data = make_task("qa", n_train=n, n_valid=10, n_test=10, rng=seed)
    train = data.split("train")
    return train["src"], train["src_len"].astype(np.int64), len(data.src_vocab)


def epoch_time(model, src, lengths, batches):
    """CPU time of forward + backward over every batch (each cut to its longest row)."""
    t0 = time.process_time()
    for b in batches:
        ids = torch.as_tensor(src[b][:, :lengths[b].max()])
        model(ids).float().pow(2).mean().backward()  # the work of a training step, without the optimizer
    return time.process_time() - t0


VARIANTS = {"random": dict(), "bucketed, pools of 8 batches": dict(pool=8), "bucketed, whole split": dict(pool=None)}


def bucketing_rows(batch_size=32, rounds=2, seed=0, n=2000):
    """Rows ``(variant, batches, padding share, padded positions, seconds per epoch)``."""
    from transformer_anatomy.torch import TransformerClassifier

    src, lengths, V = qa_lengths(n, seed)
    torch.manual_seed(seed)
    model = TransformerClassifier(V, 2, d_model=64, nhead=4, num_layers=2, dim_feedforward=256, dropout=0.0)
    plans = {name: (random_batches(lengths, batch_size, seed) if name == "random"
                    else bucketed_batches(lengths, batch_size, seed, **kw)) for name, kw in VARIANTS.items()}
    best = {name: float("inf") for name in plans}
    with one_thread():
        epoch_time(model, src, lengths, plans["random"][:4])  # warm-up
        for _ in range(rounds):  # interleaved: each variant sees the same machine
            for name, batches in plans.items():
                best[name] = min(best[name], epoch_time(model, src, lengths, batches))
    return [(name, len(b), padding_share(lengths, b), int(sum(len(x) * lengths[x].max() for x in b)), best[name])
            for name, b in plans.items()], lengths


def report_bucketing():
    rows, lengths = bucketing_rows()
    print(f"QA task, {len(lengths)} training examples, lengths {lengths.min()}-{lengths.max()} tokens "
          f"(mean {lengths.mean():.1f}); batches of 32; forward + backward of a 2-layer encoder (E = 64), one thread.\n")
    print("| batching | batches | padding share | padded positions | vs random | CPU s per epoch | vs random |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    pos0, sec0 = rows[0][3], rows[0][4]
    for name, nb, share, positions, sec in rows:
        print(f"| {name} | {nb} | {share:.1%} | {positions:,} | {positions / pos0:.2f}× | {sec:.2f} | {sec / sec0:.2f}× |")


# --8<-- [start:sliding_window]
def skipped_block_share(L, window, block):
    """Share of ``block × block`` tiles of the (L, L) scores that are masked for every entry:
    the work a kernel that skips whole blocks (FlashAttention-style tiling) does not do."""
    mask = sliding_window_mask(L, window)
    nb = -(-L // block)  # ceil(L / block)
    padded = torch.ones(nb * block, nb * block, dtype=torch.bool)
    padded[:L, :L] = mask
    tiles = padded.reshape(nb, block, nb, block).all(dim=(1, 3))  # (nb, nb): True = all masked
    return tiles.double().mean().item()
# --8<-- [end:sliding_window]


def attention_flops(N, L, E):
    """Scores QK^T and the weighted sum AV of one layer: 4 N L^2 E (the complexity page's count)."""
    return 4 * N * L * L * E


def dense_times(L=1024, E=64, H=4, window=64, N=1, rounds=5, seed=0):
    """CPU seconds of one attention forward (minimum over ``rounds``): no mask with the default
    (fused) kernel, no mask with SDPA's math backend, and the sliding-window mask."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from transformer_anatomy.torch import MultiheadAttention

    torch.manual_seed(seed)
    mha = MultiheadAttention(E, H, batch_first=True)
    x = torch.randn(N, L, E)
    mask = sliding_window_mask(L, window)
    cases = {"no mask, fused kernel": (None, False), "no mask, math backend": (None, True),
             f"window {window} mask": (mask, False)}
    best = dict.fromkeys(cases, float("inf"))
    with one_thread(), torch.no_grad():
        for _ in range(rounds):
            for name, (m, math_backend) in cases.items():
                t0 = time.process_time()
                if math_backend:
                    with sdpa_kernel(SDPBackend.MATH):
                        mha(x, x, x, attn_mask=m, need_weights=False)
                else:
                    mha(x, x, x, attn_mask=m, need_weights=False)
                best[name] = min(best[name], time.process_time() - t0)
    return best


def sliding_rows(lengths=(512, 1024, 4096), window=64, block=64, E=64):
    """Rows ``(L, share of entries allowed, share of tiles skipped, dense FLOPs, block-skipping FLOPs)``."""
    rows = []
    for L in lengths:
        allowed = 1 - sliding_window_mask(L, window).double().mean().item()
        skipped = skipped_block_share(L, window, block)
        dense = attention_flops(1, L, E)
        rows.append((L, allowed, skipped, dense, round(dense * (1 - skipped))))
    return rows


def report_sliding():
    window, block = 64, 64
    print(f"window = {window} keys on each side, tiles of {block} × {block}, E = 64, N = 1:\n")
    print("| L | entries allowed | tiles a block-skipping kernel skips | dense FLOPs (QKᵀ, AV) | block-skipping FLOPs |")
    print("|---:|---:|---:|---:|---:|")
    for L, allowed, skipped, dense, sparse in sliding_rows(window=window, block=block):
        print(f"| {L:,} | {allowed:.1%} | {skipped:.1%} | {dense:,} | {sparse:,} ({sparse / dense:.1%}) |")
    t = dense_times(window=window)
    base = next(iter(t.values()))
    print("\nThe dense kernel, timed (our `MultiheadAttention`, L = 1024, one thread, CPU time, best of 5):\n")
    print("| attention | ms | vs no mask |")
    print("|---|---:|---:|")
    for name, sec in t.items():
        print(f"| {name} | {1000 * sec:.1f} | {sec / base:.2f}× |")


def report_mask_figure(L=24, window=3, block=8):
    """The mask of a short sequence, with the tiles a block-skipping kernel skips outlined."""
    mask = sliding_window_mask(L, window).numpy()
    fig = Figure(figsize=(4.2, 3.6), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(mask, cmap="cividis", interpolation="nearest")
    for k in range(0, L + 1, block):
        ax.axhline(k - 0.5, color="white", lw=0.8)
        ax.axvline(k - 0.5, color="white", lw=0.8)
    nb = L // block
    for bi in range(nb):
        for bj in range(nb):
            if mask[bi * block:(bi + 1) * block, bj * block:(bj + 1) * block].all():
                ax.text(bj * block + block / 2 - 0.5, bi * block + block / 2 - 0.5, "skipped", ha="center",
                        va="center", color="black", fontsize=8)
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
    cb = fig.colorbar(im, ax=ax, ticks=[0, 1])
    cb.ax.set_yticklabels(["attend", "blocked"])
    skipped = skipped_block_share(L, window, block)
    print(figure_to_svg(fig, alt=f"Sliding-window mask for {L} positions and a window of {window}: a band of "
                                 f"allowed entries around the diagonal; {skipped:.0%} of the {block}x{block} tiles "
                                 "are blocked entirely",
                        caption=f"L = {L}, window = {window}, tiles of {block}: {skipped:.0%} of the tiles are "
                                "masked entirely and need not be computed."))
