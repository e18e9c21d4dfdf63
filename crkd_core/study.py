"""The study: profiles, notebook configs, run-folder paths, and the runs the notebooks start.

A study executes the notebooks 00-05 in order on one dataset, and keeps everything in one folder
(default `runs/study-<profile>/`):

    <study>/data/                           SignWorld, unless `--data` names another root
    <study>/runs/teacher-e12-seed0/         training runs (crkd_core run folders)
    <study>/runs/crkd-s16-e8-seed0/         LRINet with KD (both terms, feature KD at scale)
    <study>/runs/nokd-s16-e8-seed0/         LRINet without KD
    <study>/runs/ablation/s16-logit-e4-seed0/  other grid points (both/none are named as above)
    <study>/<notebook>/                     config.json, results (*.json), executed notebook
    <study>/study.json                      provenance and the status of every notebook

A run folder's name holds everything that defines it (size, KD setting, epochs, seed), so a
complete run is reused (api `reuse=True`) and never mistaken for another setting's. The profile
table (`STUDY_PROFILES`) is the one place where the size of a study is decided.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from . import api
from .errors import ConfigError, CRKDError
from .io import atomic_write_json, read_json
from .registry import Registry
from .runs import RunDir, git_commit

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = (
    "00_explore_data",
    "01_train_teacher",
    "02_distill_student",
    "03_resolution_ablation",
    "04_attribution",
    "05_efficiency",
)
# A notebook is run only when the notebooks it reads from succeeded.
NEEDS = {
    "02_distill_student": ("01_train_teacher",),
    "03_resolution_ablation": ("01_train_teacher",),
    "04_attribution": ("02_distill_student",),
}


class StudyError(CRKDError):
    """A step of the study failed (a grid point, a missing run, a bad parameter)."""


# -- KD settings and the profile table ---------------------------------------------------------
@dataclass(frozen=True)
class KDSetting:
    """One way to train LRINet: `crkd distill --kd KD --feature-kd FEATURE_KD`."""

    name: str
    kd: str
    feature_kd: str  # also LRINet's variant: scale (the teacher's map size) or recover (half)
    label: str


KD_SETTINGS = {
    s.name: s
    for s in (
        KDSetting("none", "none", "scale", "no KD"),
        KDSetting("feature-scale", "feature", "scale", "feature KD, same scale (CRKD)"),
        KDSetting("feature-recover", "feature", "recover", "feature KD, recovered scale (ResKD)"),
        KDSetting("logit", "logit", "scale", "logit KD"),
        KDSetting("both", "both", "scale", "feature + logit KD (CRKD)"),
    )
}


@dataclass(frozen=True)
class GridBlock:
    """A block of the ablation grid: every size with every KD setting."""

    sizes: tuple[int, ...]
    settings: tuple[str, ...]


@dataclass(frozen=True)
class StudyProfile:
    """How big a study is. `seeds` > 1 reports mean and std over seeds."""

    name: str
    data_profile: str  # `crkd synth --profile`
    data_seed: int
    seeds: tuple[int, ...]
    teacher_epochs: int
    student_epochs: int
    grid: tuple[GridBlock, ...]
    ablation_epochs: int
    attribution_sentences: int
    ig_steps: int
    profile_frames: int  # clip length when measuring fps and GMACs
    profile_repeats: int
    profile_seconds: float  # minimum seconds per timed repeat
    efficiency_sizes: tuple[tuple[str, tuple[int, ...]], ...]  # preset -> LRINet sizes
    preset: str = "cpu"


STUDY_PROFILES: Registry[StudyProfile] = Registry("study profile")
STUDY_PROFILES.register("smoke")(
    StudyProfile(
        "smoke",
        data_profile="smoke",
        data_seed=0,
        seeds=(0,),
        teacher_epochs=1,
        student_epochs=1,
        grid=(GridBlock((16,), ("none", "feature-recover")),),
        ablation_epochs=1,
        attribution_sentences=1,
        ig_steps=4,
        profile_frames=16,
        profile_repeats=1,
        profile_seconds=0.1,
        efficiency_sizes=(("cpu", (16, 32)), ("paper", (112,))),
    )
)
STUDY_PROFILES.register("default")(
    StudyProfile(
        "default",
        data_profile="default",
        data_seed=0,
        seeds=(0,),
        teacher_epochs=12,
        student_epochs=8,
        grid=(
            GridBlock((16, 24), ("none", "both")),
            GridBlock((16,), ("feature-scale", "feature-recover")),
        ),
        ablation_epochs=8,  # = student_epochs: 16 px none/both reuse 02's runs
        attribution_sentences=2,
        ig_steps=32,
        profile_frames=32,
        profile_repeats=3,
        profile_seconds=0.3,
        efficiency_sizes=(("cpu", (16, 24, 32, 48)), ("paper", (56, 112))),
    )
)
STUDY_PROFILES.register("full")(
    StudyProfile(
        "full",
        data_profile="full",
        data_seed=0,
        seeds=(0, 1, 2),
        teacher_epochs=20,
        student_epochs=20,
        grid=(GridBlock((16, 24, 32, 48), tuple(KD_SETTINGS)),),
        ablation_epochs=12,
        attribution_sentences=4,
        ig_steps=50,
        profile_frames=32,
        profile_repeats=5,
        profile_seconds=0.5,
        efficiency_sizes=(("cpu", (16, 24, 32, 48)), ("paper", (56, 112, 224))),
    )
)


def resolve_path(path: str | Path) -> Path:
    """An absolute path; a relative one is taken from the repository root, not the cwd.

    Notebooks run with their own folder as cwd in Jupyter and with the study's under papermill;
    this makes the defaults of the parameters cell mean the same in both.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


