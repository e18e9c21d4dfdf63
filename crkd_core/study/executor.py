"""The executor seam: how a study's training runs are made, wherever they run.

A run is a `RunSpec`: its typed config (what `crkd train-teacher` or `crkd distill` would
make) and the runs it waits for. Every executor takes a list of them and returns a `Submission`
whose `wait()` gives each run's `JobRecord` (status.py), and writes those records as the runs
go, so that `crkd study --status` can follow them:

- `InProcess`: one run after another in this process, with live epoch hooks (notebooks with
  `jobs` = 1, and the teachers of a local study);
- `LocalPool`: `workers` runs at a time, each a fresh `python -m crkd_core.study.worker`
  process with `threads` torch threads (`crkd study --jobs N`);
- `SlurmExecutor` (executor_slurm.py): each run a Slurm job, through submitit.

The teacher-cache rule is a dependency (`cache_order`): the first KD run of each teacher fills
that teacher's cache, and the teacher's other KD runs wait until it has ended, whatever its
outcome ("afterany": a failed filler must not hold its dependants forever; the next one fills
the cache itself). Every executor reuses a complete run (refused when it was made with other
settings) and resumes a partial one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ..errors import ConfigError, FileFormatError
from ..experiment import (
    RunDir,
    StudentRunConfig,
    TeacherRunConfig,
    distill,
    reuse_or_resume,
    train_teacher,
)
from ..io import atomic_write_json, read_json
from .status import JobRecord, jobs_dir, mark_reused, read_record, write_record

RunConfig = TeacherRunConfig | StudentRunConfig
ROLES = {"teacher": TeacherRunConfig, "student": StudentRunConfig}
EpochHook = Callable[[str, dict], None]  # (run label, epoch row)


@dataclass(frozen=True)
class RunSpec:
    """One training run of a study: the values of its typed config. The config itself is
    built (and checked) when the run starts, since a KD run's teacher may not exist before."""

    role: str  # teacher | student
    values: dict  # TeacherRunConfig's or StudentRunConfig's fields (paths as Path or str)
    origin: str = "the study"  # who asks for it, for command.txt ("notebook 03 ... profile smoke")
    label: str = ""  # how notebooks name it ("teacher seed 0"); default: the folder's name
    after: tuple[str, ...] = ()  # runs (by name) that must have ended first, in any state

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {list(ROLES)}, got {self.role!r}")

    @property
    def out(self) -> Path:
        return Path(self.values["out"])

    @property
    def name(self) -> str:
        return self.out.name

    @property
    def epochs(self) -> int | None:
        return self.values.get("epochs")

    @property
    def teacher(self) -> Path | None:
        """The teacher run that a KD run learns from (None: a teacher, or no KD)."""
        teacher = self.values.get("teacher")
        return None if teacher is None else Path(teacher)

    def config(self, **changes) -> RunConfig:
        """The typed config (ConfigError when a value is wrong, or the teacher is missing)."""
        return ROLES[self.role](**{**self.values, **changes})

    def command(self, config: RunConfig) -> str:
        kind = "train_teacher" if self.role == "teacher" else "distill"
        return f"{self.origin}: {config.as_call(kind)}"


def cache_order(specs: list[RunSpec]) -> list[RunSpec]:
    """The specs with the teacher-cache rule as dependencies: a KD run waits for its teacher's
    run when that is among `specs`, and every KD run of a teacher but the first waits for the
    first (which fills the teacher's cache)."""
    names = {s.name for s in specs}
    teachers = {s.out: s.name for s in specs if s.role == "teacher"}
    fillers: dict[Path, str] = {}
    ordered = []
    for s in specs:
        after = list(s.after)
        if s.teacher is not None:
            key = Path(s.teacher)
            if key in teachers:
                after.append(teachers[key])
            if key in fillers:
                after.append(fillers[key])
            fillers.setdefault(key, s.name)
        after = [a for a in dict.fromkeys(after) if a in names and a != s.name]
        ordered.append(replace(s, after=tuple(after)))
    return ordered


def unique(specs: list[RunSpec]) -> list[RunSpec]:
    """The specs without a second spec of a run folder (02's runs are 03's too), in order."""
    return list({s.out: s for s in specs}.values())


def reused(spec: RunSpec) -> bool:
    """Whether the run is complete, so reused; ConfigError when it was made with other settings
    (a preset default changed since) or its teacher run is gone."""
    if not RunDir(spec.out).is_complete():
        return False
    reuse_or_resume(spec.out, spec.config())
    return True


def resumable(spec: RunSpec, **changes) -> RunConfig:
    """The run's config, resumed when a partial run is in its folder."""
    return spec.config(resume=RunDir(spec.out).config_path.is_file(), **changes)


def write_spec(spec: RunSpec, path: Path, **changes) -> Path:
    """The run for a worker process, as JSON (paths as strings); its config is built there."""
    merged = {**spec.values, **changes}
    values = {k: str(v) if isinstance(v, Path) else v for k, v in merged.items()}
    record = {"role": spec.role, "origin": spec.origin, "label": spec.label, "values": values}
    return atomic_write_json(path, record)


def read_spec(path: Path) -> RunSpec:
    """The run that `write_spec` wrote; FileFormatError naming the file when it is not one."""
    raw = read_json(path)
    if (
        not isinstance(raw, dict)
        or raw.get("role") not in ROLES
        or not isinstance(raw.get("values"), dict)
    ):
        raise FileFormatError(path, "not a run of a study (role and values)")
    return RunSpec(raw["role"], raw["values"], raw.get("origin", ""), raw.get("label", ""))


