"""The notebooks' configs: built from the parameters cell, checked, and saved."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, get_args, get_origin, get_type_hints

from ..errors import ConfigError
from ..experiment import git_commit
from ..io import atomic_write_json
from ..models.presets import PRESETS
from .paths import GridPoint, StudyPaths, display_path, resolve_path
from .profiles import HEADLINE_ARMS, KD_SETTINGS, STUDY_PROFILES, GridBlock, StudyProfile


@dataclass(frozen=True)
class NotebookConfig:
    """What every notebook takes: the study profile, the data, the study folder.

    Build it with `build(**parameters)`: a parameter left unset (0, "" or [], which papermill
    passes and types simply) takes the profile's value where the profile has one; the result is
    validated, and `save()` writes it as `<study>/<notebook>/config.json`.
    """

    NOTEBOOK: ClassVar[str] = ""
    profile: str
    data: str
    study_dir: str
    interactive: bool = False  # live widgets; False for papermill and static reports

    @classmethod
    def build(cls, **params: Any) -> NotebookConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown parameters {sorted(unknown)}")
        _check_types(cls, params)
        plan = STUDY_PROFILES.get(params.get("profile", ""))
        defaults = cls.defaults(plan)
        merged = {**dict.fromkeys(defaults), **params}
        values = {k: defaults[k] if k in defaults and _unset(v) else v for k, v in merged.items()}
        values["data"] = str(resolve_path(values["data"]))
        values["study_dir"] = str(resolve_path(values["study_dir"]))
        cfg = cls(**values)
        cfg.validate()
        return cfg

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        """Values taken from the profile for parameters left unset."""
        return {}

    def validate(self) -> None:
        """Raise ConfigError on a bad value (subclasses extend this; the profile name is
        checked by `build`, which looks it up)."""

    @property
    def plan(self) -> StudyProfile:
        return STUDY_PROFILES.get(self.profile)

    @property
    def paths(self) -> StudyPaths:
        return StudyPaths(Path(self.study_dir))

    @property
    def folder(self) -> Path:
        return self.paths.notebook(self.NOTEBOOK)

    def save(self) -> Path:
        """Write the resolved config, the profile and provenance to `<folder>/config.json`."""
        record = {
            "notebook": self.NOTEBOOK,
            "config": asdict(self),
            "profile_table": asdict(self.plan),
            "git_commit": git_commit(),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return atomic_write_json(self.folder / "config.json", record)

    def write_result(self, name: str, obj: Any) -> Path:
        """Save a result of this notebook as `<folder>/<name>.json` (what the report reads)."""
        return atomic_write_json(self.folder / f"{name}.json", obj)

    def table(self):
        """The config as a two-column DataFrame, for display."""
        import pandas as pd

        shown = {
            k: display_path(v) if k in ("data", "study_dir") else v for k, v in asdict(self).items()
        }
        return pd.DataFrame({"value": [str(v) for v in shown.values()]}, index=list(shown))


def _check_types(cls: type, params: dict[str, Any]) -> None:
    """Raise ConfigError naming the first parameter whose value does not fit its annotation.

    The parameters cell is edited by hand (and papermill passes what the command line gave), so
    `epochs = "3"` or `seeds = 0` must be refused here with the name, not fail deep in training.
    None means unset, like 0, "" and [].
    """
    hints = get_type_hints(cls)
    for name, value in params.items():
        expected = hints.get(name)
        if value is not None and expected is not None and not _fits(value, expected):
            raise ConfigError(
                f"{cls.__name__}: parameter {name!r} must be {_type_name(expected)}, "
                f"got {value!r} ({type(value).__name__})"
            )
        if not _printable(value):  # a newline or NUL is never part of a name, id or path
            raise ConfigError(
                f"{cls.__name__}: parameter {name!r} must be printable text, got {value!r}"
            )


def _printable(value: Any) -> bool:
    """Whether every string in `value` (a string, or a list of them) is printable."""
    if isinstance(value, (list, tuple)):
        return all(_printable(v) for v in value)
    return not isinstance(value, str) or value.isprintable()


def _fits(value: Any, expected: Any) -> bool:
    """Whether `value` has the annotated type: str, int, float, bool or list[...] of those."""
    if get_origin(expected) is list:
        (item,) = get_args(expected)
        return isinstance(value, (list, tuple)) and all(_fits(v, item) for v in value)
    if expected is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # bool is an int subclass; True is not an epoch count
        return False
    if expected is float:  # NaN and Inf never make sense here (and NaN compares as in range)
        return isinstance(value, (int, float)) and math.isfinite(value)
    if expected is str:
        return isinstance(value, (str, os.PathLike))
    return isinstance(value, expected)


def _type_name(expected: Any) -> str:
    if get_origin(expected) is list:
        item = get_args(expected)[0]
        if get_origin(item) is list:
            return f"a list of lists of {_type_name(item).removeprefix('a list of ')}"
        items = {str: "strings", int: "integers", float: "finite numbers"}
        return f"a list of {items.get(item, 'booleans' if item is bool else 'values')}"
    names = {
        str: "a string",
        int: "an integer",
        float: "a finite number",
        bool: "True or False",
    }
    return names.get(expected, getattr(expected, "__name__", str(expected)))


def _unset(value: Any) -> bool:
    return value is None or (not isinstance(value, bool) and value in (0, "", []))


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")


def _check_range(name: str, values: list, low: float, high: float, why: str = "") -> None:
    """Each of `values` (a parameter's value, or its list) within [low, high]."""
    for v in values:
        if not low <= v <= high:
            raise ConfigError(f"{name} must be between {low} and {high}{why}, got {v!r}")


MAX_SEED = 2**32 - 1  # as `crkd --seed`: numpy's global seed takes 0 .. 2**32 - 1
MAX_THREADS = 1024  # as `crkd --threads`
MAX_SIZE = 1024  # px: as the input_size of a network read from a checkpoint


@dataclass(frozen=True)
class ExploreConfig(NotebookConfig):
    NOTEBOOK: ClassVar[str] = "00_explore_data"
    split: str = "train"
    sentence: str = ""  # a video id; "" = the split's first
    frames_shown: int = 6
    sizes: list[int] = field(default_factory=list)  # [] = the profile's (`view_sizes`)

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {"sizes": view_sizes(plan)}

    def validate(self) -> None:
        super().validate()
        _check_positive(frames_shown=self.frames_shown, **{f"size {s}": s for s in self.sizes})
        _check_range("sizes", self.sizes, 1, MAX_SIZE)


@dataclass(frozen=True)
class TeacherConfig(NotebookConfig):
    NOTEBOOK: ClassVar[str] = "01_train_teacher"
    epochs: int = 0
    seeds: list[int] = field(default_factory=list)
    confusions: int = 15  # how many confused pairs to show
    threads: int = 0  # torch threads of the teacher's training; 0: torch's default

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {"epochs": plan.teacher_epochs, "seeds": list(plan.teacher_seeds)}

    def validate(self) -> None:
        super().validate()
        _check_positive(epochs=self.epochs, confusions=self.confusions)
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (torch's default) or more, got {self.threads}")
        _check_range("threads", [self.threads], 0, MAX_THREADS)
        if not self.seeds:
            raise ConfigError("seeds must name at least one seed")
        _check_range("seeds", self.seeds, 0, MAX_SEED)
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds names a seed twice: {self.seeds}")

    def teacher_run(self, seed: int) -> Path:
        return self._teacher_path(self.epochs, seed)

    def _teacher_path(self, epochs: int, seed: int) -> Path:
        """The run of the teacher of `seed` trained for at most `epochs`, by the plan's rule."""
        plan = self.plan
        return self.paths.teacher(epochs, seed, plan.teacher_patience, plan.teacher_min_epochs)


@dataclass(frozen=True)
class DistillConfig(TeacherConfig):
    NOTEBOOK: ClassVar[str] = "02_distill_student"
    teacher_epochs: int = 0
    student_size: int = 0
    jobs: int = 1  # runs trained at once, as parallel processes with one thread each

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {
            "epochs": plan.student_epochs,
            "seeds": list(plan.seeds),
            "teacher_epochs": plan.teacher_epochs,
            "student_size": plan.student_size,
        }

    def validate(self) -> None:
        super().validate()
        _check_positive(jobs=self.jobs, teacher_epochs=self.teacher_epochs)
        _check_range("jobs", [self.jobs], 1, MAX_THREADS)
        self.check_student_sizes([self.student_size])

    def check_student_sizes(self, sizes: list[int]) -> None:
        """LRINet sizes between 8 px and the profile's teacher's input (as `crkd profile`)."""
        teacher = PRESETS.get(self.plan.preset).teacher.input_size
        _check_range("student size", sizes, 8, teacher, f" px (the {self.plan.preset} teacher's)")

    def teacher_seed(self, seed: int) -> int:
        """The teacher that teaches the students of `seed`: its own, else the first one."""
        own = self.plan.teacher_seeds
        return seed if seed in own else own[0]

    def teacher_run(self, seed: int) -> Path:
        return self._teacher_path(self.teacher_epochs, self.teacher_seed(seed))

    def point(self, setting: str, seed: int, size: int = 0, weights=()) -> GridPoint:
        """An LRINet run of this notebook: a KD setting at `size` (0: the headline's) for a
        seed, trained for at most `epochs` by the profile's plateau rule (one rule for every
        arm; `min_epochs` no more than `epochs`)."""
        patience = self.plan.student_patience
        return GridPoint(
            size=size or self.headline_size(setting),
            setting=setting,
            epochs=self.epochs,
            seed=seed,
            weights=tuple(weights),
            patience=patience,
            min_epochs=min(self.plan.student_min_epochs, self.epochs) if patience else 0,
        )

    def headline_size(self, setting: str) -> int:
        """The input size of a headline arm: the recover student's own (`recover_size`, at the
        scale student's cost), else the notebook's `student_size`."""
        recover = self.plan.recover_size
        at_profile_size = self.student_size == self.plan.student_size
        if setting == HEADLINE_ARMS["recover"] and recover and at_profile_size:
            return recover
        return self.student_size

    def student_run(self, kind: str, seed: int) -> Path:
        """The run of a headline arm (`HEADLINE_ARMS`: crkd, nokd, recover) for a seed."""
        return self.paths.point(self.point(HEADLINE_ARMS[kind], seed))


@dataclass(frozen=True)
class AblationConfig(DistillConfig):
    NOTEBOOK: ClassVar[str] = "03_resolution_ablation"
    sizes: list[int] = field(default_factory=list)  # with settings: replace the profile's grid
    settings: list[str] = field(default_factory=list)
    shard: str = "1/1"  # run part i of n of the grid ("2/3"); the table shows all complete runs
    run: bool = True  # False: only collect complete runs
    # the KD-weight sweep: [alpha, beta] pairs, both terms at the headline size
    kd_weights: list[list[float]] = field(default_factory=list)
    sweep_seeds: list[int] = field(default_factory=list)  # [] = the first seed

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        weights = [list(w) for w in plan.kd_weights]
        return {**super().defaults(plan), "kd_weights": weights}

    def validate(self) -> None:
        super().validate()
        _check_positive(jobs=self.jobs)
        unknown = set(self.settings or ()) - set(KD_SETTINGS)
        if unknown:
            raise ConfigError(f"unknown KD settings {sorted(unknown)}; use {list(KD_SETTINGS)}")
        if bool(self.sizes) != bool(self.settings):
            raise ConfigError("give both sizes and settings, or neither (the profile's grid)")
        parse_shard(self.shard)
        self.check_student_sizes(self.sizes)
        check_kd_weights(self.kd_weights)
        if set(self.sweep_seeds) - set(self.seeds):
            raise ConfigError(f"sweep_seeds {self.sweep_seeds} must be among seeds {self.seeds}")

    def blocks(self) -> tuple[GridBlock, ...]:
        if not self.sizes:
            return self.plan.grid
        return (GridBlock(tuple(self.sizes), tuple(self.settings)),)


# the KD terms that the sweep's pairs weigh, in order: [alpha, beta] is [feature, logit]
SWEEP_TERMS = ("feature", "logit")


def check_kd_weights(weights) -> None:
    """Each entry an [alpha, beta] pair of numbers >= 0, not both 0 (that is no KD)."""
    for w in weights:
        ok = isinstance(w, list | tuple) and len(w) == 2
        ok = ok and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in w
        )
        if not ok or min(w) < 0:
            raise ConfigError(
                f"kd_weights: each entry is [alpha, beta], both finite and >= 0; got {w!r}"
            )
        if w[0] == 0 and w[1] == 0:
            raise ConfigError("kd_weights: [0, 0] is no KD (the grid's 'none'), not a weighting")
    if len({tuple(map(float, w)) for w in weights}) != len(weights):
        raise ConfigError(f"kd_weights holds a pair twice: {weights}")


@dataclass(frozen=True)
class AttributionConfig(DistillConfig):
    NOTEBOOK: ClassVar[str] = "04_attribution"
    sentences: list[str] = field(default_factory=list)  # test ids; [] = the first n_sentences
    n_sentences: int = 0
    target: str = "ctc"  # ctc: the whole reference (-CTC loss) | gloss: log-prob of `gloss`
    gloss: str = ""  # "" = each sentence's first gloss
    method: str = "ig"  # ig (IntegratedGradients) | saliency
    ig_steps: int = 0
    overlay_frames: int = 4

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {
            "epochs": plan.student_epochs,
            "seeds": [plan.seeds[0]],
            "teacher_epochs": plan.teacher_epochs,
            "ig_steps": plan.ig_steps,
            "n_sentences": plan.attribution_sentences,
            "student_size": plan.student_size,
        }

    def validate(self) -> None:
        super().validate()
        _check_positive(
            ig_steps=self.ig_steps, n_sentences=self.n_sentences, overlay_frames=self.overlay_frames
        )
        if self.target not in ("ctc", "gloss") or self.method not in ("ig", "saliency"):
            raise ConfigError("target must be ctc|gloss and method ig|saliency")


@dataclass(frozen=True)
class EfficiencyConfig(NotebookConfig):
    NOTEBOOK: ClassVar[str] = "05_efficiency"
    frames: int = 0
    repeats: int = 0
    min_seconds: float = 0.0
    classes: int = 1296  # vocabulary size of the classifier (PHOENIX-2014: 1296)
    benchmarks: str = "benchmarks/results"  # latency JSON of benchmarks/latency.py, if any

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {
            "frames": plan.profile_frames,
            "repeats": plan.profile_repeats,
            "min_seconds": plan.profile_seconds,
        }

    def validate(self) -> None:
        super().validate()
        _check_positive(frames=self.frames, repeats=self.repeats, classes=self.classes)
        _check_range("frames", [self.frames], 8, 10_000, " (as `crkd profile --frames`)")
        _check_range("classes", [self.classes], 2, 100_000)
        # 0 means the profile's; a repeat is timed until min_seconds have passed
        _check_range("min_seconds", [self.min_seconds], 1e-3, 600)


def view_sizes(plan: StudyProfile) -> list[int]:
    """The sizes that 00 shows a sentence at, largest first: the teacher's, then every LRINet
    size that the profile trains (the headline's and its grid's)."""
    teacher = PRESETS.get(plan.preset).teacher.input_size
    sizes = {teacher, plan.student_size, *(s for b in plan.grid for s in b.sizes)}
    return sorted(sizes, reverse=True)


def parse_shard(shard: str) -> tuple[int, int]:
    """Parse a shard "i/n" into (i, n), with 1 <= i <= n."""
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like '2/3', got {shard!r}") from None
    if not 1 <= i <= n:
        raise ConfigError(f"shard {shard!r}: need 1 <= i <= n")
    return i, n
