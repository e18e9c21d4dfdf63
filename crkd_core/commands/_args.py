"""What the command adapters share: the options of a config class (declared once, on its
fields: `crkd_core.options`), the argparse value types, and turning a namespace into a typed
config."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import fields
from typing import Any, TypeVar

from ..options import (  # noqa: F401  (the value types, for the command adapters)
    MAX_BEAM,
    MAX_SEED,
    MAX_THREADS,
    add_options,
    at_least,
    beam_width,
    in_range,
    non_negative_float,
    non_negative_int,
    port,
    positive_float,
    positive_int,
    seed,
    threads,
)

T = TypeVar("T")


def config_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The config `cls` from the namespace's values of its fields."""
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(cls)}
    return cls(**values)


def command_line(args: argparse.Namespace) -> str:
    """The `crkd ...` line that was run (what `command.txt` records)."""
    argv = getattr(args, "argv", None) or [args.command]
    return shlex.join(["crkd", *argv])
