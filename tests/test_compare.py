"""`crkd compare` and `experiment.compare`: two systems' runs, a paired bootstrap over the test
sentences pooled across seeds, and bad input refused before anything is evaluated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from crkd_core import api
from crkd_core.cli import main
from crkd_core.errors import ConfigError, DataError, FileFormatError
from crkd_core.experiment import CompareConfig, compare_runs
from crkd_core.experiment.compare import eval_files, predictions, system_name
from crkd_core.stats import StatsError, SystemErrors, paired_bootstrap

from .helpers import write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A"), ("v4", "B A")],
    "dev": [("v5", "A C")],
    "test": [("v6", "B"), ("v7", "A C"), ("v8", "C B A"), ("v9", "A")],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A one-epoch teacher and two one-epoch LRINets without KD (seeds 0 and 1)."""
    root = tmp_path_factory.mktemp("compare")
    data = write_phoenix(root / "data", ROWS)
    cache = str(root / "cache")
    teacher = root / "teacher-seed0"
    api.train_teacher(data=data, out=teacher, epochs=1, cache_dir=cache)
    students = []
    for seed in (0, 1):
        out = root / f"nokd-seed{seed}"
        api.distill(data=data, out=out, kd="none", epochs=1, seed=seed, cache_dir=cache)
        students.append(out)
    return root, data, teacher, students


def test_compare_pools_the_seeds_in_a_paired_bootstrap(runs, capsys):
    root, data, teacher, students = runs
    out_json = root / "out" / "compare.json"
    argv = ["compare", *map(str, students), "--against", str(teacher), "--json", str(out_json)]
    assert main([*argv, "--resamples", "500"]) == 0
    printed = capsys.readouterr().out
    assert "A: nokd (2 runs): test WER" in printed and "B: teacher (1 run)" in printed

    result = json.loads(out_json.read_text())
    # the same numbers as the bootstrap on the runs' own CTM/STM files
    rows = []
    for run in students + [teacher]:
        refs, hyps, ids = predictions(run, "test")
        rows.append((dict(zip(ids, hyps, strict=True)), dict(zip(ids, refs, strict=True))))
    a = SystemErrors.from_runs("nokd", rows[:2])
    b = SystemErrors.from_runs("teacher", rows[2:])
    c = paired_bootstrap(a, b, n_resamples=500)
    assert (result["diff"], result["ci_low"], result["ci_high"]) == (c.diff, c.ci_low, c.ci_high)
    assert result["seeds_a"] == 2 and result["seeds_b"] == 1 and result["sentences"] == 4
    assert result["runs_a"] == ["nokd-seed0", "nokd-seed1"]
    assert result["answer"] in printed
    assert str(root) not in out_json.read_text()  # a published file names no local folder


def test_fresh_evaluations_are_reused_and_stale_ones_redone(runs):
    _, _, teacher, students = runs
    cfg = CompareConfig(a=(students[0],), b=(teacher,), resamples=200)
    compare_runs(cfg)
    files = eval_files(teacher, "test")
    before = [p.stat().st_mtime_ns for p in files]
    again = compare_runs(cfg)
    assert [p.stat().st_mtime_ns for p in files] == before
    files[1].unlink()  # the hypotheses are gone: the run is evaluated again
    assert compare_runs(cfg)["diff"] == again["diff"]
    assert files[1].is_file()


def test_api_compare_and_margin(runs):
    _, _, teacher, students = runs
    out = api.compare(students, [teacher], margin=100.0, resamples=200)
    assert "is shown to be within +100.0 points" in out["answer"]


def test_system_names():
    assert system_name((Path("r/crkd-s32-seed0"), Path("r/crkd-s32-seed1"))) == "crkd-s32"
    assert system_name((Path("r/x"), Path("r/y"))) == "x, y"


@pytest.mark.parametrize(
    "case, match",
    [
        ("twice", "given twice"),
        ("unfinished", "did not finish"),
        ("missing", "no such run folder"),
        ("data", "does not exist"),
        ("json-dir", "is a folder"),
        ("resamples", "at least 100"),
        ("confidence", "confidence"),
        ("empty", "at least one run"),
    ],
)
def test_bad_input_is_refused_before_any_evaluation(runs, tmp_path, case, match):
    _, _, teacher, students = runs
    partial = tmp_path / "partial"
    shutil.copytree(students[0], partial)
    (partial / "metrics.json").unlink()
    for p in eval_files(partial, "dev"):
        p.unlink(missing_ok=True)
    options = {
        "twice": {"a": (students[0],), "b": (teacher, students[0])},
        "unfinished": {"a": (partial,), "b": (teacher,)},
        "missing": {"a": (tmp_path / "nope",), "b": (teacher,)},
        "data": {"a": (students[0],), "b": (teacher,), "data": tmp_path / "no-data"},
        "json-dir": {"a": (students[0],), "b": (teacher,), "json": tmp_path},
        "resamples": {"a": (students[0],), "b": (teacher,), "resamples": 10},
        "confidence": {"a": (students[0],), "b": (teacher,), "confidence": 1.5},
        "empty": {"a": (), "b": (teacher,)},
    }[case]
    with pytest.raises((ConfigError, DataError, FileFormatError), match=match):
        CompareConfig(split="dev", **options)
    assert not any(p.exists() for p in eval_files(partial, "dev"))


def test_runs_scored_on_other_sentences_are_refused(runs, tmp_path):
    _, _, teacher, students = runs
    other = write_phoenix(tmp_path / "other", dict(ROWS, test=[("v6", "B"), ("v7", "A C")]))
    compare_runs(CompareConfig(a=(students[0],), b=(students[1],), resamples=200))
    for p in eval_files(teacher, "test"):
        p.unlink(missing_ok=True)
    # the student's fresh files hold 4 sentences; the teacher is evaluated on the other 2
    mixed = CompareConfig(a=(students[0],), b=(teacher,), data=other, resamples=200)
    try:
        with pytest.raises(StatsError, match="scored different sentences"):
            compare_runs(mixed)
    finally:
        for p in eval_files(teacher, "test"):
            p.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def taught(runs):
    """Two one-epoch LRINets with logit KD from the module's teacher (seeds 0 and 1)."""
    root, data, teacher, _ = runs
    out = []
    for seed in (0, 1):
        run = root / f"logit-seed{seed}"
        api.distill(
            data=data, out=run, teacher=teacher, kd="logit", epochs=1, seed=seed,
            cache_dir=str(root / "cache"),
        )  # fmt: skip
        out.append(run)
    return out


def test_runs_that_name_their_teachers_get_the_nested_interval(runs, taught, capsys):
    root, _, teacher, students = runs
    argv = ["compare", *map(str, taught), "--against", str(teacher), "--resamples", "300"]
    out_json = root / "out" / "nested.json"
    assert main([*argv, "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    nested = json.loads(out_json.read_text())["nested"]
    assert (nested["n_teachers"], nested["n_students"], nested["sentences"]) == (1, 3, 4)
    assert nested["ci_low"] <= nested["difference"] <= nested["ci_high"]
    assert "one teacher: the teachers' spread is not in the interval" in nested["answer"]
    assert nested["answer"] in printed
    # runs trained without KD name no teacher: no nested interval, and the reason
    result = compare_runs(CompareConfig(a=tuple(students), b=(teacher,), resamples=200))
    assert result["nested"] == {"skipped": "a run names no teacher (trained without KD)"}
