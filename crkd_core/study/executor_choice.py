"""Which executor a study's runs use: the choice that `crkd study` makes, written into the
study (`jobs/executor.json`) so that its notebooks make their runs the same way."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..errors import FileFormatError
from ..io import atomic_write_json, read_json
from .configs import NotebookConfig
from .executor import EpochHook, Executor, InProcess, LocalPool, available_cpus
from .executor_slurm import SlurmExecutor, SlurmOptions
from .profiles import StudyError
from .status import JobRecord, jobs_dir

EXECUTOR_FILE = "executor.json"


def origin(cfg: NotebookConfig) -> str:
    """Who asks for a run, for its `command.txt`."""
    return f"notebook {cfg.NOTEBOOK} of the study, profile {cfg.profile}"


def write_executor(study: Path, kind: str, session: str, slurm: SlurmOptions | None) -> None:
    """Which executor the study's runs use, for its notebooks (`jobs/executor.json`)."""
    record = {"executor": kind, "session": session, "slurm": asdict(slurm) if slurm else None}
    atomic_write_json(jobs_dir(study) / EXECUTOR_FILE, record)


def study_executor(
    cfg: NotebookConfig, workers: int | None, on_epoch: EpochHook | None = None
) -> Executor:
    """The executor of a notebook's runs: Slurm when `crkd study --executor slurm` started the
    study, else `workers` worker processes (None: in this process, with live epoch hooks)."""
    path = jobs_dir(cfg.paths.root) / EXECUTOR_FILE
    record = read_json(path) if path.is_file() else {"executor": "local"}
    if record.get("executor") == "slurm":
        try:
            options = SlurmOptions(
                **{**record["slurm"], "sbatch": tuple(record["slurm"]["sbatch"])}
            )
        except (KeyError, TypeError) as exc:
            raise FileFormatError(path, f"not the record of a Slurm executor ({exc})") from None
        return SlurmExecutor(cfg.paths.root, options, str(record.get("session", "")))
    if workers is None:
        return InProcess(cfg.paths.root, on_epoch)
    return LocalPool(cfg.paths.root, workers, threads=max(1, available_cpus() // workers))


def check_runs(records: list[JobRecord]) -> None:
    """Raise, naming every run that failed and why, so that the notebook (and the study) fails."""
    failed = [r for r in records if r.state == "failed"]
    if failed:
        raise StudyError(
            "runs failed: "
            + "; ".join(
                f"{r.name}: {r.error}" + (f" (log: {r.log})" if r.log else "") for r in failed
            )
        )
