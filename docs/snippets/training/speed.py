"""Why the seed's recipe is slow (docs/training.md): the recipes side by side, read from
docs/results/speed.json (written by scripts/speed_study.py), and what one teacher-forced pass
costs against greedy decoding, measured on the trained reversal model while the page is built."""

import json
import statistics
import time
from pathlib import Path

from results_io import RESULTS, png_img

MISSING = "*Not produced yet: run `python scripts/speed_study.py` (or `scripts/reproduce.py --task speed`).*"
OURS, SEED_REF, OUR_REF, OURS_SEED = "ours", "nn.Transformer, seed recipe", "nn.Transformer, our recipe", \
    "ours, seed recipe"
HEAD_TO_HEAD = (OURS, SEED_REF, OUR_REF, OURS_SEED)
TARGET_SECONDS = 15.0
"""Issue 18's target: reversal to 100 % held-out exact match in at most this many seconds of training."""
TARGET_RATIO = 0.5
"""... and in at most this fraction of the time nn.Transformer needs with the seed's recipe."""

SETTING_NAMES = {  # (where, key) -> how the page names it
    ("model_config", "dropout"): "dropout",
    ("train", "batch_size"): "batch size",
    ("train", "lr"): "peak learning rate (Adam)",
    ("train", "warmup"): "warmup steps",
    ("train", "max_steps"): "cosine horizon (`max_steps`)",
    ("train", "schedule"): "schedule",
}
WHY = {  # the reason for each change; the one-choice-back runs below measure whether it holds
    "dropout": "one right answer per input: nothing to regularise, and the noise may slow the last wrong sequences",
    "batch size": "a cheaper step, so more steps per second, against a noisier gradient",
    "peak learning rate (Adam)": "unchanged",
    "warmup steps": "once Adam's moment estimates have settled, more warmup is time at a low rate",
    "cosine horizon (`max_steps`)": "near the run's real length, the rate is already falling when the model nears "
                                    "the target, so the last errors can settle",
    "schedule": "unchanged",
}


def load_speed(results=None):
    """``speed.json``, or None before ``scripts/speed_study.py`` has run."""
    path = Path(results or RESULTS) / "speed.json"
    return json.loads(path.read_text()) if path.exists() else None


def seeds(result):
    return list(result["runs"])


def runs(result):
    """Run names in the study's order."""
    return list(next(iter(result["runs"].values())))


def run_seed(result, name, seed):
    return result["runs"][seed][name]


def differences(result, name, against=OURS):
    """(setting, this run's value, ours) for every setting in SETTING_NAMES where ``name`` differs."""
    s = seeds(result)[0]
    a, b = run_seed(result, name, s), run_seed(result, against, s)
    return [(label, a[where][key], b[where][key]) for (where, key), label in SETTING_NAMES.items()
            if a[where].get(key) != b[where].get(key)]


def _value(v):
    return f"{v:,}" if isinstance(v, int) else f"{v:g}" if isinstance(v, float) else f"{v}"


def describe(result, name):
    """What a run is: its model and how its recipe differs from ours."""
    model = "`nn.Transformer`" if run_seed(result, name, seeds(result)[0])["model"] == "ReferenceSeq2Seq" \
        else "ours"
    diff = differences(result, name)
    if name in (OURS, OUR_REF):
        return f"{model}, our recipe"
    if name in (SEED_REF, OURS_SEED):
        return f"{model}, the seed's recipe"
    if not diff:  # a quick check's tiny recipes may not differ where the full ones do
        return name
    return "ours, " + ", ".join(f"{label} {_value(v)} (ours: {_value(o)})" for label, v, o in diff)


