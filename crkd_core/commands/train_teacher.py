"""`crkd train-teacher`: the high-resolution teacher, trained with CTC (no teacher above it).

The `cpu` preset adds VAC's auxiliary visual CTC; `--visual-ctc W` sets its weight."""

from __future__ import annotations

from pathlib import Path

from ..experiment import TeacherRunConfig, train_teacher
from ._args import add_run_arguments, command_line, config_from_args, non_negative_float


def add_arguments(p) -> None:
    add_run_arguments(p)
    p.add_argument(
        "--vocab",
        default="train",
        choices=["train", "all"],
        help="glosses of train only, or of train+dev+test (the peers' convention)",
    )
    p.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="a local ImageNet ResNet-18 state dict (.pth or .safetensors) for the "
        "trunk (paper preset); never downloaded",
    )
    p.add_argument(
        "--visual-ctc",
        type=non_negative_float,
        default=None,
        metavar="W",
        help="weight of the auxiliary CTC on the 1D-conv features, before the BiLSTM "
        "(VAC's visual alignment constraint; training only); default: the preset's",
    )


def run(args) -> int:
    cfg = config_from_args(TeacherRunConfig, args)
    train_teacher(cfg, command=command_line(args))
    return 0
