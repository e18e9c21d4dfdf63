"""The run record: the one type that writes and reads `metrics.json` and `eval-*.json`.

`metrics.json` is written last by a training run (`"complete": true`), and `crkd evaluate` writes
`eval-<split>-<decoder>.json` with the run's identity keys beside its own score. Every reader (the
evaluate command, the study, the report) goes through `RunRecord.read` / `EvalRecord.read`, so a
key is named in one place and a damaged file is refused with its path, never half-read.

The JSON keys are the contract of DESIGN.md: `role`, `preset`, `input_size`, `kd`, `seed`,
`split`, `wer` (percent), `sub`, `del`, `ins`, `n_ref`, `params`, `gmacs_per_frame`,
`train_seconds`, `world_size`, and `complete`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import FileFormatError
from ..evaluation import EvalResult
from ..io import atomic_write_json, read_json
from ..losses.registry import Terms, recorded_terms
from ..metrics import WERResult, error_rate

METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class Score:
    """WER and its edit counts on one split, as decoded by one decoder."""

    split: str
    decoder: str
    wer: float  # percent
    sub: int
    dele: int  # "del" in JSON (a Python keyword)
    ins: int
    n_ref: int
    n_utterances: int = 0

    @classmethod
    def of(cls, split: str, result: EvalResult) -> Score:
        return cls.counted(split, result.decoder, result.wer, len(result.refs))

    @classmethod
    def counted(cls, split: str, decoder: str, w: WERResult, n_utterances: int) -> Score:
        """The score of `n_utterances` sentences whose edit counts are `w`."""
        return cls(
            split=split,
            decoder=decoder,
            wer=w.wer,
            sub=w.sub,
            dele=w.dele,
            ins=w.ins,
            n_ref=w.n_ref,
            n_utterances=n_utterances,
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["del"] = out.pop("dele")
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], source: Path) -> Score:
        types = {("del" if k == "dele" else k): t for k, t in _types(cls).items()}
        score = cls(**_take(d, types, source, rename={"del": "dele"}))
        score.check(source)
        return score

    def check(self, source: Path) -> None:
        """Refuse counts that disagree: more reference words lost than there are, or a WER that
        is not 100 * (S + D + I) / N."""
        if self.sub + self.dele > self.n_ref:
            raise FileFormatError(
                source,
                f"{self.split}: sub + del ({self.sub} + {self.dele}) exceed n_ref ({self.n_ref})",
            )
        errors = self.sub + self.dele + self.ins
        want = error_rate(errors, self.n_ref)
        if not math.isclose(self.wer, want, rel_tol=1e-9, abs_tol=1e-6):
            raise FileFormatError(
                source,
                f"{self.split}: wer {self.wer!r} disagrees with its counts "
                f"(100 * {errors} / {self.n_ref} = {want:g})",
            )


@dataclass(frozen=True)
class DistillInfo:
    """How a student was taught (absent for a teacher)."""

    student_variant: str  # LRINet's: scale | recover
    kd_terms: Terms  # KD term -> its weight and options, e.g. {"logit": {"weight": 5, "T": 8}}
    teacher_run: str
    teacher_input_size: int

    @property
    def feature_kd(self) -> str:
        """The old name of `student_variant` (still a key of metrics.json, for old readers)."""
        return self.student_variant

    def weight(self, term: str) -> float:
        """The weight of a KD term in effect: 0 for a term the run does not use."""
        return self.kd_terms.get(term, {}).get("weight", 0.0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"feature_kd": self.student_variant}

    @classmethod
    def from_json(cls, d: dict[str, Any], source: Path) -> DistillInfo:
        """From metrics.json, also one written before KD terms had names (its feature_kd,
        kd, alpha, beta and temperature)."""
        variant = {"student_variant": d.get("student_variant", d.get("feature_kd"))}
        if "kd_terms" in d:
            _kd_terms(d["kd_terms"], source)
        else:  # an older run folder's
            _take(d, {"alpha": float, "beta": float, "temperature": float}, source)
        return cls(
            **_take(variant, {"student_variant": str}, source),
            kd_terms=recorded_terms(d),
            **_take(d, {"teacher_run": str, "teacher_input_size": int}, source),
        )


@dataclass(frozen=True)
class RunRecord:
    """What a finished training run measured: its identity, cost, training and test score."""

    role: str  # teacher | student
    preset: str
    input_size: int
    seed: int
    dataset: str
    world_size: int
    kd: str  # none | feature | logit | both, or the KD terms' names joined by '+'
    vocab_size: int
    params: int
    gmacs_per_frame: float
    loss: str  # the loss formula, e.g. L = 1*CTC + 25*T^2*KL(T=8)
    epochs: int
    best_epoch: int
    best_dev_wer: float
    train_seconds: float
    score: Score  # the best checkpoint (by dev WER) on the test split
    n_train: int = 0
    skipped_batches: int = 0
    epochs_run: int = 0  # fewer than `epochs` when dev WER plateaued first (--patience)
    train_fps: float = 0.0  # training input frames per second (clip lengths before rescale)
    wall_seconds_this_process: float = 0.0
    # training clips whose teacher outputs were read from --teacher-cache / computed (this
    # process; both 0 without a cache)
    teacher_cache_hits: int = 0
    teacher_cache_misses: int = 0
    # this process's peak memory: the CUDA allocator's peak on a GPU, else the peak resident
    # set (VmHWM); 0 where neither is known
    peak_memory_mb: float = 0.0
    distill: DistillInfo | None = None
    finished_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))

    @property
    def wer(self) -> float:
        return self.score.wer

    def identity(self) -> dict[str, Any]:
        """The keys that say which run this is (copied into every eval-*.json)."""
        keys = ("role", "preset", "input_size", "kd", "seed", "world_size", "train_seconds")
        out = {k: getattr(self, k) for k in keys} | {"dataset": self.dataset}
        if self.distill:
            out |= {
                "feature_kd": self.distill.student_variant,
                "student_variant": self.distill.student_variant,
            }
        return out

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NESTED}
        out |= self.score.to_json()
        if self.distill:
            out |= self.distill.to_json()
        return out | {"complete": True}

    @classmethod
    def from_json(cls, d: dict[str, Any], source: Path) -> RunRecord:
        if d.get("complete") is not True:
            raise FileFormatError(source, 'the run did not finish (no "complete": true)')
        types = {k: t for k, t in _types(cls).items() if k not in _NESTED}
        values = _take(d, types, source)
        if values["role"] not in ("teacher", "student"):
            raise FileFormatError(source, f"role must be teacher or student: {values['role']!r}")
        if not values["best_epoch"] <= values["epochs_run"] <= values["epochs"]:
            raise FileFormatError(
                source,
                f"the epochs disagree: best epoch {values['best_epoch']}, epochs run "
                f"{values['epochs_run']}, epochs {values['epochs']}",
            )
        distill = None
        if d.get("role") == "student":
            distill = DistillInfo.from_json(d, source)
        return cls(**values, score=Score.from_json(d, source), distill=distill)

    def write(self, run: str | Path) -> Path:
        return atomic_write_json(Path(run) / METRICS_FILE, self.to_json())

    @classmethod
    def read(cls, run: str | Path) -> RunRecord:
        path = Path(run) / METRICS_FILE
        if not path.is_file():
            raise FileFormatError(path, "missing: the run did not finish (resume it first)")
        return cls.from_json(_object(read_json(path), path), path)


@dataclass(frozen=True)
class EvalRecord:
    """`crkd evaluate`'s result: the run's identity, its score, and the official cleaning's."""

    run: dict[str, Any]  # RunRecord.identity() of the evaluated run
    score: Score
    official_cleaning: str
    official: Score
    params: int
    gmacs_per_frame: float
    eval_seconds: float

    def to_json(self) -> dict[str, Any]:
        official = {"cleaning": self.official_cleaning, **self.official.to_json()}
        return {
            **self.run,
            **self.score.to_json(),
            "params": self.params,
            "gmacs_per_frame": self.gmacs_per_frame,
            "eval_seconds": self.eval_seconds,
            "official": official,
            "complete": True,
        }

    @staticmethod
    def path(run: str | Path, split: str, decoder: str) -> Path:
        return Path(run) / f"eval-{split}-{decoder}.json"

    def write(self, run: str | Path, decoder: str) -> Path:
        """Write `eval-<split>-<decoder>.json`; `decoder` is the option (greedy | beam)."""
        return atomic_write_json(self.path(run, self.score.split, decoder), self.to_json())

    @classmethod
    def read(cls, run: str | Path, split: str, decoder: str = "greedy") -> EvalRecord:
        path = cls.path(run, split, decoder)
        d = _object(read_json(path), path)
        official = _object(d.get("official"), path, "official")
        identity = {k: d[k] for k in _IDENTITY if k in d}
        for key, value in identity.items():
            if isinstance(value, (dict, list)) or value is None:
                raise FileFormatError(path, f"key {key!r} must be a number or text, not {value!r}")
            _check_value(key, value, path)
        return cls(
            identity,
            Score.from_json(d, path),
            str(official.get("cleaning", "")),
            Score.from_json(
                {"split": d.get("split"), "decoder": d.get("decoder"), **official}, path
            ),
            **_take(d, {"params": int, "gmacs_per_frame": float, "eval_seconds": float}, path),
        )


