"""Options declared once: a config's field carries its flag's type, choices and help.

`option(...)` makes a dataclass field whose metadata holds an `Option`; `add_options(parser,
cls)` builds the argparse options of a config class from its fields, in their order: the flag
is the field's name (`beam_width` -> `--beam-width`), the default is the field's, a field
without one is required, and a bool is a switch. The value types below refuse a bad value at
parse time with the same words for every command, instead of failing deep inside torch or
numpy; a config made from Python checks its values in its own `validate`.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Option:
    parse: Any = None  # the argparse type: text -> value, or ArgumentTypeError
    choices: tuple | None = None
    help: str | None = None
    metavar: str | None = None


def option(default: Any = MISSING, **spec) -> Any:
    """A config field that is also a command-line option (`Option`'s fields as keywords)."""
    return field(default=default, metadata={"option": Option(**spec)})


def option_of(f: Field) -> Option | None:
    return f.metadata.get("option")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """The options of `cls`: every field declared with `option`."""
    for f in fields(cls):
        spec = option_of(f)
        if spec is None:
            continue
        if f.default is False:
            parser.add_argument(flag(f.name), action="store_true", help=spec.help)
            continue
        kwargs = {"help": spec.help, "metavar": spec.metavar, "choices": spec.choices}
        if f.default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = f.default
        if spec.parse is not None:
            kwargs["type"] = spec.parse
        parser.add_argument(flag(f.name), **{k: v for k, v in kwargs.items() if v is not None})


def choices_of(cls: type) -> dict[str, tuple]:
    """{field: its choices} of the options of `cls` that have a fixed set of values."""
    return {f.name: spec.choices for f in fields(cls) if (spec := option_of(f)) and spec.choices}


# --- value types ------------------------------------------------------------------------------


def _number(kind: type, ok, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = _number(int, lambda v: v > 0, "> 0")


def at_least(low: int):
    """An argparse type: an integer >= `low`."""
    return _number(int, lambda v: v >= low, f">= {low}")


def in_range(low: int, high: int, note: str = ""):
    """An argparse type: an integer in [`low`, `high`]. The message names the bound that was
    broken, and `note` what the bounds mean."""
    above_low = _number(int, lambda v: v >= low, ("> 0" if low == 1 else f">= {low}") + note)

    def parse(text: str) -> int:
        value = above_low(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}{note}, got {text}")
        return value

    parse.__name__ = "int"
    return parse


non_negative_int = _number(int, lambda v: v >= 0, ">= 0")
positive_float = _number(float, lambda v: v > 0 and v != math.inf, "> 0 and finite")
non_negative_float = _number(float, lambda v: 0 <= v < math.inf, ">= 0 and finite")

# One type per kind of option, shared by every command.
MAX_SEED = 2**32 - 1  # numpy's global seed (np.random.seed) takes 0 .. 2**32 - 1
MAX_THREADS = 1024  # far above any CPU this runs on; torch overflows at 2**31
MAX_BEAM = 1024  # without a language model a wider beam only costs time and memory
seed = in_range(0, MAX_SEED, " (numpy's seed range)")
threads = in_range(1, MAX_THREADS)
beam_width = in_range(1, MAX_BEAM)
port = in_range(0, 65535, " (0: any free port)")
