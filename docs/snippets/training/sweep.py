"""The hyper-parameter sweep and the plateau comparison of docs/training.md, read from
docs/results/sweep.json (written by scripts/sweep_study.py)."""

import json
from pathlib import Path

from results_io import RESULTS, png_img

FACTOR_NAMES = {"d_model": "`d_model` (E)", "nhead": "`nhead` (H)", "layers": "layers (encoder = decoder)",
                "lr": "peak `lr`", "warmup": "`warmup` steps"}


def load_sweep(results=None):
    """``sweep.json``, or None before ``scripts/sweep_study.py`` has run."""
    path = Path(results or RESULTS) / "sweep.json"
    return json.loads(path.read_text()) if path.exists() else None


MISSING = "*Not produced yet: run `python scripts/sweep_study.py` (or `scripts/reproduce.py --task sweep`).*"


def table_rows(result):
    """One row per cell: factor, value, base?, steps to target, seconds to target, final EM, ms/step."""
    base = result["settings"]["base"]
    rows = []
    for factor in result["factors"]:
        for cell in result["sweep"][factor]:
            rows.append(dict(factor=factor, value=cell["value"], is_base=cell["value"] == base[factor],
                             steps=cell["steps_to_target"], seconds=cell["time_to_target_s"],
                             steps_run=cell["steps"], final=cell["final_exact_match"],
                             loss=cell["final_valid_loss"], ms=cell["ms_per_step"], params=cell["num_params"]))
    return rows


def markdown_table(result):
    lines = ["| factor | value | parameters | steps to 100 % | time to 100 % | exact match at the end | ms / step |",
             "|---|---|---|---|---|---|---|"]
    for r in table_rows(result):
        value = f"**{r['value']:g}** (base)" if r["is_base"] else f"{r['value']:g}"
        steps = f"{r['steps']}" if r["steps"] is not None else f"not within {r['steps_run']}"
        secs = f"{r['seconds']:.1f} s" if r["seconds"] is not None else "—"
        lines.append(f"| {FACTOR_NAMES[r['factor']]} | {value} | {r['params']:,} | {steps} | {secs} | "
                     f"{r['final']:.3f} | {r['ms']:.0f} |")
    return "\n".join(lines)


def report_sweep_setup(results=None):
    r = load_sweep(results)
    if r is None:
        print(MISSING)
        return
    s, t = r["settings"], r["task"]
    b = s["base"]
    print(f"Reversal of {t['params']['min_len']} symbols drawn from {t['params']['num_symbols']}, "
          f"{t['sizes']['train']:,} training sequences. Base: `d_model` {b['d_model']}, {b['nhead']} heads, "
          f"{b['layers']} + {b['layers']} layers, F = {s['ff_ratio']}·E, dropout {s['dropout']}, Adam at lr "
          f"{b['lr']:g} with {b['warmup']} warmup steps then cosine, batches of {s['batch_size']}. "
          f"Each run stops when greedy decoding gets {s['target']:.0%} of the first {s['eval_limit']} validation "
          f"sequences exactly right (checked every {s['eval_every']} steps), or at the cap of {s['max_steps']} "
          f"steps. {r['runs']} runs, seed {r['seed']}, {r['threads']} thread; the whole study took "
          f"{r['wall_time_s'] / 60:.1f} min (`{r['command']}`).")


def report_sweep_table(results=None):
    r = load_sweep(results)
    print(markdown_table(r) if r else MISSING)


def report_sweep_figure(results=None):
    img = png_img("sweep.png", "bar charts, one per factor: steps to 100 percent exact match on reversal "
                  "for each value of d_model, nhead, layers, lr and warmup; grey bars did not reach it by the cap",
                  results)
    print(img if img else MISSING)


def sweep_facts(result):
    """The numbers the prose under the table quotes."""
    rows = table_rows(result)
    reached = [r for r in rows if r["steps"] is not None]
    fastest = min(reached, key=lambda r: r["steps"]) if reached else None
    missed = [r for r in rows if r["steps"] is None]
    base = next(r for r in rows if r["is_base"])
    return dict(fastest=fastest, missed=missed, base=base, n=len(rows))


def report_sweep_notice(results=None):
    r = load_sweep(results)
    if r is None:
        print(MISSING)
        return
    f = sweep_facts(r)
    b = f["base"]
    print(f"- The base reached 100 % in {b['steps']} steps ({b['seconds']:.1f} s)." if b["steps"] is not None
          else f"- The base did not reach 100 % within {b['steps_run']} steps.")
    if f["fastest"]:
        tied = [x for x in table_rows(r) if x["steps"] == f["fastest"]["steps"]]
        cells = ", ".join(f"{FACTOR_NAMES[x['factor']]} = {x['value']:g} ({x['ms']:.0f} ms per step)" for x in tied)
        print(f"- Fewest steps, {f['fastest']['steps']}: {cells}; the base ran at {b['ms']:.0f} ms per step.")
    biggest = max(table_rows(r), key=lambda x: x["params"])
    print(f"- The biggest model ({FACTOR_NAMES[biggest['factor']]} = {biggest['value']:g}, "
          f"{biggest['params']:,} parameters) ran at {biggest['ms']:.0f} ms per step, the base "
          f"({b['params']:,}) at {b['ms']:.0f}.")
    for x in f["missed"]:
        print(f"- {FACTOR_NAMES[x['factor']]} = {x['value']:g} did not get there within {x['steps_run']} steps "
              f"(exact match {x['final']:.3f} at the cap).")


