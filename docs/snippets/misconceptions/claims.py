"""Two beliefs answered by measurements made elsewhere on the site, read from their results files.

- "Pre-trained models are plug-and-play": docs/results/pretraining.json (scripts/pretraining_study.py,
  the pre-training page); the readers are that page's own (``pretraining.results``).
- "Transformers always beat RNNs": docs/results/rnn.json (scripts/rnn_study.py, the RNN page);
  this page quotes no number of it, it says whether it exists and links to the page.
"""

import contextlib
import io

from results_io import RESULTS

from pretraining import results as pre  # the pre-training page's readers: one home for them


def captured(fn, *args):
    """What ``fn(*args)`` prints, as a string (markdown-exec captures only this page's own prints)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        fn(*args)
    return buffer.getvalue().rstrip("\n")


def report_plug_and_play(r=None):
    """Vocabulary coverage, the new head, and the label table's verdict (Markdown)."""
    r = r or pre.load()
    if r is None:
        return print(pre.MISSING)
    cov = r["coverage"]
    keys = r["from_pretrained"]["missing_keys"]
    print(f"- **The vocabulary does not carry over.** The pre-training tokenizer knows "
          f"{cov['token_coverage']:.0%} of the sentiment task's word occurrences and "
          f"{cov['type_coverage']:.0%} of its distinct words; the other {len(cov['missing'])} words "
          f"(among them {', '.join(repr(w) for w in cov['missing'][:4])}) get new, random embedding rows.")
    print(f"- **The head is new.** `from_pretrained` reported {len(keys)} weights missing "
          f"({', '.join(f'`{k}`' for k in keys)}): they start random and must be trained on labels.")
    print("- **Against the same model from scratch**, on the same labels:\n")
    print(captured(pre.verdict, r) + "\n")
    print(captured(pre.report_gains, r) + "\n")
    print(captured(pre.spread_of_choices, r))


def report_rnn(folder=None):
    """Whether the RNN measurements exist in this build (no number is quoted here)."""
    path = (folder or RESULTS) / "rnn.json"
    if path.exists():
        print("The measurements are in this build: `docs/results/rnn.json`, written by `scripts/rnn_study.py`.")
    else:
        print("`docs/results/rnn.json` is not in this build yet: run `python scripts/rnn_study.py`.")
