""""Outputs shifted right": teacher forcing on real examples of the sequence reversal task.

The decoder reads ``tgt_in = <sos> y_1 .. y_m`` and is trained to predict
``tgt_out = y_1 .. y_m <eos>``: position ``t`` predicts the token that comes after the ones it
may see, and the causal mask keeps it from seeing any later one.
"""

import numpy as np
from matplotlib.figure import Figure

from transformer_anatomy.numpy import CrossEntropyLoss, Seq2SeqTransformer, generate_square_subsequent_mask
from transformer_anatomy.tasks import PAD_ID, REVERSAL_PRESETS, make_reversal_task
from transformer_anatomy.viz import draw_mask, figure_to_svg


def short_batch(lengths=(4, 3), seed=0):
    """One example per source length in ``lengths`` from the variable-length reversal task
    (palindromes skipped), trailing all-pad columns removed. Returns (data, batch)."""
    data = make_reversal_task(n_train=64, n_valid=1, n_test=1, rng=seed, **REVERSAL_PRESETS["variable"])
    train = data.train
    rows = []
    for m in lengths:
        rows.append(next(i for i in range(len(train["src"])) if train["src_len"][i] == m
                         and list(train["src"][i, :m]) != list(train["src"][i, :m][::-1])))
    batch = {f: train[f][rows] for f in ("src", "tgt", "tgt_in", "tgt_out")}
    for f in batch:  # drop columns that are padding in every row
        a = batch[f]
        batch[f] = a[:, : int(np.flatnonzero((a != PAD_ID).any(axis=0)).max()) + 1]
    return data, batch


def _row(label, tokens, width=7):
    return f"{label:18s}" + "".join(f"{t:>{width}s}" for t in tokens)


def report_batch():
    """Print src, tgt, tgt_in and tgt_out of each example, token by token."""
    data, b = short_batch()
    words = lambda ids: [data.tgt_vocab.idx2word[int(i)] for i in ids]
    for n in range(b["src"].shape[0]):
        print(_row("src", words(b["src"][n])))
        print(_row("tgt", words(b["tgt"][n])))
        print(_row("tgt_in  (input)", words(b["tgt_in"][n])))
        print(_row("tgt_out (target)", words(b["tgt_out"][n])))
        print(_row("position", [str(t) for t in range(b["tgt_in"].shape[1])]))
        print()
    print("shapes: src", b["src"].shape, " tgt", b["tgt"].shape, " tgt_in", b["tgt_in"].shape,
          " tgt_out", b["tgt_out"].shape)


def report_mask():
    """Print the causal mask of the first example: row t = query position t, ✓ = may attend."""
    data, b = short_batch()
    tgt_in = [data.tgt_vocab.idx2word[int(i)] for i in b["tgt_in"][0]]
    T = len(tgt_in)
    blocked = generate_square_subsequent_mask(T, dtype=bool)  # (T, T), True above the diagonal
    print(" " * 14 + "".join(f"{t:>7s}" for t in tgt_in) + "   predicts")
    for t in range(T):
        cells = "".join(f"{'·' if blocked[t, s] else '✓':>7s}" for s in range(T))
        target = data.tgt_vocab.idx2word[int(b["tgt_out"][0, t])]
        print(f"{t:3d} {tgt_in[t]:>9s} " + cells + f"   {target}")
    print("\nas a float mask (added to the scores):")
    print(generate_square_subsequent_mask(T))


def causality_check(t=2, seed=0):
    """Change every tgt_in token after position ``t``: logits at positions <= t do not move.

    A random float64 NumPy Seq2SeqTransformer, dropout 0. Returns the max |change| of the logits
    at positions <= t and at positions > t, the logits' shape and the teacher-forced loss.
    """
    data, b = short_batch()
    V = len(data.tgt_vocab)
    model = Seq2SeqTransformer(V, V, d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=32, dropout=0.0, dtype=np.float64, rng=seed).eval()
    src, tgt_in = b["src"][:1], b["tgt_in"][:1]
    logits = model(src, tgt_in)  # (1, T, V): all T predictions in one forward pass
    changed = tgt_in.copy()
    changed[:, t + 1 :] = np.where(changed[:, t + 1 :] == 4, 5, 4)  # other symbols after t
    logits2 = model(src, changed)
    loss = CrossEntropyLoss(ignore_index=PAD_ID)(logits, b["tgt_out"][:1])
    return {"positions <= t": float(np.abs(logits2 - logits)[:, : t + 1].max()),
            "positions > t": float(np.abs(logits2 - logits)[:, t + 1 :].max()),
            "shape": logits.shape, "loss": float(loss), "t": t}


def report_causality():
    """Print the causality check."""
    c = causality_check()
    print(f"logits for every position in one pass: shape {c['shape']} = (N, T, V)")
    print(f"teacher-forced cross-entropy of the untrained model: {c['loss']:.4f}")
    print(f"tokens after position t = {c['t']} replaced:")
    print(f"  max |change in logits| at positions <= {c['t']}: {c['positions <= t']:.1e}")
    print(f"  max |change in logits| at positions >  {c['t']}: {c['positions > t']:.1e}")


def figure_shifted(n=0):
    """The first example's causal mask as a grid: keys = tgt_in tokens across, queries down, each row
    labelled with its input token and the tgt_out token it is trained to predict."""
    data, b = short_batch()
    words = lambda ids: [data.tgt_vocab.idx2word[int(i)] for i in ids]
    tgt_in, tgt_out = words(b["tgt_in"][n]), words(b["tgt_out"][n])
    T = len(tgt_in)
    blocked = generate_square_subsequent_mask(T, dtype=bool)  # (T, T), True above the diagonal
    fig = Figure(figsize=(5.4, 3.8), layout="constrained")
    ax = fig.subplots()
    draw_mask(ax, blocked, row_labels=[f"{t}: {w}" for t, w in enumerate(tgt_in)],
              col_labels=[f"{s}: {w}" for s, w in enumerate(tgt_in)], xlabel=None, ylabel=None, fontsize=11)
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(T), [f"→ {w}" for w in tgt_out])
    right.set_ylabel("trained to predict (tgt_out)")
    ax.set_xlabel("key position: tgt_in token it may read")
    ax.set_ylabel("query position: tgt_in")
    return figure_to_svg(fig, alt="A grid over the decoder input tokens: each row may read the tokens up to its "
                         "own position (green ticks) and not the later ones (grey crosses); on the right, the "
                         "token each row is trained to predict, which is the next input token",
                         caption="Row t reads tgt_in up to t and predicts tgt_out at t, the token at t + 1 of tgt_in.")


def shifted_summary(n=0):
    data, b = short_batch()
    tgt_in, tgt_out = b["tgt_in"][n], b["tgt_out"][n]
    T = int((tgt_in != PAD_ID).sum())
    return {"T": T, "shifted": bool(np.array_equal(tgt_in[1:T], tgt_out[: T - 1]))}
