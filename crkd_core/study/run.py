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

import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from ..demo import build_demo
from ..errors import CheckpointError, ConfigError, FileFormatError, ToolMissingError
from ..experiment import RunDir, git_commit
from ..io import read_json
from ..machine import describe, machine_facts
from ..teacher_cache import SUFFIX as TEACHER_CACHE_SUFFIX
from .configs import AblationConfig, DistillConfig
from .grid import PointStatus, grid_points, run_point, sweep_points
from .notebooks import failed, run_notebooks, selected
from .paths import REPO_ROOT, GridPoint, StudyPaths, display_path
from .profiles import (
    KD_SETTINGS,
    NB_ABLATION,
    NB_DISTILL,
    NB_TEACHER,
    PROFILE_ORDER,
    STUDY_PROFILES,
)
from .report import PageStatus, Provenance, compile_report
from .tables import signworld_floor
from .training import check_data, ensure_data


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
    extra = {name: {"jobs": opts.jobs} for name in (NB_DISTILL, NB_ABLATION)}
    names = selected(opts.only)
    early = StudentRuns.start(params, opts.jobs, names)
    if early.alone is not None:  # the teacher gets one core; the no-KD students the others
        extra[NB_TEACHER] = {"threads": 1}
    before = {NB_DISTILL: early.before_02, NB_ABLATION: early.before_03}
    statuses = run_notebooks(
        names=names, params=params, out=out, extra=extra, timeout=opts.timeout, before=before
    )
    early.wait()
    done = not any(s.status in ("failed", "skipped") for s in statuses)
    cache = drop_teacher_cache(StudyPaths(out).teacher_cache) if done else "kept (to resume)"
    demo = publish_demo(opts, out, opts.reports_dir())
    prov = provenance(opts, data, out, started, time.perf_counter() - t0)
    prov.extra["live demo"] = demo
    prov.extra["teacher cache"] = cache
    if early.points:
        prov.extra["LRINet runs trained ahead of 02 and 03"] = early.summary()
    index = compile_report(out, opts.reports_dir(), statuses, prov)
    return StudyResult(statuses, index, time.perf_counter() - t0)


class StudentRuns:
    """LRINet's runs of 02 and 03, trained ahead of their notebooks so that no core idles.

    With `--jobs` N > 1:
    - the runs without KD (02's and the grid's) need no teacher: they train on N - 1 cores
      while 01 trains the teacher on one (a 1-thread teacher measured as fast as a 2-thread
      one here);
    - once 01 has succeeded, every KD run of 02 and 03 (headline, grid, sweep) trains on N
      cores in one queue, 02's first, so that each seed's first run fills the teacher cache
      for the others. 02 waits for its own runs only, 03 for the rest.
    The notebooks then reuse the runs; one that failed is trained again there, which reports
    its error.
    """

    def __init__(self, cfg: AblationConfig | None, alone, headline, rest, jobs: int):
        self.cfg, self.jobs = cfg, jobs
        self.headline, self.rest = headline, rest
        self.alone = Batch(cfg, alone, max(1, jobs - 1)) if alone else None
        self.kd: Batch | None = None

    @classmethod
    def start(cls, params: dict, jobs: int, names: list[str]) -> StudentRuns:
        wanted = {NB_DISTILL, NB_ABLATION} & set(names)
        if jobs < 2 or not wanted:
            return cls(None, [], [], [], jobs)
        base = {**params, "interactive": False, "jobs": jobs}
        cfg = AblationConfig.build(**base)
        ours: list[GridPoint] = []  # 02's runs: CRKD first, for the teacher cache
        if NB_DISTILL in names:
            d = DistillConfig.build(**base)
            ours = [
                GridPoint(d.student_size, k, d.epochs, s) for k in ("both", "none") for s in d.seeds
            ]
        theirs = grid_points(cfg) + sweep_points(cfg) if NB_ABLATION in names else []
        unique = list({cfg.paths.point(p): p for p in ours + theirs}.values())  # 02's: grid's
        alone = [p for p in unique if p.setting == "none"] if NB_TEACHER in names else []
        headline = [p for p in unique if p in ours and p not in alone]
        rest = [p for p in unique if p not in ours and p not in alone]
        return cls(cfg, alone, headline, rest, jobs)

    @property
    def points(self) -> list[GridPoint]:
        return (self.alone.points if self.alone else []) + self.headline + self.rest

    def before_02(self, statuses: dict) -> None:
        """The runs without KD done; the KD queue started once the teacher is there."""
        if self.alone is not None:
            self.alone.wait()
        teacher = statuses.get(NB_TEACHER)
        if self.kd is None and (self.headline or self.rest) and not failed(teacher):
            self.kd = Batch(self.cfg, self.headline + self.rest, self.jobs)
        if self.kd is not None:
            self.kd.wait(len(self.headline))

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
            for st in batch.statuses if batch else []:
                by.setdefault(st.status, []).append(st.point.name)
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in by.items())


class Batch:
    """Grid points trained in the background, at most `workers` 1-thread processes at a time,
    in order, except that a KD point waits until one run of its seed has finished (the one
    that fills the seed's teacher cache), so that no two runs compute the same teacher outputs.
    `wait(n)` returns once the first n points are done, `wait()` once all are."""

    def __init__(self, cfg: AblationConfig | None, points: list[GridPoint], workers: int):
        self.cfg, self.points, self.workers = cfg, points, workers
        self.done = {p: Future() for p in points}
        self.statuses: list[PointStatus] | None = None
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
        pending, running = list(self.points), {}
        claimed: set[int] = set()  # seeds whose first KD run has started
        filled: set[int] = set()  # seeds whose first KD run has finished
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            while pending or running:
                while len(running) < self.workers:
                    p = next((q for q in pending if self._ready(q, claimed, filled)), None)
                    if p is None:
                        break
                    pending.remove(p)
                    if self._kd(p):
                        claimed.add(p.seed)
                    running[pool.submit(run_point, self.cfg, p, 1)] = p
                if not running:  # every claimed seed has finished, so this cannot happen
                    raise RuntimeError(f"grid points left unscheduled: {pending}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    p = running.pop(f)
                    if self._kd(p):
                        filled.add(p.seed)
                    if f.exception() is None:
                        self.done[p].set_result(f.result())
                    else:
                        self.done[p].set_exception(f.exception())

    @staticmethod
    def _kd(p: GridPoint) -> bool:
        return KD_SETTINGS[p.setting].kd != "none"

    def _ready(self, p: GridPoint, claimed: set[int], filled: set[int]) -> bool:
        return not self._kd(p) or p.seed in filled or p.seed not in claimed

    def wait(self, n: int | None = None) -> None:
        for p in self.points[:n]:
            self.done[p].result()
        if n is None and self.statuses is None:
            self.manager.join()
            self.statuses = [self.done[p].result() for p in self.points]


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
    run = StudyPaths(out).student("crkd", plan.student_size, plan.student_epochs, plan.seeds[0])
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
    command += f" --data {display_path(data)}" if opts.data else ""
    command += f" --out {display_path(out)}" if opts.out else ""
    command += " --publish" if opts.publish else ""
    command += f" --only {opts.only}" if opts.only else ""
    return Provenance(
        profile=opts.profile,
        seeds=list(plan.seeds),
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
