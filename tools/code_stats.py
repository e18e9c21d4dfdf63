"""Size and shape of the package's code: lines per file and per function, and local imports.

    python tools/code_stats.py [PACKAGE_DIR]    # default: crkd_core next to this folder

Prints the largest files, the functions over 60 lines, the median and p90 function length, and
the function-local imports (of crkd_core modules, and of other packages).
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def local_imports(tree: ast.AST) -> tuple[int, int]:
    """(imports of the package itself, other imports) made inside functions."""
    internal = external = 0
    for fn in functions(tree):
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom):
                own = node.level > 0 or (node.module or "").startswith("crkd_core")
                internal, external = internal + own, external + (not own)
            elif isinstance(node, ast.Import):
                external += len(node.names)
    return internal, external


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "crkd_core"
    sizes, lengths, long_fns, lazy = {}, [], [], [0, 0]
    for path in sorted(root.rglob("*.py")):
        text = path.read_text("utf-8")
        tree = ast.parse(text)
        name = path.relative_to(root.parent).as_posix()
        sizes[name] = len(text.splitlines())
        for fn in functions(tree):
            n = fn.end_lineno - fn.lineno + 1
            lengths.append(n)
            if n > 60:
                long_fns.append(f"{name}:{fn.name} ({n})")
        i, e = local_imports(tree)
        lazy[0] += i
        lazy[1] += e
    lengths.sort()
    p90 = lengths[int(0.9 * (len(lengths) - 1))]
    print(f"files: {len(sizes)}, lines: {sum(sizes.values())}")
    print(
        "largest files: "
        + ", ".join(f"{k} ({v})" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    )
    print(f"files over 400 lines: {sum(v > 400 for v in sizes.values())}")
    print(f"functions: {len(lengths)}, median {statistics.median(lengths):.0f} lines, p90 {p90}")
    print(f"functions over 60 lines: {', '.join(long_fns) or 'none'}")
    print(f"function-local imports: {lazy[0]} of crkd_core, {lazy[1]} of other packages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