# ----------------------------------------------------------------------------- the plateau

def plateau_facts(result):
    p = result["plateau"]
    return {name: dict(steps=run["steps_to_target"], loss=run["final_valid_loss"], best=run["best_valid_loss"],
                       em=run["final_exact_match"], lr=run["final_lr"], cuts=run["cuts"],
                       cfg=run["train_config"])
            for name, run in p.items()}


def report_plateau_setup(results=None):
    r = load_sweep(results)
    if r is None:
        print(MISSING)
        return
    pc = r["plateau"]["plateau"]["train_config"]
    print(f"Both runs: the base model, {pc['max_steps']} steps (no early stop), evaluated every "
          f"{pc['eval_every']} steps. The plateau run: `schedule=\"constant\"` after the same {pc['warmup']} warmup "
          f"steps, `plateau_factor={pc['plateau_factor']}`, `plateau_patience={pc['plateau_patience']}`, "
          f"`plateau_metric=\"{pc['plateau_metric']}\"`, `plateau_threshold={pc['plateau_threshold']:g}` "
          f"(relative), `plateau_min_lr={pc['plateau_min_lr']:g}`.")


def report_plateau_figure(results=None):
    img = png_img("sweep-plateau.png", "validation loss (log scale), validation exact match and learning rate "
                  "against the step for warmup plus cosine and for warmup plus ReduceLROnPlateau on reversal", results)
    print(img if img else MISSING)


def report_plateau_table(results=None):
    r = load_sweep(results)
    if r is None:
        print(MISSING)
        return
    f = plateau_facts(r)
    print("| schedule | steps to 100 % | final validation loss | lowest validation loss | final exact match | "
          "final lr | cuts |")
    print("|---|---|---|---|---|---|---|")
    names = {"cosine": "warmup + cosine", "plateau": "warmup + ReduceLROnPlateau"}
    for name, x in f.items():
        steps = x["steps"] if x["steps"] is not None else "not reached"
        cuts = "—" if x["cuts"] is None else x["cuts"]
        print(f"| {names[name]} | {steps} | {x['loss']:.4f} | {x['best']:.4f} | {x['em']:.3f} | {x['lr']:.2e} | "
              f"{cuts} |")


def plateau_cut_steps(run):
    """The steps at which the plateau run's learning rate fell (from its training records)."""
    tr = run["train"]
    return [b["step"] for a, b in zip(tr, tr[1:]) if b["lr"] < a["lr"] * (1 - 1e-9)
            and b["step"] > run["train_config"]["warmup"]]


def report_plateau_notice(results=None):
    r = load_sweep(results)
    if r is None:
        print(MISSING)
        return
    f = plateau_facts(r)
    cos, pl = f["cosine"], f["plateau"]
    cuts = plateau_cut_steps(r["plateau"]["plateau"])
    if cuts:
        print(f"- The plateau run kept the peak rate {pl['cfg']['lr']:g} until about step {cuts[0]} (the first "
              f"training record with a lower rate), then stepped down {pl['cuts']} times to {pl['lr']:.2e}; the "
              f"cosine run decayed smoothly to {cos['lr']:.2e} at its last record.")
    else:
        streak = longest_streak_without_best(r["plateau"]["plateau"])
        print(f"- The plateau never cut the rate in {pl['cfg']['max_steps']} steps: it stayed at {pl['lr']:.2e}. "
              f"The validation loss kept setting new bests: the longest run of evaluations without one was "
              f"{streak}, and a cut needs `plateau_patience + 1` = {pl['cfg']['plateau_patience'] + 1} in a row. "
              "On this task the plateau run was warmup + constant.")

    def reached(x):
        return f"step {x['steps']}" if x["steps"] is not None else "never"

    print(f"- Every validation sequence right: cosine at {reached(cos)}, plateau at {reached(pl)}.")
    lower = "plateau" if pl["loss"] < cos["loss"] else "cosine"
    print(f"- Final validation loss: cosine {cos['loss']:.4f}, plateau {pl['loss']:.4f} — the {lower} run ended "
          f"lower, by a factor of {max(cos['loss'], pl['loss']) / min(cos['loss'], pl['loss']):.1f}.")


def longest_streak_without_best(run):
    """The most evaluations in a row whose loss did not beat the best so far by the run's
    (relative) threshold: what ReduceLROnPlateau counts against ``patience``."""
    from transformer_anatomy.training.schedules import ReduceLROnPlateau

    cfg = run["train_config"]
    watch = ReduceLROnPlateau(1.0, mode="min", factor=0.5, patience=len(run["eval"]) + 1,  # count, never cut
                              threshold=cfg["plateau_threshold"], threshold_mode=cfg["plateau_threshold_mode"])
    longest = 0
    for e in run["eval"]:
        watch.step(e["loss"])
        longest = max(longest, watch.num_bad_epochs)
    return longest
