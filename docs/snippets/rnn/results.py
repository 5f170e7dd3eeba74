"""What docs/rnn-vs-transformer.md prints and draws from docs/results/rnn.json.

The JSON is written by ``scripts/rnn_study.py``; every number the page states is printed by a
function here. ``RNN_RESULTS`` (a folder) overrides where it is read.
"""

import json
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from results_io import RESULTS, load_result

from transformer_anatomy.viz import figure_to_svg

FOLDER = Path(os.environ.get("RNN_RESULTS") or RESULTS)
MISSING = "*Not yet produced — run `python scripts/rnn_study.py`.*"
STYLE = {"transformer": ("C0", "o-"), "lstm": ("C1", "s-"), "lstm_no_attention": ("C2", "^--"),
         "lstm_last": ("C2", "^--"), "transformer_math": ("C3", "v--")}


SHORT = {"transformer": "Transformer", "lstm": "LSTM (attention / mean pool)",
         "lstm_no_attention": "LSTM, no attention", "lstm_last": "LSTM, last state"}


def load(folder=None):
    path = Path(folder or FOLDER) / "rnn.json"
    return json.loads(path.read_text()) if path.exists() else None


def cpu_of(hit):
    """CPU seconds of a threshold hit or curve point (``time.process_time``: what a busy machine
    stretches least); wall seconds in files written before they were recorded."""
    return hit.get("cpu_seconds", hit["seconds"])


def _seconds(hit):
    return "—" if hit is None else f"{cpu_of(hit):.1f} CPU s"


def _step(hit):
    return "never" if hit is None else f"{hit['step']:,}"


def _after(hit):
    return "not within the run" if hit is None else f"after {hit['step']:,} steps ({cpu_of(hit):.1f} CPU s)"


# ---------------------------------------------------------------------------------- training
def report_tasks(r=None):
    """One Markdown table per task: held-out metric, steps and seconds to each threshold, ms/step."""
    r = r or load()
    if r is None:
        return print(MISSING)
    for task, t in r["tasks"].items():
        ths = list(next(iter(t["runs"].values()))["to_threshold"])
        cfg = next(iter(t["runs"].values()))["train_config"]
        print(f"**{task}** — {t['metric']} on the {t['split']} split ({t['data']['test']:,} examples); "
              f"at most {cfg['max_steps']:,} steps of batch {cfg['batch_size']}, lr {cfg['lr']:g} ({cfg['schedule']}), "
              f"validation every {cfg['eval_every']} steps\n")
        head = " | ".join(f"steps to {th}" for th in ths)
        print(f"| model | parameters | test {t['metric']} | {head} | CPU seconds to {ths[-1]} "
              f"| CPU ms per step | wall ms per step |")
        print("|---|---:|---:|" + "---:|" * len(ths) + "---:|---:|---:|")
        for name, run in t["runs"].items():
            steps = " | ".join(_step(run["to_threshold"][th]) for th in ths)
            print(f"| {run['what']} | {run['num_params']:,} | {run['test_metric']:.3f} | {steps} | "
                  f"{_seconds(run['to_threshold'][ths[-1]]).replace(' CPU s', '')} | {cpu_ms(run):.1f} "
                  f"| {run['ms_per_step']:.1f} |")
        base = {k: v for k, v in t["baselines"].items() if t["metric"] in v}
        if base:
            print("\nBaselines: " + "; ".join(f"{k.replace('_', ' ')} {v[t['metric']]:.3f} ({v['what']})"
                                              for k, v in base.items()) + ".\n")


def figure_curves(r=None):
    """Validation metric against steps (left) and seconds (right), one row per task."""
    r = r or load()
    if r is None:
        return print(MISSING)
    tasks = r["tasks"]
    fig = Figure(figsize=(9.5, 3.2 * len(tasks)))
    axes = fig.subplots(len(tasks), 2, squeeze=False)
    for row, (task, t) in zip(axes, tasks.items()):
        for name, run in t["runs"].items():
            color, style = STYLE[name]
            steps = [c["step"] for c in run["curve"]]
            secs = [cpu_of(c) for c in run["curve"]]
            vals = [c["valid"] for c in run["curve"]]
            label = SHORT.get(name, name)
            row[0].plot(steps, vals, style, color=color, ms=3, label=label)
            row[1].plot(secs, vals, style, color=color, ms=3, label=label)
        row[0].set_xlabel("optimizer step")
        row[1].set_xlabel("CPU seconds (training + evaluations)")
        for ax in row:
            ax.set_ylabel(f"validation {t['metric']}")
            ax.set_title(task)
            ax.set_ylim(-0.02, 1.02)
        row[1].legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    alt = ("Validation metric against optimizer steps and against seconds, for each task: our Transformer and "
           "the LSTMs trained with the same data, optimizer and schedule.")
    print(figure_to_svg(fig, alt))


