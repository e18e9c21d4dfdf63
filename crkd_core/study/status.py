"""A study's runs as seen from a shell: each run's job record, `crkd study --status`, and the
driver's live progress line.

Every executor writes one record per run, `<study>/jobs/<run>.job.json`: its state (queued,
running, done, reused or failed), where it runs (a Slurm job id, `local`, `in-process`), its
log and, when it failed, the error. The driver writes the study's plan (`jobs/plan.json`, the
runs it trains), so that runs not started yet show as queued. Records are written atomically;
a reader never sees half of one.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ..errors import ConfigError, FileFormatError
from ..io import atomic_write_json, read_json

STATES = ("queued", "running", "done", "reused", "failed")
ENDED = ("done", "reused", "failed")


@dataclass
class JobRecord:
    """Where one run of a study is, as its executor last saw it."""

    name: str  # the run folder's name: unique in a study
    state: str  # one of STATES
    job: str = ""  # a Slurm job id ("123", "124_3"), "local" or "in-process"
    log: str = ""  # the job's output (stdout and stderr)
    error: str = ""  # why it failed: the traceback's last line, or how the job ended
    session: str = ""  # the driver that submitted it (a restarted driver has another)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"run {self.name}: state {self.state!r} is not one of {STATES}")

    @property
    def ended(self) -> bool:
        return self.state in ENDED


def jobs_dir(study: Path) -> Path:
    return Path(study) / "jobs"


def record_path(study: Path, name: str) -> Path:
    return jobs_dir(study) / f"{name}.job.json"


def write_record(study: Path, record: JobRecord) -> JobRecord:
    atomic_write_json(record_path(study, record.name), asdict(record))
    return record


def mark_reused(study: Path, name: str, job: str = "") -> JobRecord:
    """Record a complete run as reused, unless its record already says it was done (by this
    study: a later notebook that reuses it does not make it look reused). A run that this study
    queued or was running and that is now complete was done by its job: a notebook can see the
    finished run folder before the executor's next poll records it."""
    old = read_record(study, name)
    if old is not None and old.state in ("done", "reused"):
        return JobRecord(name, "reused", job)
    if old is not None and old.state in ("queued", "running"):
        return write_record(study, replace(old, state="done"))
    return write_record(study, JobRecord(name, "reused", job))


def read_record(study: Path, name: str) -> JobRecord | None:
    path = record_path(study, name)
    return _parse_record(path) if path.is_file() else None


def _parse_record(path: Path) -> JobRecord:
    raw = read_json(path)
    known = {f.name for f in fields(JobRecord)}
    if not isinstance(raw, dict) or not {"name", "state"} <= set(raw):
        raise FileFormatError(path, "not a job record (an object with name and state)")
    try:
        return JobRecord(**{k: v for k, v in raw.items() if k in known})
    except ValueError as exc:
        raise FileFormatError(path, str(exc)) from None


def write_plan(study: Path, names: list[str], epochs: dict[str, int]) -> None:
    """The runs the driver trains, in order, with each one's epochs (for the progress line)."""
    atomic_write_json(jobs_dir(study) / "plan.json", {"runs": names, "epochs": epochs})


def read_plan(study: Path) -> dict:
    path = jobs_dir(study) / "plan.json"
    return read_json(path) if path.is_file() else {"runs": [], "epochs": {}}


@dataclass
class RunView:
    """One row of `crkd study --status`."""

    name: str
    state: str
    epochs_done: int
    epochs: int | None
    best_dev_wer: float | None
    job: str
    detail: str  # the error and log of a failed run, else ""


def log_rows(run: Path) -> list[dict]:
    """The epoch rows of a run's log.jsonl written so far (a last line being written waits)."""
    path = run / "log.jsonl"
    if not path.is_file():
        return []
    text = path.read_text("utf-8")
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    rows = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise FileFormatError(path, f"row {n} is not JSON ({exc.msg})") from None
    return rows


