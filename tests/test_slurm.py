"""`crkd study --executor slurm` against a real one-node Slurm (tests/slurm_cluster.py).

Marked `slurm`: the session's cluster fixture skips outside CI when the machine cannot run one
(not root, binaries missing) and fails under CI=true. The smoke study runs twice in this module,
locally and on Slurm, timed in the same run; the other tests submit single runs through the
executor, which costs seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crkd_core.cli import main
from crkd_core.errors import ConfigError
from crkd_core.io import read_json
from crkd_core.study.executor import RunSpec, run_specs
from crkd_core.study.executor_slurm import SlurmExecutor, SlurmOptions, check_slurm
from crkd_core.study.status import read_record, status_lines, study_view
from crkd_core.study.training import read_log

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
CRKD = [sys.executable, "-m", "crkd_core.cli"]
RUNS = [
    *(f"teacher-e1-seed{seed}" for seed in (0, 1)),
    *(f"{kind}-s16-e1-seed{seed}" for kind in ("crkd", "nokd", "recover") for seed in (0, 1)),
    "ablation/s16-both-a10-b5-e1-seed0",
]


def study_argv(out: Path, data: Path, *more: str) -> list[str]:
    return ["study", "--profile", "smoke", "--data", str(data), "--out", str(out), *more]


@pytest.fixture(scope="module")
def studies(slurm_cluster, smoke_data, tmp_path_factory):
    """The smoke study locally (--jobs 2) and on Slurm (2 jobs at once, 1 CPU each), timed."""
    root = tmp_path_factory.mktemp("studies")
    seconds = {}
    for executor in ("local", "slurm"):
        t0 = time.perf_counter()
        rc = main(study_argv(root / executor, smoke_data, "--jobs", "2", "--executor", executor))
        seconds[executor] = time.perf_counter() - t0
        assert rc == 0, (root / executor / "reports" / "index.html").read_text("utf-8")[-3000:]
    print(f"smoke study wall time: local {seconds['local']:.1f} s, slurm {seconds['slurm']:.1f} s")
    return root, seconds


def test_the_smoke_study_on_slurm_matches_the_local_one(studies):
    root, seconds = studies
    for run in RUNS:
        local = read_json(root / "local" / "runs" / run / "metrics.json")
        slurm = read_json(root / "slurm" / "runs" / run / "metrics.json")
        for key in ("wer", "sub", "del", "ins", "n_ref", "best_dev_wer", "world_size"):
            assert slurm[key] == local[key], (run, key)
        losses = [train_losses(root / e / "runs" / run) for e in ("local", "slurm")]
        assert losses[0] == losses[1], run  # the same training, not only the same WER
    assert abs(seconds["slurm"] - seconds["local"]) < 60, seconds
    jobs = {v.name: v.job for v in study_view(root / "slurm")}
    assert all(jobs[Path(r).name] and jobs[Path(r).name][0].isdigit() for r in RUNS), jobs
    for name in ("01_train_teacher", "03_resolution_ablation"):  # papermill's log of each
        assert (root / "slurm" / name / f"{name}.log").is_file()
    assert "teacher: test WER" in (
        root / "local" / "01_train_teacher" / "01_train_teacher.log"
    ).read_text("utf-8")


def train_losses(run: Path) -> list[float]:
    return [r["train_total"] for r in read_log(run)]


def test_status_prints_every_run(studies, capsys):
    root, _ = studies
    assert main(["study", "--status", str(root / "slurm")]) == 0
    out = capsys.readouterr().out
    assert f"{len(RUNS)} done" in out
    for run in RUNS:
        assert Path(run).name in out


def teacher_spec(data: Path, out: Path, epochs: int) -> RunSpec:
    values = {"data": data, "out": out, "epochs": epochs, "allow_oov": True, "seed": 0}
    return RunSpec("teacher", values, "tests/test_slurm.py")


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_run_that_raises_reports_its_error_and_log(slurm_cluster, smoke_data, tmp_path):
    values = {"data": smoke_data, "out": tmp_path / "runs" / "s16-both-e1-seed0", "epochs": 1}
    values |= {"teacher": tmp_path / "runs" / "no-teacher", "kd": "both", "student_size": 16}
    spec = RunSpec("student", values, "tests/test_slurm.py")
    (record,) = run_specs(SlurmExecutor(tmp_path, SlurmOptions(), "s1"), [spec])
    assert record.state == "failed"
    assert record.error.startswith("crkd_core.errors.ConfigError: ")
    assert "no-teacher" in record.error and "not a run folder" in record.error
    assert "Traceback" in Path(record.log).read_text("utf-8")
    text = "\n".join(status_lines(study_view(tmp_path)))
    assert record.error in text and record.log in text


def test_a_cancelled_job_is_failed_within_seconds(slurm_cluster, smoke_data, tmp_path):
    spec = teacher_spec(smoke_data, tmp_path / "runs" / "teacher-e200-seed0", 200)
    slurm = SlurmExecutor(tmp_path, SlurmOptions(), "s1")
    submission = slurm.start([spec])
    record = wait_for(
        lambda: (r := read_record(tmp_path, spec.name)) and Path(r.log).is_file() and r,
        60,
        "the job to start",
    )
    slurm_cluster.run("scancel", record.job)
    t0 = time.monotonic()
    (record,) = submission.wait()
    seconds = time.monotonic() - t0
    print(f"a cancelled job was reported failed after {seconds:.1f} s")
    assert record.state == "failed" and "CANCELLED" in record.error, record
    assert seconds < 10


def test_a_two_task_teacher_records_world_size_2(slurm_cluster, smoke_data, tmp_path):
    spec = teacher_spec(smoke_data, tmp_path / "runs" / "teacher-e1-seed0", 1)
    options = SlurmOptions(teacher_tasks=2)
    (record,) = run_specs(SlurmExecutor(tmp_path, options, "s1"), [spec])
    assert record.state == "done", record
    assert read_json(spec.out / "metrics.json")["world_size"] == 2


def test_a_signalled_job_is_requeued_and_resumes(slurm_cluster, smoke_data, tmp_path):
    """submitit's time-limit signal (USR2), sent early: the job checkpoints, is requeued, and
    its run resumes from last.safetensors instead of starting again."""
    spec = teacher_spec(smoke_data, tmp_path / "runs" / "teacher-e4-seed0", 4)
    slurm = SlurmExecutor(tmp_path, SlurmOptions(), "s1")
    submission = slurm.start([spec])
    log = spec.out / "log.jsonl"
    wait_for(lambda: log.is_file() and log.read_text().count("\n") >= 1, 120, "epoch 1")
    job = read_record(tmp_path, spec.name).job
    slurm_cluster.run("scancel", "--signal=USR2", job)
    (record,) = submission.wait()
    assert record.state == "done" and record.job == job, record
    job_log = Path(record.log).read_text("utf-8")
    assert "Requeued job" in job_log, job_log[-2000:]
    assert len(read_json(spec.out / "machine.json")["sessions"]) == 2, job_log[-2000:]
    assert [r["epoch"] for r in read_log(spec.out)] == [1, 2, 3, 4]


def test_a_restarted_driver_retrains_nothing_and_resubmits_nothing(
    slurm_cluster, smoke_data, tmp_path
):
    out = tmp_path / "study"
    argv = [*CRKD, *study_argv(out, smoke_data, "--executor", "slurm", "--jobs", "2")]
    argv += ["--only", "01_train_teacher,02_distill_student"]
    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    crkd = out / "runs" / "crkd-s16-e1-seed0"
    # killed once the teacher has finished and its KD student has been submitted
    wait_for(lambda: (out / "runs" / "teacher-e1-seed0" / "metrics.json").is_file(), 120, "01")
    wait_for(lambda: read_record(out, crkd.name), 60, "the KD run's job")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    before = {v.name: v.job for v in study_view(out)}
    finished = {
        run.name: (run / "metrics.json").stat().st_mtime_ns
        for run in (out / "runs").iterdir()
        if (run / "metrics.json").is_file()
    }
    assert finished and all(before.values()), before
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    after = {v.name: v for v in study_view(out)}
    now = {n: (out / "runs" / n / "metrics.json").stat().st_mtime_ns for n in finished}
    retrained = [n for n in finished if now[n] != finished[n]]
    print(f"finished before the kill: {sorted(finished)}; re-trained after restart: {retrained}")
    assert retrained == []
    assert {n: v.job for n, v in after.items()} == before  # no job submitted twice
    assert all(v.state in ("done", "reused") for v in after.values()), after


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--partition", "nosuch"], "Slurm refuses these options"),
        (["--sbatch", "array=0-3"], "sets --array itself"),
        (["--sbatch", "bad key"], "not KEY=VALUE"),
        (["--cpus-per-task", "64"], "Slurm refuses these options"),
    ],
)
def test_a_bad_option_is_refused_before_any_work(slurm_cluster, tmp_path, capsys, flags, says):
    out = tmp_path / "study"
    rc = main(study_argv(out, tmp_path / "data", "--executor", "slurm", *flags))
    assert rc == 2
    assert says in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "data").exists()


def test_slurm_options_need_the_slurm_executor(tmp_path, capsys):
    rc = main(study_argv(tmp_path / "study", tmp_path / "data", "--partition", "gpu"))
    assert rc == 2 and "need --executor slurm" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, says",
    [
        (SlurmOptions(time_min=0), "--time-limit must be an integer >= 1"),
        (SlurmOptions(teacher_tasks=0), "--teacher-tasks must be an integer >= 1"),
        (SlurmOptions(partition="a b"), "not a Slurm partition name"),
        (SlurmOptions(sbatch=("output=x",)), "sets --output itself"),
    ],
)
def test_options_out_of_range_are_refused_before_slurm_is_asked(options, says):
    with pytest.raises(ConfigError, match=says):
        check_slurm(options)
