"""Write notebooks/*.ipynb from their percent-format sources in notebooks/src/*.py, with jupytext.

jupytext reads the sources (`# %%` cells, `# %% [markdown]`, `# %% tags=["parameters"]`) and
writes the notebooks; this script only gives each cell a stable id and the kernel, so that
regenerating an unchanged source changes nothing. The notebooks carry no outputs.

    python tools/sync_notebooks.py           # write notebooks/*.ipynb
    python tools/sync_notebooks.py --check   # exit 1 if a notebook is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "notebooks" / "src"
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def render(source: Path) -> str:
    """The .ipynb text of one source."""
    nb = jupytext.read(source, fmt="py:percent")
    nb.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:2]}-{i:02d}"
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
    return jupytext.writes(nb, fmt="ipynb")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that notebooks are current")
    args = ap.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("*.py")):
        target = ROOT / "notebooks" / f"{source.stem}.ipynb"
        text = render(source)
        if args.check:
            if not target.is_file() or target.read_text("utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
    if stale:
        print(f"out of date (run tools/sync_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
