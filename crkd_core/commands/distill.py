"""`crkd distill`: LRINet on low-resolution input, taught by a frozen teacher run."""

from __future__ import annotations

from ..experiment import StudentRunConfig, distill
from ._args import add_options, command_line, config_from_args


def add_arguments(p) -> None:
    add_options(p, StudentRunConfig)


def run(args) -> int:
    cfg = config_from_args(StudentRunConfig, args)
    distill(cfg, command=command_line(args))
    return 0
