"""No typed numbers in the prose of the guide (issue 12, item 10).

A number a reader meets in prose — a loss, a model width, a batch size, a count of steps —
comes from the code the page executed or from a results file, never from the author's
keyboard: a typed number goes stale the day the code changes. This test reads the Markdown
source of every ``docs/*.md`` page, drops what is not prose (fenced code blocks and the output
they produce at build time, inline code, math ``$…$`` / ``$$…$$`` / ``\\(…\\)`` / ``\\[…\\]``,
HTML tags and comments, link targets, attribute lists, snippet includes ``--8<--``) and fails
on every numeral left that is not in the reviewed allow-list below.

A numeral is a digit sequence that is not part of a name: ``float32``, ``GPT-2``, ``W_1``,
``Q24``, ``bf16``, ``fp32``, ``d_k`` are identifiers and pass. Write small counts as words
("two heads", "the first step"); print measured values from the page's code.

The allow-list holds constants cited from papers (and the years of those citations), each
with the page it is allowed on and the reason. Adding an entry is a review decision: a
measured or configured value never belongs here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# No build needed: it reads the Markdown sources, so it runs with the unit tests.


@dataclass(frozen=True)
class Allowed:
    page: str         # a docs/*.md file name, or "*" for every page
    numeral: str      # exactly as written in the prose
    reason: str       # whose constant it is (a citation), or why it is not a typed value
    context: str = ""  # a regex the prose around the numeral must match (empty: anywhere)


VASWANI = "Vaswani et al. 2017, 'Attention Is All You Need'"
ALLOW: tuple[Allowed, ...] = (
    # The identities 0 and 1: a probability of 1, a loss floor of 0, rank 0, mask values 0 / 1.
    # Definitions, not measured or configured values.
    Allowed("*", "0", "the identity 0 (a loss floor, rank 0, a mask value): a definition"),
    Allowed("*", "1", "the identity 1 (a probability, a mask value, the first of a list): a definition"),
    # Years of the papers the pages cite.
    Allowed("*", "2016", "year of a citation: Ba et al. 2016 (LayerNorm), He et al. 2016 (residuals)",
            r"(et al\.|\(|,)\s*2016"),
    Allowed("*", "2017", f"year of a citation: {VASWANI}", r"(et al\.|\(|,)\s*2017"),
    Allowed("*", "2018", "year of a citation: Devlin et al. 2018 (BERT)", r"(et al\.|\(|,)\s*2018"),
    Allowed("*", "2019", "year of a citation: Radford et al. 2019 (GPT-2)", r"(et al\.|\(|,)\s*2019"),
    Allowed("*", "2020", "year of a citation: Xiong et al. 2020 (pre-norm)", r"(et al\.|\(|,)\s*2020"),
    Allowed("*", "2021", "year of a citation: Su et al. 2021 (RoPE)", r"(et al\.|\(|,)\s*2021"),
    Allowed("*", "2022", "year of a citation: Dao et al. 2022 (FlashAttention)", r"(et al\.|\(|,)\s*2022"),
    Allowed("*", "2023", "year of a citation: Touvron et al. 2023 (Llama)", r"(et al\.|\(|,)\s*2023"),
    # Constants of the original Transformer, quoted from the paper.
    Allowed("*", "10000", f"the base of the sinusoidal positional encoding, {VASWANI} §3.5"),
    Allowed("*", "10,000", f"the base of the sinusoidal positional encoding, {VASWANI} §3.5"),
    Allowed("complexity.md", "37000", f"'a shared source-target vocabulary of about 37000 tokens', {VASWANI} §5.1",
            r"paper.{0,40}37000"),
    Allowed("self-assessment.md", "6", f"N = 6 layers of the base model, {VASWANI} §3.1",
            r"paper says N = 6"),
    Allowed("internals-keras.md", "3", "the product's name, Keras 3 (its major version)", r"Keras 3\b"),
    Allowed("*", "41508", "a citation: PyTorch issue 41508 (NaN for a fully masked row)", r"issue\s+#?41508"),
)

# Not a typed value: a paper's section, figure, table or equation number ("§3.4", "Figure 1"),
# a step or exercise label ("Step 3", "Steps 1 and 2"), an issue number. Only the capitalised
# label counts: "the loss at step 2000" is a typed value.
CITATION_CONTEXT = re.compile(
    r"(§\s*|\b(?:[Ss]ections?|Figures?|Fig\.|Tables?|Eq\.|Equations?|Steps?|Exercises?"
    r"|Questions?)\s+(?:\d+\s*(?:,|and|or|to|–)\s*)*)$")  # capitalised: a label, not "at step 2000"
# Not a typed value either: a dimensionality or a format width that names a thing (4-D, 16-bit).
NAMING_SUFFIX = re.compile(r"^[-‑](?:D|bit)\b")

NUMERAL = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?)(?![\w])")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})")
REF_DEF = re.compile(r"^\s*\[[^\]]+\]:\s+\S+.*$")
# A list item's or a label's own ordinal: "1. read …", "**2. Code.**", '??? question "3. …"'.
ORDINAL_LABEL = re.compile(r'^(\s*(?:[-*+]\s+|>\s*)*(?:(?:\?{3}\+?|!{3})\s+[\w-]+(?:\s+[\w-]+)*\s+")?(?:\*\*|__)?)\d+[.)](?=\s|\*|_|$)')
# Spans removed from the text as a whole (they may cross line ends; newlines are kept).
NOT_PROSE = [
    re.compile(r"<!--.*?-->", re.S),                                  # HTML comments
    re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]", re.S),                       # display math
    re.compile(r"(`+)(?:(?!\n\s*\n).)+?\1", re.S),                    # inline code
    re.compile(r"\\\$"),                                              # an escaped dollar
    re.compile(r"(?<!\$)\$(?!\s)(?:[^$\n\\]|\\.|\n(?!\s*\n))+?(?<!\s)\$", re.S),  # inline math $…$
    re.compile(r"\\\((?:(?!\n\s*\n).)+?\\\)", re.S),                  # inline math \(…\)
    re.compile(r"</?[A-Za-z][^>]*>", re.S),                           # HTML tags and attributes
    re.compile(r"\[\^[^\]]+\]"),                                      # footnote markers
    re.compile(r"\{:?\s*[#.:][^}\n]*\}|\{[^}\n]*=[^}\n]*\}"),         # attribute lists
]
LINK_TARGET = re.compile(r"\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\)")


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group(0))


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, prose) for every line of a Markdown page, with non-prose removed."""
    kept: list[str] = []
    fence: str | None = None
    lines = text.splitlines()
    front = bool(lines) and lines[0].strip() == "---"
    for no, line in enumerate(lines, 1):
        if front:
            kept.append("")
            if no > 1 and line.strip() in ("---", "..."):
                front = False
            continue
        m = FENCE.match(line)
        if fence is not None:
            kept.append("")
            if m and m.group(2)[0] == fence[0] and len(m.group(2)) >= len(fence) \
                    and not line.strip()[len(m.group(2)):].strip():
                fence = None
            continue
        if m:
            fence = m.group(2)
            kept.append("")
            continue
        kept.append("" if "--8<--" in line or REF_DEF.match(line) else line)
    body = "\n".join(kept)
    for pattern in NOT_PROSE:
        body = pattern.sub(_blank, body)
    body = LINK_TARGET.sub(lambda m: "]" + " " * (len(m.group(0)) - 1), body)
    out = []
    for no, line in enumerate(body.split("\n"), 1):
        line = ORDINAL_LABEL.sub(lambda m: m.group(1) + " ", line)
        if line.strip():
            out.append((no, line))
    return out


