"""What a study trains, and the runs that notebooks 01 and 02 start.

`study_plan` is the one statement of a study's runs: the teachers of 01, the students of 02
and the grid points of 03, each built by the function that the notebook itself calls
(`teacher_spec`, `student_spec`). Every notebook and the study's runner make their runs through
the study's executor (`study_executor`: in this process, a pool of worker processes, or Slurm).
Complete runs are reused, partial ones resumed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..data.corpus import open_dataset
from ..data.signworld import generate_signworld
from ..errors import DataError, FileFormatError
from ..experiment import RunDir
from .configs import AblationConfig, DistillConfig, TeacherConfig
from .executor import RunSpec, available_cpus, cache_order, run_specs, unique
from .executor_choice import check_runs, origin, study_executor
from .grid import grid_points, point_spec, sweep_points
from .paths import GridPoint, display_path, resolve_path
from .profiles import (
    HEADLINE_ARMS,
    KD_SETTINGS,
    NB_ABLATION,
    NB_DISTILL,
    NB_TEACHER,
    StudyError,
)


def ensure_data(root: str | Path, data_profile: str, seed: int = 0) -> Path:
    """The dataset root; SignWorld is drawn there first when the folder is missing or empty."""
    root = resolve_path(root)
    if root.is_dir() and any(root.iterdir()):
        return root
    print(f"drawing SignWorld ({data_profile}) into {display_path(root)}", flush=True)
    generate_signworld(root, data_profile, seed, jobs=available_cpus())
    return root


def check_data(root: str | Path) -> None:
    """Refuse, before any work, a dataset root that a study would fail on later: one that no
    layout recognises, or that lacks a split's corpus file. A missing or empty folder passes
    (`ensure_data` draws SignWorld there)."""
    root = resolve_path(root)
    if not root.is_dir() or not any(root.iterdir()):
        return
    layout = open_dataset(root)
    for split in ("train", "dev", "test"):
        path = split_file(layout, split)
        if path is not None and not path.is_file():
            raise DataError(path, "corpus file is missing (a study needs train, dev and test)")


def split_file(layout, split: str) -> Path | None:
    """The file that lists a split's videos, where the layout has one per split."""
    if hasattr(layout, "corpus_file"):
        return layout.corpus_file(split)
    return layout.root / f"{split}.csv" if layout.name == "custom" else None


EpochHook = Callable[[str, dict], None]


# -- what a study trains: one builder per kind of run -------------------------------------------
def teacher_spec(cfg: TeacherConfig, seed: int) -> RunSpec:
    """01's teacher of `seed`."""
    values = {
        "data": Path(cfg.data),
        "allow_oov": True,  # real data: dev/test glosses unseen in train count as errors
        "out": cfg.teacher_run(seed),
        "epochs": cfg.epochs,
        "patience": cfg.plan.teacher_patience,
        "min_epochs": cfg.plan.teacher_min_epochs or None,
        "seed": seed,
        "preset": cfg.plan.preset,
        "threads": cfg.threads or None,
    }
    return RunSpec("teacher", values, origin(cfg), label=f"teacher seed {seed}")


STUDENT_KINDS = {kind: KD_SETTINGS[setting] for kind, setting in HEADLINE_ARMS.items()}
MODEL_LABELS = {
    "teacher": "Teacher",
    "crkd": "LRINet + CRKD",
    "nokd": "LRINet without KD",
    "recover": "LRINet + CRKD, recovered maps",
}


def distill_points(cfg: DistillConfig) -> dict[str, GridPoint]:
    """02's runs by their label: each headline arm (CRKD, no KD, recover) for each seed."""
    return {
        f"{MODEL_LABELS[kind]} seed {seed}": cfg.point(setting, seed)
        for seed in cfg.seeds
        for kind, setting in HEADLINE_ARMS.items()
    }


