"""Typed run configs: what a teacher run, a student run and an evaluation take.

The CLI builds them from argv and the API from keyword arguments; both get the same checks,
before any data is read or any folder is made. A value left `None` takes the preset's default,
and `train_config()` is the one place where those defaults are resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError
from ..losses.registry import Terms, kd_label, resolve_kd
from ..models.presets import PRESETS, STUDENT_VARIANTS, Preset
from ..pipeline import DataConfig
from ..scoring.cleaning import CLEANINGS
from ..trainer import TrainConfig

CHOICES: dict[str, tuple[str, ...]] = {
    "device": ("auto", "cpu", "cuda"),
    "decoder": ("greedy", "beam"),
    "amp": ("none", "bf16", "fp16"),
    "nan_policy": ("stop", "skip"),
    "frame_cache": ("auto", "disk", "none"),
    "vocab": ("train", "all"),
    "student_variant": STUDENT_VARIANTS,
}
PATHS = ("data", "out", "cache_dir", "pretrained", "teacher", "run", "teacher_cache")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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


def check_choice(name: str, value: Any) -> None:
    if value not in CHOICES[name]:
        raise ConfigError(f"{flag(name)} must be one of {', '.join(CHOICES[name])}, not {value!r}")


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
        for name in CHOICES:
            if hasattr(self, name):
                check_choice(name, getattr(self, name))
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

    data: Path
    out: Path
    dataset: str | None = None  # layout name; auto-detected when None
    preset: str = "cpu"
    epochs: int | None = None  # None: the preset's
    batch_size: int | None = None  # per process
    lr: float | None = None
    seed: int = 0
    resume: bool = False
    device: str = "auto"
    threads: int | None = None
    decoder: str = "greedy"
    beam_width: int = 10
    amp: str = "none"
    grad_accum: int = 1
    patience: int | None = None  # stop after this many epochs without a better dev WER
    min_epochs: int | None = None  # ... but not before this many epochs
    nan_policy: str = "stop"
    cache_dir: Path | None = None
    num_workers: int = 0
    frame_cache: str = "auto"
    allow_oov: bool = False

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
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"--seed must be an integer, got {self.seed!r}")
        check_data_root(self.data)

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
            amp=self.amp,
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
            self.data,
            self.dataset,
            self.cache_dir,
            self.allow_oov,
            self.num_workers,
            self.frame_cache,
        )


@dataclass(frozen=True, kw_only=True)
class TeacherRunConfig(RunConfig):
    """`crkd train-teacher`: the high-resolution teacher, CTC (plus the preset's visual CTC)."""

    vocab: str = "train"  # glosses of train, or of all splits (the peers' convention)
    pretrained: Path | None = None  # a local ImageNet ResNet-18 state dict; never downloaded
    visual_ctc: float | None = None  # None: the preset's weight

    def validate(self) -> None:
        super().validate()
        check_non_negative("visual_ctc", self.visual_ctc)
        if self.pretrained is not None and not self.pretrained.is_file():
            raise ConfigError(f"{self.pretrained}: --pretrained is not a file")


@dataclass(frozen=True, kw_only=True)
class StudentRunConfig(RunConfig):
    """`crkd distill`: LRINet on the low-resolution view, taught by a frozen teacher run."""

    teacher: Path | None = None  # the frozen teacher's run; not needed with kd="none"
    student_size: int | None = None  # px; None: the preset's
    # KD terms and their weights and options: "feature=10,logit=5:T=8", a mapping
    # {"feature": 10, "logit": {"weight": 5, "T": 8}}, or a mode (none, feature, logit, both);
    # a weight left out is the preset's (see `crkd_core.losses.registry`)
    kd: str | dict = "both"
    student_variant: str = "scale"  # LRINet's: the teacher's map size (scale) or half (recover)
    # old spellings: LRINet's variant, the feature and logit terms' weights, the logit term's T
    feature_kd: str | None = None
    alpha: float | None = None
    beta: float | None = None
    temperature: float | None = None
    # a folder of the frozen teacher's outputs, shared by the students of a seed (None: none)
    teacher_cache: Path | None = None

    def validate(self) -> None:
        super().validate()
        check_positive("student_size", self.student_size)
        check_non_negative("alpha", self.alpha)
        check_non_negative("beta", self.beta)
        check_positive("temperature", self.temperature, float)
        if self.feature_kd not in (None, *STUDENT_VARIANTS):
            raise ConfigError(f"--feature-kd must be one of {', '.join(STUDENT_VARIANTS)}")
        if self.feature_kd not in (None, self.student_variant) and self.student_variant != "scale":
            raise ConfigError("--feature-kd is the old name of --student-variant: give one")
        if self.student_size is not None and self.student_size < 8:
            raise ConfigError(f"--student-size must be at least 8 px, got {self.student_size}")
        terms = self.kd_terms()  # refuses an unknown term or option
        if self.teacher is None:
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

    run: Path
    data: Path
    dataset: str | None = None
    split: str = "test"
    decoder: str = "greedy"
    beam_width: int = 10
    batch_size: int = 8
    cleaning: str | None = None  # None: by dataset family
    cache_dir: Path | None = None
    allow_oov: bool = False
    threads: int | None = None
    device: str = "auto"

    def validate(self) -> None:
        check_positive("beam_width", self.beam_width, optional=False)
        check_positive("batch_size", self.batch_size, optional=False)
        check_positive("threads", self.threads)
        if self.cleaning is not None and self.cleaning not in CLEANINGS:
            raise ConfigError(f"--cleaning must be one of {', '.join(sorted(CLEANINGS))}")
        check_data_root(self.data)
        if not (self.run / "checkpoint.json").is_file():
            raise ConfigError(f"{self.run}: --run is not a run folder with a checkpoint")

    def data_config(self) -> DataConfig:
        return DataConfig(self.data, self.dataset, self.cache_dir, self.allow_oov)
