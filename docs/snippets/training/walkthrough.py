"""Sequence reversal end to end: the pieces of a training step on a real batch, a tiny run of
the real trainer, and the full run's results read from docs/results/ (written by reproduce.py)."""

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from transformer_anatomy.tasks import make_reversal_task
from transformer_anatomy.torch import Seq2SeqTransformer, generate_square_subsequent_mask
from transformer_anatomy.training import LRSchedule, TorchTrainer, TrainConfig

from results_io import RESULTS, TASKS, load_result, missing, png_img, reading_backend, reading_lines  # noqa: F401

image = png_img  # the name this page's tests know


# ------------------------------------------------------------------------ one real batch

def batch(n=2):
    """A small reversal batch: src (N, S), tgt_in (N, T), tgt_out (N, T)."""
    data = make_reversal_task(n_train=32, n_valid=8, n_test=8)
    return data, next(data.batches("train", n, rng=0))


def report_shifted_targets():
    data, b = batch()
    for i in range(len(b["src"])):
        print(f"src     {b['src'][i].tolist()}")
        print(f"tgt_in  {b['tgt_in'][i].tolist()}   <sos> then the target: what the decoder reads")
        print(f"tgt_out {b['tgt_out'][i].tolist()}   the target then <eos>: what it must predict")
    print(f"shapes: src {b['src'].shape}, tgt_in {b['tgt_in'].shape}, tgt_out {b['tgt_out'].shape}; "
          f"<sos> = {data.tgt_vocab.sos_id}, <eos> = {data.tgt_vocab.eos_id}, <pad> = 0")
    same = bool((b["tgt_in"][:, 1:] == b["tgt_out"][:, :-1]).all())
    print(f"tgt_in[:, 1:] == tgt_out[:, :-1]: {same}  (one sequence, shifted by one)")


def report_causal_mask(T=5):
    mask = generate_square_subsequent_mask(T)  # (T, T) float: 0 allowed, -inf hidden
    print(f"causal mask ({T}, {T}), row = query position t, column = key position s:")
    for row in mask.tolist():
        print("  " + " ".join("   0" if v == 0 else "-inf" for v in row))


def causal_mask_figure(T=6):
    """The causal mask as a grid: row = query t, column = key s, dark = hidden."""
    from matplotlib.figure import Figure

    allowed = (generate_square_subsequent_mask(T) == 0).numpy()  # (T, T) True where s <= t
    fig = Figure(figsize=(3.6, 3.2), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(allowed, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T), labels=[f"s={s}" for s in range(T)], rotation=90, fontsize=8)
    ax.set_yticks(range(T), labels=[f"t={t}" for t in range(T)], fontsize=8)
    ax.set_xlabel("key position s")
    ax.set_ylabel("query position t")
    fig.colorbar(im, ax=ax, ticks=[0, 1], label="1 = may attend, 0 = hidden (-inf)")
    return fig, allowed


def report_causal_mask_figure(T=6):
    from transformer_anatomy.viz import figure_to_svg

    fig, allowed = causal_mask_figure(T)
    print(figure_to_svg(fig, alt=f"causal mask of size {T} by {T}: query t may attend to keys 0 to t",
                        caption=f"Causal mask, T = {T}: {int(allowed.sum())} of {allowed.size} cells allowed "
                                "(the diagonal and below)."))


def embedding_scaling(E=64):
    """Std of the raw embedding rows and after × √E, vs the positional encoding's std."""
    torch.manual_seed(0)
    model = Seq2SeqTransformer(16, 16, d_model=E)
    w = model.src_tok_emb.weight.detach()
    pe = model.src_pos_emb(torch.zeros(1, 10, E))[0]  # (10, E): zero tokens + positions
    return dict(E=E, raw=w.std().item(), scaled=(w * math.sqrt(E)).std().item(), pe=pe.std().item())


def report_embedding_scaling():
    r = embedding_scaling()
    print(f"E = {r['E']}: token embedding std {r['raw']:.3f}, after × √E {r['scaled']:.3f}; "
          f"positional encoding std {r['pe']:.3f}")