# -- run folders -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridPoint:
    """One LRINet run of the ablation grid."""

    size: int
    setting: str
    epochs: int
    seed: int

    @property
    def name(self) -> str:
        return f"s{self.size}-{self.setting}-e{self.epochs}-seed{self.seed}"


@dataclass(frozen=True)
class StudyPaths:
    """Where the runs of a study live; names hold size, KD setting, epochs and seed."""

    root: Path

    def teacher(self, epochs: int, seed: int) -> Path:
        return self.root / "runs" / f"teacher-e{epochs}-seed{seed}"

    def student(self, kind: str, size: int, epochs: int, seed: int) -> Path:
        return self.root / "runs" / f"{kind}-s{size}-e{epochs}-seed{seed}"

    def point(self, p: GridPoint) -> Path:
        """A point with 02's settings (both, none) is 02's run: the same run is never done twice."""
        kind = {"both": "crkd", "none": "nokd"}.get(p.setting)
        if kind:
            return self.student(kind, p.size, p.epochs, p.seed)
        return self.root / "runs" / "ablation" / p.name

    def point_log(self, p: GridPoint) -> Path:
        return self.root / "runs" / "ablation" / "logs" / f"{p.name}.log"

    def notebook(self, name: str) -> Path:
        return self.root / name


# -- notebook configs --------------------------------------------------------------------------
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
        plan = STUDY_PROFILES.get(params.get("profile", ""))
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown parameters {sorted(unknown)}")
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
        """Raise ConfigError on a bad value (subclasses extend this)."""
        if self.plan.name != self.profile:
            raise ConfigError(f"unknown study profile {self.profile!r}")

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

        return pd.DataFrame(
            {"value": [str(v) for v in asdict(self).values()]}, index=list(asdict(self))
        )


def _unset(value: Any) -> bool:
    return value is None or (not isinstance(value, bool) and value in (0, "", []))


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")


@dataclass(frozen=True)
class ExploreConfig(NotebookConfig):
    NOTEBOOK: ClassVar[str] = "00_explore_data"
    split: str = "train"
    sentence: str = ""  # a video id; "" = the split's first
    frames_shown: int = 6
    sizes: list[int] = field(default_factory=lambda: [64, 32, 16])

    def validate(self) -> None:
        super().validate()
        _check_positive(frames_shown=self.frames_shown, **{f"size {s}": s for s in self.sizes})


