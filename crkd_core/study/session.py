"""A notebook session: the figure renderer, and the project's errors shown as one line.

`session()` is the first call of every notebook, and `cell_parameters` hands the parameters cell
to the notebook's config. In a kernel `session()` asks IPython to show a `CRKDError` (a wrong
parameter, a missing dataset, a run that does not exist) as its message alone, instead of a
traceback through the library: the message already names the parameter, the file or the run,
and what to change. `%tb` still shows the whole traceback.

The cell still fails: the handler reports the error the way IPython reports any other (an
`error` output with the exception's name and value, and an `error` execute reply), so
papermill marks the notebook FAILED and `crkd study` reports the message. Other exceptions,
which are bugs, keep their full traceback.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from .. import plots
from ..errors import CRKDError
from .configs import AblationConfig, NotebookConfig
from .grid import grid_points

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"
HINT = "(change the parameter or the data it names and run the cell again; %tb: the traceback)"


def session(shell=None) -> None:
    """Set up a notebook: plotly's `crkd` renderer, and one-line CRKDError messages.

    Args:
        shell: the IPython shell; by default the running one. Outside IPython (a script)
            only the renderer is set up.
    """
    plots.setup()
    shell = shell if shell is not None else _running_shell()
    if shell is not None:
        shell.set_custom_exc((CRKDError,), one_line_error)


def cell_parameters(config: type[NotebookConfig], namespace: dict[str, Any]) -> dict[str, Any]:
    """The notebook's parameters that `config` takes, read from the notebook's namespace (the
    parameters cell, as papermill or the user set it), so that the next cell need not spell
    each name again: `cfg = study.TeacherConfig.build(**study.cell_parameters(
    study.TeacherConfig, globals()))`. A field the cell does not set keeps its default."""
    return {f.name: namespace[f.name] for f in fields(config) if f.name in namespace}


def _running_shell():
    try:
        from IPython import get_ipython
    except ImportError:  # a script without IPython: nothing to install
        return None
    return get_ipython()


def error_lines(etype: type, value: BaseException) -> list[str]:
    """What the notebook shows for a CRKDError: its name and message, then a hint."""
    return [f"{RED}{BOLD}{etype.__name__}{RESET}: {value}", HINT]


def one_line_error(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's custom exception handler for CRKDError (see `session`).

    IPython ignores what a custom handler returns, so the handler shows the error itself,
    through `_showtraceback`: ipykernel sends it as the cell's `error` output (ename, evalue and
    these lines as the traceback), which is what papermill and JupyterLab read.
    """
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # for %tb
    stb = error_lines(etype, value)
    shell._showtraceback(etype, value, stb)
    return stb


# -- following runs that train in other processes (03) -----------------------------------------
def tail_log(path: Path) -> list[dict]:
    """The epoch rows of a run's log.jsonl while it is being written: [] before the first
    epoch, and a last line still being written (no newline yet) is left for the next look."""
    if not path.is_file():
        return []
    text = path.read_text("utf-8")
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [json.loads(line) for line in lines if line.strip()]


def run_logs(runs: dict[str, Path]) -> dict[str, list[dict]]:
    """Run name -> its epoch rows so far (runs that train in worker processes)."""
    return {name: tail_log(Path(run) / "log.jsonl") for name, run in runs.items()}


def grid_logs(cfg: AblationConfig) -> dict[str, list[dict]]:
    """Point name -> its epoch rows so far, for `plots.following` while `run_grid` runs."""
    return run_logs({p.name: cfg.paths.point(p) for p in grid_points(cfg)})