def report_speed_recipes(results=None):
    """The two recipes side by side, from the runs' recorded settings, with the reason for each change."""
    r = load_speed(results)
    if r is None:
        print(MISSING)
        return
    s = seeds(r)[0]
    seed_run, ours = run_seed(r, SEED_REF, s), run_seed(r, OURS, s)
    m = ours["model_config"]
    print("| setting | the seed's recipe | ours | why |")
    print("|---|---|---|---|")
    for (where, key), label in SETTING_NAMES.items():
        a, b = seed_run[where].get(key), ours[where].get(key)
        why = WHY[label] if a != b else "the same"
        print(f"| {label} | {_value(a)} | {_value(b)} | {why} |")
    stop = r["stopping"]
    print(f"| model (both) | E = {m['d_model']}, {m['nhead']} heads, {m['num_encoder_layers']} + "
          f"{m['num_decoder_layers']} layers, F = {m['dim_feedforward']}, "
          f"{'pre' if m['norm_first'] else 'post'}-norm, embeddings × √E "
          f"{'on' if m['scale_embedding'] else 'off'} | the same | the seed's architecture is kept |")
    print(f"| stopping (both) | validation exact match 100 % at {stop['target_patience']} evaluations in a row, "
          f"one every {stop['eval_every']} steps | the same | one rule for every run, so only the recipe differs |")


def report_speed_setup(results=None):
    r = load_speed(results)
    if r is None:
        print(MISSING)
        return
    load = r["load_average"]
    print(f"Seeds {', '.join(seeds(r))}; {len(runs(r))} runs per seed, trained in one process in alternating "
          f"blocks of {r['block_steps']} steps (whatever else the machine did hit them alike), "
          f"torch threads: {r['threads']}, on a machine of {load['cpus']} CPUs; load average "
          f"{load['before'][0]:.1f} before and {load['after'][0]:.1f} after. The whole study took "
          f"{r['wall_time_s'] / 60:.1f} min (`{r['command']}`"
          + (f"; each seed its own job, so this is the sum of {len(r['parts']['wall_time_s'])} jobs" if r.get("parts")
             else "") + ")."
          + (" **Quick mode: tiny models, a pipeline check; the numbers mean nothing.**" if r["quick"] else ""))


def _cell(run):
    when = run["time_to_target_s"]
    t = f"**{when:.1f} s**, {run['steps_to_target']} steps" if when is not None else \
        f"not within {run['steps']} steps"
    return f"{t}, test {run['test_exact_match']:.3f}"


def _median_cell(med, n_seeds):
    if med["time_to_target_s"] is None:
        if med["reached_target"] == 0:
            return "target missed in every seed"
        return f"target missed in {n_seeds - med['reached_target']} of {n_seeds} seeds"
    return f"**{med['time_to_target_s']:.1f} s**, {med['steps_to_target']:g} steps"


def speed_table(result, names):
    """Markdown: one row per run, one column per seed (time to target, steps, test exact match), the median."""
    ss = seeds(result)
    med = result["summary"]["medians"]
    lines = ["| run | " + " | ".join(f"seed {s}" for s in ss) + " | median | median ms per step |",
             "|---|" + "---|" * len(ss) + "---|---|"]
    for name in names:
        cells = " | ".join(_cell(run_seed(result, name, s)) for s in ss)
        lines.append(f"| {name} | {cells} | {_median_cell(med[name], len(ss))} | "
                     f"{med[name]['median_step_ms']:.1f} |")
    return "\n".join(lines)


def report_speed_table(results=None):
    r = load_speed(results)
    print(speed_table(r, HEAD_TO_HEAD) if r else MISSING)


def report_ablation_table(results=None):
    r = load_speed(results)
    if r is None:
        print(MISSING)
        return
    print(speed_table(r, [OURS] + [n for n in runs(r) if n not in HEAD_TO_HEAD]))


RATIOS = {  # summary key -> (what it divides, the target or None)
    "ours_vs_nn_seed_recipe_time": ("time to target: ours / `nn.Transformer` with the seed's recipe", TARGET_RATIO),
    "ours_vs_nn_our_recipe_time": ("time to target: ours / `nn.Transformer` with our recipe", None),
    "ours_vs_nn_our_recipe_step": ("median step: ours / `nn.Transformer`, both with our recipe", None),
    "ours_seed_recipe_vs_nn_seed_recipe_step": ("median step: ours / `nn.Transformer`, both with the seed's recipe",
                                                None),
}