@dataclass(frozen=True)
class TeacherConfig(NotebookConfig):
    NOTEBOOK: ClassVar[str] = "01_train_teacher"
    epochs: int = 0
    seeds: list[int] = field(default_factory=list)
    confusions: int = 15  # how many confused pairs to show

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {"epochs": plan.teacher_epochs, "seeds": list(plan.seeds)}

    def validate(self) -> None:
        super().validate()
        _check_positive(epochs=self.epochs, confusions=self.confusions)
        if not self.seeds:
            raise ConfigError("seeds must name at least one seed")

    def teacher_run(self, seed: int) -> Path:
        return self.paths.teacher(self.epochs, seed)


@dataclass(frozen=True)
class DistillConfig(TeacherConfig):
    NOTEBOOK: ClassVar[str] = "02_distill_student"
    teacher_epochs: int = 0
    student_size: int = 16

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {
            "epochs": plan.student_epochs,
            "seeds": list(plan.seeds),
            "teacher_epochs": plan.teacher_epochs,
        }

    def teacher_run(self, seed: int) -> Path:
        return self.paths.teacher(self.teacher_epochs, seed)

    def student_run(self, kind: str, seed: int) -> Path:
        return self.paths.student(kind, self.student_size, self.epochs, seed)


@dataclass(frozen=True)
class AblationConfig(DistillConfig):
    NOTEBOOK: ClassVar[str] = "03_resolution_ablation"
    sizes: list[int] = field(default_factory=list)  # with settings: replace the profile's grid
    settings: list[str] = field(default_factory=list)
    jobs: int = 1  # grid points run as parallel processes
    shard: str = "1/1"  # run part i of n of the grid ("2/3"); the table shows all complete runs
    run: bool = True  # False: only collect complete runs

    @classmethod
    def defaults(cls, plan: StudyProfile) -> dict[str, Any]:
        return {**super().defaults(plan), "epochs": plan.ablation_epochs}

    def validate(self) -> None:
        super().validate()
        _check_positive(jobs=self.jobs)
        unknown = set(self.settings or ()) - set(KD_SETTINGS)
        if unknown:
            raise ConfigError(f"unknown KD settings {sorted(unknown)}; use {list(KD_SETTINGS)}")
        if bool(self.sizes) != bool(self.settings):
            raise ConfigError("give both sizes and settings, or neither (the profile's grid)")
        parse_shard(self.shard)

    def blocks(self) -> tuple[GridBlock, ...]:
        if not self.sizes:
            return self.plan.grid
        return (GridBlock(tuple(self.sizes), tuple(self.settings)),)


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


# -- data --------------------------------------------------------------------------------------
def ensure_data(root: str | Path, data_profile: str, seed: int = 0) -> Path:
    """The dataset root; SignWorld is drawn there first when the folder is missing or empty."""
    root = resolve_path(root)
    if root.is_dir() and any(root.iterdir()):
        return root
    print(f"drawing SignWorld ({data_profile}) into {root}", flush=True)
    api.synth(out=root, profile=data_profile, seed=seed)
    return root


# -- training (01, 02) -------------------------------------------------------------------------
EpochHook = Callable[[str, dict], None]


def _hook(on_epoch: EpochHook | None, name: str) -> Callable[[dict], None] | None:
    return None if on_epoch is None else (lambda row: on_epoch(name, row))


def train_teachers(cfg: TeacherConfig, on_epoch: EpochHook | None = None) -> dict[str, Path]:
    """Train (or reuse) one teacher per seed; `on_epoch(name, row)` sees every epoch."""
    runs = {}
    for seed in cfg.seeds:
        name, out = f"teacher seed {seed}", cfg.teacher_run(seed)
        api.train_teacher(
            cfg.data,
            out,
            on_epoch=_hook(on_epoch, name),
            reuse=True,
            epochs=cfg.epochs,
            seed=seed,
            preset=cfg.plan.preset,
        )
        runs[name] = out
    return runs


STUDENT_KINDS = {"crkd": KD_SETTINGS["both"], "nokd": KD_SETTINGS["none"]}
MODEL_LABELS = {"teacher": "Teacher", "crkd": "LRINet + CRKD", "nokd": "LRINet without KD"}


