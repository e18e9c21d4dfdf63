"""`crkd profile`: teacher vs LRINet of a preset: params, GMACs/frame and fps, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..cost import profile_side_by_side
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


def check_student_size(preset: str, size: int | None) -> None:
    teacher = PRESETS.get(preset).teacher.input_size
    if size is not None and not 8 <= size <= teacher:
        raise ConfigError(
            f"--student-size must be between 8 px and the {preset} teacher's {teacher} px, "
            f"got {size}"
        )


def run(args) -> int:
    check_student_size(args.preset, args.student_size)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        "teacher": build_teacher(args.preset, args.classes),
        "lrinet": build_student(args.preset, args.classes, args.student_size),
    }
    res = profile_side_by_side(models, args.frames, args.repeats)
    t, s = res["teacher"], res["lrinet"]
    ratios = {
        "params": s["params"] / t["params"],
        "gmacs_per_frame": s["gmacs_per_frame"] / t["gmacs_per_frame"],
        "fps": s["fps"] / t["fps"],
    }
    out = {"preset": args.preset, "teacher": t, "lrinet": s, "ratios_lrinet_over_teacher": ratios}
    print(f"preset {args.preset}, {torch.get_num_threads()} threads, {args.frames}-frame clips")
    print(f"{'':10}{'input':>8}{'params':>12}{'GMACs/frame':>14}{'fps':>10}")
    for name, r in (("teacher", t), ("lrinet", s)):
        print(
            f"{name:10}{r['input_size']:>6}px{r['params'] / 1e6:>11.2f}M"
            f"{r['gmacs_per_frame']:>14.3f}{r['fps']:>10.1f}"
        )
    print(
        f"{'ratio':10}{'':>8}{ratios['params']:>11.2f}x{ratios['gmacs_per_frame']:>13.2f}x"
        f"{ratios['fps']:>9.2f}x"
    )
    if args.json:
        atomic_write_json(args.json, out)
        print(f"-> {args.json}")
    else:
        print(json.dumps(ratios))
    return 0
