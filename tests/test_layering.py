"""The import graph of crkd_core, read from the source with `ast`: layers point one way.

library (everything else) <- experiment <- study <- commands, cli, api

- the library never imports `experiment`, `study`, `commands`, `cli` or `api`;
- `experiment` never imports `study`, `commands`, `cli` or `api`; `study` never imports
  `commands`, `cli` or `api`;
- there are no import cycles between modules (function-local imports count too);
- a function-local import is only for an optional, heavy package (see LAZY_OK), never to hide
  a cycle inside crkd_core;
- inside the library, the parts whose place is easy to lose import only what ALLOWED lists:
  `models/` are pure nn.Modules, `plots/` build figures from plain arrays (no torch),
  `deploy/` and `demo/` sit on the models and checkpoints and never reach up into runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "crkd_core"
LAYERS = {"experiment": 1, "study": 2, "commands": 3, "cli": 3, "api": 3}
# What these parts of crkd_core may import from the rest of crkd_core (their own modules aside).
# The table is the rule: a new arrow out of one of them is a decision, made here.
ALLOWED = {
    "errors": set(),
    "faults": set(),
    "registry": {"errors"},
    "io": {"errors", "faults"},
    "tensor_files": {"errors"},  # reading tensor files: below checkpoint and models
    "heatmaps": set(),  # numpy only: shared by explain and plots
    # pure nn.Modules and their presets; a checkpoint is read by `checkpoint`, not here
    "models": {"errors", "registry", "tensor_files"},
    "plots": {"heatmaps"},  # figures from plain data: no torch, no study, no runs
    # recognising and packaging a run: the models, their checkpoints, data transforms and
    # decoding; never experiment (training), study, commands or plots
    "deploy": {"checkpoint", "data", "decode", "errors", "io", "models", "tensor_files"},
    "demo": {"checkpoint", "data", "decode", "deploy", "errors", "io", "models"},
}
# Optional or heavy third-party packages that may be imported inside a function.
LAZY_OK = {
    "IPython",
    "av",
    "captum",
    "cv2",
    "google",  # protobuf, onnx's parser (its DecodeError)
    "ipywidgets",
    "jinja2",
    "jupytext",
    "nbconvert",
    "nbformat",
    "onnx",
    "onnxruntime",
    "pandas",
    "papermill",
    "plotly",
    "resource",  # Unix only: machine.peak_rss_mb falls back to it where /proc is missing
    "scipy",
    "torch",  # only in the CLI paths that must stay fast without it (crkd --help)
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name of a (possibly relative) `from X import ...`."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every import in the file."""
    module, is_package = module_name(path), path.name == "__init__.py"
    tree = ast.parse(path.read_text("utf-8"))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                target = resolve(module, is_package, child)
                found.append((target, in_function))
                # `from . import plots` imports the submodule crkd_core.plots
                found.extend((f"{target}.{a.name}", in_function) for a in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def internal(name: str) -> str | None:
    """The crkd_core module that `name` refers to (a module or a name inside one), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def top(module: str) -> str:
    """The first part below crkd_core ("" for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    return LAYERS.get(top(module), 0)


GRAPH = {
    m: {t for name, _ in imports(p) if (t := internal(name)) and t != m} for m, p in MODULES.items()
}


def test_layers_import_only_downwards():
    upward = [
        f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
        for m, targets in GRAPH.items()
        for t in targets
        if layer(t) > layer(m) and not (layer(m) == 3 and layer(t) == 3)
    ]
    assert upward == []


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_parts_import_only_what_the_table_allows(part):
    assert any(top(m) == part for m in MODULES), f"{part}: no such part of crkd_core"
    outside = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if top(m) == part
        for t in targets
        if top(t) != part and top(t) not in ALLOWED[part]
    )
    assert outside == []


def test_the_allowed_table_reaches_no_higher_layer():
    assert all(layer(t) == 0 for targets in ALLOWED.values() for t in targets)


@pytest.mark.parametrize("module", ["crkd_core.plots", "crkd_core.study.profiles"])
def test_cheap_imports_do_not_load_torch(module):
    """Figure code and the study's names import without torch (seconds on a small CPU)."""
    code = (
        f"import sys, {module}; print(sorted(m for m in ('torch', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch" not in out.stdout, out.stdout


def test_the_lazy_study_facade_keeps_its_functions():
    """`study.session` and `study.efficiency` stay functions when their modules are imported."""
    code = (
        "import crkd_core.study.session, crkd_core.study.efficiency\n"
        "from crkd_core import study\n"
        "assert callable(study.session) and callable(study.efficiency)\n"
        "assert study.tables.plateau_table and 'plateau_table' in dir(study)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_api_and_commands_do_not_import_each_other():
    crossed = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if {top(m), top(t)} == {"api", "commands"}
    ]
    assert crossed == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a list of modules), or None; a package imports its own __init__ first,
    so edges from a package's __init__ to its submodules are the normal case, not a cycle."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def parent_package(child: str, parent: str) -> bool:
        return child.startswith(parent + ".")

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if parent_package(m, t):  # a submodule's parent package: imported first anyway
                continue
            if state.get(t) == 1:
                return stack[stack.index(t) :] + [t]
            if t not in state and (cycle := dfs(t)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := dfs(m)):
            return cycle
    return None


def test_no_import_cycles():
    assert find_cycle(GRAPH) is None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_lazy_imports_are_only_for_optional_heavy_packages(module):
    lazy = {
        name
        for name, in_function in imports(MODULES[module])
        if in_function and name.split(".")[0] not in LAZY_OK and not name.startswith("crkd_core")
    }
    lazy_internal = {
        name
        for name, in_function in imports(MODULES[module])
        if in_function and internal(name) and top(module) not in ("cli", "commands")
    }
    assert not lazy and not lazy_internal
