"""Ours = HuggingFace, shown live: ``from_hf(hf_model).generate(...)`` against
``hf_model.generate(...)`` token for token (greedy, both families, both backends, with and
without the cache), and our ``warp_logits`` against HF's three warpers on one distribution."""

import numpy as np
import torch
from transformers.generation.logits_process import (
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from transformer_anatomy.numpy.causal_lm import warp_logits as numpy_warp_logits
from transformer_anatomy.torch.causal_lm import warp_logits as torch_warp_logits

from transformer_anatomy.numpy.hf import from_hf as numpy_from_hf
from transformer_anatomy.torch.hf import from_hf as torch_from_hf

from generation.models import FAMILY_NAMES, hf_model, ours, prompt
from generation.sampling import LOGITS, WORDS, top_k_filter, top_p_filter, with_temperature

K = 16


# --8<-- [start:live]
def ours_vs_hf(hf_model, backend, ids, max_new_tokens=K, use_cache=True):
    """Our generate and HF's on the same weights, greedy: (our ids, HF's ids), as NumPy arrays."""
    from_hf = numpy_from_hf if backend == "numpy" else torch_from_hf
    model = from_hf(hf_model)                         # ours, with HF's weights copied
    x = ids if backend == "numpy" else torch.as_tensor(ids)
    mine = model.generate(x, max_new_tokens=max_new_tokens, use_cache=use_cache)
    with torch.no_grad():
        theirs = hf_model.generate(torch.as_tensor(ids), max_new_tokens=max_new_tokens,
                                   do_sample=False, use_cache=use_cache)
    return np.asarray(mine), theirs.numpy()
# --8<-- [end:live]


def generate_table(N=3):
    ids = prompt(N=N, seed=1)
    rows = []
    for family in FAMILY_NAMES:
        for backend in ("numpy", "torch"):
            for use_cache in (True, False):
                mine, theirs = ours_vs_hf(hf_model(family), backend, ids, use_cache=use_cache)
                rows.append({"family": family, "backend": backend, "use_cache": use_cache,
                             "shape": mine.shape, "equal": bool(mine.shape == theirs.shape and (mine == theirs).all()),
                             "first_row": mine[0, ids.shape[1]:].tolist()})
    return ids, rows


def report_generate():
    ids, rows = generate_table()
    print(f"{ids.shape[0]} prompts of {ids.shape[1]} tokens, {K} new tokens, greedy; "
          "HF float32 models from a config")
    print(f"{'model':>6} {'backend':>7} {'use_cache':>9} {'shape':>8}  {'= HF, every token':<17}  first row's new tokens")
    for r in rows:
        print(f"{FAMILY_NAMES[r['family']]:>6} {r['backend']:>7} {r['use_cache']!s:>9} {str(r['shape']):>8}  "
              f"{r['equal']!s:<17}  {r['first_row']}")


# --8<-- [start:sampled]
def sampled_vs_hf(family, ids, seed, max_new_tokens=K, **warp):
    """Our PyTorch generate(do_sample=True, seed=seed) and HF's after torch.manual_seed(seed)."""
    mine = ours(family, "torch").generate(torch.as_tensor(ids), max_new_tokens=max_new_tokens,
                                          do_sample=True, seed=seed, **warp)
    hf_warp = {"top_k": 0, **warp}                    # HF samples with top_k=50 unless told: 0 = off
    with torch.random.fork_rng():                     # leave the caller's global RNG alone
        torch.manual_seed(seed)                       # HF draws from torch's global generator
        with torch.no_grad():
            theirs = hf_model(family).generate(torch.as_tensor(ids), max_new_tokens=max_new_tokens,
                                               do_sample=True, **hf_warp)
    return mine.numpy(), theirs.numpy()
# --8<-- [end:sampled]


SAMPLED = (dict(temperature=1.0), dict(temperature=0.8, top_p=0.9), dict(temperature=1.3, top_k=5))


def sampled_table(N=2, seeds=(0, 1)):
    ids = prompt(N=N, seed=2)
    rows = []
    for family in FAMILY_NAMES:
        for warp in SAMPLED:
            equal = sum(bool(np.array_equal(*sampled_vs_hf(family, ids, s, **dict(warp)))) for s in seeds)
            rows.append({"family": family, "warp": warp, "equal": equal, "seeds": len(seeds)})
    return ids, rows


def report_sampled():
    ids, rows = sampled_table()
    print(f"sampling, {ids.shape[0]} prompts, {K} new tokens: our PyTorch generate(seed=s) vs HF generate "
          "after torch.manual_seed(s)")
    for r in rows:
        args = ", ".join(f"{k}={v}" for k, v in r["warp"].items())
        print(f"{FAMILY_NAMES[r['family']]:>6}  {args:<28} every token equal for {r['equal']}/{r['seeds']} seeds")


def report_hf_sampling_defaults():
    from transformers import GenerationConfig

    d = GenerationConfig._get_default_generation_params()
    print(f"<p>When sampling, HuggingFace's <code>generate</code> applies <code>top_k={d['top_k']}</code> unless "
          f"it is told otherwise (the <code>GenerationConfig</code> default, beside "
          f"<code>temperature={d['temperature']}</code> and <code>top_p={d['top_p']}</code>), so with a "
          f"vocabulary of more than {d['top_k']} tokens \"plain\" sampling in HF is top-{d['top_k']} sampling. "
          "Ours filters nothing unless asked; the comparison above passes <code>top_k=0</code> (off) to HF.</p>")


WARP = dict(temperature=1.5, top_k=6, top_p=0.9)  # each of the three removes something here


def hf_warp(logits, temperature, top_k, top_p):
    """HF's warpers in generate's order: temperature, top-k, top-p."""
    chain = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k),
                                 TopPLogitsWarper(top_p)])
    return chain(None, torch.as_tensor(logits)).numpy()


def warp_comparison(warp=WARP):
    """Our two warp_logits, the page's hand-written warpers and HF's, on the ten-word logits."""
    logits = LOGITS[None].astype(np.float64)                     # (1, V)
    hand = top_p_filter(top_k_filter(with_temperature(logits, warp["temperature"]), warp["top_k"]), warp["top_p"])
    out = {"HF": hf_warp(logits, **warp), "ours (NumPy)": np.asarray(numpy_warp_logits(logits, **warp)),
           "ours (PyTorch)": torch_warp_logits(torch.as_tensor(logits), **warp).numpy(), "by hand": hand}
    ref = out["HF"]
    kept = np.isfinite(ref)
    return {name: {"same_kept": bool((np.isfinite(z) == kept).all()),
                   "max_diff": float(np.abs(z[kept] - ref[kept]).max()),
                   "kept": [WORDS[i] for i in np.flatnonzero(np.isfinite(z[0]))]}
            for name, z in out.items()}


def report_warp():
    r = warp_comparison()
    print(f"warp_logits(logits, temperature={WARP['temperature']}, top_k={WARP['top_k']}, top_p={WARP['top_p']})"
          " on the ten words")
    print(f"{'':>15} {'kept words':<40} {'same set as HF':>14} {'max |Δ logit|':>14}")
    for name, d in r.items():
        print(f"{name:>15} {', '.join(d['kept']):<40} {d['same_kept']!s:>14} {d['max_diff']:14.1e}")
