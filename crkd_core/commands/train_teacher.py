"""`crkd train-teacher`: the high-resolution teacher, trained with CTC alone."""

from __future__ import annotations

from ..data.transforms import ViewSpec
from ..distill import CTCTask
from ..models.presets import PRESETS, build_teacher
from ..pipeline import DataConfig, build_vocab, open_layout
from ._training import add_common_arguments, fit_and_test, seed_everything


def add_arguments(p) -> None:
    add_common_arguments(p)
    p.add_argument(
        "--vocab",
        default="train",
        choices=["train", "all"],
        help="glosses of train only, or of train+dev+test (the peers' convention)",
    )


def run(args) -> int:
    preset = PRESETS.get(args.preset)
    layout = open_layout(DataConfig(args.data, args.dataset))
    vocab = build_vocab(layout, args.vocab)
    seed_everything(args.seed)
    model = build_teacher(preset, len(vocab))
    spec = ViewSpec(preset.pre_size, model.cfg.input_size)
    fit_and_test(
        args,
        "teacher",
        preset,
        CTCTask(model, "teacher"),
        vocab,
        spec,
        {"vocab_convention": args.vocab},
        {"kd": "none", "vocab_size": len(vocab)},
    )
    return 0
