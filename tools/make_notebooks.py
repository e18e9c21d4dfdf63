"""Build notebooks/*.ipynb from the readable sources in notebooks/src/*.py.

A source is Python in the "percent" format: a line `# %%` starts a code cell,
`# %% [markdown]` a markdown cell (its lines are comments: `# ` is stripped), and
`# %% tags=["parameters"]` a code cell with those tags. The notebooks are written with their
outputs cleared, ready to commit.

    python tools/make_notebooks.py           # write notebooks/*.ipynb
    python tools/make_notebooks.py --check   # exit 1 if a notebook is out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "notebooks" / "src"
MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def split_cells(text: str) -> list[tuple[str, list[str], list[str]]]:
    """(kind, tags, lines) of each cell of a percent-format source."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in text.splitlines():
        m = MARKER.match(line)
        if m:
            kind = "markdown" if m.group("md") else "code"
            cells.append((kind, json.loads(m.group("tags") or "[]"), []))
        elif cells:
            cells[-1][2].append(line)
    return cells


def cell_source(kind: str, lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if kind == "markdown":
        lines = [re.sub(r"^# ?", "", ln) for ln in lines]
    return "\n".join(lines)


def build(source: Path) -> nbformat.NotebookNode:
    """The notebook of one source file, outputs cleared."""
    nb = new_notebook(metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
    for i, (kind, tags, lines) in enumerate(split_cells(source.read_text("utf-8"))):
        text = cell_source(kind, lines)
        cell = new_markdown_cell(text) if kind == "markdown" else new_code_cell(text)
        cell["id"] = f"{source.stem[:2]}-{i:02d}"  # stable ids: regenerating changes nothing
        if tags:
            cell["metadata"]["tags"] = tags
        nb.cells.append(cell)
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that notebooks are current")
    args = ap.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("*.py")):
        target = ROOT / "notebooks" / f"{source.stem}.ipynb"
        text = render(build(source))
        if args.check:
            if not target.is_file() or target.read_text("utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, "utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run tools/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