def _ratio(v):
    return "—" if v is None else f"{v:.2f}×"


def report_speed_ratios(results=None):
    r = load_speed(results)
    if r is None:
        print(MISSING)
        return
    ss = seeds(r)
    print("| ratio | " + " | ".join(f"seed {s}" for s in ss) + " | median | target |")
    print("|---|" + "---|" * len(ss) + "---|---|")
    for key, (what, target) in RATIOS.items():
        x = r["summary"][key]
        per = " | ".join(_ratio(x["per_seed"][s]) for s in ss)
        print(f"| {what} | {per} | **{_ratio(x['median'])}** | {'≤ ' + _ratio(target) if target else '—'} |")


def report_speed_figure(results=None):
    img = png_img("speed-curves.png", "validation exact match against seconds of training for ours and "
                  "nn.Transformer with our recipe and with the seed's recipe, on sequence reversal (first seed)",
                  results)
    print(img if img else MISSING)


def single_choice_costs(result):
    """Each one-choice-back run: (name, its median time / ours, seeds that reached the target, its label)."""
    med = result["summary"]["medians"]
    n = len(seeds(result))
    ours = med[OURS]["time_to_target_s"]
    out = []
    for name in runs(result):
        if name in HEAD_TO_HEAD:
            continue
        t = med[name]["time_to_target_s"]
        factor = t / ours if t is not None and ours else None
        out.append(dict(name=name, factor=factor, reached=med[name]["reached_target"], seeds=n,
                        ms=med[name]["median_step_ms"], steps=med[name]["steps_to_target"]))
    # a run that missed the target in some seed costs more than any that reached it
    return sorted(out, key=lambda c: (c["reached"] == c["seeds"], -(c["factor"] or 0.0)))


def speed_facts(result):
    """The numbers the sentences under the figure quote."""
    med = result["summary"]["medians"]
    ss = seeds(result)
    ours_runs = [run_seed(result, OURS, s) for s in ss]
    return dict(
        ours=med[OURS], seed_ref=med[SEED_REF], our_ref=med[OUR_REF], ours_seed=med[OURS_SEED],
        ours_times=[x["time_to_target_s"] for x in ours_runs], ours_tests=[x["test_exact_match"] for x in ours_runs],
        ratio=result["summary"]["ours_vs_nn_seed_recipe_time"]["median"],
        ratio_same=result["summary"]["ours_vs_nn_our_recipe_time"]["median"],
        step_ratio=result["summary"]["ours_vs_nn_our_recipe_step"]["median"],
        costs=single_choice_costs(result), n=len(ss))


