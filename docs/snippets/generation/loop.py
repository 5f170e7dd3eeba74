"""The generation loop, written out on our NumPy Llama: recompute, then with the KV cache, then
sampled with a seed; each checked against the library's ``generate`` and HuggingFace's."""

import numpy as np

from transformer_anatomy.numpy.kv_cache import KVCache

from generation.models import FAMILY_NAMES, hf_generate, ours, prompt
from generation.sampling import next_token


# --8<-- [start:greedy_loop]
def greedy_loop(model, input_ids, max_new_tokens):
    """(N, T) ids -> (N, T + K): K times, run the whole sequence and append the argmax."""
    ids = np.asarray(input_ids)
    for _ in range(max_new_tokens):
        logits = model(ids)                                 # (N, T, V): a prediction at every position
        next_id = logits[:, -1].argmax(axis=-1)             # (N,) only the last one is about the future
        ids = np.concatenate([ids, next_id[:, None]], axis=1)  # (N, T) -> (N, T + 1)
    return ids
# --8<-- [end:greedy_loop]


# --8<-- [start:cached_loop]
def cached_loop(model, input_ids, max_new_tokens):
    """The same tokens, but each step feeds only the newest token; the cache holds the rest."""
    cache = KVCache()
    ids = np.asarray(input_ids)
    logits = model(ids, cache=cache)                        # the prompt once: (N, T, V), cache.length = T
    for step in range(max_new_tokens):
        next_id = logits[:, -1].argmax(axis=-1)[:, None]    # (N, 1)
        ids = np.concatenate([ids, next_id], axis=1)
        if step + 1 < max_new_tokens:
            logits = model(next_id, cache=cache)            # (N, 1) -> (N, 1, V), cache.length += 1
    return ids
# --8<-- [end:cached_loop]


# --8<-- [start:sampled_loop]
def sampled_loop(model, input_ids, max_new_tokens, seed, **warp):
    """Sampling instead of argmax; every draw comes from one generator seeded once."""
    rng = np.random.default_rng(seed)
    ids = np.asarray(input_ids)
    for _ in range(max_new_tokens):
        logits = model(ids)[:, -1].astype(np.float64)       # (N, V)
        next_id = next_token(logits, rng, **warp)           # (N,)
        ids = np.concatenate([ids, next_id[:, None]], axis=1)
    return ids
# --8<-- [end:sampled_loop]


K = 12


def loops(family="llama", K=K):
    """Every way of decoding greedily the same prompt, side by side."""
    model = ours(family)
    ids = prompt(N=2)
    return {"prompt": ids,
            "greedy_loop": greedy_loop(model, ids, K),
            "cached_loop": cached_loop(model, ids, K),
            "generate(use_cache=True)": np.asarray(model.generate(ids, max_new_tokens=K)),
            "generate(use_cache=False)": np.asarray(model.generate(ids, max_new_tokens=K, use_cache=False)),
            "HF generate": hf_generate(family, ids, K, do_sample=False)}


def report_loops(family="llama"):
    r = loops(family)
    T = r["prompt"].shape[1]
    print(f"our NumPy {FAMILY_NAMES[family]}, 2 prompts of {T} tokens, {K} new tokens, greedy")
    print(f"prompt: {r['prompt'][0].tolist()} | {r['prompt'][1].tolist()}")
    ref = r["HF generate"]
    for name, ids in r.items():
        if name == "prompt":
            continue
        same = "= HF" if np.array_equal(ids, ref) else "≠ HF"
        print(f"{name:>26}: {ids[0, T:].tolist()} | {ids[1, T:].tolist()}  {same}")


def seeded(family="llama", K=K, temperature=0.8, top_p=0.9):
    """The library's seeded sampling: the same seed twice, then another seed."""
    model = ours(family)
    ids = prompt(N=1)
    run = lambda seed: np.asarray(model.generate(ids, max_new_tokens=K, do_sample=True,  # noqa: E731
                                                 temperature=temperature, top_p=top_p, seed=seed))
    return {"prompt": ids, "seed 0": run(0), "seed 0 again": run(0), "seed 1": run(1),
            "temperature": temperature, "top_p": top_p}


def report_seeded(family="llama"):
    r = seeded(family)
    T = r["prompt"].shape[1]
    print(f"model.generate(ids, max_new_tokens={K}, do_sample=True, temperature={r['temperature']}, "
          f"top_p={r['top_p']}, seed=...)")
    for name in ("seed 0", "seed 0 again", "seed 1"):
        print(f"{name:>13}: {r[name][0, T:].tolist()}")
    print("seed 0 twice identical:", np.array_equal(r["seed 0"], r["seed 0 again"]),
          "| seed 1 differs:", not np.array_equal(r["seed 0"], r["seed 1"]))


def sampled_loop_vs_generate(family="llama", K=K, seed=0, temperature=0.8, top_p=0.9):
    """The page's sampled_loop and the library's generate, same seed: (ours by hand, generate)."""
    model = ours(family)
    ids = prompt(N=2)
    by_hand = sampled_loop(model, ids, K, seed, temperature=temperature, top_p=top_p)
    lib = np.asarray(model.generate(ids, max_new_tokens=K, do_sample=True, temperature=temperature,
                                    top_p=top_p, seed=seed))
    return by_hand, lib


def report_sampled_loop():
    by_hand, lib = sampled_loop_vs_generate()
    print(f"sampled_loop(seed=0) == generate(do_sample=True, seed=0) on 2 prompts: {np.array_equal(by_hand, lib)}")


def repetition(family="gpt2", K=K):
    """Greedy continuations of our GPT-2: each row's most frequent new token and its share."""
    ids = prompt(N=2)
    out = np.asarray(ours(family).generate(ids, max_new_tokens=K))[:, ids.shape[1]:]
    rows = []
    for row in out:
        values, counts = np.unique(row, return_counts=True)
        rows.append((row.tolist(), int(values[counts.argmax()]), int(counts.max())))
    return rows


def report_repetition():
    for new, token, count in repetition():
        print(f"our NumPy GPT-2, greedy: {new}  token {token} is {count} of the {K}")
