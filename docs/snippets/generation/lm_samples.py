"""Samples of the trained character-level language model (``scripts/lm_study.py`` writes them
into ``docs/results/lm.json``: greedy, temperature 0.5 / 0.8 / 1.0, top-p 0.9, seeded), with
how varied each one is, to hold against the temperature figure."""

import html
import json

from results_io import RESULTS


def load_lm(results=None):
    """``lm.json`` as a dict, or None if the study has not been run."""
    path = (results or RESULTS) / "lm.json"
    return json.loads(path.read_text()) if path.exists() else None


def diversity(text):
    """Distinct characters of a sample, and the share of its most frequent character."""
    if not text:
        return 0, 0.0
    counts = {c: text.count(c) for c in set(text)}
    return len(counts), max(counts.values()) / len(text)


def sample_rows(lm):
    """One row per sample of the best run: name, generate's arguments, seed, text, diversity."""
    rows = []
    for item in lm["samples"]["items"]:
        distinct, top_share = diversity(item["text"])
        rows.append({"name": item["name"], "settings": item["settings"], "seed": item["seed"],
                     "text": item["text"], "distinct": distinct, "top_share": top_share})
    return rows


def temperature_trend(rows):
    """Distinct characters of the greedy and the temperature samples, coldest first, and whether
    they never decrease as the temperature rises."""
    ordered = [r for r in rows if not r["settings"].get("do_sample")]
    ordered += sorted((r for r in rows if r["settings"].get("do_sample") and "top_p" not in r["settings"]
                       and "top_k" not in r["settings"]), key=lambda r: r["settings"].get("temperature", 1.0))
    distinct = [r["distinct"] for r in ordered]
    return [r["name"] for r in ordered], distinct, all(a <= b for a, b in zip(distinct, distinct[1:]))


def _show(text):
    return html.escape(text).replace("\n", "<span title=\"newline\">⏎</span>")


def report_samples(results=None):
    lm = load_lm(results)
    if lm is None:
        print("<p><em>docs/results/lm.json is not produced yet — run "
              "<code>python scripts/lm_study.py</code>.</em></p>")
        return
    s = lm["samples"]
    run = lm["runs"][s["run"]]
    tri = lm["baselines"]["trigram"]["valid"]["bits_per_char"]
    quick = " (a <code>--quick</code> run: a few steps, barely trained)" if lm.get("quick") else ""
    print(f"<p>The study trains both families as character-level models on Python's help topics; its "
          f"best run, <code>{s['run']}</code>{quick}, reaches {run['valid']['bits_per_char']:.2f} bits per "
          f"character on the validation topics (the trigram baseline: {tri:.2f}). Its samples continue the "
          f"prompt <code>{_show(s['prompt'])}</code> by {s['chars']} characters ({html.escape(s['how'])}):</p>")
    print("<table><thead><tr><th>setting</th><th>generate's arguments</th><th>text</th>"
          "<th>distinct chars</th><th>most frequent</th></tr></thead><tbody>")
    for r in sample_rows(lm):
        args = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        print(f"<tr><td>{html.escape(r['name'])}</td><td><code>{html.escape(args)}, seed={r['seed']}</code></td>"
              f"<td><code style=\"white-space: pre\">{_show(r['text'])}</code></td><td>{r['distinct']}</td>"
              f"<td>{r['top_share']:.0%}</td></tr>")
    print("</tbody></table>")
    names, distinct, rising = temperature_trend(sample_rows(lm))
    trend = ("never falls" if rising else "does not rise steadily here")
    print(f"<p>From {names[0]} to {names[-1]} the number of distinct characters goes "
          f"{' → '.join(map(str, distinct))}: it {trend} with the temperature, as the entropy curve of the "
          "temperature figure says it should on average.")
    pair = top_p_vs_temperature(sample_rows(lm))
    if pair is not None:
        print(f" The samples share their seed, so the sampled ones read the same uniform numbers: top-p "
              f"{pair['top_p']:g} and temperature {pair['temperature']:g} differ only by the tail top-p cuts, "
              f"and their texts differ at {pair['differ']} of {pair['chars']} characters.")
    print("</p>")


def top_p_vs_temperature(rows):
    """The top-p sample against the plain sample at the same temperature: characters that differ."""
    top = next((r for r in rows if "top_p" in r["settings"]), None)
    if top is None:
        return None
    t = top["settings"].get("temperature", 1.0)
    plain = next((r for r in rows if r["settings"].get("do_sample") and "top_p" not in r["settings"]
                  and "top_k" not in r["settings"] and r["settings"].get("temperature", 1.0) == t
                  and r["seed"] == top["seed"]), None)
    if plain is None:
        return None
    n = min(len(top["text"]), len(plain["text"]))
    differ = sum(a != b for a, b in zip(top["text"], plain["text"])) + abs(len(top["text"]) - len(plain["text"]))
    return {"top_p": top["settings"]["top_p"], "temperature": t, "differ": differ,
            "chars": max(n, len(top["text"]), len(plain["text"]))}
