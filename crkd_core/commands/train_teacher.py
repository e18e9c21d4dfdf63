"""`crkd train-teacher`: the high-resolution teacher, trained with CTC (no teacher above it).

The `cpu` preset adds VAC's auxiliary visual CTC; `--visual-ctc W` sets its weight."""

from __future__ import annotations

from pathlib import Path

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
    p.add_argument(
        "--pretrained",
        type=Path,
        default=None,
        help="a local ImageNet ResNet-18 state dict (.pth or .safetensors) for the "
        "trunk (paper preset); never downloaded",
    )
    p.add_argument(
        "--visual-ctc",
        type=float,
        default=None,
        metavar="W",
        help="weight of the auxiliary CTC on the 1D-conv features, before the BiLSTM "
        "(VAC's visual alignment constraint; training only); default: the preset's",
    )


def run(args) -> int:
    preset = PRESETS.get(args.preset)
    layout = open_layout(DataConfig(args.data, args.dataset))
    vocab = build_vocab(layout, args.vocab)
    seed_everything(args.seed)
    model = build_teacher(preset, len(vocab), args.visual_ctc)
    if args.pretrained:
        from ..models.pretrained import load_resnet18_trunk

        n = load_resnet18_trunk(model.trunk, args.pretrained)
        print(f"loaded {n} pretrained trunk tensors from {args.pretrained}")
    spec = ViewSpec(preset.pre_size, model.cfg.input_size, flip=layout.mirror_safe)
    extra = {
        "vocab_convention": args.vocab,
        "pretrained": str(args.pretrained) if args.pretrained else None,
    }
    metrics = {"kd": "none", "vocab_size": len(vocab)}
    fit_and_test(args, "teacher", preset, CTCTask(model, "teacher"), vocab, spec, extra, metrics)
    return 0