_NESTED = {"score", "distill"}
_IDENTITY = (
    "role",
    "preset",
    "input_size",
    "kd",
    "seed",
    "world_size",
    "train_seconds",
    "dataset",
    "feature_kd",
    "student_variant",
)
_CASTS = {"int": int, "float": float, "str": str, "bool": bool}


def _types(cls) -> dict[str, type]:
    """Field name -> the plain type to check, from the dataclass annotations."""
    out = {}
    for f in fields(cls):
        name = str(f.type).split("|")[0].strip()
        out[f.name] = _CASTS.get(name, object)
    return out


def _take(
    d: dict[str, Any], types: dict[str, type], source: Path, rename: dict | None = None
) -> dict[str, Any]:
    """The typed values of `types`' keys in `d`; a missing key or a wrong type names the file."""
    out = {}
    for key, kind in types.items():
        if key not in d:
            if key in _OPTIONAL:
                continue
            raise FileFormatError(source, f"key {key!r} is missing")
        value = d[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is not object and not (isinstance(value, kind) and not _is_bool_for(kind, value)):
            raise FileFormatError(source, f"key {key!r} must be {kind.__name__}, not {value!r}")
        _check_value(key, value, source)
        out[(rename or {}).get(key, key)] = value
    return out


# The least value of a number (0 unless named); every number is finite, but for a WER, which
# is inf where a split with no reference word got insertions (`error_rate`).
_LEAST = {"best_epoch": 1, "world_size": 1, "input_size": 1, "vocab_size": 1}
_MAY_BE_INF = {"wer", "best_dev_wer"}


def _check_value(key: str, value: Any, source: Path) -> None:
    """Refuse text with control characters, and NaN, Inf or a number below its range."""
    if isinstance(value, str) and not value.isprintable():
        raise FileFormatError(source, f"key {key!r} holds a control character: {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if math.isnan(value) or (math.isinf(value) and key not in _MAY_BE_INF):
        raise FileFormatError(source, f"key {key!r} must be a finite number, not {value!r}")
    if value < _LEAST.get(key, 0):
        raise FileFormatError(source, f"key {key!r} must be >= {_LEAST.get(key, 0)}, not {value!r}")


# Keys that older run folders lack: their default applies.
_OPTIONAL = {
    "n_train",
    "skipped_batches",
    "wall_seconds_this_process",
    "finished_at",
    "n_utterances",
    "teacher_cache_hits",
    "teacher_cache_misses",
    "peak_memory_mb",
}


def _kd_terms(terms: Any, source: Path) -> None:
    """Refuse kd_terms that are not {term: {"weight": w, option: value}} with finite numbers."""
    for name, values in _object(terms, source, "kd_terms").items():
        values = _object(values, source, f"kd_terms.{name}")
        _take(values, {"weight": float}, source)
        for key, value in values.items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value < 0:
                raise FileFormatError(
                    source, f"kd_terms.{name}.{key} must be a finite number >= 0, not {value!r}"
                )


def _is_bool_for(kind: type, value: Any) -> bool:
    return isinstance(value, bool) and kind is not bool


def _object(value: Any, source: Path, what: str = "the file") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FileFormatError(source, f"{what} must be a JSON object")
    return value
