"""Build a few pages of the real site quickly, for working on them (not a test).

    .venv/bin/python tests/docs/partial_build.py attention.md blocks.md [-o /tmp/site-att]

Writes a temporary config that inherits ``mkdocs.yml``, keeps only the named pages (the rest of
``docs/*.md`` and the notebooks are excluded), builds it without ``--strict`` (links to the
excluded pages would fail it) and prints every warning that is not about a link to an excluded
page. Exit status 1 when a warning remains (a failed snippet, a bad include, a broken anchor).
The full strict build (``make build``) stays the judge.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pages", nargs="+", help="page files under docs/, e.g. attention.md")
    ap.add_argument("-o", "--out", default=None, help="site folder (default: a temporary one)")
    args = ap.parse_args()
    docs = ROOT / "docs"
    keep = {p.removeprefix("docs/") for p in args.pages}
    for p in keep:
        if not (docs / p).exists():
            ap.error(f"page {p!r} does not exist under docs/")
    others = [p.relative_to(docs).as_posix() for p in docs.glob("*.md") if p.name not in keep]
    others += [p.relative_to(docs).as_posix() for p in (docs / "notebooks").glob("*.py") if f"notebooks/{p.name}" not in keep]
    others += ["reference/"] if not any(k.startswith("reference/") for k in keep) else []
    out = Path(args.out or tempfile.mkdtemp(prefix="ta-partial-"))
    cfg = out.parent / (out.name + ".yml")
    exclude = "\n".join(["  snippets/", "  results/*.json", "  results/*.md"] + [f"  /{o}" for o in others])
    nav = "".join(f"  - {k}\n" for k in sorted(keep))
    cfg.write_text(f"INHERIT: {ROOT / 'mkdocs.yml'}\ndocs_dir: {docs}\nstrict: false\n"
                   f"theme:\n  name: material\n  custom_dir: {ROOT / 'overrides'}\n"
                   f"exclude_docs: |\n{exclude}\nnav:\n{nav}")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", KERAS_BACKEND="torch", MPLBACKEND="Agg",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-f", str(cfg), "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    excluded = tuple(o.removesuffix("/") for o in others)
    warnings = []
    for line in (proc.stdout + proc.stderr).splitlines():
        if not line.startswith(("WARNING", "ERROR")):
            if warnings and line.startswith(("  ", "\t", "Traceback", "  File")):
                warnings.append(line)
            continue
        if re.search(r"(not found among documentation files|is not found|excluded)", line) and any(
                e in line for e in excluded):
            continue
        if "omitted_files" in line or "not included in the \"nav\"" in line:
            continue
        warnings.append(line)
    print("\n".join(warnings) if warnings else f"built {sorted(keep)} into {out} with no warning of theirs")
    if proc.returncode:
        print(proc.stderr[-4000:])
    return 1 if (warnings or proc.returncode) else 0


if __name__ == "__main__":
    sys.exit(main())
