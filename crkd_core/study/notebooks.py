"""Executing the study's notebooks with papermill, in order, each into its study folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from jupyter_client.manager import KernelManager

from ..errors import ConfigError
from .paths import REPO_ROOT
from .profiles import NEEDS, NOTEBOOKS
from .report import PageStatus


def selected(only: str | None) -> list[str]:
    """The notebooks named in `--only` (comma-separated), in study order; all by default
    (None). A selection that names no notebook is refused: it would rebuild the report
    without any page."""
    if only is None:
        return list(NOTEBOOKS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--only {only!r} names no notebook; choose from {list(NOTEBOOKS)}")
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ConfigError(f"--only: unknown notebooks {unknown}; choose from {list(NOTEBOOKS)}")
    return [n for n in NOTEBOOKS if n in names]


def run_notebooks(
    names: list[str],
    params: dict,
    out: Path,
    extra: dict[str, dict],
    timeout: int | None,
    before: dict[str, Callable[[dict[str, PageStatus]], None]] | None = None,
) -> list[PageStatus]:
    """Execute the notebooks in order; one whose prerequisites failed is skipped.

    `params` go to every notebook, `extra[name]` to that notebook only; `before[name](statuses)`
    is called, with the statuses of the notebooks so far, before that notebook runs (or is
    skipped).
    """
    statuses: dict[str, PageStatus] = {}
    for name in NOTEBOOKS:
        if before and name in before:
            before[name](statuses)
        if name not in names:
            statuses[name] = PageStatus(name, "not run", error="not selected (--only)")
            continue
        broken = [n for n in NEEDS.get(name, ()) if failed(statuses.get(n))]
        if broken:
            statuses[name] = PageStatus(
                name, "skipped", error=f"needs {', '.join(broken)}, which did not succeed"
            )
            continue
        print(f"running {name} ...", flush=True)
        notebook_params = {**params, "interactive": False, **extra.get(name, {})}
        statuses[name] = execute(name, notebook_params, out, timeout)
    return list(statuses.values())


def failed(status: PageStatus | None) -> bool:
    """Whether a notebook ran in this study and did not succeed (not run is not failed)."""
    return status is not None and status.status in ("failed", "skipped")


def execute(name: str, params: dict, out: Path, timeout: int | None) -> PageStatus:
    """Run one notebook with papermill into `<out>/<name>/<name>.ipynb`; never raises. What its
    cells print goes, as they run, to `<out>/<name>/<name>.log` (`tail -f` follows it)."""
    import papermill as pm

    source = REPO_ROOT / "notebooks" / f"{name}.ipynb"
    target = out / name / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)  # a crash must not leave the previous run's notebook
    os.environ.setdefault("CRKD_NO_PROGRESS", "1")
    t0 = time.perf_counter()
    try:
        if not source.is_file():
            raise FileNotFoundError(f"notebook {source} is missing")
        log_path = target.with_suffix(".log")
        with open(log_path, "w", encoding="utf-8", buffering=1) as log, kernel() as km:
            pm.execute_notebook(
                str(source),
                str(target),
                parameters=params,
                kernel_name="python3",
                km=km,
                progress_bar=False,
                cwd=str(target.parent),
                execution_timeout=timeout,
                log_output=True,
                stdout_file=log,
                stderr_file=log,
            )
    except Exception as exc:  # papermill raises many types; all of them mean FAILED
        return PageStatus(
            name,
            "failed",
            time.perf_counter() - t0,
            describe(exc),
            executed=str(target) if target.is_file() else None,
        )
    return PageStatus(name, "ok", time.perf_counter() - t0, executed=str(target))


@contextlib.contextmanager
def kernel() -> Iterator[KernelManager]:
    """The notebook's kernel manager: IPC (local sockets in a short private folder), not TCP:
    the kernel runs on this machine, and TCP without encryption makes every kernel print a
    warning that no user can act on. The kernel is shut down afterwards (papermill leaves a
    kernel it did not start running)."""
    with tempfile.TemporaryDirectory(prefix="crkd-kernel-") as tmp:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(tmp) / "k"))
        try:
            yield km
        finally:
            if km.has_kernel:
                km.shutdown_kernel(now=True)


def describe(exc: Exception) -> str:
    """The error of a failed notebook in one or two lines (papermill's carry the cell's)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"
