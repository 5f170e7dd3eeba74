"""What the misconceptions page prints from docs/results/debugging.json (scripts/debugging_study.py).

Dead ReLU units per layer, attention entropy per head, and the PCA of the number words'
embeddings, each for the freshly initialised and the trained model. Every number the section
states is printed here.
"""

import json

import numpy as np

from results_io import RESULTS, png_img

MISSING = "not yet produced: run `python scripts/debugging_study.py`"


def load(folder=None):
    path = (folder or RESULTS) / "debugging.json"
    return json.loads(path.read_text()) if path.exists() else None


def short(name):
    """``transformer.decoder.layers.1.multihead_attn`` -> ``decoder 1 multihead_attn``."""
    parts = name.split(".")
    i = parts.index("layers")
    stack = "encoder" if "encoder" in parts[:i] else "decoder"
    rest = " ".join(parts[i + 2:])
    return f"{stack} {parts[i + 1]}" + (f" {rest}" if rest else "")


def report_setup(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    for task, t in r["tasks"].items():
        s = t["summary"]
        metric = s["main_metric"]
        print(f"- **{task}**: `{t['model']}` ({', '.join(f'{k}={v}' for k, v in t['size'].items())}), "
              f"{s['step']} steps; best validation {metric} {s['best_metric']:.3f} (step {s['best_step']}), "
              f"test {metric} {t['test_metrics'][metric]:.3f}; validation loss before any update "
              f"{t['initial_valid_loss']:.3f} against ln V = ln {t['V_tgt']} = {t['ln_V']:.3f}.")


def dead_rows(r=None):
    """Rows ``(task, layer, units, dead at initialisation, dead trained, active share trained)``."""
    r = r or load()
    rows = []
    for task, t in r["tasks"].items():
        for name, d in t["trained"]["dead_relu"].items():
            rows.append((task, short(name), d["units"], t["initial"]["dead_relu"][name]["dead"], d["dead"],
                         d["active_share"]))
    return rows


def report_dead(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    print("| task | feed-forward layer | units F | dead at initialisation | dead trained | mean share of positions a unit fires on (trained) |")
    print("|---|---|---:|---:|---:|---:|")
    for task, layer, units, d0, d1, active in dead_rows(r):
        print(f"| {task} | {layer} | {units} | {d0} | {d1} ({d1 / units:.1%}) | {active:.1%} |")
    rows = dead_rows(r)
    total = sum(x[2] for x in rows)
    dead0 = sum(x[3] for x in rows)
    dead = sum(x[4] for x in rows)
    print(f"\nIn all, of {total} units: {dead0} dead at initialisation, {dead} ({dead / total:.1%}) dead after training.")


def entropy_rows(r=None):
    """Rows ``(task, layer, [normalised entropy per head] initial, trained)``."""
    r = r or load()
    rows = []
    for task, t in r["tasks"].items():
        for name, e in t["trained"]["attention_entropy"].items():
            rows.append((task, short(name), t["initial"]["attention_entropy"][name]["entropy_normalized"],
                         e["entropy_normalized"]))
    return rows


def report_entropy(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    print("| task | attention layer | at initialisation (per head) | trained (per head) |")
    print("|---|---|---|---|")
    for task, layer, e0, e1 in entropy_rows(r):
        print(f"| {task} | {layer} | {' '.join(f'{x:.2f}' for x in e0)} | {' '.join(f'{x:.2f}' for x in e1)} |")


def entropy_summary(r=None):
    """Range of the normalised entropies at initialisation and after training, over all heads."""
    rows = entropy_rows(r)
    e0 = [x for *_, a, _ in rows for x in a]
    e1 = [x for *_, b in rows for x in b]
    return (min(e0), max(e0)), (min(e1), max(e1))


def report_entropy_summary(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    (a0, b0), (a1, b1) = entropy_summary(r)
    print(f"Entropy over ln(visible keys), all heads: {a0:.2f}–{b0:.2f} at initialisation (near-uniform "
          f"rows), {a1:.2f}–{b1:.2f} after training.\n")
    for task, ((sharp, s_mean), (flat, f_mean)) in extreme_layers(r).items():
        print(f"- {task}: sharpest layer {sharp} (mean over heads {s_mean:.2f}), flattest {flat} ({f_mean:.2f}).")


def extreme_layers(r=None):
    """Per task: the trained attention layer with the lowest and the highest mean normalised entropy."""
    by_task = {}
    for task, layer, _, e1 in entropy_rows(r):
        by_task.setdefault(task, []).append((layer, sum(e1) / len(e1)))
    return {task: (min(rows, key=lambda x: x[1]), max(rows, key=lambda x: x[1])) for task, rows in by_task.items()}


def report_pca(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    print("| embeddings | variance in PC 1, PC 2 | Spearman ρ with the value, all words (PC 1, PC 2) | one … nine only |")
    print("|---|---|---|---|")
    for which in ("initial", "trained"):
        p = r["tasks"]["numbers"][which]["embedding_pca"]
        ev = p["explained_variance_ratio"]
        print(f"| {which} | {ev[0]:.0%}, {ev[1]:.0%} | {p['spearman_all'][0]:+.2f}, {p['spearman_all'][1]:+.2f} "
              f"| {p['spearman_units'][0]:+.2f}, {p['spearman_units'][1]:+.2f} |")


def chance_rank_correlation(n, q=0.95, trials=4000, seed=0):
    """The |Spearman ρ| that a random ordering of ``n`` words exceeds with probability ``1 - q``."""
    g = np.random.default_rng(seed)
    ranks = np.arange(n, dtype=np.float64)
    rho = [abs(np.corrcoef(ranks, g.permutation(n))[0, 1]) for _ in range(trials)]
    return float(np.quantile(rho, q))


def report_pca_verdict(r=None):
    """Each component's |ρ| against what random orderings give, for all words and for one … nine."""
    r = r or load()
    if r is None:
        return print(MISSING)
    p = r["tasks"]["numbers"]["trained"]["embedding_pca"]
    n_all = len(p["words"])
    n_units = sum(1 <= v <= 9 for v in p["values"])
    for label, key, n in (("all number words", "spearman_all", n_all), ("one … nine", "spearman_units", n_units)):
        limit = chance_rank_correlation(n)
        parts = [f"PC {j + 1}: |ρ| = {abs(x):.2f} ({'above' if abs(x) > limit else 'within'} chance)"
                 for j, x in enumerate(p[key])]
        print(f"- {label} ({n} words; 95 % of random orderings give |ρ| < {limit:.2f}): {'; '.join(parts)}.")


def word_group(value):
    """The kind of number word: a unit (zero … nine), a teen (ten … nineteen), a tens word, a scale word."""
    return "unit" if value < 10 else "teen" if value < 20 else "tens" if value < 100 else "scale"


def same_group_neighbours(coords, values):
    """Share of words whose nearest other word in ``coords`` is of the same kind, and its chance level
    (the share a random neighbour would give)."""
    X = np.asarray(coords, dtype=np.float64)
    groups = [word_group(v) for v in values]
    d = ((X[:, None] - X[None]) ** 2).sum(-1)  # (n, n) squared distances
    np.fill_diagonal(d, np.inf)
    nearest = d.argmin(1)
    share = float(np.mean([groups[i] == groups[j] for i, j in enumerate(nearest)]))
    n = len(groups)
    sizes = [groups.count(g) for g in set(groups)]
    chance = sum(k * (k - 1) for k in sizes) / (n * (n - 1))
    return share, chance


def report_groups(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    for which in ("initial", "trained"):
        p = r["tasks"]["numbers"][which]["embedding_pca"]
        share, chance = same_group_neighbours(p["coords"], p["values"])
        print(f"- {which}: the nearest word in the plane of the figure is of the same kind (unit, teen, tens, "
              f"scale) for {share:.0%} of the words (chance: {chance:.0%}).")


def best_rank_correlation(r=None, which="trained"):
    """The largest |Spearman ρ| of the two components with the value, on all number words."""
    p = (r or load())["tasks"]["numbers"][which]["embedding_pca"]
    return max(abs(x) for x in p["spearman_all"])


def figure(name, alt):
    img = png_img(name, alt)
    print(img or f"*({name} is not in the results folder: {MISSING})*")


def report_manifest(folder=None):
    path = (folder or RESULTS) / "debugging-manifest.json"
    if not path.exists():
        return print(MISSING)
    m = json.loads(path.read_text())
    print(f"command:  {m['command']}")
    print(f"finished: {m['finished']} ({m['wall_time_s']:.0f} s)")
    git = m.get("git") or {}
    print(f"git:      {git.get('commit')} (code changed: {git.get('dirty')})")