def cpu_ms(run):
    return run.get("cpu_ms_per_step", run["ms_per_step"])


def first_to(t, th):
    """``(run name, hit)`` of the run that reached threshold ``th`` in the fewest steps (None if none did)."""
    hits = [(name, run["to_threshold"][th]) for name, run in t["runs"].items() if run["to_threshold"][th]]
    return min(hits, key=lambda h: (h[1]["step"], cpu_of(h[1]))) if hits else None


def notice_tasks(r=None):
    """Sentences comparing the Transformer with the LSTM (with attention / mean pooling) per task."""
    r = r or load()
    if r is None:
        return print(MISSING)
    for task, t in r["tasks"].items():
        tf, lstm = t["runs"]["transformer"], t["runs"]["lstm"]
        th = list(tf["to_threshold"])[-1]
        a, b = tf["to_threshold"][th], lstm["to_threshold"][th]
        if a and b:
            fewer = "the LSTM" if b["step"] < a["step"] else "the Transformer" if a["step"] < b["step"] else "neither"
            sooner = "the LSTM" if cpu_of(b) < cpu_of(a) else "the Transformer"
            print(f"- **{task}**: validation {t['metric']} {th} after {_step(b)} steps ({_seconds(b)}) for the LSTM, "
                  f"{_step(a)} steps ({_seconds(a)}) for the Transformer, in CPU seconds: fewer steps: {fewer}; "
                  f"less time: {sooner} ({cpu_ms(lstm):.1f} against {cpu_ms(tf):.1f} CPU ms per step); held-out "
                  f"{lstm['test_metric']:.3f} against {tf['test_metric']:.3f}.")
        else:
            print(f"- **{task}**: validation {t['metric']} {th} reached by the Transformer {_after(a)}, "
                  f"by the LSTM {_after(b)}; held-out {t['metric']} {tf['test_metric']:.3f} (Transformer) "
                  f"and {lstm['test_metric']:.3f} (LSTM).")
        alone = load_result(task, "torch")
        if alone is not None:
            first = next(iter(alone["runs"].values()))
            got = first["summary"].get("steps_to_target")
            print(f"    - the same Transformer trained alone by `scripts/reproduce.py` (its dropout drawing other "
                  f"random numbers) reached {th} {'after ' + format(got, ',') + ' steps' if got else 'not within its run'}"
                  f", held-out {first['test_metrics'][t['metric']]:.3f}: one seed, read the differences with that "
                  f"in mind.")
        for name in t["runs"]:
            if name not in ("transformer", "lstm"):
                run = t["runs"][name]
                print(f"- {task}, {run['what']}: held-out {t['metric']} {run['test_metric']:.3f}; "
                      f"validation {th} {_after(run['to_threshold'][th])}.")


# ---------------------------------------------------------------------------------- scaling
def cpu_s(x):
    """A scaling row's CPU seconds (``time.process_time``), which a busy machine stretches less than wall time."""
    return x.get("cpu_seconds", x["seconds"])


def scaling_rows(r, E, layer):
    rows = [x for x in r["scaling"]["rows"] if x["E"] == E and x["layer"] == layer]
    return sorted(rows, key=lambda x: x["S"])


def report_scaling(r=None):
    """Markdown: per width, forward+backward ms and saved MB of each layer at each length."""
    r = r or load()
    if r is None:
        return print(MISSING)
    sc = r["scaling"]
    layers = list(sc["layers"])
    for E in sorted({x["E"] for x in sc["rows"]}):
        print(f"\n**E = {E}**, N = {sc['N']}, H = {sc['nhead']}, F = {sc['ffn_ratio']}·E, "
              f"{r['threads']} thread(s)\n")
        print("| S | " + " | ".join(f"{name}: CPU ms" for name in layers) + " | "
              + " | ".join(f"{name}: MB saved" for name in layers) + " |")
        print("|---:|" + "---:|" * (2 * len(layers)))
        by = {name: scaling_rows(r, E, name) for name in layers}
        for i, x in enumerate(by[layers[0]]):
            ms = " | ".join(f"{1e3 * cpu_s(by[n][i]):.2f}" for n in layers)
            mb = " | ".join(f"{by[n][i]['saved_bytes'] / 2**20:.2f}" for n in layers)
            print(f"| {x['S']} | {ms} | {mb} |")
    print("\n" + ", ".join(f"`{k}`: {v}" for k, v in sc["layers"].items()) + ".")


