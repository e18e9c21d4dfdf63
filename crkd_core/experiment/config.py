"""Typed run configs: what a teacher run, a student run and an evaluation take.

The CLI builds them from argv and the API from keyword arguments; both get the same checks,
before any data is read or any folder is made. A value left `None` takes the preset's default,
and `train_config()` is the one place where those defaults are resolved.
"""

from __future__ import annotations

import argparse
from dataclasses import Field, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, DataError
from ..losses.registry import Terms, kd_label, parse_kd, resolve_kd
from ..models.presets import HEAD_INITS, PRESETS, STUDENT_VARIANTS, Preset
from ..options import (
    MAX_SEED,
    beam_width,
    choices_of,
    flag,
    non_negative_float,
    non_negative_int,
    option,
    option_of,
    positive_float,
    positive_int,
    seed,
    threads,
)
from ..options import seed as seed_number  # `seed` is also a field name below
from ..pipeline import DataConfig
from ..precision import AMP_CHOICES, CHANNELS_LAST_CHOICES, resolve_amp, resolve_channels_last
from ..scoring.cleaning import CLEANINGS
from ..trainer import TrainConfig

DEVICES = ("auto", "cpu", "cuda")
DECODERS = ("greedy", "beam")
PATHS = ("data", "out", "cache_dir", "pretrained", "teacher", "run", "teacher_cache")


