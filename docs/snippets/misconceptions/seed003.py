"""What the misconceptions page prints from docs/results/seed003.json (scripts/seed003_study.py)."""

import json
import math

from results_io import RESULTS, png_img

MISSING = "not yet produced: run `python scripts/seed003_study.py`"


def load(folder=None):
    path = (folder or RESULTS) / "seed003.json"
    return json.loads(path.read_text()) if path.exists() else None


def report_setting(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    s, m = r["settings"], r["settings"]["model"]
    run = r["runs"][0]
    claim = r["seed_claim"]
    print(f"The seed: d_model = {claim['d_model']}, {claim['nhead']} heads, V = {claim['V']}; loss "
          f"{claim['initial']} → {claim['after_50_epochs']} after {claim['epochs']} epochs "
          f"(ln {claim['V']} = {r['ln_V']:.2f}).\n")
    print("Ours:\n")
    print(f"- NumPy `Seq2SeqTransformer`: d_model = {m['d_model']}, {m['nhead']} heads, "
          f"{m['num_encoder_layers']} + {m['num_decoder_layers']} layers, F = {m['dim_feedforward']}, "
          f"dropout {m['dropout']}; V = {r['V']} (source and target); {run['params']:,} parameters.")
    print(f"- data: {s['n_train']} training and {s['n_valid']} validation pairs of {s['length']} tokens; "
          f"{s['epochs']} epochs of {run['steps_per_epoch']} steps (batches of {s['batch_size']}), Adam, "
          f"learning rate {s['lr']:g} after {s['warmup']} warmup steps; {run['ms_per_step']:.0f} ms per step "
          "(wall clock, evaluation included, on a machine shared with other jobs).")
    print(f"- each of the {r['V'] - 4} ordinary tokens occurs {s['n_train'] * s['length'] / (r['V'] - 4):.2f} times "
          "in the training sources, on average.")


def report_runs(r=None):
    r = r or load()
    if r is None:
        return print(MISSING)
    claim = r["seed_claim"]
    print(f"| targets | loss before training (train / valid) | ln V + s²/2 | after epoch 1 | after epoch {r['settings']['epochs']}: train (mean) | valid | valid token accuracy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for run in r["runs"]:
        e1, eN = run["epochs"][0], run["epochs"][-1]
        print(f"| {run['data']} | {run['initial_loss']['train']:.2f} / {run['initial_loss']['valid']:.2f} | "
              f"{run['ln_V_plus_half_variance']:.2f} | {e1['train_loss']:.2f} | {eN['train_loss']:.2f} | "
              f"{eN['valid_loss']:.2f} | {eN['valid_token_accuracy']:.1%} |")
    print(f"\nln V = ln {r['V']} = {r['ln_V']:.3f}; the seed reports {claim['initial']} → {claim['after_50_epochs']}. "
          f"s² is the variance of the initial logits over the vocabulary (mean over the validation positions).")
    floor, eos_share = eos_floor(r)
    print(f"\nA model that knows only where `<eos>` goes (the last of {r['settings']['length'] + 1} target positions) "
          f"and guesses the {r['V'] - 4} ordinary tokens uniformly: validation loss {floor:.3f}, token accuracy "
          f"{eos_share:.1%}.")


def eos_floor(r=None):
    """Loss and token accuracy of "right <eos>, uniform ordinary tokens" on these targets: the floor that
    held-out pairs allow without learning any mapping (V - 4 ordinary tokens, one <eos> per target)."""
    r = r or load()
    L = r["settings"]["length"]
    return math.log(r["V"] - 4) * L / (L + 1), 1 / (L + 1)


def verdict(r=None):
    """Which of our curves passes through the seed's final value, in words."""
    r = r or load()
    if r is None:
        return print(MISSING)
    target = r["seed_claim"]["after_50_epochs"]
    print()
    for run in r["runs"]:
        below = next((e["epoch"] for e in run["epochs"] if e["train_loss"] <= target), None)
        low = min(e["valid_loss"] for e in run["epochs"])
        when = f"by epoch {below}" if below else f"not within {len(run['epochs'])} epochs"
        print(f"- **{run['data']} targets**: the training loss fell below the seed's {target} {when} and ended at "
              f"{run['epochs'][-1]['train_loss']:.2f}; the validation loss never went below {low:.2f} "
              f"(the `<eos>`-only floor: {eos_floor(r)[0]:.2f}).")


def figure():
    img = png_img("seed003-loss.png", "Training and validation loss per epoch of the seed-003 setting, random and "
                                      "reversal targets, with ln V as a dashed line")
    print(img or f"*(seed003-loss.png is not in the results folder: {MISSING})*")
