"""The study's answers on synthetic data with known answers (the nested design: each teacher's
own students, no-KD students grouped by the teacher their seed is paired with), and the
not-converged flag read from a run's metrics.json and log.jsonl. No training: milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crkd_core.errors import FileFormatError
from crkd_core.experiment import RunRecord
from crkd_core.experiment.record import Score
from crkd_core.study import compare
from crkd_core.study.compare import QUESTIONS, ArmErrors, answer, arm_runs
from crkd_core.study.configs import DistillConfig
from crkd_core.study.convergence import Convergence, convergence

N_REF = np.array([4, 5, 3, 6, 2, 5, 4, 3, 5, 3])  # 40 reference glosses in 10 sentences
TEACHER = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1])  # 6 errors: 15 % WER


def synthetic(extra: dict[str, int]) -> ArmErrors:
    """3 teachers that differ by a teacher effect (k extra errors in sentence k), and their
    students: each arm makes `extra[arm]` more errors than its own teacher in every sentence."""
    arms: dict[str, dict[str, list[np.ndarray]]] = {"teacher": {}}
    for k in range(3):
        own = TEACHER.copy()
        own[k] += k  # teachers differ; each student's gap to its own teacher does not
        arms["teacher"][f"teacher seed {k}"] = [own]
        for arm, e in extra.items():
            arms.setdefault(arm, {})[f"teacher seed {k}"] = [own + e]
    ids = tuple(f"s{i}" for i in range(N_REF.size))
    runs = {arm: {t: [Path(f"{arm}-{t}")] for t in groups} for arm, groups in arms.items()}
    return ArmErrors(ids, N_REF, arms, runs)


@pytest.fixture
def cfg(tmp_path) -> DistillConfig:
    return DistillConfig.build(profile="default", data=str(tmp_path / "d"), study_dir=str(tmp_path))


def test_the_gap_to_its_own_teacher_is_found_exactly(cfg):
    """CRKD makes one error more than its own teacher in each of 10 sentences: +25 points on 40
    glosses, whatever the teachers' own spread, with p at the resampling floor."""
    errors = synthetic({"crkd": 1, "nokd": 3})
    a = answer(cfg, QUESTIONS[0], errors)
    assert a["key"] == "crkd_vs_teacher" and a["difference"] == pytest.approx(25.0)
    # every resample keeps 1 error a sentence: 100 * 10 / N of the drawn sentences
    assert 100 * 10 / (10 * 6) <= a["ci_low"] <= a["ci_high"] <= 100 * 10 / (10 * 2)
    assert a["p_at_floor"] and a["p_text"] == "p < 0.0002" and not a["tie"]
    assert (a["n_teachers"], a["n_students"], a["n_runs"]) == (3, 3, 6)
    assert a["answer"].startswith("LRINet + CRKD (32 px) is worse than its own teacher: ")
    b = answer(cfg, QUESTIONS[1], errors)
    assert b["difference"] == pytest.approx(-50.0) and b["ci_high"] < 0
    assert b["answer"].startswith("LRINet + CRKD (32 px) is better than LRINet without KD")
    assert b["n_students"] == 6


def test_equal_arms_are_a_tie_and_scale_vs_recover_says_it_is_not_at_equal_cost(cfg, monkeypatch):
    monkeypatch.setattr(compare, "gmacs_ratio", lambda runs, a, b: 0.6912)
    c = answer(cfg, QUESTIONS[2], synthetic({"crkd": 1, "recover": 1}))
    assert c["key"] == "scale_vs_recover" and c["difference"] == 0.0 and c["tie"]
    assert c["answer"].startswith("Tie: LRINet + CRKD (32 px) and LRINet + CRKD, recovered")
    assert "(36 px)" in c["answer"]  # the default's recover student, at the scale one's cost
    assert "Not at equal cost: the recover student costs 0.691x" in c["answer"]
    assert (c["cost_ratio"], c["at_equal_cost"]) == (0.6912, False)
    monkeypatch.setattr(compare, "gmacs_ratio", lambda runs, a, b: 0.978)
    c = answer(cfg, QUESTIONS[2], synthetic({"crkd": 1, "recover": 1}))
    assert "At equal cost: the recover student costs 0.978x" in c["answer"]
    assert c["at_equal_cost"]


