"""The whole study: data, the notebooks 00-05 under papermill, then the HTML report.

The data is drawn (or reused), each notebook is executed into its folder of the study
(`<out>/<notebook>/<notebook>.ipynb`), and the reports folder gets one page per notebook plus
`index.html`. Training runs are reused when complete, so a second study only re-executes the
notebooks. A notebook that fails is reported as FAILED (with its partial page); the notebooks
that need it are skipped.

Reports go to `<out>/reports/` unless the study is published (`publish=True`: the repository's
`reports/`) or `reports` names a folder. A folder that holds a larger profile's study is not
overwritten by a smaller one without `replace_larger=True`.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..demo import build_demo
from ..errors import CheckpointError, ConfigError, FileFormatError, ToolMissingError
from ..experiment import RunDir, git_commit
from ..io import read_json
from ..machine import describe, machine_facts
from ..teacher_cache import SUFFIX as TEACHER_CACHE_SUFFIX
from .configs import DistillConfig
from .executor import LocalPool, PoolSubmission, RunSpec
from .executor_choice import write_executor
from .executor_slurm import SlurmExecutor, SlurmOptions, check_slurm
from .notebooks import failed, run_notebooks, selected
from .paths import REPO_ROOT, StudyPaths, display_path
from .profiles import (
    NB_ABLATION,
    NB_DISTILL,
    NB_TEACHER,
    PROFILE_ORDER,
    STUDY_PROFILES,
)
from .report import PageStatus, Provenance, compile_report
from .status import Progress, write_plan
from .tables import signworld_floor
from .training import StudyPlan, check_data, ensure_data, study_plan

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class StudyOptions:
    """What `crkd study` takes (paths relative to the current folder)."""

    profile: str = "default"
    data: Path | None = None  # default: <out>/data, drawn when missing
    out: Path | None = None  # default: runs/study-<profile>
    reports: Path | None = None  # default: <out>/reports, or the repository's when publishing
    publish: bool = False
    replace_larger: bool = False
    jobs: int = 1
    only: str | None = None
    timeout: int | None = None
    executor: str = "local"  # local | slurm
    slurm: SlurmOptions | None = None  # with executor "slurm"; None: the defaults

    def study_dir(self) -> Path:
        return Path(self.out or f"runs/study-{self.profile}").resolve()

    def reports_dir(self) -> Path:
        if self.reports is not None:
            return Path(self.reports).resolve()
        return REPO_ROOT / "reports" if self.publish else self.study_dir() / "reports"


@dataclass
class StudyResult:
    statuses: list[PageStatus]
    index: Path
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(s.status in ("failed", "skipped") for s in self.statuses)


def check_options(opts: StudyOptions) -> None:
    """Refuse bad options before any work."""
    STUDY_PROFILES.get(opts.profile)
    if opts.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {opts.jobs}")
    if opts.timeout is not None and opts.timeout < 1:
        raise ConfigError(f"--timeout must be >= 1 s, got {opts.timeout}")
    if opts.executor not in EXECUTORS:
        raise ConfigError(
            f"--executor must be one of {', '.join(EXECUTORS)}, got {opts.executor!r}"
        )
    if opts.executor == "local" and opts.slurm is not None:
        raise ConfigError("Slurm options (--partition, --time-limit, ...) need --executor slurm")
    if opts.executor == "slurm":
        check_slurm(opts.slurm or SlurmOptions())
    selected(opts.only)
    check_data(Path(opts.data or opts.study_dir() / "data").resolve())
    check_not_smaller(opts.reports_dir(), opts.profile, opts.replace_larger)


def check_not_smaller(reports: Path, profile: str, replace_larger: bool) -> None:
    """A folder holding a larger profile's study is not overwritten by a smaller one."""
    existing = reports / "study.json"
    if replace_larger or not existing.is_file():
        return
    record = read_json(existing)  # FileFormatError naming it when it is not JSON
    prov = record.get("provenance", {}) if isinstance(record, dict) else None
    if not isinstance(prov, dict):
        raise FileFormatError(
            existing,
            "not a study record (no provenance object); pass --replace-larger to overwrite it",
        )
    old = prov.get("profile")
    if old in PROFILE_ORDER and PROFILE_ORDER.index(old) > PROFILE_ORDER.index(profile):
        raise ConfigError(
            f"{reports} holds a {old!r} study; a {profile!r} study would replace it. "
            "Choose another --reports (or none: <out>/reports), or pass --replace-larger"
        )