def label_smoothing(eps=0.1, seed=0):
    """F.cross_entropy with label_smoothing vs the formula (1-ε)·NLL + ε·mean_c(-log p_c)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 16, generator=g, dtype=torch.float64)  # (M, V)
    y = torch.randint(0, 16, (6,), generator=g)
    logp = logits.log_softmax(-1)
    by_hand = ((1 - eps) * -logp[torch.arange(6), y] + eps * -logp.mean(-1)).mean()
    return dict(eps=eps, plain=F.cross_entropy(logits, y).item(), torch=F.cross_entropy(logits, y, label_smoothing=eps).item(),
                by_hand=by_hand.item())


def report_label_smoothing():
    r = label_smoothing()
    print(f"ε = {r['eps']}: F.cross_entropy {r['torch']:.6f}, by hand {r['by_hand']:.6f} (plain CE {r['plain']:.6f})")
    print("the target distribution puts 1 - ε + ε/V on the right token and ε/V on every other one")


def gradient_clipping(max_norm=1.0):
    """Global gradient norm of an untrained model's first batch, before and after clipping."""
    torch.manual_seed(0)
    data, b = batch(32)
    model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab))
    logits = model(torch.from_numpy(b["src"]), torch.from_numpy(b["tgt_in"]))
    F.cross_entropy(logits.flatten(0, 1), torch.from_numpy(b["tgt_out"]).flatten(), ignore_index=0).backward()
    before = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm).item()  # returns the norm before
    after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
    return dict(max_norm=max_norm, before=before, after=after)


def report_gradient_clipping():
    r = gradient_clipping()
    print(f"global gradient norm {r['before']:.3f} -> after clip_grad_norm_(max_norm={r['max_norm']}): {r['after']:.3f}")
    print("every gradient is multiplied by the same factor min(1, max_norm / norm): the direction is kept")


def warmup_lrs(config=None, steps=(1, 10, 50, 100, 101, 500, 1000, 1500)):
    """The learning rate at some steps under the full run's schedule (read from the JSON)."""
    cfg = config or TrainConfig(kind="seq2seq", max_steps=1500, warmup=100, schedule="cosine")
    sched = LRSchedule(cfg, d_model=64)
    return [(s, sched(s)) for s in steps if s <= cfg.max_steps]


def schedule_curve(config=None):
    """(steps, lrs) over the whole run under the full run's schedule."""
    cfg = config or TrainConfig(kind="seq2seq", max_steps=1500, warmup=100, schedule="cosine")
    sched = LRSchedule(cfg, d_model=64)
    steps = np.arange(1, cfg.max_steps + 1)
    return steps, np.array([sched(int(s)) for s in steps]), cfg