def kd_spec(text: str) -> str:
    """An argparse type: a `--kd` value that names known terms and options."""
    try:
        parse_kd(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def check_positive(name: str, value: Any, kind: type = int, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ConfigError(f"{flag(name)} must be a {kind.__name__}, got {value!r}")
    if not value > 0:
        raise ConfigError(f"{flag(name)} must be > 0, got {value!r}")


def check_non_negative(name: str, value: Any, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(f"{flag(name)} must be a number >= 0, got {value!r}")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{flag(name)} must be one of {', '.join(choices)}, not {value!r}")


def check_number(f: Field, value: Any) -> None:
    """A number given from Python gets its option's range, as on the command line (`inf` for
    `--lr`, `-1` for `--seed`); a value of the wrong type is left to `validate`."""
    spec = option_of(f)
    parse = spec and spec.parse
    kind = getattr(parse, "__name__", None)
    if kind not in ("int", "float") or isinstance(value, bool):
        return
    if isinstance(value, int if kind == "int" else (int, float)):
        try:
            parse(repr(value))
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(f"{flag(f.name)} {exc}") from None


def check_data_root(root: Path) -> None:
    if not root.exists():
        raise DataError(root, "dataset root does not exist (--data)")
    if not root.is_dir():
        raise DataError(root, "dataset root is not a folder (--data)")


@dataclass(frozen=True, kw_only=True)
class _Checked:
    """Paths become `Path`s and every field is checked when the config is made."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in PATHS and isinstance(value, str):
                object.__setattr__(self, f.name, Path(value).expanduser())
            elif f.name in PATHS and value is not None and not isinstance(value, Path):
                raise ConfigError(f"{flag(f.name)} must be a path, got {value!r}")
        optional = {f.name for f in fields(self) if f.default is None}
        for name, choices in choices_of(type(self)).items():
            if getattr(self, name) is not None or name not in optional:
                check_choice(name, getattr(self, name), choices)
        for f in fields(self):
            check_number(f, getattr(self, f.name))
        self.validate()

    def validate(self) -> None:
        """Range checks beyond types and choices (subclasses extend this)."""

    def as_call(self, function: str) -> str:
        """This config as the Python call that makes the run (for `command.txt`)."""
        args = ", ".join(
            f"{f.name}={str(v) if isinstance(v, Path) else v!r}"
            for f in fields(self)
            if (v := getattr(self, f.name)) != f.default
        )
        return f"{function}({args})"

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class RunConfig(_Checked):
    """What both training runs take: data, preset, optimisation and the run folder."""

    data: Path = option(parse=Path, help="dataset root (PHOENIX-2014 layout)")
    out: Path = option(parse=Path, help="run folder to create")
    dataset: str | None = option(None, help="layout name; auto-detected when omitted")
    preset: str = option("cpu", choices=PRESETS.names())
    epochs: int | None = option(None, parse=positive_int, help="default: the preset's")
    batch_size: int | None = option(None, parse=positive_int, help="per process")
    lr: float | None = option(None, parse=positive_float, help="default: the preset's")
    seed: int = option(0, parse=seed, help=f"0 to {MAX_SEED}")
    augment_seed: int | None = option(
        None,
        parse=seed_number,
        help="seed of the training views' crops, flips and rescales (default: a student's "
        "teacher run's seed, so that the students of one teacher share its outputs through "
        "--teacher-cache; otherwise --seed)",
    )
    resume: bool = option(False, help="continue the run in --out")
    device: str = option("auto", choices=DEVICES)
    threads: int | None = option(None, parse=threads, help="torch CPU threads, 1 to 1024")
    decoder: str = option("greedy", choices=DECODERS)
    beam_width: int = option(10, parse=beam_width, help="1 to 1024")
    amp: str = option(
        "auto",
        choices=AMP_CHOICES,
        help="autocast precision; auto: bf16 where the CPU or GPU computes it natively, else "
        "none (fp32); fp16 on CUDA only",
    )
    channels_last: str = option(
        "auto",
        choices=CHANNELS_LAST_CHOICES,
        help="the trained frame trunk laid out channels-last (auto: a teacher's, on a CPU)",
    )
    grad_accum: int = option(1, parse=positive_int, help="micro-batches per step")
    patience: int | None = option(
        None,
        parse=positive_int,
        metavar="N",
        help="stop once N epochs in a row bring no dev WER at least 0.5 points below the best",
    )
    min_epochs: int | None = option(
        None,
        parse=positive_int,
        metavar="N",
        help="with --patience: never stop before epoch N (a model can sit on a plateau "
        "before it breaks through)",
    )
    nan_policy: str = option("stop", choices=("stop", "skip"))
    cache_dir: Path | None = option(None, parse=Path, help="decoded-frame cache")
    num_workers: int = option(0, parse=non_negative_int, help="DataLoader workers")
    frame_cache: str = option(
        "auto",
        choices=("auto", "disk", "none"),
        help="cache decoded frames on disk (auto: unless larger than "
        "$CRKD_CACHE_MAX_GB, 16) or decode every epoch (none)",
    )
    allow_oov: bool = option(
        False, help="score dev/test glosses missing from the vocabulary as errors"
    )

    def validate(self) -> None:
        if self.preset not in PRESETS.names():
            raise ConfigError(f"--preset must be one of {', '.join(PRESETS.names())}")
        for name in ("epochs", "batch_size", "threads"):
            check_positive(name, getattr(self, name))
        check_positive("lr", self.lr, float)
        check_positive("beam_width", self.beam_width, optional=False)
        check_positive("grad_accum", self.grad_accum, optional=False)
        check_positive("patience", self.patience)
        check_positive("min_epochs", self.min_epochs)
        if self.min_epochs is not None:
            if self.patience is None:
                raise ConfigError("--min-epochs needs --patience: it delays the plateau rule")
            epochs = self.train_config().epochs
            if self.min_epochs > epochs:
                raise ConfigError(
                    f"--min-epochs ({self.min_epochs}) must not exceed --epochs ({epochs})"
                )
        check_non_negative("num_workers", self.num_workers, optional=False)
        for name in ("seed", "augment_seed"):
            value = getattr(self, name)
            if name == "augment_seed" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
                flag_name = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag_name} must be an integer, 0 to {MAX_SEED}, got {value!r}")
        check_data_root(self.data)

    trained_role = "teacher"  # the network this run trains (a ClassVar: no option)

    def device_type(self) -> str:
        """ "cuda" or "cpu": where this process will train (as `init_distributed` picks)."""
        cuda = self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
        return "cuda" if cuda else "cpu"

    @property
    def preset_spec(self) -> Preset:
        return PRESETS.get(self.preset)

    def train_config(self) -> TrainConfig:
        """The trainer's settings, with the preset's defaults for what was left unset."""
        p = self.preset_spec
        return TrainConfig(
            epochs=self.epochs or p.epochs,
            batch_size=self.batch_size or p.batch_size,
            lr=self.lr or self.default_lr(),
            grad_accum=self.grad_accum,
            amp=resolve_amp(self.amp, self.device_type()),
            channels_last=resolve_channels_last(
                self.channels_last, self.device_type(), self.trained_role
            ),
            nan_policy=self.nan_policy,
            decoder=self.decoder,
            beam_width=self.beam_width,
            seed=self.seed,
            patience=self.patience,
            min_epochs=self.min_epochs or 0,
        )

    def default_lr(self) -> float:
        """The preset's learning rate for this kind of run (when `lr` is unset)."""
        return self.preset_spec.lr

    def data_config(self) -> DataConfig:
        return DataConfig(
            root=self.data,
            dataset=self.dataset,
            cache_dir=self.cache_dir,
            allow_oov=self.allow_oov,
            num_workers=self.num_workers,
            frame_cache=self.frame_cache,
        )


@dataclass(frozen=True, kw_only=True)
class TeacherRunConfig(RunConfig):
    """`crkd train-teacher`: the high-resolution teacher, CTC (plus the preset's visual CTC)."""

    vocab: str = option(
        "train",
        choices=("train", "all"),
        help="glosses of train only, or of train+dev+test (the peers' convention)",
    )
    pretrained: Path | None = option(
        None,
        parse=Path,
        help="a local ImageNet ResNet-18 state dict (.pth or .safetensors) for the "
        "trunk (paper preset); never downloaded",
    )
    visual_ctc: float | None = option(
        None,
        parse=non_negative_float,
        metavar="W",
        help="weight of the auxiliary CTC on the 1D-conv features, before the BiLSTM "
        "(VAC's visual alignment constraint; training only); default: the preset's",
    )

    def validate(self) -> None:
        super().validate()
        check_non_negative("visual_ctc", self.visual_ctc)
        if self.pretrained is not None and not self.pretrained.is_file():
            raise ConfigError(f"{self.pretrained}: --pretrained is not a file")


@dataclass(frozen=True, kw_only=True)
class StudentRunConfig(RunConfig):
    """`crkd distill`: LRINet on the low-resolution view, taught by a frozen teacher run."""

    trained_role = "student"

    teacher: Path | None = option(
        None, parse=Path, help="the teacher's run folder (not with --kd none)"
    )
    student_size: int | None = option(None, parse=positive_int, help="LRINet input px")
    # From Python, also a mapping {"feature": 10, "logit": {"weight": 5, "T": 8}}; a weight left
    # out is the preset's (see `crkd_core.losses.registry`).
    kd: str | dict = option(
        "both",
        parse=kd_spec,
        metavar="TERMS",
        help="KD terms, weights and options, e.g. feature=10,logit=5:T=8 (a weight left out: "
        "the preset's), or none, feature, logit, both (feature,logit)",
    )
    student_variant: str = option(
        "scale",
        choices=STUDENT_VARIANTS,
        help="scale: LRINet ends on the teacher's map; recover: a smaller map, upsampled",
    )
    # the old spellings of --student-variant, and of the feature and logit terms' settings
    feature_kd: str | None = option(
        None, choices=STUDENT_VARIANTS, help="old spelling of --student-variant"
    )
    alpha: float | None = option(
        None, parse=non_negative_float, help="old spelling of feature=ALPHA"
    )
    beta: float | None = option(None, parse=non_negative_float, help="old spelling of logit=BETA")
    temperature: float | None = option(None, parse=positive_float, help="old spelling of logit:T=T")
    teacher_cache: Path | None = option(
        None,
        parse=Path,
        help="folder of the frozen teacher's outputs, shared by students of one seed",
    )
    head_init: str = option(
        "random",
        choices=HEAD_INITS,
        help="LRINet's temporal head starts random, or as the teacher's trained head (the "
        "preset must give both one head: cpu does)",
    )
    head_lr: float | None = option(
        None, parse=positive_float, help="the temporal head's learning rate (default: --lr's)"
    )

    def validate(self) -> None:
        super().validate()
        check_positive("student_size", self.student_size)
        check_non_negative("alpha", self.alpha)
        check_non_negative("beta", self.beta)
        check_positive("temperature", self.temperature, float)
        check_positive("head_lr", self.head_lr, float)
        if self.feature_kd not in (None, self.student_variant) and self.student_variant != "scale":
            raise ConfigError("--feature-kd is the old name of --student-variant: give one")
        if self.student_size is not None and self.student_size < 8:
            raise ConfigError(f"--student-size must be at least 8 px, got {self.student_size}")
        terms = self.kd_terms()  # refuses an unknown term or option
        if self.teacher is None:
            if self.head_init == "teacher":
                raise ConfigError("--head-init teacher copies the teacher's head: give --teacher")
            if terms:
                raise ConfigError(
                    f"--kd {self.kd_label} needs --teacher (only --kd none trains alone)"
                )
        elif not (self.teacher / "checkpoint.json").is_file():
            raise ConfigError(f"{self.teacher}: --teacher is not a run folder with a checkpoint")
        if self.teacher_cache is not None:  # refused now, not at the first training step
            there = [p for p in (self.teacher_cache, *self.teacher_cache.parents) if p.exists()]
            if there and not there[0].is_dir():
                raise ConfigError(f"{there[0]}: --teacher-cache needs a folder there, not a file")

    def default_lr(self) -> float:
        p = self.preset_spec
        return p.lr if p.student_lr is None else p.student_lr

    def train_config(self) -> TrainConfig:
        train = super().train_config()
        if self.head_lr is None:
            return train
        return replace(train, head_lr_scale=self.head_lr / train.lr)

    @property
    def input_size(self) -> int:
        """LRINet's input size in px: --student-size, or the preset's."""
        return self.student_size or self.preset_spec.student_size

    @property
    def variant(self) -> str:
        """LRINet's variant: --student-variant, or its old name --feature-kd."""
        return self.feature_kd or self.student_variant

    def kd_terms(self) -> Terms:
        """Each KD term's weight and options in effect, the preset's and the terms' defaults
        for what was left unset."""
        legacy = {"alpha": self.alpha, "beta": self.beta, "temperature": self.temperature}
        return resolve_kd(self.kd, legacy, self.preset_spec.kd_weights)

    @property
    def kd_label(self) -> str:
        """`kd` in metrics.json: none, feature, logit, both, or the term names joined by '+'."""
        return kd_label(self.kd_terms())


@dataclass(frozen=True, kw_only=True)
class EvalConfig(_Checked):
    """`crkd evaluate`: a finished run's checkpoint, scored on one split."""

    run: Path = option(parse=Path, help="a run folder with checkpoint.*")
    data: Path = option(parse=Path)
    dataset: str | None = option(None)
    split: str = option("test")
    decoder: str = option("greedy", choices=DECODERS)
    beam_width: int = option(10, parse=beam_width)
    batch_size: int = option(8, parse=positive_int)
    cleaning: str | None = option(
        None,
        choices=tuple(sorted(CLEANINGS)),
        help="official cleaning to report beside ours; default: by dataset family",
    )
    cache_dir: Path | None = option(None, parse=Path)
    allow_oov: bool = option(False)
    threads: int | None = option(None, parse=threads)
    device: str = option("auto", choices=DEVICES)

    def validate(self) -> None:
        check_positive("beam_width", self.beam_width, optional=False)
        check_positive("batch_size", self.batch_size, optional=False)
        check_positive("threads", self.threads)
        check_data_root(self.data)
        if not (self.run / "checkpoint.json").is_file():
            raise ConfigError(f"{self.run}: --run is not a run folder with a checkpoint")

    def data_config(self) -> DataConfig:
        return DataConfig(
            root=self.data, dataset=self.dataset, cache_dir=self.cache_dir, allow_oov=self.allow_oov
        )