def train_students(cfg: DistillConfig, on_epoch: EpochHook | None = None) -> dict[str, Path]:
    """LRINet with CRKD (both KD terms, feature KD at the teacher's scale) and without KD."""
    runs = {}
    for seed in cfg.seeds:
        teacher = require_complete(cfg.teacher_run(seed), "teacher")
        for kind, s in STUDENT_KINDS.items():
            name, out = f"{MODEL_LABELS[kind]} seed {seed}", cfg.student_run(kind, seed)
            api.distill(
                cfg.data,
                teacher,
                out,
                on_epoch=_hook(on_epoch, name),
                reuse=True,
                kd=s.kd,
                feature_kd=s.feature_kd,
                student_size=cfg.student_size,
                epochs=cfg.epochs,
                seed=seed,
                preset=cfg.plan.preset,
            )
            runs[name] = out
    return runs


def require_complete(run: Path, what: str) -> Path:
    """`run` if its work finished, else a StudyError saying which notebook makes it."""
    if not RunDir(run).is_complete():
        raise StudyError(
            f"the {what} run {run} is missing or did not finish; run the notebook "
            "that trains it first (or `crkd study`)"
        )
    return run


def read_log(run: str | Path) -> list[dict]:
    """The epoch rows of a run's log.jsonl."""
    import json

    path = Path(run) / "log.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def evaluate_split(run: Path, data: str | Path, split: str) -> dict:
    """`crkd evaluate` of a run (greedy), reused while newer than the run's metrics.json."""
    path = Path(run) / f"eval-{split}-greedy.json"
    if not path.is_file() or path.stat().st_mtime < RunDir(run).metrics_path.stat().st_mtime:
        with contextlib.redirect_stdout(io.StringIO()):  # its one-line summary is in the table
            return api.evaluate(run, data, split=split, decoder="greedy")
    return read_json(path)


def wer_table(runs: dict[str, Path], data: str | Path, splits=("dev", "test")):
    """Dev and test WER with S/D/I of each run, as a DataFrame; on SignWorld also the
    handshape-blind floor of the split (a model below it reads handshapes)."""
    import pandas as pd

    floor = signworld_floor(data)
    rows = []
    for name, run in runs.items():
        for split in splits:
            e = evaluate_split(run, data, split)
            row = {
                "model": name,
                "split": split,
                "WER %": round(e["wer"], 2),
                "S": e["sub"],
                "D": e["del"],
                "I": e["ins"],
                "N": e["n_ref"],
            }
            if split in floor:
                row["handshape-blind floor %"] = round(floor[split], 1)
            rows.append(row)
    return pd.DataFrame(rows)


def signworld_floor(data: str | Path) -> dict[str, float]:
    """The handshape-blind floor per split, or {} when `data` is not a SignWorld dataset."""
    from .data.synthetic import METADATA_FILE, read_metadata

    root = resolve_path(data)
    if not (root / METADATA_FILE).is_file():
        return {}
    return read_metadata(root).get("handshape_blind_floor", {})


def predictions(run: Path, split: str) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """(references, hypotheses, ids) from the CTM/STM files that `crkd evaluate` wrote."""
    from .scoring.ctm import read_ctm, read_stm

    refs = read_stm(Path(run) / f"ref-{split}.stm")
    hyps = read_ctm(Path(run) / f"hyp-{split}-greedy.ctm")
    ids = sorted(refs)
    return [refs[i] for i in ids], [hyps.get(i, []) for i in ids], ids


def confusions(run: Path, data: str | Path, split: str = "test", k: int = 15):
    """The run's most confused gloss pairs on `split`, flagged when only the handshape differs."""
    from .explain import confusions as table

    evaluate_split(run, data, split)
    refs, hyps, _ = predictions(run, split)
    return table(refs, hyps, gloss_groups(data), k)


# -- the ablation grid (03) --------------------------------------------------------------------
def grid_points(cfg: AblationConfig) -> list[GridPoint]:
    """Every point of the grid, in a stable order, without duplicates."""
    points = [
        GridPoint(size, s, cfg.epochs, seed)
        for b in cfg.blocks()
        for size in b.sizes
        for s in b.settings
        for seed in cfg.seeds
    ]
    return list(dict.fromkeys(points))