def run_study(opts: StudyOptions) -> StudyResult:
    """Run the study and compile its report; returns the notebooks' statuses and the index."""
    check_options(opts)
    t0, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S")
    plan = STUDY_PROFILES.get(opts.profile)
    out = opts.study_dir()
    data = ensure_data(Path(opts.data or out / "data").resolve(), plan.data_profile, plan.data_seed)
    params = {"profile": opts.profile, "data": str(data), "study_dir": str(out)}
    names = selected(opts.only)
    runs = study_plan(params, names, opts.jobs)
    session = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    write_executor(out, opts.executor, session, opts.slurm or SlurmOptions())
    write_plan(out, [s.name for s in runs.specs], {s.name: s.epochs for s in runs.specs})
    with Progress(out):
        if opts.executor == "slurm":
            statuses, ahead = on_slurm(opts, out, session, runs, params, names), None
        else:
            statuses, ahead = on_local(opts, params, names)
    done = not any(s.status in ("failed", "skipped") for s in statuses)
    cache = drop_teacher_cache(StudyPaths(out).teacher_cache) if done else "kept (to resume)"
    demo = publish_demo(opts, out, opts.reports_dir())
    prov = provenance(opts, data, out, started, time.perf_counter() - t0)
    prov.extra["live demo"] = demo
    prov.extra["teacher cache"] = cache
    if ahead is not None and ahead.specs:
        prov.extra["LRINet runs trained ahead of 02 and 03"] = ahead.summary()
    index = compile_report(out, opts.reports_dir(), statuses, prov)
    return StudyResult(statuses, index, time.perf_counter() - t0)


def on_local(opts: StudyOptions, params: dict, names: list[str]):
    """The notebooks, with LRINet's runs trained ahead on a local pool (`--jobs` > 1)."""
    extra = {name: {"jobs": opts.jobs} for name in (NB_DISTILL, NB_ABLATION)}
    early = local_runs(opts, params, names)
    if early.alone is not None:  # the teacher gets one core; the no-KD students the others
        extra[NB_TEACHER] = {"threads": 1}
    before = {NB_DISTILL: early.before_02, NB_ABLATION: early.before_03}
    statuses = run_notebooks(
        names=names,
        params=params,
        out=opts.study_dir(),
        extra=extra,
        timeout=opts.timeout,
        before=before,
    )
    early.wait()
    return statuses, early


def on_slurm(opts: StudyOptions, out: Path, session: str, runs: StudyPlan, params, names):
    """Every run submitted at once as Slurm jobs; each notebook waits for its own runs (it
    attaches to their jobs) while the driver follows them all for the progress line."""
    slurm = SlurmExecutor(out, opts.slurm or SlurmOptions(), session)
    submission = slurm.start(runs.specs)
    follower = threading.Thread(target=submission.wait, daemon=True)
    follower.start()
    statuses = run_notebooks(
        names=names, params=params, out=out, extra={}, timeout=opts.timeout, before={}
    )
    submission.wait()  # raises what stopped the follower (squeue failing), not swallowed
    return statuses


class StudentRuns:
    """LRINet's runs of 02 and 03 trained ahead of their notebooks on a local pool (`--jobs` N
    > 1), so that no core idles:
    - the runs without KD need no teacher: they train on N - 1 cores while 01 trains the
      teacher on one (a 1-thread teacher measured as fast as a 2-thread one here);
    - once 01 has succeeded, every KD run of 02 and 03 (headline, grid, sweep) trains on N
      cores in one queue, 02's first, with the teacher-cache rule (`cache_order`). 02 waits
      for its own runs only, 03 for the rest.
    The notebooks then reuse the runs; one that failed is trained again there, which reports
    its error.
    """

    def __init__(self, study: Path, plan: StudyPlan | None, jobs: int, teacher_here: bool):
        self.study, self.jobs = study, jobs
        specs = plan.specs if plan is not None else []
        students = [s for s in specs if s.role == "student"]
        alone = [s for s in students if s.teacher is None] if teacher_here else []
        self.kd_specs = [s for s in students if s not in alone]
        self.headline = {s.name for s in plan.distill} if plan is not None else set()
        pool = LocalPool(study, max(1, jobs - 1), threads=1)
        self.alone = pool.start(alone) if alone else None
        self.kd: PoolSubmission | None = None

    @property
    def specs(self) -> list[RunSpec]:
        return (self.alone.specs if self.alone else []) + self.kd_specs

    def before_02(self, statuses: dict) -> None:
        """The runs without KD done; the KD queue started once the teacher is there."""
        if self.alone is not None:
            self.alone.wait()
        teacher = statuses.get(NB_TEACHER)
        if self.kd is None and self.kd_specs and not failed(teacher):
            self.kd = LocalPool(self.study, self.jobs, threads=1).start(self.kd_specs)
        if self.kd is not None:
            self.kd.wait([s.name for s in self.kd_specs if s.name in self.headline])

    def before_03(self, statuses: dict) -> None:
        self.before_02(statuses)
        if self.kd is not None:
            self.kd.wait()

    def wait(self) -> None:
        for batch in (self.alone, self.kd):
            if batch is not None:
                batch.wait()

    def summary(self) -> str:
        self.wait()
        by: dict[str, list[str]] = {}
        for batch in (self.alone, self.kd):
            for spec, r in zip(batch.specs, batch.wait(), strict=True) if batch else []:
                by.setdefault(r.state, []).append(spec.label)
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in by.items())


