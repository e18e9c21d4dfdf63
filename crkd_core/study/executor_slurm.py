"""The Slurm executor: every training run of a study is a Slurm job, submitted with submitit.

- Runs that can go together (the same dependencies, the same number of tasks) go as one job
  array, at most `parallel` of its jobs at once (`--jobs`).
- A run's `after` (the teacher-cache rule, `executor.cache_order`) becomes
  `--dependency=afterany:<jobs>`: with afterok, the dependants of a failed job would wait
  forever.
- A job is followed with `squeue -t all` (which still lists an ended job, with its end state,
  for `MinJobAge` seconds) and submitit's result file; no Slurm accounting (sacct) is needed.
  A job that ended without a result (scancel, kill -9, a node failure) is failed at the next
  poll but one, seconds after it ended; one that raised is failed with its traceback's last
  line and its log.
- A job that reaches its time limit gets submitit's signal (`--signal=USR2@<delay>`), is
  requeued (`SlurmTrain` is checkpointable) and resumes its run from `last.safetensors`.
- Each run's record (status.py) keeps its job id and the driver's session. A driver that is
  started again reuses every complete run, attaches to every job still queued or running, and
  submits only the rest; a run that failed under this session is not submitted again.
- A teacher can train as N tasks (`teacher_tasks`): submitit starts N processes with `srun`,
  and each joins torch.distributed from submitit's environment, so the run records
  `world_size` N, as under torchrun.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import submitit
from submitit.core.utils import JobPaths, pickle_load

from ..errors import ConfigError, ToolMissingError
from ..experiment import RunDir
from .executor import RunSpec, read_spec, reused, write_spec
from .profiles import StudyError
from .status import JobRecord, jobs_dir, mark_reused, read_record, write_record
from .worker import train_from_file

CLIENTS = ("sbatch", "squeue", "scontrol", "srun")
# Slurm job states: those of a job that has not ended yet (the rest are ends)
LIVE = {
    "PENDING": "queued",
    "REQUEUED": "queued",
    "REQUEUE_HOLD": "queued",
    "REQUEUE_FED": "queued",
    "CONFIGURING": "running",
    "RUNNING": "running",
    "COMPLETING": "running",
    "SUSPENDED": "running",
    "STOPPED": "running",
    "RESIZING": "running",
    "SIGNALING": "running",
    "STAGE_OUT": "running",
}
# sbatch options that the executor sets itself, so `--sbatch` may not
OWN_OPTIONS = {
    "array",
    "output",
    "error",
    "dependency",
    "signal",
    "job-name",
    "ntasks-per-node",
    "nodes",
    "open-mode",
    "partition",
    "account",
    "time",
    "cpus-per-task",
    "gpus-per-task",
    "wrap",
}
GRACE_S = 2.0  # an ended job's result file may show up this much later on a shared file system


@dataclass(frozen=True)
class SlurmOptions:
    """`crkd study --executor slurm`'s options (see `check_slurm`)."""

    partition: str | None = None  # default: the cluster's default partition
    account: str | None = None
    time_min: int = 120  # per job; a run that needs more is requeued and resumes
    cpus_per_task: int = 1  # also each run's torch threads
    gpus_per_task: int = 0
    teacher_tasks: int = 1  # processes of a teacher run (torch.distributed)
    parallel: int | None = None  # most jobs of an array at once; None: Slurm decides
    sbatch: tuple[str, ...] = ()  # more sbatch options, "KEY=VALUE" (or "KEY" for a flag)

    def extra(self) -> dict[str, str | bool]:
        """`sbatch` as submitit's additional parameters; ConfigError on a bad one."""
        out: dict[str, str | bool] = {}
        for item in self.sbatch:
            key, eq, value = item.partition("=")
            key = key.strip().removeprefix("--")
            if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
                raise ConfigError(f"--sbatch {item!r}: not KEY=VALUE with an sbatch option name")
            if key in OWN_OPTIONS:
                raise ConfigError(
                    f"--sbatch {item!r}: the study sets --{key} itself (use --partition, "
                    "--account, --time-limit, --cpus-per-task or --gpus-per-task)"
                )
            out[key] = value if eq else True
        return out

    def signal_delay_s(self) -> int:
        """How long before its time limit a job is told to requeue itself."""
        return min(90, self.time_min * 60 // 4)

    def sbatch_flags(self) -> list[str]:
        """These options as sbatch flags (what `check_slurm` tests)."""
        flags = [
            f"--time={self.time_min}",
            f"--cpus-per-task={self.cpus_per_task}",
            f"--ntasks-per-node={self.teacher_tasks}",
            "--nodes=1",
        ]
        flags += [f"--partition={self.partition}"] if self.partition else []
        flags += [f"--account={self.account}"] if self.account else []
        flags += [f"--gpus-per-task={self.gpus_per_task}"] if self.gpus_per_task else []
        flags += [f"--{k}" if v is True else f"--{k}={v}" for k, v in self.extra().items()]
        return flags


def check_slurm(opts: SlurmOptions) -> None:
    """Refuse, before any work, options that Slurm would refuse: numbers out of range, an
    sbatch option the study sets itself, a missing client, and what `sbatch --test-only`
    rejects (a partition or account that does not exist, a time limit over the partition's,
    more CPUs or GPUs than a node has)."""
    numbers = {
        "--time-limit": (opts.time_min, 1),
        "--cpus-per-task": (opts.cpus_per_task, 1),
        "--gpus-per-task": (opts.gpus_per_task, 0),
        "--teacher-tasks": (opts.teacher_tasks, 1),
        "--jobs": (opts.parallel if opts.parallel is not None else 1, 1),
    }
    for flag, (value, least) in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ConfigError(f"{flag} must be an integer >= {least}, got {value!r}")
    for name in ("partition", "account"):
        value = getattr(opts, name)
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ConfigError(f"--{name} {value!r}: not a Slurm {name} name")
    flags = opts.sbatch_flags()  # ConfigError on a bad --sbatch
    missing = [c for c in CLIENTS if shutil.which(c) is None]
    if missing:
        raise ToolMissingError(
            f"--executor slurm needs the Slurm clients on PATH; missing: {', '.join(missing)}"
        )
    test = subprocess.run(
        ["sbatch", "--test-only", *flags, "--wrap=true"], capture_output=True, text=True, timeout=60
    )
    if test.returncode != 0:
        why = " ".join(test.stderr.split()) or f"exit {test.returncode}"
        raise ConfigError(f"--executor slurm: Slurm refuses these options ({why})")


class SlurmTrain(submitit.helpers.Checkpointable):
    """The function of a Slurm job: train (or resume) the run in a config file. Requeued at
    its time limit with the same file, so the run resumes from `last.safetensors`."""

    def __call__(self, config_path: str) -> dict | None:
        if submitit.JobEnvironment().num_tasks > 1:  # MASTER_ADDR, RANK, WORLD_SIZE, ...
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        return train_from_file(config_path)


@dataclass
class SlurmExecutor:
    """Submits, attaches to and follows the study's Slurm jobs (see the module's docstring)."""

    study: Path
    options: SlurmOptions
    session: str
    poll_s: float = 1.0

    @property
    def folder(self) -> Path:
        """submitit's folder: one per job (`%j`), with its pickles and its log."""
        return jobs_dir(self.study) / "slurm" / "%j"

    def start(self, specs: list[RunSpec]) -> SlurmSubmission:
        records = {s.name: read_record(self.study, s.name) for s in specs}
        live = slurm_states([r.job for r in records.values() if r and r.job])
        submit = []
        for s in specs:
            rec = records[s.name]
            if self._settled(s, rec, live):
                continue
            submit.append(s)
        self.submit(submit, {n: r.job for n, r in records.items() if r and r.job in live})
        return SlurmSubmission(self, [s.name for s in specs])

    def _settled(self, spec: RunSpec, rec: JobRecord | None, live: dict[str, str]) -> bool:
        """Whether a run needs no job now: complete, already queued or running, or failed in
        this session (its record says why)."""
        try:
            if reused(spec):
                mark_reused(self.study, spec.name, rec.job if rec else "")
                return True
        except ConfigError as exc:  # made with other settings, or its teacher run is gone
            write_record(self.study, JobRecord(spec.name, "failed", error=str(exc)))
            return True
        if rec is not None and live.get(rec.job) in LIVE:
            return True  # a restarted driver attaches to it
        return rec is not None and rec.state == "failed" and rec.session == self.session

    def submit(self, specs: list[RunSpec], ids: dict[str, str]) -> None:
        """Submit `specs` in rounds: a run goes once the runs it waits for have job ids (or need
        none); runs of a round with the same dependencies and tasks go as one array."""
        ids = dict(ids)
        left = list(specs)
        while left:
            waiting = {s.name for s in left}
            ready = [s for s in left if not set(s.after) & waiting]
            if not ready:
                raise StudyError(f"runs wait for each other: {[s.name for s in left]}")
            groups: dict[tuple, list[RunSpec]] = {}
            for s in ready:
                deps = tuple(sorted(ids[a] for a in s.after if a in ids))
                groups.setdefault((self._tasks(s), deps), []).append(s)
            for (tasks, deps), group in groups.items():
                ids.update(self._submit_array(group, tasks, deps))
            left = [s for s in left if s not in ready]

    def _tasks(self, spec: RunSpec) -> int:
        return self.options.teacher_tasks if spec.role == "teacher" else 1

    def _submit_array(self, group: list[RunSpec], tasks: int, deps: tuple) -> dict[str, str]:
        configs = jobs_dir(self.study)
        threads = self.options.cpus_per_task
        paths = [
            str(write_spec(s, configs / f"{s.name}.config.json", threads=threads)) for s in group
        ]
        jobs = self._executor(group, tasks, deps).map_array(SlurmTrain(), paths)
        ids = {}
        for s, job in zip(group, jobs, strict=True):
            log = str(JobPaths(self.folder, job.job_id, 0).stdout)
            write_record(
                self.study, JobRecord(s.name, "queued", job.job_id, log, session=self.session)
            )
            ids[s.name] = job.job_id
        return ids

    def _executor(self, group: list[RunSpec], tasks: int, deps: tuple) -> submitit.SlurmExecutor:
        o = self.options
        ex = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=3)
        params = {
            "job_name": f"crkd-{group[0].name}" if len(group) == 1 else f"crkd-{self.study.name}",
            "time": o.time_min,
            "nodes": 1,
            "ntasks_per_node": tasks,
            "cpus_per_task": o.cpus_per_task,
            "signal_delay_s": o.signal_delay_s(),
            "stderr_to_stdout": True,  # one log per job: the traceback sits beside the output
            "setup": ["export CRKD_NO_PROGRESS=1 OMP_WAIT_POLICY=PASSIVE"],
            "additional_parameters": o.extra(),
        }
        optional = {
            "partition": o.partition,
            "account": o.account,
            "gpus_per_task": o.gpus_per_task or None,
            "array_parallelism": o.parallel,
            "dependency": "afterany:" + ":".join(deps) if deps else None,
        }
        ex.update_parameters(**params, **{k: v for k, v in optional.items() if v is not None})
        return ex

    # -- following the jobs ------------------------------------------------------------------
    def poll(self, records: list[JobRecord], seen_ended: dict[str, float]) -> None:
        """Update the records of runs that have not ended from Slurm and the result files."""
        states = slurm_states([r.job for r in records if r.job])
        now = time.monotonic()
        for r in records:
            new = self._outcome(r, states.get(r.job, ""), seen_ended, now)
            if new is not None and (new.state, new.error) != (r.state, r.error):
                write_record(self.study, new)

    def _outcome(self, r: JobRecord, state: str, seen_ended: dict, now: float) -> JobRecord | None:
        result = JobPaths(self.folder, r.job, 0).result_pickle
        if result.is_file():
            return self._from_result(r, result)
        if state in LIVE:
            seen_ended.pop(r.job, None)
            return JobRecord(**{**asdict(r), "state": LIVE[state]})
        first = seen_ended.setdefault(r.job, now)
        if now - first < GRACE_S:
            return None
        how = state or "no longer known to squeue"
        error = (
            f"Slurm job {r.job} ended ({how}) without a result: scancel, kill -9 or a node failure"
        )
        return JobRecord(**{**asdict(r), "state": "failed", "error": error})

    def _from_result(self, r: JobRecord, path: Path) -> JobRecord:
        kind, value = pickle_load(path)
        if kind == "success" and RunDir(run_out(self.study, r.name)).is_complete():
            return JobRecord(**{**asdict(r), "state": "done"})
        if kind == "success":
            error = "the job ended, but its run folder is not complete"
        else:
            lines = [x for x in str(value).splitlines() if x.strip()]
            error = lines[-1].strip() if lines else "the job raised"
        return JobRecord(**{**asdict(r), "state": "failed", "error": error})


