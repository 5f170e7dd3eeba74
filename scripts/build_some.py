"""Build only some pages of the site, strictly, to check them fast while writing them.

    .venv/bin/python scripts/build_some.py docs/attention.md [docs/blocks.md ...] [--out /tmp/site-part]

It inherits mkdocs.yml (the same extensions, plugins and strictness) with a nav of just these
pages; links to pages outside the subset are reported as warnings and so fail, as they would
not in the full build: link to them only once they exist, or check with the full build.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pages", nargs="+", help="page files under docs/")
    ap.add_argument("--out", default=None, help="site directory (default: a temporary one)")
    args = ap.parse_args()
    docs = ROOT / "docs"
    rel = [Path(p).resolve().relative_to(docs).as_posix() for p in args.pages]
    out = Path(args.out or tempfile.mkdtemp(prefix="site-part-"))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "mkdocs.yml"
        keep = set(rel) | {"assets/**", "javascripts/**", "stylesheets/**"}
        excluded = [p.relative_to(docs).as_posix() for p in docs.rglob("*")
                    if p.is_file() and p.suffix in (".md", ".py", ".ipynb")
                    and p.relative_to(docs).as_posix() not in keep]
        cfg.write_text(
            f"INHERIT: {ROOT / 'mkdocs.yml'}\n"
            f"docs_dir: {docs}\n"
            f"theme:\n  name: material\n  custom_dir: {ROOT / 'overrides'}\n"
            "nav:\n" + "".join(f"  - {p}\n" for p in rel)
            + "exclude_docs: |\n" + "".join(f"  /{p}\n" for p in excluded)
        )
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1", KERAS_BACKEND="torch", MPLBACKEND="Agg")
        proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(cfg), "-d", str(out)],
                              cwd=ROOT, env=env)
    print(f"site: {out}" if proc.returncode == 0 else "build FAILED")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
