"""The runs that notebooks 01 and 02 start: teachers and students, reused when complete."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from ..data.corpus import open_dataset
from ..data.signworld import generate_signworld
from ..errors import DataError, FileFormatError
from ..experiment import (
    RunDir,
    StudentRunConfig,
    TeacherRunConfig,
    distill,
    reuse_or_resume,
    train_teacher,
)
from .configs import DistillConfig, TeacherConfig
from .grid import available_cpus, check_grid, run_point
from .paths import GridPoint, display_path, resolve_path
from .profiles import KD_SETTINGS, StudyError


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


def _hook(on_epoch: EpochHook | None, name: str) -> Callable[[dict], None] | None:
    return None if on_epoch is None else (lambda row: on_epoch(name, row))


def train_teachers(cfg: TeacherConfig, on_epoch: EpochHook | None = None) -> dict[str, Path]:
    """Train (or reuse) one teacher per seed; `on_epoch(name, row)` sees every epoch."""
    runs = {}
    for seed in cfg.seeds:
        name, out = f"teacher seed {seed}", cfg.teacher_run(seed)
        run = TeacherRunConfig(
            data=cfg.data,
            allow_oov=True,  # real data: dev/test glosses unseen in train count as errors
            out=out,
            epochs=cfg.epochs,
            patience=cfg.plan.teacher_patience,
            min_epochs=cfg.plan.teacher_min_epochs or None,
            seed=seed,
            preset=cfg.plan.preset,
            threads=cfg.threads or None,
        )
        done, resume = reuse_or_resume(out, run)  # one made with other settings is refused
        if not done:
            run = replace(run, resume=resume)
            train_teacher(run, _hook(on_epoch, name), command=study_call(cfg, run))
        runs[name] = out
    return runs


STUDENT_KINDS = {"crkd": KD_SETTINGS["both"], "nokd": KD_SETTINGS["none"]}
MODEL_LABELS = {"teacher": "Teacher", "crkd": "LRINet + CRKD", "nokd": "LRINet without KD"}


def train_students(cfg: DistillConfig, on_epoch: EpochHook | None = None) -> dict[str, Path]:
    """LRINet with CRKD (both KD terms, feature KD at the teacher's scale) and without KD.

    With `cfg.jobs` > 1 the runs train as parallel processes (one thread each: two of them
    trained 2.1x the frames/s of one 2-thread run here), without live curves. LRINet without
    KD needs no teacher (`crkd study` trains it while 01 trains the teacher).
    """
    if cfg.jobs > 1:
        return train_students_in_parallel(cfg)
    runs = {}
    for seed in cfg.seeds:
        teacher = require_complete(cfg.teacher_run(seed), "teacher")
        for kind, s in STUDENT_KINDS.items():
            name, out = f"{MODEL_LABELS[kind]} seed {seed}", cfg.student_run(kind, seed)
            run = StudentRunConfig(
                data=cfg.data,
                allow_oov=True,
                teacher=None if s.kd == "none" else teacher,
                out=out,
                kd=s.kd,
                student_variant=s.variant,
                student_size=cfg.student_size,
                epochs=cfg.epochs,
                seed=seed,
                preset=cfg.plan.preset,
                teacher_cache=cfg.paths.teacher_cache,
            )
            done, resume = reuse_or_resume(out, run)
            if not done:
                run = replace(run, resume=resume)
                distill(run, _hook(on_epoch, name), command=study_call(cfg, run))
            runs[name] = out
    return runs


def train_students_in_parallel(cfg: DistillConfig) -> dict[str, Path]:
    points = {
        f"{MODEL_LABELS[kind]} seed {seed}": GridPoint(cfg.student_size, s.name, cfg.epochs, seed)
        for seed in cfg.seeds
        for kind, s in STUDENT_KINDS.items()
    }
    for seed in cfg.seeds:
        require_complete(cfg.teacher_run(seed), "teacher")
    threads = max(1, available_cpus() // cfg.jobs)
    with ThreadPoolExecutor(max_workers=cfg.jobs) as pool:
        statuses = list(pool.map(lambda p: run_point(cfg, p, threads), points.values()))
    check_grid(statuses)
    return {name: cfg.paths.point(p) for name, p in points.items()}


def study_call(cfg, run) -> str:
    """What `command.txt` records for a run that a study notebook started."""
    kind = "train_teacher" if isinstance(run, TeacherRunConfig) else "distill"
    return f"notebook {cfg.NOTEBOOK} of the study, profile {cfg.profile}: {run.as_call(kind)}"


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