def numerals(line: str) -> list[tuple[str, int]]:
    """(numeral, offset) for the numerals of one prose line that are not part of a name
    (GPT-2, float32, W_1) nor a citation label (§3.4, Figure 1, Step 2)."""
    found = []
    for m in NUMERAL.finditer(line):
        before, after = line[: m.start()], line[m.end():]
        if re.search(r"[A-Za-z_]\w*[-‑]$", before):  # GPT-2, Llama-3: a name with a number
            continue
        if CITATION_CONTEXT.search(before) or NAMING_SUFFIX.match(after):
            continue
        found.append((m.group(1).rstrip(".,"), m.start()))
    return found


def allowed(page: str, numeral: str, line: str = "", offset: int = 0) -> bool:
    around = line[max(0, offset - 60): offset + len(numeral) + 60]
    return any(a.numeral == numeral and a.page in ("*", page)
               and (not a.context or re.search(a.context, around)) for a in ALLOW)


def scan(path: Path) -> list[tuple[str, int, str, str]]:
    """(page, line number, numeral, the prose line) for every numeral not allowed."""
    bad = []
    for no, line in prose_lines(path.read_text(encoding="utf-8")):
        for num, at in numerals(line):
            if not allowed(path.name, num, line, at):
                bad.append((path.name, no, num, " ".join(line.split())))
    return bad


PAGES = sorted(DOCS.glob("*.md"))


# --- the scanner itself ---------------------------------------------------------------------


def test_identifiers_pass_and_values_fail():
    nums = lambda line: [n for n, _ in numerals(line)]
    assert nums("float32 and bf16 in GPT-2, W_1 and Q24; fp32 then a loss of 0.31 after 200 steps") \
        == ["0.31", "200"]
    assert nums("E = 32 wide, H = 4 heads, N is 4.") == ["32", "4", "4"]
    assert nums("See §3.4 and Figure 1 of the paper, Steps 1 and 2, a 4-D mask; 1e-5 inside") == ["1e-5"]


def test_code_math_html_and_links_are_not_prose():
    text = "\n".join([
        "Intro with `x = 3` inline code and $d_k = 64$ math and \\(x^2\\) too, $a +",
        "b^2$ across a line end.",
        "```python exec=\"1\"",
        "print(12345)",
        "```",
        "$$",
        "y = 7 x",
        "$$",
        "A [link](attention.md#step-2) and <img width=\"400\" alt=\"a\"> tag. { width=\"60%\" }",
        "--8<-- \"docs/snippets/x.py:part1\"",
        "<!-- a comment with 99",
        "still 98 -->",
        "1. An ordered item.",
        "**2. Code.** A label.",
        "Left 42.",
    ])
    found = [(no, num) for no, line in prose_lines(text) for num, _ in numerals(line)]
    assert found == [(15, "42")], found


def test_allow_list_is_reviewed():
    for a in ALLOW:
        assert a.reason and len(a.reason) > 10, a
        re.compile(a.context)
        assert a.page == "*" or (DOCS / a.page).exists(), f"allow-list names a missing page: {a}"


# --- the pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_typed_numbers_in_prose(page):
    bad = scan(page)
    listing = "\n".join(f"  docs/{p}:{no}: {num!r} in: {line[:110]}" for p, no, num, line in bad)
    assert not bad, (
        f"{len(bad)} typed numeral(s) in the prose of docs/{page.name} — print them from the page's "
        f"code, write small counts as words, or (a constant cited from a paper) add a reviewed "
        f"entry to ALLOW:\n{listing}")