def parse_shard(shard: str) -> tuple[int, int]:
    """Parse a shard "i/n" into (i, n), with 1 <= i <= n."""
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise ConfigError(f"shard must look like '2/3', got {shard!r}") from None
    if not 1 <= i <= n:
        raise ConfigError(f"shard {shard!r}: need 1 <= i <= n")
    return i, n


@dataclass
class PointStatus:
    point: GridPoint
    status: str  # done | reused | failed | skipped (another shard's)
    seconds: float = 0.0
    error: str = ""


def point_command(cfg: AblationConfig, p: GridPoint, threads: int) -> list[str]:
    """The `crkd distill` command line of a grid point (with --resume for a partial run)."""
    s, out = KD_SETTINGS[p.setting], cfg.paths.point(p)
    argv = [
        sys.executable,
        "-m",
        "crkd_core.cli",
        "distill",
        "--data",
        cfg.data,
        "--teacher",
        str(cfg.teacher_run(p.seed)),
        "--out",
        str(out),
        "--preset",
        cfg.plan.preset,
        "--student-size",
        str(p.size),
        "--kd",
        s.kd,
        "--feature-kd",
        s.feature_kd,
        "--epochs",
        str(p.epochs),
        "--seed",
        str(p.seed),
        "--threads",
        str(threads),
    ]
    return argv + (["--resume"] if (out / "config.json").is_file() else [])


def run_point(cfg: AblationConfig, p: GridPoint, threads: int) -> PointStatus:
    """Run one grid point in its own process; output goes to the point's log file."""
    if RunDir(cfg.paths.point(p)).is_complete():
        return PointStatus(p, "reused")
    if not RunDir(cfg.teacher_run(p.seed)).is_complete():
        return PointStatus(p, "failed", error=f"teacher run {cfg.teacher_run(p.seed)} is missing")
    log = cfg.paths.point_log(p)
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.call(
            point_command(cfg, p, threads),
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CRKD_NO_PROGRESS": "1"},
        )
    seconds = time.perf_counter() - t0
    if rc != 0:
        tail = log.read_text("utf-8", errors="replace").strip().splitlines()[-3:]
        return PointStatus(p, "failed", seconds, f"exit {rc}: {' | '.join(tail)} (log: {log})")
    return PointStatus(p, "done", seconds)


def run_grid(cfg: AblationConfig) -> list[PointStatus]:
    """Run this shard's points, `cfg.jobs` processes at a time; complete runs are not redone."""
    i, n = parse_shard(cfg.shard)
    points = grid_points(cfg)
    mine = [p for k, p in enumerate(points) if k % n == i - 1] if cfg.run else []
    threads = max(1, available_cpus() // cfg.jobs)
    with ThreadPoolExecutor(max_workers=cfg.jobs) as pool:
        done = list(pool.map(lambda p: run_point(cfg, p, threads), mine))
    rest = [PointStatus(p, "skipped") for p in points if p not in mine]
    return done + rest


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def status_table(statuses: list[PointStatus]):
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "point": s.point.name,
                "status": s.status,
                "seconds": round(s.seconds, 1),
                "error": s.error,
            }
            for s in statuses
        ]
    )


def check_grid(statuses: list[PointStatus]) -> None:
    """Raise, naming every failed point, so that the notebook (and the study) fails."""
    failed = [s for s in statuses if s.status == "failed"]
    if failed:
        raise StudyError(
            "grid points failed: " + "; ".join(f"{s.point.name}: {s.error}" for s in failed)
        )


def grid_rows(cfg: AblationConfig) -> list[dict]:
    """One row per complete grid point, from its metrics.json."""
    rows = []
    for p in grid_points(cfg):
        run = cfg.paths.point(p)
        if RunDir(run).is_complete():
            m = read_json(run / "metrics.json")
            rows.append(
                {
                    "point": p.name,
                    "size": p.size,
                    "setting": p.setting,
                    "seed": p.seed,
                    "variant": KD_SETTINGS[p.setting].feature_kd,
                    "wer": m["wer"],
                    "params": m["params"],
                    "gmacs_per_frame": m["gmacs_per_frame"],
                    "run": str(run),
                }
            )
    return rows