def test_the_teachers_spread_is_in_the_interval(cfg):
    """Students whose gap to their own teacher varies from teacher to teacher (0, 2 and 4
    errors a sentence) give a wide interval; a constant gap gives a narrow one."""
    steady = synthetic({"crkd": 2})
    varied = synthetic({"crkd": 2})
    for k, e in enumerate((0, 2, 4)):
        varied.arms["crkd"][f"teacher seed {k}"] = [
            varied.arms["teacher"][f"teacher seed {k}"][0] + e
        ]
    wide, narrow = (answer(cfg, QUESTIONS[0], x) for x in (varied, steady))
    assert wide["difference"] == pytest.approx(narrow["difference"])
    assert wide["ci_high"] - wide["ci_low"] > 2 * (narrow["ci_high"] - narrow["ci_low"])


def test_no_kd_students_are_grouped_by_the_teacher_their_seed_is_paired_with(tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "require_complete", lambda run, what: run)
    cfg = DistillConfig.build(
        profile="default", data=str(tmp_path / "d"), study_dir=str(tmp_path), seeds=[0, 1, 7]
    )
    runs = arm_runs(cfg)
    assert list(runs["teacher"]) == ["teacher seed 0", "teacher seed 1"]  # 7 has no teacher
    nokd = {t: [r.name for r in rs] for t, rs in runs["nokd"].items()}
    assert nokd == {
        "teacher seed 0": ["nokd-s32-e20-p3-min14-seed0", "nokd-s32-e20-p3-min14-seed7"],
        "teacher seed 1": ["nokd-s32-e20-p3-min14-seed1"],
    }


# -- the not-converged flag --------------------------------------------------------------------
def fake_run(folder: Path, dev: list[float], best: int | None = None) -> Path:
    """A finished run whose log.jsonl holds `dev` and whose metrics.json names `best`."""
    folder.mkdir(parents=True)
    best = best or dev.index(min(dev)) + 1
    record = RunRecord(
        role="teacher",
        preset="cpu",
        input_size=64,
        seed=0,
        dataset="signworld",
        world_size=1,
        kd="none",
        vocab_size=10,
        params=1000,
        gmacs_per_frame=0.01,
        loss="L = 1*CTC",
        epochs=30,
        best_epoch=best,
        best_dev_wer=min(dev),
        train_seconds=1.0,
        score=Score("test", "greedy", 30.0, 1, 1, 1, 10, 2),
        epochs_run=len(dev),
    )
    record.write(folder)
    rows = [{"epoch": e, "dev_wer": w, "train_total": 1.0} for e, w in enumerate(dev, 1)]
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.parametrize(
    "dev, converged, says",
    [
        ([60.0, 50.0, 45.0, 46.0, 45.5], True, "converged: best dev WER at epoch 3 of 5"),
        ([60.0, 50.0, 45.0, 44.0], False, "NOT CONVERGED: best dev WER at its last epoch (4)"),
        ([60.0], False, "NOT CONVERGED"),
    ],
)
def test_a_run_whose_best_dev_epoch_is_its_last_is_not_converged(tmp_path, dev, converged, says):
    c = convergence(fake_run(tmp_path / "run", dev))
    assert c == Convergence(dev.index(min(dev)) + 1, len(dev), 30)
    assert c.converged is converged and c.text().startswith(says)


def test_a_log_that_disagrees_with_metrics_json_is_refused(tmp_path):
    run = fake_run(tmp_path / "run", [60.0, 50.0, 55.0], best=3)
    with pytest.raises(FileFormatError, match=r"log.jsonl.*epoch 2; metrics.json says 3"):
        convergence(run)
