"""`crkd profile`: teacher vs LRINet of a preset: params, GMACs/frame and fps, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..cost import costs_side_by_side, side_by_side_table, teacher_vs_lrinet
from ..errors import ConfigError
from ..io import atomic_write_json
from ..models.presets import PRESETS, build_student, build_teacher
from ._args import at_least, positive_int, threads


def add_arguments(p) -> None:
    p.add_argument("--preset", default="cpu", choices=PRESETS.names())
    p.add_argument("--student-size", type=positive_int, default=None, help="LRINet input px")
    p.add_argument("--frames", type=at_least(8), default=32, help="clip length for the measurement")
    p.add_argument(
        "--classes", type=at_least(2), default=1296, help="vocabulary size (PHOENIX: 1296)"
    )
    p.add_argument("--repeats", type=positive_int, default=5)
    p.add_argument("--threads", type=threads, default=None)
    p.add_argument("--json", type=Path, default=None, help="write the results here")


def run(args) -> int:
    teacher_px = PRESETS.get(args.preset).teacher.input_size
    if args.student_size is not None and not 8 <= args.student_size <= teacher_px:
        raise ConfigError(
            f"--student-size must be between 8 px and the {args.preset} teacher's {teacher_px} "
            f"px, got {args.student_size}"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        "teacher": build_teacher(args.preset, args.classes),
        "lrinet": build_student(args.preset, args.classes, args.student_size),
    }
    out = {
        "preset": args.preset,
        **teacher_vs_lrinet(costs_side_by_side(models, args.frames, args.repeats)),
    }
    print(f"preset {args.preset}, {torch.get_num_threads()} threads, {args.frames}-frame clips")
    print("\n".join(side_by_side_table(out)))
    if args.json:
        atomic_write_json(args.json, out)
        print(f"-> {args.json}")
    else:
        print(json.dumps(out["ratios_lrinet_over_teacher"]))
    return 0
