"""What the command adapters share: argparse types that refuse bad values at parse time, the
options of both training commands, and turning a namespace into a typed experiment config."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError
from ..models.presets import PRESETS, STUDENT_VARIANTS

T = TypeVar("T")


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
positive_float = _number(float, lambda v: v > 0 and v != float("inf"), "> 0 and finite")
non_negative_float = _number(float, lambda v: 0 <= v < float("inf"), ">= 0 and finite")

# One type per kind of option, shared by every command, so that each is refused at parse time
# with the same words instead of failing deep inside torch or numpy.
MAX_SEED = 2**32 - 1  # numpy's global seed (np.random.seed) takes 0 .. 2**32 - 1
MAX_THREADS = 1024  # far above any CPU this runs on; torch overflows at 2**31
MAX_BEAM = 1024  # without a language model a wider beam only costs time and memory
seed = in_range(0, MAX_SEED, " (numpy's seed range)")
threads = in_range(1, MAX_THREADS)
beam_width = in_range(1, MAX_BEAM)
port = in_range(0, 65535, " (0: any free port)")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `crkd train-teacher` and `crkd distill` (fields of `RunConfig`)."""
    p.add_argument("--data", required=True, type=Path, help="dataset root (PHOENIX-2014 layout)")
    p.add_argument("--out", required=True, type=Path, help="run folder to create")
    p.add_argument("--dataset", default=None, help="layout name; auto-detected when omitted")
    p.add_argument("--preset", default="cpu", choices=PRESETS.names())
    p.add_argument("--epochs", type=positive_int, default=None, help="default: the preset's")
    p.add_argument("--batch-size", type=positive_int, default=None, help="per process")
    p.add_argument("--lr", type=positive_float, default=None, help="default: the preset's")
    p.add_argument("--seed", type=seed, default=0, help=f"0 to {MAX_SEED}")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=threads, default=None, help="torch CPU threads, 1 to 1024")
    p.add_argument("--decoder", default="greedy", choices=["greedy", "beam"])
    p.add_argument("--beam-width", type=beam_width, default=10, help="1 to 1024")
    p.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"], help="CUDA only")
    p.add_argument("--grad-accum", type=positive_int, default=1, help="micro-batches per step")
    p.add_argument(
        "--patience",
        type=positive_int,
        default=None,
        metavar="N",
        help="stop once N epochs in a row bring no dev WER at least 0.5 points below the best",
    )
    p.add_argument(
        "--min-epochs",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --patience: never stop before epoch N (a model can sit on a plateau "
        "before it breaks through)",
    )
    p.add_argument("--nan-policy", default="stop", choices=["stop", "skip"])
    p.add_argument("--cache-dir", type=Path, default=None, help="decoded-frame cache")
    p.add_argument("--num-workers", type=non_negative_int, default=0, help="DataLoader workers")
    p.add_argument(
        "--frame-cache",
        default="auto",
        choices=["auto", "disk", "none"],
        help="cache decoded frames on disk (auto: unless larger than "
        "$CRKD_CACHE_MAX_GB, 16) or decode every epoch (none)",
    )
    p.add_argument(
        "--allow-oov",
        action="store_true",
        help="score dev/test glosses missing from the vocabulary as errors",
    )


def add_kd_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `crkd distill` beyond the common ones (fields of `StudentRunConfig`)."""
    p.add_argument(
        "--teacher", type=Path, default=None, help="the teacher's run folder (not with --kd none)"
    )
    p.add_argument("--student-size", type=positive_int, default=None, help="LRINet input px")
    p.add_argument(
        "--kd",
        type=kd_spec,
        default="both",
        metavar="TERMS",
        help="KD terms, weights and options, e.g. feature=10,logit=5:T=8 (a weight left out: "
        "the preset's), or none, feature, logit, both (feature,logit)",
    )
    p.add_argument(
        "--student-variant",
        default="scale",
        choices=STUDENT_VARIANTS,
        help="scale: LRINet ends on the teacher's map; recover: a smaller map, upsampled",
    )
    # the old spellings of --student-variant, and of the feature and logit terms' settings
    old = "old spelling of"
    p.add_argument(
        "--feature-kd", default=None, choices=STUDENT_VARIANTS, help=f"{old} --student-variant"
    )
    p.add_argument("--alpha", type=non_negative_float, default=None, help=f"{old} feature=ALPHA")
    p.add_argument("--beta", type=non_negative_float, default=None, help=f"{old} logit=BETA")
    p.add_argument("--temperature", type=positive_float, default=None, help=f"{old} logit:T=T")
    p.add_argument(
        "--teacher-cache",
        type=Path,
        default=None,
        help="folder of the frozen teacher's outputs, shared by students of one seed",
    )


def kd_spec(text: str) -> str:
    """An argparse type: a `--kd` value that names known terms and options."""
    from ..losses.registry import parse_kd  # importing `losses` registers its terms

    try:
        parse_kd(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def config_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The config `cls` from the namespace's values of its fields."""
    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(cls)}
    return cls(**values)


def command_line(args: argparse.Namespace) -> str:
    """The `crkd ...` line that was run (what `command.txt` records)."""
    argv = getattr(args, "argv", None) or [args.command]
    return shlex.join(["crkd", *argv])
