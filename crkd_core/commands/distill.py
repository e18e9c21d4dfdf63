"""`crkd distill`: LRINet on low-resolution input, taught by a frozen teacher run."""

from __future__ import annotations

from ..experiment import StudentRunConfig, distill
from ._args import add_kd_arguments, add_run_arguments, command_line, config_from_args


def add_arguments(p) -> None:
    add_run_arguments(p)
    add_kd_arguments(p)


def run(args) -> int:
    cfg = config_from_args(StudentRunConfig, args)
    distill(cfg, command=command_line(args))
    return 0