def study_view(study: Path) -> list[RunView]:
    """Every run of the study in `study`: the plan's, then any other recorded ones."""
    study = Path(study)
    if not study.is_dir():
        raise ConfigError(f"--status {study}: no such folder")
    if not jobs_dir(study).is_dir():
        raise ConfigError(f"--status {study}: not a study folder (no jobs/ in it)")
    plan = read_plan(study)
    names = list(plan["runs"])
    names += sorted(
        p.name.removesuffix(".job.json")
        for p in jobs_dir(study).glob("*.job.json")
        if p.name.removesuffix(".job.json") not in names
    )
    return [run_view(study, name, plan["epochs"].get(name)) for name in names]


def run_view(study: Path, name: str, epochs: int | None) -> RunView:
    record = read_record(study, name) or JobRecord(name, "queued")
    rows = log_rows(run_folder(study, name))
    wers = [r["dev_wer"] for r in rows if isinstance(r.get("dev_wer"), (int, float))]
    detail = f"{record.error} (log: {record.log})" if record.state == "failed" else ""
    return RunView(
        name=name,
        state=record.state,
        epochs_done=len(rows),
        epochs=epochs,
        best_dev_wer=min(wers) if wers else None,
        job=record.job,
        detail=detail,
    )


def run_folder(study: Path, name: str) -> Path:
    """A run's folder: the study's runs/ holds teachers and 02's students, runs/ablation/ the
    other grid points."""
    top = Path(study) / "runs" / name
    return top if top.is_dir() else Path(study) / "runs" / "ablation" / name


def status_lines(views: list[RunView]) -> list[str]:
    """`crkd study --status`: one line per run, then the count of each state."""
    lines = [f"{'run':32} {'state':8} {'epochs':>7} {'best dev WER':>12}  job"]
    for v in views:
        epochs = f"{v.epochs_done}/{v.epochs}" if v.epochs else str(v.epochs_done)
        wer = f"{v.best_dev_wer:.1f} %" if v.best_dev_wer is not None else "-"
        lines.append(f"{v.name:32} {v.state:8} {epochs:>7} {wer:>12}  {v.job}")
        if v.detail:
            lines.append(f"    {v.detail}")
    counts = {s: sum(v.state == s for v in views) for s in STATES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no runs")
    return lines


class Progress:
    """The driver's console: a line every `every` seconds while runs train, e.g.
    `runs 3/8 done · running: crkd-s32-e6-seed0 epoch 2/6, nokd-s32-e6-seed1 epoch 4/6 ·
    about 6 min left`."""

    def __init__(self, study: Path, every: float = 15.0, printer=print):
        self.study, self.every, self.printer = Path(study), every, printer
        self.t0 = time.monotonic()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.last = ""

    def __enter__(self) -> Progress:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join()

    def _loop(self) -> None:
        while not self.stop_event.wait(self.every):
            line = self.line()
            if line and line != self.last:  # nothing new: nothing printed
                self.printer(line, flush=True)
                self.last = line

    def line(self) -> str:
        views = [v for v in study_view(self.study) if v.state != "reused"]
        if not views:
            return ""
        done = sum(v.state in ENDED for v in views)
        running = [v for v in views if v.state == "running"]
        shown = ", ".join(f"{v.name} epoch {v.epochs_done}/{v.epochs or '?'}" for v in running[:3])
        more = f" and {len(running) - 3} more" if len(running) > 3 else ""
        parts = [f"runs {done}/{len(views)} done"]
        parts += [f"running: {shown}{more}"] if running else []
        failed = sum(v.state == "failed" for v in views)
        parts += [f"{failed} failed"] if failed else []
        eta = self.eta(views)
        parts += [eta] if eta else []
        return " · ".join(parts)

    def eta(self, views: list[RunView]) -> str:
        """Epochs still to train times this driver's wall seconds per epoch trained so far
        (runs that train at once share that time)."""
        trained = sum(v.epochs_done for v in views)
        left = sum(max(0, (v.epochs or 0) - v.epochs_done) for v in views if v.state != "failed")
        if not trained or not left:
            return ""
        seconds = left * (time.monotonic() - self.t0) / trained
        return f"about {seconds / 60:.0f} min left" if seconds >= 60 else f"{seconds:.0f} s left"
