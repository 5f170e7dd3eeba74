"""Figures and tables of training runs: curves, attention maps, positional encodings, ✓/✗ tables.

Every function returns a Matplotlib ``Figure`` or a string; nothing is written or shown
(``scripts/reproduce.py`` saves the figures, the pages inline them with
:func:`~transformer_anatomy.viz.figure_to_img`).

- :func:`plot_training_curves`: training and evaluation loss, and the evaluation metric,
  against the optimizer step; several runs (NumPy and PyTorch) overlaid.
- :func:`capture_attention` + :func:`plot_attention`: the attention weights of every head of
  a trained model on one real example, with the tokens on the axes.
- :func:`plot_positional_encoding`: the sinusoidal table as a heatmap.
- :func:`prediction_table_markdown`, :func:`prediction_table_html`: predictions with ✓/✗.

Page: ``docs/training.md`` (curves, predictions), ``docs/attention.md`` (attention maps),
``docs/embeddings.md`` (positional encoding).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.0), **kw: Any):
    from matplotlib.figure import Figure  # no pyplot: no global state, no window

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


# --------------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------------
def plot_training_curves(
    runs: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    metric: str,
    title: str | None = None,
    metric_label: str | None = None,
):
    """Loss (left, log scale) and ``metric`` (right) against the optimizer step, one color per run.

    Args:
        runs: label -> a trainer's ``history`` (``{"train": [{"step", "loss"}], "eval":
            [{"step", "metrics": {...}}]}``), e.g. ``{"NumPy": h1, "PyTorch": h2}``.
        metric: key of ``history["eval"][i]["metrics"]`` to plot on the right.
        title: figure title.
        metric_label: y-axis label for the metric (default: ``metric``).

    Returns:
        A Matplotlib ``Figure``. Solid lines: training loss (mean over each logging window);
        dashed with markers: evaluation loss; right panel: the evaluation metric.

    Examples:
        >>> h = {"train": [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3)],
        ...      "eval": [{"step": 3, "metrics": {"loss": 0.4, "exact_match": 0.5}}]}
        >>> fig = plot_training_curves({"NumPy": h, "PyTorch": h}, "exact_match")
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['cross-entropy loss', 'exact match']
    """
    fig, axes = _figure(1, 2, figsize=(10.0, 3.8))
    ax_loss, ax_metric = axes[0]
    for i, (label, history) in enumerate(runs.items()):
        color = RUN_COLORS[i % len(RUN_COLORS)]
        train = history.get("train", [])
        evals = history.get("eval", [])
        if train:
            ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], color=color, lw=1.2,
                         label=f"{label} train")
        if evals:
            steps = [r["step"] for r in evals]
            ax_loss.plot(steps, [r["metrics"]["loss"] for r in evals], color=color, ls="--", marker="o", ms=3,
                         lw=1.0, label=f"{label} eval")
            if all(metric in r["metrics"] for r in evals):
                ax_metric.plot(steps, [r["metrics"][metric] for r in evals], color=color, marker="o", ms=3,
                               lw=1.2, label=label)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("cross-entropy loss")
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend(fontsize=8)
    ax_metric.set_xlabel("optimizer step")
    ax_metric.set_ylabel(metric_label or metric.replace("_", " "))
    ax_metric.set_ylim(-0.02, 1.02)
    ax_metric.grid(True, alpha=0.3)
    ax_metric.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------
# attention maps
# --------------------------------------------------------------------------------------------
def _attention_modules(model: Any) -> list[tuple[str, Any]]:
    return [(name.rstrip("."), m) for name, m in model.named_modules() if type(m).__name__ == "MultiheadAttention"]


@contextmanager
def _recording(model: Any, records: dict[str, np.ndarray]) -> Iterator[None]:
    """Make every ``MultiheadAttention`` of ``model`` return and record per-head weights."""
    patched = []
    for name, m in _attention_modules(model):
        original = m.forward

        def forward(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            kwargs["need_weights"] = True
            kwargs["average_attn_weights"] = False
            out, weights = _original(*args, **kwargs)
            if hasattr(weights, "detach"):
                weights = weights.detach().float().cpu().numpy()
            records[_name] = np.asarray(weights)  # (N, H, T, S)
            return out, weights

        m.forward = forward  # an instance attribute shadows the class's method
        patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.forward


def capture_attention(model: Any, *inputs: Any) -> dict[str, np.ndarray]:
    """Run ``model(*inputs)`` in evaluation mode and return every attention layer's weights.

    Works for the NumPy and the PyTorch models of this project (any model whose attention
    layers are classes named ``MultiheadAttention`` accepting ``need_weights`` and
    ``average_attn_weights``). Inputs may be NumPy arrays; they become tensors for a torch model.

    Args:
        model: a NumPy or PyTorch model of this project; its train/eval mode is put back afterwards.
        inputs: what ``model`` takes, e.g. ``src_ids, tgt_ids``.

    Returns:
        module name (``"transformer.decoder.layers.1.multihead_attn"``) -> weights
        ``(N, H, T, S)``, rows summing to 1 (0 for a fully masked query).

    Examples:
        >>> import numpy as np
        >>> import transformer_anatomy.torch as tt
        >>> m = tt.TransformerClassifier(vocab_size=10, num_classes=2, d_model=8, nhead=2, num_layers=1)
        >>> weights = capture_attention(m, np.array([[4, 5, 6]]))
        >>> {name: w.shape for name, w in weights.items()}
        {'encoder.layers.0.self_attn': (1, 2, 3, 3)}
    """
    records: dict[str, np.ndarray] = {}
    is_torch = hasattr(model, "parameters") and not hasattr(model, "params")
    was_training = model.training
    model.eval()
    try:
        with _recording(model, records):
            if is_torch:
                import torch

                device = next(model.parameters()).device
                args = [torch.as_tensor(np.asarray(x)).to(device) for x in inputs]
                with torch.no_grad():
                    model(*args)
            else:
                model(*[np.asarray(x) for x in inputs])
    finally:
        model.train(was_training)
    return records


def plot_attention(
    weights: np.ndarray,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    title: str | None = None,
    head_labels: Sequence[str] | None = None,
):
    """Heatmaps of attention weights, one panel per head, tokens on the axes.

    Args:
        weights: ``(T, S)`` or ``(H, T, S)``: row ``t`` is how query ``t`` spreads its
            attention over the keys.
        query_tokens: ``T`` labels of the rows (the attending positions).
        key_tokens: ``S`` labels of the columns (the attended positions).
        title: figure title. head_labels: panel titles (default ``head 0`` ...).

    Returns:
        A Matplotlib ``Figure`` with one shared color scale from 0 to 1.

    Examples:
        >>> import numpy as np
        >>> fig = plot_attention(np.full((2, 3, 3), 1 / 3), ["a", "b", "c"], ["a", "b", "c"])
        >>> [ax.get_title() for ax in fig.axes[:2]], fig.axes[-1].get_ylabel()  # two heads, one colour bar
        (['head 0', 'head 1'], 'attention weight')
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    H, T, S = w.shape
    if len(query_tokens) != T or len(key_tokens) != S:
        raise ValueError(f"weights are (H, T, S) = {w.shape} but got {len(query_tokens)} query and "
                         f"{len(key_tokens)} key tokens")
    side = 0.32 * max(T, S) + 1.0
    ncols = H if H <= 3 else (2 if H == 4 else min(H, 4))  # 4 heads: a 2 x 2 grid
    nrows = -(-H // ncols)
    fig, axes = _figure(nrows, ncols, figsize=(side * ncols + 1.2, side * nrows + 0.6))
    flat = list(axes.ravel())
    for ax in flat[H:]:
        ax.set_visible(False)
    image = None
    for h in range(H):
        ax = flat[h]
        image = ax.imshow(w[h], cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
        ax.set_xticks(range(S), labels=list(key_tokens), rotation=90, fontsize=8)
        ax.set_yticks(range(T), labels=list(query_tokens), fontsize=8)
        ax.set_title(head_labels[h] if head_labels else f"head {h}", fontsize=9)
        ax.set_xlabel("key", fontsize=8)
        if h % ncols == 0:
            ax.set_ylabel("query", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=flat[:H], shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------
# positional encoding
# --------------------------------------------------------------------------------------------
def plot_positional_encoding(table: np.ndarray, title: str | None = None):
    """The positional-encoding table as a heatmap: position down, dimension across.

    Args:
        table: ``(L, E)``, e.g. ``transformer_anatomy.numpy.sinusoidal_table(50, 64)``.

    Returns:
        A Matplotlib ``Figure`` (diverging colors, -1 blue to +1 red).

    Examples:
        >>> import numpy as np
        >>> fig = plot_positional_encoding(np.zeros((50, 16)))
        >>> fig.axes[0].get_title()
        'Sinusoidal positional encoding, 50 positions × E = 16'
    """
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"table must be (L, E), got shape {t.shape}")
    L, E = t.shape
    fig, axes = _figure(1, 1, figsize=(7.0, 4.2))
    ax = axes[0, 0]
    image = ax.imshow(t, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xlabel("dimension i (even: sin, odd: cos)")
    ax.set_ylabel("position")
    fig.colorbar(image, ax=ax, label="PE[position, i]")
    ax.set_title(title or f"Sinusoidal positional encoding, {L} positions × E = {E}")
    return fig


# --------------------------------------------------------------------------------------------
# prediction tables
# --------------------------------------------------------------------------------------------
PREDICTION_COLUMNS = ("input", "target", "prediction")


def _cells(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    return [str(row.get(c, "")) for c in columns]


def prediction_table_markdown(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = PREDICTION_COLUMNS) -> str:
    """A Markdown table of predictions with a ✓/✗ column (from each row's ``"correct"``).

    Args:
        rows: dicts with the ``columns`` keys and a bool ``"correct"``.
        columns: which keys to show, in order.

    Returns:
        The table as a string (``|`` inside cells escaped).

    Examples:
        >>> print(prediction_table_markdown([{"input": "a b", "target": "b a", "prediction": "b a", "correct": True}]))
        | input | target | prediction |  |
        |---|---|---|---|
        | a b | b a | b a | ✓ |
        <BLANKLINE>
    """
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join([*columns, ""]) + " |"
    rule = "|" + "|".join(["---"] * (len(columns) + 1)) + "|"
    body = ["| " + " | ".join([*(esc(c) for c in _cells(r, columns)), "✓" if r["correct"] else "✗"]) + " |"
            for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


def prediction_table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = PREDICTION_COLUMNS,
                          css_class: str = "ta-predictions") -> str:
    """The same table as :func:`prediction_table_markdown`, as HTML, cells escaped.

    Args:
        rows: dicts with the ``columns`` keys and a bool ``"correct"``.
        columns: which keys to show, in order.
        css_class: the ``<table>``'s class.

    Returns:
        ``<table class="ta-predictions">`` ...; the ✓/✗ cell has class ``ok`` or ``bad``.

    Examples:
        >>> rows = [{"input": "<a>", "target": "x", "prediction": "y", "correct": False}]
        >>> prediction_table_html(rows).splitlines()[3]
        '<tr><td>&lt;a&gt;</td><td>x</td><td>y</td><td class="bad">✗</td></tr>'
    """
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "<th></th>"
    lines = [f'<table class="{html.escape(css_class, quote=True)}">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for r in rows:
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r, columns))
        mark = '<td class="ok">✓</td>' if r["correct"] else '<td class="bad">✗</td>'
        lines.append(f"<tr>{cells}{mark}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines) + "\n"