@dataclass(frozen=True)
class StudyPlan:
    """What a study trains, notebook by notebook (the runner's and the notebooks' runs are
    built by the same functions, so they are the same runs)."""

    teachers: list[RunSpec]
    distill: list[RunSpec]  # 02's
    ablation: list[RunSpec]  # 03's that 02 does not train

    @property
    def specs(self) -> list[RunSpec]:
        """Every run once, teachers first, with the teacher-cache rule as dependencies."""
        return cache_order(self.teachers + self.distill + self.ablation)


def study_plan(params: dict, names: list[str], jobs: int = 1) -> StudyPlan:
    """The runs of the selected notebooks, from the parameters that the study gives them."""
    base = {**params, "interactive": False}
    teachers, ours, theirs = [], [], []
    if NB_TEACHER in names:
        t = TeacherConfig.build(**base)
        teachers = [teacher_spec(t, seed) for seed in t.seeds]
    if NB_DISTILL in names:
        d = DistillConfig.build(**base, jobs=jobs)
        ours = [point_spec(d, p, p.name) for p in distill_points(d).values()]
    if NB_ABLATION in names:
        a = AblationConfig.build(**base, jobs=jobs)
        theirs = [point_spec(a, p) for p in grid_points(a) + sweep_points(a)]
    mine = {s.name for s in ours}
    return StudyPlan(teachers, unique(ours), unique([s for s in theirs if s.name not in mine]))


# -- what notebooks 01 and 02 call --------------------------------------------------------------
def train_teachers(cfg: TeacherConfig, on_epoch: EpochHook | None = None) -> dict[str, Path]:
    """Train (or reuse) one teacher per seed; `on_epoch(name, row)` sees every epoch (in this
    process; a Slurm study trains them as jobs)."""
    specs = [teacher_spec(cfg, seed) for seed in cfg.seeds]
    check_runs(run_specs(study_executor(cfg, None, on_epoch), specs))
    return {s.label: s.out for s in specs}


def train_students(cfg: DistillConfig, on_epoch: EpochHook | None = None) -> dict[str, Path]:
    """Each teacher's own headline students: LRINet with CRKD (both KD terms, feature KD at
    the teacher's scale), without KD, and with recovered maps (ResKD), for every seed.

    With `cfg.jobs` > 1 the runs train as parallel processes (one thread each: two of them
    trained 2.1x the frames/s of one 2-thread run here), without live curves. LRINet without
    KD needs no teacher (`crkd study` trains it while 01 trains the teacher).
    """
    for seed in cfg.seeds:
        require_complete(cfg.teacher_run(seed), "teacher")
    points = distill_points(cfg)
    specs = cache_order([point_spec(cfg, p, label) for label, p in points.items()])
    workers = cfg.jobs if cfg.jobs > 1 else None
    check_runs(run_specs(study_executor(cfg, workers, on_epoch), specs))
    return {s.label: s.out for s in specs}


def require_complete(run: Path, what: str) -> Path:
    """`run` if its work finished, else a StudyError saying which notebook makes it."""
    if not RunDir(run).is_complete():
        raise StudyError(
            f"the {what} run {run} is missing or did not finish; run the notebook "
            "that trains it first (or `crkd study`)"
        )
    return run


def read_log(run: str | Path) -> list[dict]:
    """The epoch rows of a run's log.jsonl, checked: each row a JSON object of numbers >= 0 (not
    NaN), for epochs 1, 2, ... in order; FileFormatError naming the file and row otherwise."""
    path = Path(run) / "log.jsonl"
    rows: list[dict] = []
    for n, line in enumerate(path.read_text("utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileFormatError(path, f"row {n} is not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise FileFormatError(path, f"row {n} is not an object of numbers")
        for key, value in row.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise FileFormatError(path, f"row {n}: {key!r} is {value!r}, not a number >= 0")
        if row.get("epoch") != len(rows) + 1:
            raise FileFormatError(
                path, f"row {n} is epoch {row.get('epoch')!r}; expected epoch {len(rows) + 1}"
            )
        rows.append(row)
    return rows