class Submission(Protocol):
    def wait(self, names: list[str] | None = None) -> list[JobRecord]:
        """The records of `names` (default: every run) once they have ended."""


class Executor(Protocol):
    def start(self, specs: list[RunSpec]) -> Submission:
        """Start (or attach to) the runs; returns at once, or once they have run (InProcess)."""


def run_specs(executor: Executor, specs: list[RunSpec]) -> list[JobRecord]:
    """Make the runs and wait for them."""
    return executor.start(specs).wait()


# -- in this process ---------------------------------------------------------------------------
@dataclass
class Done:
    """A submission whose runs have all ended."""

    records: dict[str, JobRecord]

    def wait(self, names: list[str] | None = None) -> list[JobRecord]:
        return [self.records[n] for n in (self.records if names is None else names)]


@dataclass
class InProcess:
    """Each run in turn, in this process, with `on_epoch(label, row)` after every epoch. A run
    that raises is recorded as failed and the error is raised (a notebook shows it)."""

    study: Path
    on_epoch: EpochHook | None = None

    def start(self, specs: list[RunSpec]) -> Done:
        return Done({s.name: self.run(s) for s in specs})

    def run(self, spec: RunSpec) -> JobRecord:
        if reused(spec):
            return mark_reused(self.study, spec.name, "in-process")
        write_record(self.study, JobRecord(spec.name, "running", "in-process"))
        label = spec.label or spec.name
        hook = None if self.on_epoch is None else (lambda row: self.on_epoch(label, row))
        train = train_teacher if spec.role == "teacher" else distill
        t0 = time.perf_counter()
        try:
            config = resumable(spec)
            train(config, hook, command=spec.command(config))
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            write_record(self.study, JobRecord(spec.name, "failed", "in-process", error=error))
            raise
        seconds = time.perf_counter() - t0
        return write_record(self.study, JobRecord(spec.name, "done", "in-process", seconds=seconds))


# -- a pool of worker processes -----------------------------------------------------------------
def run_local(spec: RunSpec, study: Path, threads: int) -> JobRecord:
    """One run in a fresh worker process, output to `jobs/<run>.log`; never raises for a run
    that fails (its record says why), only for what stops the study itself (a log it cannot
    write)."""
    try:
        if reused(spec):
            return mark_reused(study, spec.name, "local")
    except ConfigError as exc:  # made with other settings, or its teacher run is gone
        return write_record(study, JobRecord(spec.name, "failed", "local", error=str(exc)))
    folder = jobs_dir(study)
    log = folder / f"{spec.name}.log"
    config = write_spec(spec, folder / f"{spec.name}.config.json", threads=threads)
    write_record(study, JobRecord(spec.name, "running", "local", str(log)))
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.call(
            [sys.executable, "-m", "crkd_core.study.worker", str(config)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "CRKD_NO_PROGRESS": "1"},
        )
    seconds = time.perf_counter() - t0
    if rc != 0:
        error = f"exit {rc}: {last_line(log)}"
        return write_record(study, JobRecord(spec.name, "failed", "local", str(log), error))
    return write_record(study, JobRecord(spec.name, "done", "local", str(log), seconds=seconds))


def last_line(log: Path) -> str:
    """The last line of a log that is not blank: a traceback's is the exception."""
    lines = [x for x in log.read_text("utf-8", errors="replace").splitlines() if x.strip()]
    return lines[-1].strip() if lines else "(the log is empty)"


@dataclass
class LocalPool:
    """`workers` worker processes at a time, `threads` torch threads each."""

    study: Path
    workers: int
    threads: int = 1

    def start(self, specs: list[RunSpec]) -> PoolSubmission:
        for s in specs:
            if read_record(self.study, s.name) is None or not RunDir(s.out).is_complete():
                write_record(self.study, JobRecord(s.name, "queued", "local"))
        return PoolSubmission(self, specs)


class PoolSubmission:
    """The runs of a `LocalPool`, started in order as workers free up, except that a run waits
    until the runs it names in `after` (those of this submission) have ended."""

    def __init__(self, pool: LocalPool, specs: list[RunSpec]):
        self.pool, self.specs = pool, specs
        self.done = {s.name: Future() for s in specs}
        self.manager = threading.Thread(target=self._schedule, daemon=True)
        self.manager.start()

    def _schedule(self) -> None:
        try:
            self._run_all()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter, not swallowed
            for f in self.done.values():
                if not f.done():
                    f.set_exception(exc)

    def _run_all(self) -> None:
        pending, running = list(self.specs), {}
        ended: set[str] = set()
        ours = {s.name for s in self.specs}
        workers = self.pool.workers
        with ThreadPoolExecutor(max_workers=workers) as threads:
            while pending or running:
                while len(running) < workers:
                    s = next((q for q in pending if set(q.after) & ours <= ended), None)
                    if s is None:
                        break
                    pending.remove(s)
                    job = threads.submit(run_local, s, self.pool.study, self.pool.threads)
                    running[job] = s
                if not running:  # `after` names only earlier runs, so this cannot happen
                    raise RuntimeError(f"runs left unscheduled: {[s.name for s in pending]}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    s = running.pop(f)
                    ended.add(s.name)
                    if f.exception() is None:
                        self.done[s.name].set_result(f.result())
                    else:
                        self.done[s.name].set_exception(f.exception())

    def wait(self, names: list[str] | None = None) -> list[JobRecord]:
        names = [s.name for s in self.specs] if names is None else names
        return [self.done[n].result() for n in names]


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