def run_out(study: Path, name: str) -> Path:
    """The run folder of a recorded run, from the config the executor wrote for it."""
    return read_spec(jobs_dir(study) / f"{name}.config.json").out


class SlurmSubmission:
    """The runs of one `SlurmExecutor.start`; `wait` polls Slurm until they have ended."""

    def __init__(self, executor: SlurmExecutor, names: list[str]):
        self.executor, self.names = executor, names
        self.seen_ended: dict[str, float] = {}

    def records(self, names: list[str]) -> list[JobRecord]:
        study = self.executor.study
        return [read_record(study, n) or JobRecord(n, "queued") for n in names]

    def wait(self, names: list[str] | None = None) -> list[JobRecord]:
        names = self.names if names is None else names
        while True:
            open_ = [r for r in self.records(names) if not r.ended]
            if not open_:
                return self.records(names)
            self.executor.poll(open_, self.seen_ended)
            if any(not r.ended for r in self.records(names)):
                time.sleep(self.executor.poll_s)


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """Job id ("123", "124_3") -> its Slurm state, for the jobs that the controller still
    knows (queued, running, or ended less than MinJobAge ago)."""
    bases = sorted({j.split("_")[0] for j in job_ids if j})
    if not bases:
        return {}
    done = subprocess.run(
        ["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "--jobs", ",".join(bases)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:  # every one of them has been forgotten
            return {}
        raise StudyError(f"squeue failed (exit {done.returncode}): {done.stderr.strip()}")
    states = {}
    for line in done.stdout.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state.strip()
    return states