def report_speed_notice(results=None):
    r = load_speed(results)
    if r is None:
        print(MISSING)
        return
    f = speed_facts(r)
    o = f["ours"]
    if r["quick"]:
        print("- *These are the numbers of a quick pipeline check (tiny models, one seed): no conclusion holds.*")
    times = ", ".join("—" if t is None else f"{t:.1f} s" for t in f["ours_times"])
    all_test = all(x == 1.0 for x in f["ours_tests"])
    if o["time_to_target_s"] is None:
        print(f"- Ours reached the target in {o['reached_target']} of {f['n']} seed(s) ({times}): the "
              f"{TARGET_SECONDS:g} s target is **missed**.")
    else:
        met = o["time_to_target_s"] <= TARGET_SECONDS
        print(f"- Ours: median **{o['time_to_target_s']:.1f} s** of training to the target (seeds: {times}), "
              f"target ≤ {TARGET_SECONDS:g} s: **{'met' if met else 'missed'}**. Test exact match "
              f"{', '.join(f'{x:.3f}' for x in f['ours_tests'])}: "
              + ("every held-out sequence right in every seed." if all_test
                 else "**not** every held-out sequence right in every seed."))
    if f["ratio"] is None:
        print(f"- Ours / `nn.Transformer` with the seed's recipe: no median ratio (a run missed the target in "
              f"some seed), so the ≤ {TARGET_RATIO:g}× target is not shown met.")
    else:
        print(f"- Ours / `nn.Transformer` with the seed's recipe: **{f['ratio']:.2f}×** the time (median of the "
              f"seeds' ratios), target ≤ {TARGET_RATIO:g}×: "
              f"**{'met' if f['ratio'] <= TARGET_RATIO else 'missed'}**.")
    seed_t, ref_t, ours_t = f["seed_ref"]["time_to_target_s"], f["our_ref"]["time_to_target_s"], o["time_to_target_s"]
    if f["ratio_same"] is not None and f["step_ratio"] is not None:
        print(f"- With the *same* (our) recipe, ours / `nn.Transformer` is {f['ratio_same']:.2f}× the time and "
              f"{f['step_ratio']:.2f}× the median step: what our code, rather than the recipe, contributes.")
    if seed_t is not None and ref_t is not None and ours_t:
        recipe, model = seed_t / ref_t, ref_t / ours_t
        print(f"- `nn.Transformer` itself goes from {seed_t:.1f} s with the seed's recipe to {ref_t:.1f} s with "
              f"ours (a factor of {recipe:.1f}, the recipe); from there to our model is a factor of {model:.2f}. "
              f"The larger share of the gap is the **{'recipe' if recipe >= model else 'model'}**.")
    if f["ours_seed"]["time_to_target_s"] is not None and o["time_to_target_s"]:
        print(f"- Our model with the seed's recipe needs {f['ours_seed']['time_to_target_s']:.1f} s "
              f"({f['ours_seed']['steps_to_target']:g} steps at {f['ours_seed']['median_step_ms']:.0f} ms) against "
              f"{o['time_to_target_s']:.1f} s ({o['steps_to_target']:g} steps at {o['median_step_ms']:.0f} ms) "
              f"with ours: the recipe alone is a factor of "
              f"{f['ours_seed']['time_to_target_s'] / o['time_to_target_s']:.1f}.")
    costs = f["costs"]
    if costs and o["reached_target"] < f["n"]:
        print("- No single choice can be ranked: ours itself did not reach the target in every seed.")
    elif costs:
        top = costs[0]
        label = describe(r, top["name"]).removeprefix("ours, ")
        if top["reached"] < top["seeds"]:
            print(f"- The costliest single choice: **{label}**; with it the run missed the target in "
                  f"{top['seeds'] - top['reached']} of {top['seeds']} seeds.")
        elif top["factor"] is not None:
            print(f"- The costliest single choice: **{label}**, {top['factor']:.2f}× our time to the target "
                  f"({top['steps']:g} steps at {top['ms']:.0f} ms per step, ours {o['steps_to_target']:g} at "
                  f"{o['median_step_ms']:.0f}).")
        rest = [c for c in costs[1:] if c["factor"] is not None and c["reached"] == c["seeds"]]
        if rest:
            print("- The others, each alone, against ours (" + f"{o['steps_to_target']:g} steps at "
                  f"{o['median_step_ms']:.0f} ms): " + "; ".join(
                      f"{describe(r, c['name']).removeprefix('ours, ')}: {c['factor']:.2f}× the time, "
                      f"{c['steps']:g} steps at {c['ms']:.0f} ms" for c in rest)
                  + ". Where the steps barely change and the milliseconds do, the choice costs per step; "
                  "where the milliseconds stay, it costs steps.")


# ----------------------------------------------------------------------------- evaluation cost

NOISE = (0.0, 0.3, 0.45)
"""Gaussian noise added to every weight matrix of the trained model, in units of its own standard
deviation: a damaged model gets some sequences wrong, so the two exact matches can be compared
where they could differ."""


