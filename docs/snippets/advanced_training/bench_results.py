"""Read the training-step benchmark (docs/results/bench-<device>.json, written by scripts/bench.py)."""

import json

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from results_io import RESULTS  # the one home of the results-folder finder
from transformer_anatomy.viz import figure_to_svg


def load(device):
    """The benchmark JSON of ``device`` ("cpu" or "cuda"), or None if no such run has been made."""
    path = RESULTS / f"bench-{device}.json"
    return json.loads(path.read_text()) if path.exists() else None


def rows(report, size):
    """variant name -> row, for one model size of a report."""
    block = next(r for r in report["results"] if r["size"] == size)
    return {v["variant"]: v for v in block["variants"]}


def memory_of(row):
    return row.get("peak_memory_bytes", row.get("activation_bytes"))


def report_provenance(device):
    r = load(device)
    if r is None:
        print(f"docs/results/bench-{device}.json does not exist: no {device} run has been made.")
        return
    peaks = ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in r["peak_matmul"]["flops_per_s"].items())
    print(f"made by:  {r['made_by']}")
    print(f"on:       {r['device_name']} ({r['device']}), {r['threads']} thread(s), torch {r['torch']}, {r['date']}")
    print(f"ceiling:  {r['peak_matmul']['n']}^3 matmul, {peaks}")
    print(f"timing:   median of {r['timing']['repeats']} interleaved steps per variant, "
          f"{r['timing']['warmup']} warm-up steps; AdamW; dropout {r['dropout']}")


def report_table(device):
    r = load(device)
    if r is None:
        print(f"docs/results/bench-{device}.json does not exist: no {device} run has been made.")
        return
    mem_name = "peak GiB" if device == "cuda" else "saved MiB"
    scale = 2**30 if device == "cuda" else 2**20
    for block in r["results"]:
        c = block["config"]
        print(f"{block['size']}: E={c['d_model']} H={c['nhead']} {c['layers']}+{c['layers']} layers F={c['dim_feedforward']} "
              f"N={c['N']} S=T={c['L']} V={c['V']}, {block['params_ours'] / 1e6:.2f}M params, "
              f"{block['tokens_per_step']} tokens/step")
        print(f"  {'variant':<20} {'step ms':>8} {'tokens/s':>9} {'GFLOP':>6} {'MFU':>6} {mem_name:>9}")
        for v in block["variants"]:
            if v["error"]:
                print(f"  {v['variant']:<20} not run here: {v['error'][:60]}")
                continue
            print(f"  {v['variant']:<20} {v['step_s'] * 1e3:8.1f} {v['tokens_per_s']:9.0f} "
                  f"{v['flops_counted_incl_recompute'] / 1e9:6.2f} {100 * v['mfu']:5.1f}% {memory_of(v) / scale:9.1f}")


def ratios(device, size, variant, base="ours_fp32"):
    """(step time, memory) of ``variant`` relative to ``base`` in one size of one run."""
    r = load(device)
    rs = rows(r, size)
    a, b = rs[variant], rs[base]
    return a["step_s"] / b["step_s"], memory_of(a) / memory_of(b)


def report_ratio(device, variant, what):
    r = load(device)
    if r is None:
        print(f"no {device} benchmark")
        return
    for block in r["results"]:
        rs = rows(r, block["size"])
        if variant not in rs or rs[variant]["error"]:
            print(f"{block['size']}: {variant} was not measured in this run")
            continue
        t, m = ratios(device, block["size"], variant)
        v = rs[variant]
        extra = ""
        if v["checkpointing"]:
            extra = f", FLOPs incl. recomputation x{v['flops_counted_incl_recompute'] / v['flops_per_step']:.2f}"
        print(f"{block['size']}: {what} step time x{t:.2f}, memory x{m:.2f} of ours_fp32{extra}")


def report_compile(device):
    r = load(device)
    if r is None:
        print(f"no {device} benchmark")
        return
    found = False
    for block in r["results"]:
        for v in block["variants"]:
            if v["compiled"] and not v["error"]:
                found = True
                t, _ = ratios(device, block["size"], v["variant"], "ours_bf16" if "bf16" in v["variant"] else "ours_fp32")
                print(f"{block['size']}: {v['variant']} warm-up {v['warmup_s']:.0f} s for {v['warmup_steps']} steps, "
                      f"then step time x{t:.2f} of eager")
    if not found:
        print(f"the {device} run was made without --compile: torch.compile was not measured there")


VARIANTS = (("ours_bf16", "bf16 autocast"), ("ours_ckpt", "checkpointing"), ("ours_sdpa_math", "SDPA math"),
            ("reference_fp32", "nn.Transformer"))


def show_costs(device="cpu", variants=VARIANTS):
    """Step time and memory of each variant relative to ours_fp32, per model size, as bars (HTML)."""
    r = load(device)
    if r is None:
        print(f"<p>docs/results/bench-{device}.json does not exist: no {device} run has been made.</p>")
        return
    sizes = [b["size"] for b in r["results"]]
    fig = Figure(figsize=(7.6, 3.0), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (what, i) in zip(axes, (("step time", 0), ("memory saved for backward" if device == "cpu" else "peak memory", 1))):
        for j, size in enumerate(sizes):
            rs = rows(r, size)
            names = [label for v, label in variants if v in rs and not rs[v]["error"]]
            vals = [ratios(device, size, v)[i] for v, _ in variants if v in rs and not rs[v]["error"]]
            ax.barh([k + (j - 0.5) * 0.38 for k in range(len(vals))], vals, 0.38, label=size, color=f"C{j}")
        ax.set_yticks(range(len(names)), names)
        ax.axvline(1.0, color="gray", ls=":", lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(v)[0] in "25" else ""))
        ax.set_xlabel(f"{what}, × ours_fp32")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(sizes), frameon=False,
               fontsize=8, title="model size", title_fontsize=8)
    print(figure_to_svg(fig, alt=f"Step time and memory of each benchmark variant relative to float32, {device}",
                        caption=f"From docs/results/bench-{device}.json ({r['made_by']}); dotted: ours_fp32. "
                                "Log scale: left of the line is cheaper."))
