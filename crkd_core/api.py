"""The Python API of the workbench: the CLI's commands as functions, for notebooks and scripts.

Each function takes the command's options as keyword arguments (the CLI flags with `-`
written as `_`), runs exactly the code path of the command line, and returns what it wrote
(metrics dicts). Example::

    from crkd_core import api
    api.synth(out="data/sw", profile="smoke")
    t = api.train_teacher(data="data/sw", out="runs/teacher", epochs=3)
    s = api.distill(data="data/sw", teacher="runs/teacher", out="runs/crkd", kd="both")
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

from .cli import module_name
from .io import read_json
from .runs import RunDir


def command_args(command: str, **options) -> argparse.Namespace:
    """The argparse namespace `crkd <command>` would build, with `options` applied."""
    parser = argparse.ArgumentParser(prog=f"crkd {command}")
    importlib.import_module(module_name(command)).add_arguments(parser)
    argv = []
    for action in parser._actions:
        if action.required:
            if action.dest not in options:
                raise TypeError(f"{command}() missing required option {action.dest!r}")
            argv += [action.option_strings[0], str(options.pop(action.dest))]
    ns = parser.parse_args(argv)
    known = set(vars(ns)) | {"on_epoch"}
    unknown = set(options) - known
    if unknown:
        raise TypeError(f"{command}() got unknown options {sorted(unknown)}")
    for key, value in options.items():
        setattr(ns, key, Path(value) if isinstance(getattr(ns, key, None), Path) else value)
    return ns


def run_command(command: str, **options) -> int:
    mod = importlib.import_module(module_name(command))
    return int(mod.run(command_args(command, **options)) or 0)


def synth(out, **options) -> dict:
    run_command("synth", out=out, **options)
    return read_json(Path(out) / "signworld.json")


def _train(command: str, out, reuse: bool, **options) -> dict:
    """Run a training command; with `reuse`, a complete run is kept and a partial one resumed."""
    run = RunDir(out)
    if reuse and run.is_complete():
        return read_json(run.metrics_path)
    resume = reuse and (run.path / "config.json").is_file()
    run_command(command, out=out, resume=resume or options.pop("resume", False), **options)
    return read_json(run.metrics_path)


def train_teacher(
    data, out, on_epoch: Callable[[dict], None] | None = None, reuse: bool = False, **options
) -> dict:
    """Train a teacher; `on_epoch(row)` is called after each epoch (for live plots)."""
    return _train("train-teacher", out, reuse, data=data, on_epoch=on_epoch, **options)


def distill(
    data,
    teacher,
    out,
    on_epoch: Callable[[dict], None] | None = None,
    reuse: bool = False,
    **options,
) -> dict:
    """Train LRINet from a teacher run (see `crkd distill`)."""
    return _train("distill", out, reuse, data=data, teacher=teacher, on_epoch=on_epoch, **options)


def evaluate(run, data, split: str = "test", decoder: str = "greedy", **options) -> dict:
    run_command("evaluate", run=run, data=data, split=split, decoder=decoder, **options)
    return read_json(Path(run) / f"eval-{split}-{decoder}.json")