# --8<-- [start:evaluation_cost]
def evaluation_cost(path=None, noise=NOISE, limit=None, seed=0):
    """The trained reversal model, clean and with noisy weights: per noise level the validation exact
    match from one teacher-forced pass and from greedy decoding, the rows on which they disagree, and
    the milliseconds of each. None if the model file is missing."""
    import torch

    from transformer_anatomy.tasks import make_task
    from transformer_anatomy.torch.trained import load_trained
    from transformer_anatomy.training import TorchTrainer, TrainConfig
    from transformer_anatomy.training.evaluation import decoded_targets

    path = Path(path or Path(RESULTS) / "models" / "reversal.pt")
    if not path.exists():
        return None
    trained = load_trained(path, task="reversal")
    data = make_task("reversal", **trained.settings["params"], rng=seed)
    trainer = TorchTrainer(trained.model, data, TrainConfig(kind="seq2seq"))
    clean = {k: v.detach().clone() for k, v in trained.model.state_dict().items()}
    g = torch.Generator().manual_seed(seed)
    tgt = data.split("valid")["tgt_out"][:limit]
    rows = []
    for s in noise:
        trained.model.load_state_dict({k: v + s * v.std() * torch.randn(v.shape, generator=g, dtype=v.dtype)
                                       if v.is_floating_point() and v.dim() > 1 else v for k, v in clean.items()})
        t0 = time.perf_counter()
        one_pass = trainer.predict("valid", limit, decode=False)
        t1 = time.perf_counter()
        decoded = trainer.predict("valid", limit, decode=True)
        t2 = time.perf_counter()
        right_tf = ((one_pass["logits"].argmax(-1) == tgt) | (tgt == 0)).all(axis=1)
        right_greedy = (decoded_targets(decoded["decoded"], tgt.shape[1]) == tgt).all(axis=1)
        rows.append(dict(noise=s, n=len(tgt), tf=float(right_tf.mean()), greedy=float(right_greedy.mean()),
                         disagree=int((right_tf != right_greedy).sum()), tf_ms=1000 * (t1 - t0),
                         greedy_ms=1000 * (t2 - t1)))
    trained.model.load_state_dict(clean)
    return dict(rows=rows, width=int(tgt.shape[1]))
# --8<-- [end:evaluation_cost]


def report_evaluation_cost(path=None):
    cost = evaluation_cost(path)
    if cost is None:
        print("*Not produced yet: the trained model `docs/results/models/reversal.pt` is written by "
              "`python scripts/reproduce.py --task reversal`.*")
        return
    print("| weight noise (× each matrix's std) | exact match, one teacher-forced pass | exact match, greedy "
          "decoding | rows where they disagree | ms, evaluation without decoding | ms, with decoding |")
    print("|---|---|---|---|---|---|")
    for x in cost["rows"]:
        print(f"| {x['noise']:g} | {x['tf']:.3f} | {x['greedy']:.3f} | {x['disagree']} of {x['n']:,} | "
              f"{x['tf_ms']:.0f} | {x['greedy_ms']:.0f} |")
    rows = cost["rows"]
    ratio = statistics.median(x["greedy_ms"] / x["tf_ms"] for x in rows)
    agree = all(x["disagree"] == 0 for x in rows)
    print()
    same = ("at every noise level the two mark the same rows right" if agree
            else "the two disagree on some rows (a near tie broken the other way)")
    wrong = 1 - min(x["greedy"] for x in rows)
    where = (f", including where the damaged model gets {wrong:.0%} of the sequences wrong" if wrong > 0
             else " (the noise made no sequence wrong here, so this check is weak)")
    print(f"What to notice: {same}{where}; "
          f"the evaluation with decoding (which runs the teacher-forced pass too, for the loss) took {ratio:.1f}× "
          f"the time of the one pass (median over the levels; {cost['width']} target positions, so up to "
          f"{cost['width']} more decoder passes over a growing prefix).")