def local_runs(opts: StudyOptions, params: dict, names: list[str]) -> StudentRuns:
    """`--jobs` N > 1: LRINet's runs ahead of 02 and 03 (none with N = 1: the notebooks train)."""
    out = opts.study_dir()
    wanted = {NB_DISTILL, NB_ABLATION} & set(names)
    plan = study_plan(params, names, opts.jobs) if opts.jobs > 1 and wanted else None
    return StudentRuns(out, plan, opts.jobs, NB_TEACHER in names)


def drop_teacher_cache(folder: Path) -> str:
    """Remove the frozen teachers' shared outputs once every notebook is done (on the default
    study they are GBs); returns what the report says of them."""
    if not folder.is_dir():
        return "none was made"
    files = [f for f in folder.rglob(f"*{TEACHER_CACHE_SUFFIX}") if f.is_file()]
    size = sum(f.stat().st_size for f in files)
    shutil.rmtree(folder)
    return f"{len(files)} batches of teacher outputs ({size / 2**20:.0f} MiB), removed at the end"


def publish_demo(opts: StudyOptions, out: Path, reports: Path) -> str:
    """The live demo of the headline's LRINet + CRKD (first seed) beside the report, in
    `<reports>/demo/`; returns what the index says of it (built, or why not)."""
    plan = STUDY_PROFILES.get(opts.profile)
    data = str(opts.data or out / "data")
    cfg = DistillConfig.build(profile=opts.profile, data=data, study_dir=str(out))
    run = cfg.student_run("crkd", plan.seeds[0])
    if not RunDir(run).is_complete():
        return f"not built: {display_path(run, out)} did not finish"
    try:
        build_demo(run, reports / "demo", force=True)  # the study's own page, rebuilt
    except (ToolMissingError, CheckpointError) as exc:  # onnxruntime-web comes from npm
        return f"not built: {exc}"
    return f"demo/index.html: the live camera page of {run.name} (LRINet + CRKD)"


def provenance(opts: StudyOptions, data: Path, out: Path, started: str, seconds: float):
    """The report's provenance, with paths relative to the repository (none of this machine's
    paths), and the driver's CPU, ISA and kernel set (each run's own are in its machine.json)."""
    import torch

    plan = STUDY_PROFILES.get(opts.profile)
    command = f"crkd study --profile {opts.profile} --jobs {opts.jobs}"
    command += f" --executor {opts.executor}" if opts.executor != "local" else ""
    command += f" --data {display_path(data)}" if opts.data else ""
    command += f" --out {display_path(out)}" if opts.out else ""
    command += " --publish" if opts.publish else ""
    command += f" --only {opts.only}" if opts.only else ""
    return Provenance(
        profile=opts.profile,
        seeds=list(plan.seeds),
        teacher_seeds=list(plan.teacher_seeds),
        git_commit=git_commit(),
        data=display_path(data),
        study_dir=display_path(out),
        command=command,
        started=started,
        wall_seconds=seconds,
        extra={
            "torch threads": str(torch.get_num_threads()),
            **describe(machine_facts()),
            **dataset_facts(data),
        },
    )


def dataset_facts(data: Path) -> dict:
    """What the report should say about the data: SignWorld's handshape-blind floor."""
    floor = signworld_floor(data)
    if not floor:
        return {}
    text = ", ".join(f"{split} {value:.1f} %" for split, value in floor.items())
    return {"handshape-blind floor (WER of an oracle that reads all but handshape)": text}
