"""`crkd distill`: LRINet on low-resolution input, taught by a frozen teacher run."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import load_model, meta_view, meta_vocab
from ..data.transforms import ViewSpec
from ..distill import KD_MODES, Distiller
from ..errors import CheckpointError
from ..models.presets import PRESETS, build_student
from ._training import add_common_arguments, fit_and_test, seed_everything


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument("--teacher", required=True, type=Path, help="the teacher's run folder")
    p.add_argument("--student-size", type=int, default=None, help="LRINet input size in px")
    p.add_argument("--kd", default="both", choices=KD_MODES)
    p.add_argument(
        "--feature-kd",
        default="scale",
        choices=["scale", "recover"],
        help="scale: LRINet ends on the teacher's map; recover: a smaller map, upsampled",
    )
    p.add_argument("--alpha", type=float, default=None, help="feature-KD weight")
    p.add_argument("--beta", type=float, default=None, help="logit-KD weight")
    p.add_argument("--temperature", type=float, default=None)


def run(args) -> int:
    preset = PRESETS.get(args.preset)
    teacher, tmeta = load_model(args.teacher)
    source = Path(args.teacher) / "checkpoint.json"
    if tmeta.get("preset") != preset.name:
        raise CheckpointError(
            source,
            f"teacher was trained with preset {tmeta.get('preset')!r}, "
            f"not {preset.name!r}; pass --preset {tmeta.get('preset')}",
        )
    vocab = meta_vocab(tmeta, source)
    tview = meta_view(tmeta)
    size = args.student_size or preset.student_size
    spec = ViewSpec(tview.pre_size, tview.teacher_size, size, flip=tview.flip)
    seed_everything(args.seed)
    student = build_student(preset, len(vocab), size, args.feature_kd)
    alpha = preset.alpha if args.alpha is None else args.alpha
    beta = preset.beta if args.beta is None else args.beta
    temp = preset.temperature if args.temperature is None else args.temperature
    task = Distiller(student, teacher, args.kd, args.feature_kd, alpha, beta, temp)
    kd = {
        "kd": args.kd,
        "feature_kd": args.feature_kd,
        "alpha": alpha,
        "beta": beta,
        "temperature": temp,
        "teacher_run": str(args.teacher),
        "teacher_input_size": tview.teacher_size,
        "student_variant": args.feature_kd,
    }
    fit_and_test(args, "student", preset, task, vocab, spec, kd, {**kd, "vocab_size": len(vocab)})
    return 0