# -- speed -------------------------------------------------------------------------------------
def measure_runs(runs: dict[str, Path], plan: StudyProfile) -> dict[str, dict]:
    """Params, GMACs/frame and fps of trained models, measured side by side (interleaved)."""
    from .checkpoint import load_model
    from .profile import profile_side_by_side

    models = {name: load_model(run)[0] for name, run in runs.items()}
    return profile_side_by_side(
        models, plan.profile_frames, plan.profile_repeats, plan.profile_seconds
    )


def add_fps(rows: list[dict], plan: StudyProfile) -> list[dict]:
    """Measure one model per architecture (size, variant) and give its fps to every row."""
    arch = {}
    for r in rows:
        arch.setdefault(f"s{r['size']}-{r['variant']}", Path(r["run"]))
    fps = {k: v["fps"] for k, v in measure_runs(arch, plan).items()} if arch else {}
    return [{**r, "fps": fps[f"s{r['size']}-{r['variant']}"]} for r in rows]


def summarise(rows: list[dict], by: list[str]):
    """Mean and std (over seeds) of WER per group, with the group's cost columns."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(
            columns=[*by, "wer", "wer_std", "seeds", "params", "gmacs_per_frame", "fps"]
        )
    df = pd.DataFrame(rows)
    agg = df.groupby(by, sort=False).agg(
        wer=("wer", "mean"),
        wer_std=("wer", "std"),
        seeds=("seed", "count"),
        params=("params", "first"),
        gmacs_per_frame=("gmacs_per_frame", "first"),
        fps=("fps", "first"),
    )
    return agg.reset_index().fillna({"wer_std": 0.0})


# -- the headline (02) -------------------------------------------------------------------------
def headline(cfg: DistillConfig) -> list[dict]:
    """Teacher vs LRINet + CRKD vs LRINet without KD: test WER (mean, std), cost, fps."""
    runs = {
        "teacher": {s: cfg.teacher_run(s) for s in cfg.seeds},
        **{k: {s: cfg.student_run(k, s) for s in cfg.seeds} for k in STUDENT_KINDS},
    }
    # LRINet with and without KD is one network: time it once, so that noise can't split them.
    first = {k: require_complete(v[cfg.seeds[0]], k) for k, v in runs.items() if k != "nokd"}
    speed = measure_runs(first, cfg.plan)
    speed["nokd"] = speed["crkd"]
    rows = []
    for kind, by_seed in runs.items():
        for seed, run in by_seed.items():
            m = read_json(require_complete(run, kind) / "metrics.json")
            rows.append(
                {
                    "model": MODEL_LABELS[kind],
                    "input_size": m["input_size"],
                    "seed": seed,
                    "wer": m["wer"],
                    "sub": m["sub"],
                    "del": m["del"],
                    "ins": m["ins"],
                    "params": m["params"],
                    "gmacs_per_frame": m["gmacs_per_frame"],
                    "fps": speed[kind]["fps"],
                }
            )
    table = summarise(rows, ["model", "input_size"])
    return table.to_dict("records")


# -- attribution (04) --------------------------------------------------------------------------
def attribution_ids(cfg: AttributionConfig) -> list[str]:
    return list(cfg.sentences or sentence_ids(cfg.data, "test")[: cfg.n_sentences])


def attribute_sentences(cfg: AttributionConfig) -> list:
    """Teacher vs LRINet + CRKD attributions of the chosen test sentences (first seed's runs)."""
    from .explain import explain_sentence

    seed = cfg.seeds[0]
    teacher = require_complete(cfg.teacher_run(seed), "teacher")
    student = require_complete(cfg.student_run("crkd", seed), "LRINet + CRKD")
    return [
        explain_sentence(
            teacher, student, cfg.data, vid, cfg.target, cfg.gloss, cfg.method, cfg.ig_steps
        )
        for vid in attribution_ids(cfg)
    ]


def attribution_figures(cfg: AttributionConfig, results: list) -> list:
    """For each sentence: attribution per frame over its glosses, then Grad-CAM overlays."""
    from . import plots
    from .explain import top_frames

    figs = []
    for sa in results:
        segments = gloss_timeline(cfg.data, "test", sa.id)
        frames = top_frames([sa.teacher, sa.student], cfg.overlay_frames)
        figs += [plots.temporal_attribution(sa, segments), plots.overlays(sa, frames)]
    return figs


# -- efficiency (05) ---------------------------------------------------------------------------
def efficiency(cfg: EfficiencyConfig) -> list[dict]:
    """Params, GMACs/frame and fps of every preset's teacher and LRINet sizes (and variants)."""
    from .models.presets import PRESETS, build_student, build_teacher
    from .profile import profile_side_by_side

    rows = []
    for preset, sizes in cfg.plan.efficiency_sizes:
        p = PRESETS.get(preset)
        models = {"teacher": build_teacher(p, cfg.classes)}
        models |= {f"lrinet-{s}": build_student(p, cfg.classes, s) for s in sizes}
        models["lrinet-recover"] = build_student(p, cfg.classes, p.student_size, "recover")
        res = profile_side_by_side(models, cfg.frames, cfg.repeats, cfg.min_seconds)
        rows += [
            {"preset": preset, "model": name, **{k: v for k, v in r.items() if k != "fps_runs"}}
            for name, r in res.items()
        ]
    return rows


def benchmark_results(folder: str | Path):
    """`benchmarks/results/*.json` as one table (None when there are none).

    Files of `benchmarks/latency.py` (results: preset -> model -> engines -> numbers) give one
    row per (file, preset, model, engine); any other JSON is flattened as it is.
    """
    import json

    import pandas as pd

    rows = []
    for f in sorted(resolve_path(folder).glob("*.json")):
        try:
            obj = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            rows.append({"file": f.name, "error": str(exc)})
            continue
        rows += [{"file": f.name, **r} for r in latency_rows(obj)]
    return pd.json_normalize(rows) if rows else None


BENCH_KEYS = ("fps", "ms_per_frame", "cpu_ms_per_frame", "fraction_of_matmul_peak", "memory")


def latency_rows(obj: Any) -> list[dict]:
    """Rows of a benchmarks/latency.py report; other JSON objects as single rows."""
    results = obj.get("results") if isinstance(obj, dict) else None
    try:
        return [
            {
                "preset": preset,
                "model": model,
                "engine": engine,
                "threads": obj.get("threads"),
                **{k: v for k, v in numbers.items() if k in BENCH_KEYS},
            }
            for preset, models in results.items()
            for model, entry in models.items()
            for engine, numbers in entry["engines"].items()
        ]
    except (AttributeError, KeyError, TypeError):
        return obj if isinstance(obj, list) else [obj]


# -- browsing the data (00) --------------------------------------------------------------------
@dataclass
class Sentence:
    """One video, as the models see it: the same centre crop at several sizes."""

    id: str
    split: str
    signer: str
    glosses: tuple[str, ...]
    views: dict[int, Any]  # size -> (T, size, size, 3) uint8


@dataclass(frozen=True)
class Segment:
    """Frames [start, end) of a video during which `gloss` is signed."""

    gloss: str
    start: int
    end: int


def sentence_ids(data: str | Path, split: str) -> list[str]:
    from .data.corpus import open_dataset

    return [e.id for e in open_dataset(resolve_path(data)).read_split(split)]


def load_sentence(
    data: str | Path,
    split: str,
    vid: str | None = None,
    sizes: tuple[int, ...] = (64, 32, 16),
    preset: str = "cpu",
) -> Sentence:
    """A video's frames at every size in `sizes`, cut from one crop (as `make_views` does)."""
    from .data.transforms import ViewSpec
    from .explain import clip_views, to_uint8
    from .models.presets import PRESETS

    root, p = resolve_path(data), PRESETS.get(preset)
    vid = vid or sentence_ids(root, split)[0]
    views = {}
    for s in sizes:
        entry, v = clip_views(root, split, vid, ViewSpec(p.pre_size, p.teacher.input_size, s))
        views[s] = to_uint8(v.student)
    return Sentence(vid, split, entry.signer, entry.glosses, views)


def gloss_timeline(data: str | Path, split: str, vid: str) -> list[Segment] | None:
    """Where each gloss of a SignWorld video is signed, or None when that can't be known.

    SignWorld stores no timings, but every video is drawn from its own seeded random stream, so
    the generator's steps up to the motion timeline are replayed (without rendering). The result
    is checked against the corpus (same glosses, same frame count); on any mismatch (another
    dataset, another generator version) this returns None rather than a wrong timeline.
    """
    try:
        poses, sentence, n_frames = _replay(resolve_path(data), split, vid)
    except (CRKDError, KeyError, ValueError, IndexError, OSError):
        return None
    if len(poses) != n_frames or tuple(sentence) != _corpus_glosses(data, split, vid):
        return None
    segments: list[Segment] = []
    for t, pose in enumerate(poses):
        if pose.gloss and segments and segments[-1].gloss == pose.gloss and segments[-1].end == t:
            segments[-1] = Segment(pose.gloss, segments[-1].start, t + 1)
        elif pose.gloss:
            segments.append(Segment(pose.gloss, t, t + 1))
    return segments


def _corpus_glosses(data: str | Path, split: str, vid: str) -> tuple[str, ...]:
    from .data.corpus import open_dataset

    entries = open_dataset(resolve_path(data)).read_split(split)
    return next(e.glosses for e in entries if e.id == vid)


def _replay(root: Path, split: str, vid: str):
    """The generator's steps for one video, as in `signworld.writer._write_split`."""
    import numpy as np

    from .data.signworld.grammar import Grammar
    from .data.signworld.motion import build_timeline, sample_instances
    from .data.signworld.phonology import build_gloss_table
    from .data.signworld.render import make_scene
    from .data.signworld.signer import sample_signer
    from .data.signworld.writer import SIGNER_STREAM, SPLIT_CODES
    from .data.synthetic import UNSEEN_SPLIT, read_metadata

    meta = read_metadata(root)
    prof, seed = meta["profile"], meta["seed"]
    n_seen, n_all = prof["signers"], prof["signers"] + prof["unseen_signers"]
    signers = [
        sample_signer(np.random.default_rng([seed, SIGNER_STREAM, i]), i)
        for i in range(1, n_all + 1)
    ]
    pool = signers[n_seen:] if split == UNSEEN_SPLIT else signers[:n_seen]
    index = int(vid.rsplit("_", 1)[1])
    table = build_gloss_table()
    spec = {g.gloss: g for g in table}
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    signer = pool[int(rng.integers(len(pool)))]
    sentence = Grammar(table).sample(rng)
    signs = sample_instances(
        [spec[g] for g in sentence], rng, signer.speed, tuple(prof["sign_frames"])
    )
    make_scene(signer, meta["frame_size"][0], rng)  # draws from the stream: keep it in step
    n_frames = len(list((root / "features").glob(f"fullFrame-*/{split}/{vid}/1/*.png")))
    return build_timeline(signs, rng), sentence, n_frames


def gloss_groups(data: str | Path) -> dict[str, tuple]:
    """SignWorld gloss -> its coarse parameters (location, movement, hands, orientation)."""
    from .data.synthetic import COARSE_KEYS, read_metadata

    meta = read_metadata(resolve_path(data))
    return {g["gloss"]: tuple(g[k] for k in COARSE_KEYS) for g in meta["glosses"]}


def dataset_tables(data: str | Path) -> dict[str, Any]:
    """Splits (videos, frames, handshape-blind floor) and the gloss table, as DataFrames."""
    import pandas as pd

    from .data.synthetic import read_metadata

    meta = read_metadata(resolve_path(data))
    floor = meta.get("handshape_blind_floor", {})
    splits = pd.DataFrame(
        [
            {
                "split": s,
                "videos": n,
                "frames": meta["frames"].get(s),
                "handshape-blind floor WER %": round(floor.get(s, float("nan")), 1),
            }
            for s, n in meta["splits"].items()
        ]
    )
    cols = ["gloss", "role", "handshape", "location", "movement", "hands", "orientation"]
    glosses = pd.DataFrame(meta["glosses"])[cols]
    return {"splits": splits, "glosses": glosses}