def report_schedule_figure():
    from matplotlib.figure import Figure

    from transformer_anatomy.viz import figure_to_svg

    r = load_result()
    cfg = TrainConfig.from_dict(r["runs"]["encoder_decoder"]["train_config"]) if r else None
    steps, lrs, cfg = schedule_curve(cfg)
    fig = Figure(figsize=(5.5, 3.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(steps, lrs, color="#1f77b4")
    ax.axvline(cfg.warmup, color="#ff7f0e", linestyle="--", label=f"end of warmup (step {cfg.warmup})")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.legend(fontsize=8)
    peak = int(steps[lrs.argmax()])
    print(figure_to_svg(fig, alt="learning rate against the step: linear warmup, then a cosine decay to zero",
                        caption=f"Schedule of the full run: peak lr {lrs.max():g} at step {peak}, "
                                f"{lrs[-1]:.2g} at the last step {int(steps[-1])}."))


def report_warmup():
    r = load_result()
    cfg = None
    if r is not None:
        tc = r["runs"]["encoder_decoder"]["train_config"]
        cfg = TrainConfig.from_dict(tc)
        print(f"schedule {tc['schedule']!r}, lr {tc['lr']}, warmup {tc['warmup']} steps, max_steps {tc['max_steps']} "
              "(from docs/results/reversal-torch.json)")
    else:
        print(missing("reversal", "torch") + "; showing the default schedule")
    for s, lr in warmup_lrs(cfg):
        print(f"  step {s:>5}: lr {lr:.6f}")


# ------------------------------------------------------------------------ a tiny real run

def tiny_run(steps=30, seed=0):
    """The real trainer on a small reversal task for a few steps (seconds, CPU)."""
    torch.manual_seed(seed)
    data = make_reversal_task(n_train=512, n_valid=64, n_test=64)
    model = Seq2SeqTransformer(len(data.src_vocab), len(data.tgt_vocab), d_model=32, nhead=4,
                               num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64)
    cfg = TrainConfig(kind="seq2seq", max_steps=steps, batch_size=32, lr=3e-3, warmup=5, schedule="cosine",
                      clip_norm=1.0, label_smoothing=0.1, log_every=5, eval_every=steps, seed=seed)
    t0 = time.perf_counter()
    trainer = TorchTrainer(model, data, cfg)
    summary = trainer.fit()
    return dict(history=trainer.history, summary=summary, seconds=time.perf_counter() - t0, config=cfg)


def report_tiny_run():
    r = tiny_run()
    for rec in r["history"]["train"]:
        print(f"step {rec['step']:>3}: loss {rec['loss']:.3f}  lr {rec['lr']:.5f}")
    ev = r["history"]["eval"][-1]["metrics"] if r["history"]["eval"] else {}
    print(f"after {r['summary']['step']} steps ({r['seconds']:.1f} s): valid exact match "
          f"{ev.get('exact_match', float('nan')):.3f}, token accuracy {ev.get('token_accuracy', float('nan')):.3f}")
    c = r["config"]
    print(f"(label smoothing {c.label_smoothing}, warmup {c.warmup}, clip_norm {c.clip_norm}, lr {c.lr})")
    full = load_result()
    if full:
        run = full["runs"]["encoder_decoder"]
        print(f"(far from trained: the full run below took {run['summary']['step']} steps of a model with "
              f"d_model={run['model']['config']['d_model']})")


# ------------------------------------------------------------------------ the full run's results

def report_config():
    r = load_result()
    if r is None:
        print(missing("reversal", "torch"))
        return
    run = r["runs"]["encoder_decoder"]
    print(f"command: {r['command']}   (seed {r['seed']}, device {r['device']})")
    print(f"data: {r['data']['sizes']}, params {r['data']['params']}")
    print(f"model: {run['model']['class']} {run['model']['config']}, {run['model']['num_params']:,} parameters")
    import dataclasses

    from transformer_anatomy.training import TrainConfig

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    tc = run["train_config"]
    same = [k for k, v in tc.items() if k in defaults and k != "amp" and _plain(defaults[k]) == v]
    print("train_config (the fields this run set):")
    for k, v in tc.items():
        if k not in same:
            print(f"  {k:<16} {amp_note(tc, r['device']) if k == 'amp' else v}")
    import textwrap

    rest = ", ".join(f"{k}={tc[k]}" for k in same)
    print(f"  and TrainConfig's defaults for the other {len(same)}:")
    print(textwrap.fill(rest, width=100, initial_indent="    ", subsequent_indent="    "))


def _plain(value):
    """A default as the results file stores it (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def amp_active(train_config, device):
    """Whether bf16 autocast really ran: TorchTrainer uses it only on CUDA (``use_amp``)."""
    return bool(train_config.get("amp")) and str(device).startswith("cuda")


def amp_note(train_config, device):
    used = amp_active(train_config, device)
    return (f"amp: requested {train_config.get('amp')}, used {used} on device {device!r} "
            + ("(bf16 autocast)" if used else "(autocast is CUDA-only in TorchTrainer: this run computed in float32)"))


def headline_rows(tasks=("reversal",), results=RESULTS):
    """One row per (task, backend, model): metric on the held-out split, baseline, times."""
    rows = []
    for task in tasks:
        for backend in ("torch", "numpy"):
            r = load_result(task, backend, results)
            if r is None:
                rows.append(dict(task=task, backend=backend, missing=True))
                continue
            for name, run in r["runs"].items():
                h = run["headline"]
                s = run.get("summary", {})
                rows.append(dict(task=task, backend=backend, model=name, metric=h["metric"], split=h["split"],
                                 value=h["value"], baseline=h["baseline"], baseline_value=h["baseline_value"],
                                 steps=s.get("step"), train_time_s=s.get("train_time_s"),
                                 ms_per_step=run.get("ms_per_step"), wall_time_s=r["wall_time_s"],
                                 device=r["device"], command=r["command"]))
    return rows


def report_headline():
    print("| backend | model | held-out exact match | baseline | steps | training time | ms / step |")
    print("|---|---|---|---|---|---|---|")
    for row in headline_rows():
        if row.get("missing"):
            print(f"| {row['backend']} | — | {missing(row['task'], row['backend'])} | | | | |")
            continue
        print(f"| {row['backend']} | `{row['model']}` | {row['value']:.3f} ({row['split']}) | "
              f"{row['baseline_value']:.3f} ({row['baseline']}) | {row['steps']} | {row['train_time_s']:.1f} s | "
              f"{row['ms_per_step']:.0f} |")
    walls = [f"{b}: {r['wall_time_s']:.0f} s" for b in ("torch", "numpy") if (r := load_result("reversal", b))]
    if walls:
        print(f"\nWhole `reproduce.py` task run, wall time ({', '.join(walls)}).")


def report_curves():
    img = image("reversal-curves.png", "training loss and held-out exact match of the reversal runs")
    print(img if img else f"<p>{missing('reversal')}</p>")


def predictions_markdown(backend="torch", rows=8, results=RESULTS):
    """The first rows of the prediction table and every ✗ row, from the Markdown file."""
    path = Path(results) / f"reversal-predictions-{backend}.md"
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    head, body = lines[start:start + 2], [ln for ln in lines[start + 2:] if ln.startswith("|")]
    wrong = [ln for ln in body if "✗" in ln]
    shown = body[:rows] + [ln for ln in wrong if ln not in body[:rows]]
    note = f"\n\n{len(body)} test examples listed, {len(wrong)} wrong (✗)."
    return "\n".join(head + shown) + note


def report_predictions(backend="torch"):
    md = predictions_markdown(backend)
    print(md if md else missing("reversal", backend))


def report_task_sentence():
    """The reversal data of the full run, as a sentence (Markdown)."""
    r = load_result()
    if r is None:
        print(missing("reversal", "torch"))
        return
    p = r["data"]["params"]
    n = p["min_len"] if p["min_len"] == p["max_len"] else f"{p['min_len']} to {p['max_len']}"
    print(f"In the full run the input is {n} random symbols drawn from {p['num_symbols']} "
          f"(`docs/results/reversal-torch.json`), {r['data']['sizes']['train']:,} training sequences.")


def report_attention(backend=None):
    backend = backend or reading_backend("reversal")
    print(f"{'PyTorch' if backend == 'torch' else 'NumPy'} model, `docs/results/reversal-attention-{backend}.png`:\n")
    img = png_img(f"reversal-attention-{backend}.png", "cross-attention weights per head of the trained reversal "
                  "model on one test example: decoder input tokens on the rows, source tokens on the columns")
    if img:
        print(img + "\n")
    lines = reading_lines("reversal", backend)
    print("\n".join(lines) if lines else "*The attention reading is not in the results yet: rerun "
          "`python scripts/reproduce.py --task reversal`.*")


def report_other_tasks():
    rows = [r for r in headline_rows(TASKS[1:])]
    done = [r for r in rows if not r.get("missing")]
    for r in done:
        print(f"- **{r['task']}** ({r['backend']}, `{r['model']}`): {r['metric']} {r['value']:.3f} on {r['split']}, "
              f"baseline {r['baseline']} {r['baseline_value']:.3f}")
    for task in TASKS[1:]:
        if not any(r["task"] == task for r in done):
            print(f"- **{task}**: {missing(task)}")
