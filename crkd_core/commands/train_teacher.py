"""`crkd train-teacher`: the high-resolution teacher, trained with CTC (no teacher above it).

The `cpu` preset adds VAC's auxiliary visual CTC; `--visual-ctc W` sets its weight."""

from __future__ import annotations

from ..experiment import TeacherRunConfig, train_teacher
from ._args import add_options, command_line, config_from_args


def add_arguments(p) -> None:
    add_options(p, TeacherRunConfig)


def run(args) -> int:
    cfg = config_from_args(TeacherRunConfig, args)
    train_teacher(cfg, command=command_line(args))
    return 0
