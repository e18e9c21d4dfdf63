"""The study's runs, scheduled: the teacher-cache rule as dependencies (`cache_order`), a local
pool of workers that honours them (`LocalPool`: at most `workers` at a time, in order, no KD
run before its teacher's first KD run has ended), the one plan of what a study trains, and
the status records that `crkd study --status` and the progress line read."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from crkd_core.study import executor
from crkd_core.study.executor import LocalPool, RunSpec, cache_order
from crkd_core.study.status import JobRecord, Progress, status_lines, study_view, write_record


class FakeTraining:
    """Stands in for `run_local`: records when each run starts and ends."""

    def __init__(self, seconds: float = 0.05, fail: str | None = None):
        self.seconds, self.fail = seconds, fail
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.running = self.most = 0

    def __call__(self, spec: RunSpec, study: Path, threads: int) -> JobRecord:
        assert threads == 1
        with self.lock:
            self.events.append(("start", spec.name))
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.events.append(("end", spec.name))
        if spec.name == self.fail:
            raise OSError(f"cannot write the log of {spec.name}")
        return JobRecord(spec.name, "done", "local", seconds=self.seconds)


def student(name: str, teacher: str | None) -> RunSpec:
    values = {
        "out": Path("/s/runs") / name,
        "epochs": 6,
        "teacher": teacher and f"/s/runs/{teacher}",
    }
    return RunSpec("student", values)


# two teachers: t0 teaches seeds 0 and 2, t1 seed 1
SPECS = [
    student("s32-both-e6-seed0", "t0"),
    student("s32-both-e6-seed1", "t1"),
    student("s32-both-recover-e6-seed0", "t0"),
    student("s32-both-recover-e6-seed1", "t1"),
    student("s32-logit-e6-seed1", "t1"),
    student("s16-none-e6-seed2", None),
    student("s32-both-e6-seed2", "t0"),
    student("s32-feature-scale-e6-seed2", "t0"),
]


def test_the_first_kd_run_of_each_teacher_fills_its_cache_the_others_wait():
    teacher = RunSpec("teacher", {"out": Path("/s/runs/t0"), "epochs": 20})
    after = {s.name: s.after for s in cache_order([teacher, *SPECS])}
    assert after["t0"] == ()
    assert after["s32-both-e6-seed0"] == ("t0",)  # t0's filler waits for t0 only
    assert after["s32-both-e6-seed1"] == ()  # t1 is not in this study: it exists already
    assert after["s32-both-recover-e6-seed0"] == ("t0", "s32-both-e6-seed0")
    assert after["s32-logit-e6-seed1"] == ("s32-both-e6-seed1",)
    assert after["s16-none-e6-seed2"] == ()  # without KD there is nothing to wait for
    assert after["s32-both-e6-seed2"] == ("t0", "s32-both-e6-seed0")  # keyed by the teacher


def test_kd_runs_wait_for_their_teachers_first_run(monkeypatch, tmp_path):
    fake = FakeTraining()
    monkeypatch.setattr(executor, "run_local", fake)
    specs = cache_order(SPECS)
    batch = LocalPool(tmp_path, workers=2).start(specs)
    batch.wait([s.name for s in specs[:2]])  # the first two are done; the rest may still run
    assert {("end", s.name) for s in specs[:2]} <= set(fake.events)
    records = batch.wait()
    assert [r.name for r in records] == [s.name for s in specs]
    assert fake.most == 2
    order = [name for kind, name in fake.events if kind == "start"]
    assert sorted(order) == sorted(s.name for s in specs)
    for s in specs:
        for a in s.after:  # never before the run it waits for has ended
            assert fake.events.index(("start", s.name)) > fake.events.index(("end", a)), s.name
    # without KD there is nothing to wait for: the 16-px run starts before t0's last KD run ends
    assert order.index("s16-none-e6-seed2") < order.index("s32-feature-scale-e6-seed2")


def test_an_error_of_a_run_reaches_whoever_waits(monkeypatch, tmp_path):
    fake = FakeTraining(fail="s32-both-e6-seed1")
    monkeypatch.setattr(executor, "run_local", fake)
    batch = LocalPool(tmp_path, workers=2).start(cache_order(SPECS[:4]))
    batch.wait(["s32-both-e6-seed0"])
    with pytest.raises(OSError, match="cannot write the log of s32-both-e6-seed1"):
        batch.wait()


def test_the_plan_names_each_run_once_with_the_notebooks_builders(smoke_data, tmp_path):
    from crkd_core.study.training import study_plan

    params = {"profile": "smoke", "data": str(smoke_data), "study_dir": str(tmp_path)}
    names = ["01_train_teacher", "02_distill_student", "03_resolution_ablation"]
    plan = study_plan(params, names, jobs=2)
    assert [s.name for s in plan.specs] == [
        "teacher-e1-seed0",
        "teacher-e1-seed1",
        "crkd-s16-e1-seed0",
        "nokd-s16-e1-seed0",
        "recover-s16-e1-seed0",
        "crkd-s16-e1-seed1",
        "nokd-s16-e1-seed1",
        "recover-s16-e1-seed1",
        "s16-both-a10-b5-e1-seed0",
    ]
    after = {s.name: s.after for s in plan.specs}
    assert after["crkd-s16-e1-seed0"] == ("teacher-e1-seed0",)
    assert after["recover-s16-e1-seed1"] == ("teacher-e1-seed1", "crkd-s16-e1-seed1")
    assert after["nokd-s16-e1-seed1"] == ()
    # 03's grid points with 02's settings are 02's runs: the plan trains them once
    assert {s.out for s in plan.distill} & {s.out for s in plan.ablation} == set()


def test_the_default_plan_is_the_nested_headline_with_the_plateau_rule(tmp_path):
    """3 teachers, each with its own CRKD, no-KD and recover student (student seed = teacher
    seed), every student stopped by the plateau rule under a cap; nothing else."""
    from crkd_core.study.training import study_plan

    params = {"profile": "default", "data": str(tmp_path / "d"), "study_dir": str(tmp_path)}
    names = ["01_train_teacher", "02_distill_student", "03_resolution_ablation"]
    plan = study_plan(params, names, jobs=2)
    assert [s.values["seed"] for s in plan.teachers] == [0, 1, 2]
    assert plan.ablation == []  # 03 draws the headline's runs; the other rows are `ablation`'s
    arms = {(s.name.split("-")[0], s.values["seed"]) for s in plan.distill}
    assert arms == {(k, seed) for k in ("crkd", "nokd", "recover") for seed in (0, 1, 2)}
    for s in plan.distill:
        assert (s.values["patience"], s.values["min_epochs"], s.epochs) == (3, 14, 20)
        # the recover student at 36 px: its GMACs per frame match the scale student's at 32
        assert s.values["student_size"] == (36 if s.name.startswith("recover") else 32)
        # a taught student starts from its teacher's head; the no-KD one learns alone
        want = "random" if s.name.startswith("nokd") else "teacher"
        assert s.values["head_init"] == want
        teacher = s.values["teacher"]
        assert teacher is None or Path(teacher).name.endswith(f"-seed{s.values['seed']}")


def test_status_lists_the_plan_and_says_why_a_run_failed(tmp_path):
    from crkd_core.study.status import write_plan

    write_plan(tmp_path, ["teacher-e1-seed0", "crkd-s16-e1-seed0"], {"teacher-e1-seed0": 3})
    run = tmp_path / "runs" / "teacher-e1-seed0"
    run.mkdir(parents=True)
    (run / "log.jsonl").write_text('{"epoch": 1, "dev_wer": 80.5}\n{"epoch": 2, "dev_wer": 61.')
    write_record(tmp_path, JobRecord("teacher-e1-seed0", "running", "12"))
    write_record(
        tmp_path, JobRecord("crkd-s16-e1-seed0", "failed", "13", "/x/13_0_log.out", "OSError: x")
    )
    lines = status_lines(study_view(tmp_path))
    assert lines[1].split() == ["teacher-e1-seed0", "running", "1/3", "80.5", "%", "12"]
    assert lines[2].split()[:2] == ["crkd-s16-e1-seed0", "failed"]
    assert lines[3].strip() == "OSError: x (log: /x/13_0_log.out)"
    assert lines[-1] == "1 running, 1 failed"
    assert Progress(tmp_path).line().startswith("runs 1/2 done · running: teacher-e1-seed0 epoch")


@pytest.mark.parametrize(
    "folder, says", [("missing", "no such folder"), ("empty", "not a study folder")]
)
def test_status_refuses_what_is_not_a_study(tmp_path, folder, says):
    from crkd_core.errors import ConfigError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=says):
        study_view(tmp_path / folder)


def test_a_run_seen_complete_before_its_job_is_polled_counts_as_done(tmp_path):
    """A notebook can find a run folder complete before the executor's next poll has recorded
    its job as done: the run was made by this study, so it is done, not reused."""
    from crkd_core.study.status import JobRecord, mark_reused, read_record, write_record

    write_record(tmp_path, JobRecord("a", "running", "12_0", session="s1"))
    assert mark_reused(tmp_path, "a").state == "done"
    assert read_record(tmp_path, "a") == JobRecord("a", "done", "12_0", session="s1")
    assert mark_reused(tmp_path, "a").state == "reused"  # what a later notebook is told
    assert read_record(tmp_path, "a").state == "done"  # and the record keeps it done
    assert mark_reused(tmp_path, "b", "local").state == "reused"  # made by another study
    assert read_record(tmp_path, "b").state == "reused"
