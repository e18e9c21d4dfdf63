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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..demo import build_demo
from ..errors import ConfigError, ToolMissingError
from ..experiment import RunDir, git_commit
from ..io import read_json
from ..teacher_cache import SUFFIX as TEACHER_CACHE_SUFFIX
from .configs import AblationConfig, DistillConfig
from .grid import PointStatus, grid_points, run_point
from .notebooks import run_notebooks, selected
from .paths import REPO_ROOT, GridPoint, StudyPaths, display_path
from .profiles import STUDY_PROFILES
from .report import PageStatus, Provenance, compile_report
from .tables import signworld_floor
from .training import ensure_data

PROFILE_ORDER = ("smoke", "default", "full")  # from the smallest study to the largest


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
    check_not_smaller(opts.reports_dir(), opts.profile, opts.replace_larger)


def check_not_smaller(reports: Path, profile: str, replace_larger: bool) -> None:
    """A folder holding a larger profile's study is not overwritten by a smaller one."""
    existing = reports / "study.json"
    if replace_larger or not existing.is_file():
        return
    old = read_json(existing).get("provenance", {}).get("profile")
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
    extra = {name: {"jobs": opts.jobs} for name in ("02_distill_student", "03_resolution_ablation")}
    names = selected(opts.only)
    early = AloneRuns.start(params, opts.jobs, names)
    if early.points:  # the teacher gets one core; the no-KD students the others
        extra["01_train_teacher"] = {"threads": 1}
    before = {"02_distill_student": early.wait}
    statuses = run_notebooks(names, params, out, extra, opts.timeout, before)
    early.wait()
    done = not any(s.status in ("failed", "skipped") for s in statuses)
    cache = drop_teacher_cache(StudyPaths(out).teacher_cache) if done else "kept (to resume)"
    demo = publish_demo(opts, out, opts.reports_dir())
    prov = provenance(opts, data, out, started, time.perf_counter() - t0)
    prov.extra["live demo"] = demo
    prov.extra["teacher cache"] = cache
    if early.points:
        prov.extra["LRINet without KD, trained beside the teacher"] = early.summary()
    index = compile_report(out, opts.reports_dir(), statuses, prov)
    return StudyResult(statuses, index, time.perf_counter() - t0)


class AloneRuns:
    """The runs of LRINet without KD (02's and the grid's), which need no teacher: with
    `--jobs` N > 1 they train on N - 1 cores while 01 trains the teacher on one (a 1-thread
    teacher measured as fast as a 2-thread one here). 02 waits for them, then reuses them; one
    that failed is trained again there, which reports its error."""

    def __init__(self, cfg: AblationConfig | None, points: list[GridPoint], jobs: int):
        self.points = points
        self.pool = ThreadPoolExecutor(max_workers=max(1, jobs - 1)) if points else None
        self.futures = [self.pool.submit(run_point, cfg, p, 1) for p in points] if points else []
        self.statuses: list[PointStatus] | None = None

    @classmethod
    def start(cls, params: dict, jobs: int, names: list[str]) -> AloneRuns:
        wanted = {"02_distill_student", "03_resolution_ablation"} & set(names)
        if jobs < 2 or "01_train_teacher" not in names or not wanted:
            return cls(None, [], jobs)
        base = {**params, "interactive": False, "jobs": jobs}
        cfg = AblationConfig.build(**base)
        points = []
        if "02_distill_student" in names:
            d = DistillConfig.build(**base)
            points += [GridPoint(d.student_size, "none", d.epochs, seed) for seed in d.seeds]
        if "03_resolution_ablation" in names:
            points += [p for p in grid_points(cfg) if p.setting == "none"]
        unique = {cfg.paths.point(p): p for p in points}  # 02's runs are the grid's
        return cls(cfg, list(unique.values()), jobs)

    def wait(self) -> None:
        if self.pool is not None and self.statuses is None:
            self.statuses = [f.result() for f in self.futures]
            self.pool.shutdown()

    def summary(self) -> str:
        self.wait()
        by = {}
        for s in self.statuses or []:
            by.setdefault(s.status, []).append(s.point.name)
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in by.items())


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
        build_demo(run, reports / "demo")
    except ToolMissingError as exc:  # onnxruntime-web comes from npm (make web)
        return f"not built: {exc}"
    return f"demo/index.html: the live camera page of {run.name} (LRINet + CRKD)"


def provenance(opts: StudyOptions, data: Path, out: Path, started: str, seconds: float):
    """The report's provenance, with paths relative to the repository (none of this machine)."""
    import torch

    plan = STUDY_PROFILES.get(opts.profile)
    command = f"crkd study --profile {opts.profile} --jobs {opts.jobs}"
    command += f" --data {display_path(data)}" if opts.data else ""
    command += f" --out {display_path(out)}" if opts.out else ""
    command += " --publish" if opts.publish else ""
    command += f" --only {opts.only}" if opts.only else ""
    return Provenance(
        opts.profile,
        list(plan.seeds),
        git_commit(),
        display_path(data),
        display_path(out),
        command,
        started,
        seconds,
        {"torch threads": str(torch.get_num_threads()), **dataset_facts(data)},
    )


def dataset_facts(data: Path) -> dict:
    """What the report should say about the data: SignWorld's handshape-blind floor."""
    floor = signworld_floor(data)
    if not floor:
        return {}
    text = ", ".join(f"{split} {value:.1f} %" for split, value in floor.items())
    return {"handshape-blind floor (WER of an oracle that reads all but handshape)": text}