def figure_scaling(r=None):
    """Forward+backward time (left) and saved bytes (right) against S, log–log, per layer and width."""
    r = r or load()
    if r is None:
        return print(MISSING)
    sc = r["scaling"]
    widths = sorted({x["E"] for x in sc["rows"]})
    fig = Figure(figsize=(10, 3.6))
    ax_t, ax_m = fig.subplots(1, 2)
    for i, E in enumerate(widths):
        for layer in sc["layers"]:
            rows = scaling_rows(r, E, layer)
            color, style = STYLE[layer]
            fmt = style if i == 0 else style[0] + ":"  # the second width dotted
            S = [x["S"] for x in rows]
            ax_t.loglog(S, [1e3 * cpu_s(x) for x in rows], fmt, color=color, ms=3, label=f"{layer}, E={E}")
            ax_m.loglog(S, [x["saved_bytes"] / 2**20 for x in rows], fmt, color=color, ms=3, label=f"{layer}, E={E}")
    ax_t.set_ylabel(f"forward+backward, CPU ms ({r['threads']} thread(s))")
    ax_m.set_ylabel("saved for backward, MiB")
    lengths = sorted({x["S"] for x in sc["rows"]})
    for ax in (ax_t, ax_m):
        ax.set_xlabel("sequence length S")
        ax.set_xticks(lengths, [str(S) for S in lengths])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax_t.set_title(f"time, N={sc['N']}")
    ax_m.set_title("activation memory")
    ax_m.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    alt = ("Log-log plots of forward plus backward time and of the bytes saved for backward against sequence "
           "length, for one LSTM layer and one Transformer encoder layer (fused and explicit attention).")
    print(figure_to_svg(fig, alt))


# --8<-- [start:macs]
def macs_per_token(E, F, S):
    """Multiply-adds per token of one layer (matrix products only), forward.

    LSTM: four gates, each an ``E x E`` product of the input and one of the previous state.
    Encoder layer: Q, K, V, output projections, the feed-forward pair, and ``QKᵀ`` and
    ``weights @ V`` over ``S`` keys.
    """
    return {"lstm": 4 * (E * E + E * E), "transformer": 4 * E * E + 2 * E * F + 2 * S * E}
# --8<-- [end:macs]


def wins(r, E, a="lstm", b="transformer", key="cpu_seconds"):
    """Lengths at which layer ``a`` measured less than layer ``b`` (by ``key``), and the others."""
    A, B = scaling_rows(r, E, a), scaling_rows(r, E, b)
    get = cpu_s if key == "cpu_seconds" else (lambda x: x[key])
    won = [x["S"] for x, y in zip(A, B) if get(x) < get(y)]
    lost = [x["S"] for x, y in zip(A, B) if get(x) >= get(y)]
    return won, lost


def _lengths(values):
    return ", ".join(str(v) for v in values) if values else "none"


def notice_scaling(r=None):
    """Where each layer wins on this CPU, in time and in memory, and the analytic work per token."""
    r = r or load()
    if r is None:
        return print(MISSING)
    sc = r["scaling"]
    for E in sorted({x["E"] for x in sc["rows"]}):
        F = sc["ffn_ratio"] * E
        won, lost = wins(r, E)
        last = {layer: scaling_rows(r, E, layer)[-1] for layer in sc["layers"]}
        S_max = last["lstm"]["S"]
        ratio = cpu_s(last["transformer"]) / cpu_s(last["lstm"])
        print(f"- **E = {E}**: the LSTM layer took less CPU time than the fused encoder layer at S = {_lengths(won)} "
              f"(slower or equal at {_lengths(lost)}); at S = {S_max} the encoder layer took {ratio:.1f}× the "
              f"LSTM's CPU time ({1e3 * cpu_s(last['transformer']):.1f} against {1e3 * cpu_s(last['lstm']):.1f} ms).")
        mwon, mlost = wins(r, E, key="saved_bytes")
        print(f"    - memory: the LSTM saved less than the fused encoder layer at S = {_lengths(mwon)} "
              f"(more at {_lengths(mlost)}); per token it keeps "
              f"{last['lstm']['saved_bytes'] / (sc['N'] * S_max * E * 4):.1f}·E floats, the fused layer "
              f"{last['transformer']['saved_bytes'] / (sc['N'] * S_max * E * 4):.1f}·E, the explicit one "
              f"{last['transformer_math']['saved_bytes'] / (sc['N'] * S_max * E * 4):.1f}·E at S = {S_max} "
              f"(its (S, S) weights grow with S).")
        ewon, _ = wins(r, E, a="lstm", b="transformer_math", key="saved_bytes")
        print(f"    - the explicit-attention layer saved more than the LSTM at S = "
              f"{_lengths([S for S in (x['S'] for x in scaling_rows(r, E, 'lstm')) if S in ewon])}.")
        S_min = scaling_rows(r, E, "lstm")[0]["S"]
        small, big = macs_per_token(E, F, S_min), macs_per_token(E, F, S_max)
        print(f"    - work per token (multiply-adds, forward): LSTM {small['lstm']:,}; encoder layer "
              f"{small['transformer']:,} at S = {S_min} and {big['transformer']:,} at S = {S_max}: a work ratio of "
              f"{big['transformer'] / big['lstm']:.1f} at S = {S_max}, beside the measured time ratio of {ratio:.1f} "
              f"(time per unit of work: the encoder layer's is {ratio / (big['transformer'] / big['lstm']):.2f}× "
              f"the LSTM's).")


