"""Beam search for a decoder-only model over our KV cache, checked against HuggingFace's
``generate(num_beams=..., do_sample=False, early_stopping=True, length_penalty=...)``."""

import numpy as np

from transformer_anatomy.numpy.kv_cache import KVCache
from transformer_anatomy.numpy.softmax import log_softmax

from generation.models import FAMILY_NAMES, hf_generate, ours, prompt


def _last_log_probs(model, ids, cache):
    return log_softmax(np.asarray(model(ids, cache=cache))[:, -1].astype(np.float64), axis=-1)  # (B, V)


# --8<-- [start:beam_search]
def beam_search(model, input_ids, num_beams, max_new_tokens, eos_token_id=None, length_penalty=1.0):
    """(1, T) ids -> (1, T + k): the finished hypothesis with the best sum(log p) / k**length_penalty.

    As HF with early_stopping=True: each step ranks the 2 * num_beams best one-token continuations
    of all beams; those among the first num_beams that end (eos, or the last step) are finished,
    the num_beams best that do not end live on; stop when num_beams hypotheses are finished.
    """
    cache = KVCache()
    logp = _last_log_probs(model, input_ids, cache)          # (1, V): one beam, the prompt
    seqs, scores, finished = np.asarray(input_ids), np.zeros(1), []
    for k in range(1, max_new_tokens + 1):                   # k = tokens generated so far + 1
        total = (scores[:, None] + logp).ravel()             # (B, V) -> (B * V,) every continuation
        best = np.argsort(-total, kind="stable")[: 2 * num_beams]
        beam, token = np.divmod(best, logp.shape[1])         # which beam it extends, with which token
        alive = []
        for rank in range(len(best)):
            ends = token[rank] == eos_token_id or k == max_new_tokens
            if ends and rank < num_beams:
                hyp = np.append(seqs[beam[rank]], token[rank])
                finished.append((total[best[rank]] / k**length_penalty, hyp))
            elif not ends and len(alive) < num_beams:
                alive.append(rank)
        finished = sorted(finished, key=lambda f: -f[0])[:num_beams]
        if len(finished) == num_beams or not alive:
            break
        alive = np.array(alive)
        cache.reorder(beam[alive])                           # each survivor takes its parent's keys/values
        seqs = np.concatenate([seqs[beam[alive]], token[alive, None]], axis=1)  # (B, t) -> (B, t + 1)
        scores = total[best[alive]]
        logp = _last_log_probs(model, token[alive, None], cache)  # only the new tokens: (B, 1) -> (B, V)
    return finished[0][1][None]
# --8<-- [end:beam_search]


def sequence_log_prob(model, ids, T):
    """sum of log p(token) over the tokens of ``ids`` (1, L) after the first T (one recompute pass)."""
    logp = log_softmax(np.asarray(model(ids)).astype(np.float64), axis=-1)[0]   # (L, V)
    return float(sum(logp[t - 1, ids[0, t]] for t in range(T, ids.shape[1])))


EOS = {"llama": 14, "gpt2": 27}  # a token these random models often pick: hypotheses end early
SETTINGS = (  # (num_beams, max_new_tokens, with an eos token, length_penalty)
    (2, 8, False, 1.0),
    (4, 8, False, 1.0),
    (3, 10, True, 1.0),
    (3, 10, True, 0.0),
    (4, 10, True, 2.0),
)


def versus_hf(family="llama", prompts=3, settings=SETTINGS):
    """Our beam_search against HF's generate, for every setting and a few prompts."""
    model = ours(family)
    rows = []
    for num_beams, K, with_eos, lp in settings:
        eos = EOS[family] if with_eos else None
        equal = early = 0
        for seed in range(prompts):
            ids = prompt(seed=seed)
            kw = dict(num_beams=num_beams, do_sample=False, early_stopping=True, length_penalty=lp)
            if eos is not None:
                kw.update(eos_token_id=eos, pad_token_id=eos)
            theirs = hf_generate(family, ids, K, **kw)
            mine = beam_search(model, ids, num_beams, K, eos_token_id=eos, length_penalty=lp)
            equal += mine.shape == theirs.shape and np.array_equal(mine, theirs)
            early += mine.shape[1] < ids.shape[1] + K
        rows.append({"num_beams": num_beams, "max_new_tokens": K, "eos_token_id": eos,
                     "length_penalty": lp, "equal": equal, "ended_early": early, "prompts": prompts})
    return rows


def report_versus_hf(family="llama"):
    rows = versus_hf(family)
    print(f"our beam_search on our NumPy {FAMILY_NAMES[family]} vs HF generate(..., early_stopping=True)")
    print(f"{'num_beams':>9} {'new tokens':>10} {'eos':>4} {'length_penalty':>14} {'ended on eos':>12}  equal to HF")
    for r in rows:
        eos = "-" if r["eos_token_id"] is None else r["eos_token_id"]
        print(f"{r['num_beams']:>9} {r['max_new_tokens']:>10} {eos!s:>4} {r['length_penalty']:>14g} "
              f"{r['ended_early']:>12}  "
              f"{r['equal']}/{r['prompts']} prompts")


def greedy_vs_beam(family="llama", prompts=6, K=8, beams=(2, 4)):
    """Log-probability of the whole continuation: greedy against beam search, per prompt."""
    model = ours(family)
    out = []
    for seed in range(prompts):
        ids = prompt(seed=seed)
        T = ids.shape[1]
        row = {"greedy": sequence_log_prob(model, np.asarray(model.generate(ids, max_new_tokens=K)), T)}
        for b in beams:
            row[f"beam {b}"] = sequence_log_prob(model, beam_search(model, ids, b, K), T)
        out.append(row)
    return out


def report_greedy_vs_beam(family="llama"):
    rows = greedy_vs_beam(family)
    names = list(rows[0])
    print("log p(continuation) of 8 new tokens, per prompt (higher is more probable)")
    print(f"{'prompt':>6}" + "".join(f"{n:>10}" for n in names))
    for i, r in enumerate(rows):
        print(f"{i:>6}" + "".join(f"{r[n]:10.3f}" for n in names))
    better = sum(r[names[-1]] > r["greedy"] + 1e-9 for r in rows)
    print(f"{names[-1]} finds a more probable continuation than greedy for {better} of {len(rows)} prompts")