def report_manifest(r=None, folder=None):
    r = r or load(folder)
    if r is None:
        return print(MISSING)
    path = Path(folder or FOLDER) / "rnn-manifest.json"
    m = json.loads(path.read_text()) if path.exists() else {}
    hw = m.get("hardware", {})
    print(f"- command: `{r['command']}`; seed {r['seed']}; {r['threads']} torch thread(s); "
          f"wall time {r['wall_time_s']:.0f} s")
    if hw:
        print(f"- machine: {hw.get('cpu')} ({hw.get('usable_cpus')} usable cores), {hw.get('platform')}")
    if m.get("git"):
        print(f"- git commit `{m['git'].get('commit')}` (code changed since: {m['git'].get('dirty')})")
    if m.get("versions"):
        print("- versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v))


def report_load(r=None):
    r = r or load()
    if r is None or "load_average" not in r:
        return
    la = r["load_average"]
    print(f"Load average of the machine ({la['cpus']} CPUs) when the study began: "
          f"{', '.join(f'{v:.1f}' for v in la['before'])}; when it ended: {', '.join(f'{v:.1f}' for v in la['after'])} "
          f"(1, 5, 15 minutes). A load above the number of CPUs means other work shared them: wall times "
          f"are stretched by it, so the tables give CPU seconds (`time.process_time`) beside them.")


# ---------------------------------------------------------------------------------- interface
# --8<-- [start:interface]
def interface_demo(seed=0):
    """Both reversal models on the same batch, and the LSTM through TorchTrainer unchanged."""
    import torch

    from transformer_anatomy.tasks import SOS_ID, EOS_ID, make_task
    from transformer_anatomy.torch import Seq2SeqTransformer
    from transformer_anatomy.torch.recurrent import LSTMSeq2Seq
    from transformer_anatomy.training import TorchTrainer, TrainConfig

    data = make_task("reversal", n_train=64, n_valid=32, n_test=32, rng=seed)
    batch = data.split("valid")
    src, tgt_in = torch.as_tensor(batch["src"][:4]), torch.as_tensor(batch["tgt_in"][:4])
    V_src, V_tgt = len(data.src_vocab), len(data.tgt_vocab)
    torch.manual_seed(seed)
    models = {"Seq2SeqTransformer": Seq2SeqTransformer(V_src, V_tgt, d_model=64),
              "LSTMSeq2Seq": LSTMSeq2Seq(V_src, V_tgt, d_model=64)}
    rows = []
    for name, model in models.items():
        model.eval()
        logits = model(src, tgt_in)  # (N, S), (N, T) -> (N, T, V_tgt)
        ids = model.greedy_decode(src, max_len=tgt_in.shape[1] + 1, sos_id=SOS_ID, eos_id=EOS_ID)
        rows.append((name, tuple(src.shape), tuple(tgt_in.shape), tuple(logits.shape), tuple(ids.shape),
                     sum(p.numel() for p in model.parameters())))
    trainer = TorchTrainer(models["LSTMSeq2Seq"], data, TrainConfig(kind="seq2seq", max_steps=2, batch_size=32))
    summary = trainer.fit()
    return rows, summary
# --8<-- [end:interface]


def report_interface():
    rows, summary = interface_demo()
    print("| model | src_ids | tgt_ids | forward → logits | greedy_decode → ids | parameters |")
    print("|---|---|---|---|---|---:|")
    for name, s, t, lg, ids, n in rows:
        print(f"| `{name}` | {s} | {t} | {lg} | {ids} | {n:,} |")
    print(f"\n`TorchTrainer` ran the LSTM for {summary['step']} steps without a change "
          f"(validation {summary['main_metric']} {summary['best_metric']:.3f}: untrained).")


# ---------------------------------------------------------------------------------- verdict
def verdict(r=None):
    """Where each side won in this study, counted from the results."""
    r = r or load()
    if r is None:
        return print(MISSING)
    lstm_won, tf_won = [], []
    for task, t in r["tasks"].items():
        tf, ls = t["runs"]["transformer"], t["runs"]["lstm"]
        th = list(tf["to_threshold"])[-1]
        a, b = tf["to_threshold"][th], ls["to_threshold"][th]
        if a and b:
            (lstm_won if b["step"] < a["step"] else tf_won).append(f"{task}: steps to {th} ({_step(b)} vs {_step(a)})")
            (lstm_won if cpu_of(b) < cpu_of(a) else tf_won).append(
                f"{task}: CPU seconds to {th} ({cpu_of(b):.1f} vs {cpu_of(a):.1f})")
        elif a or b:
            (tf_won if a else lstm_won).append(f"{task}: reaching {th} at all")
        if ls["test_metric"] != tf["test_metric"]:
            (lstm_won if ls["test_metric"] > tf["test_metric"] else tf_won).append(
                f"{task}: held-out {t['metric']} ({ls['test_metric']:.3f} vs {tf['test_metric']:.3f})")
    sc = r["scaling"]
    for E in sorted({x["E"] for x in sc["rows"]}):
        won, lost = wins(r, E)
        if won:
            lstm_won.append(f"layer CPU time at E = {E}, S = {_lengths(won)}")
        if lost:
            tf_won.append(f"layer CPU time at E = {E}, S = {_lengths(lost)}")
        mwon, mlost = wins(r, E, key="saved_bytes")
        if mwon:
            lstm_won.append(f"activation memory at E = {E}, S = {_lengths(mwon)}")
        if mlost:
            tf_won.append(f"activation memory (fused attention) at E = {E}, S = {_lengths(mlost)}")
    print("**Where the LSTM won** (LSTM vs Transformer):\n")
    print("\n".join(f"- {w}" for w in lstm_won) or "- nowhere")
    print("\n**Where the Transformer won** (LSTM vs Transformer):\n")
    print("\n".join(f"- {w}" for w in tf_won) or "- nowhere")


def reading(r=None):
    """The verdict in one paragraph: how many tasks and layer timings each side won."""
    r = r or load()
    if r is None:
        return print(MISSING)
    tasks = r["tasks"]
    fewer, sooner, better = [], [], []
    for task, t in tasks.items():
        tf, ls = t["runs"]["transformer"], t["runs"]["lstm"]
        th = list(tf["to_threshold"])[-1]
        a, b = tf["to_threshold"][th], ls["to_threshold"][th]
        if b and (a is None or b["step"] < a["step"]):
            fewer.append(task)
        if b and (a is None or cpu_of(b) < cpu_of(a)):
            sooner.append(task)
        if ls["test_metric"] >= tf["test_metric"]:
            better.append(task)
    n = len(tasks)
    sc = r["scaling"]
    cells = [(E, x["S"]) for E in sorted({x["E"] for x in sc["rows"]}) for x in scaling_rows(r, E, "lstm")]
    lstm_faster = [c for c in cells if c[1] in wins(r, c[0])[0]]
    tf_faster = [f"E = {E}, S = {S}" for E, S in cells if (E, S) not in lstm_faster]

    def which(names):
        return f" ({', '.join(names)})" if names else ""

    print(f"In this study the LSTM (with attention; mean pooling) reached the target in fewer steps than our "
          f"Transformer on {len(fewer)} of {n} tasks{which(fewer)}, in fewer CPU seconds on {len(sooner)} of "
          f"{n}{which(sooner)}, with an equal or higher held-out metric on {len(better)} of {n}{which(better)}. "
          f"One LSTM layer took less CPU time than one encoder layer (fused attention) in {len(lstm_faster)} of "
          f"{len(cells)} (width, length) cells timed; the encoder layer was as fast or faster at: "
          f"{'; '.join(tf_faster) if tf_faster else 'none'}.")
