"""The study's answers: each LRINet's gap to its own teacher, with every source of noise.

The headline is nested (`profiles.HEADLINE_ARMS`): each teacher teaches one student of each
arm (CRKD, no KD, recover). A run's per-sentence test errors come from the CTM and STM files that
`crkd evaluate` writes. They are grouped by the student's teacher: the one that taught it, or,
for a no-KD student, the teacher its seed is paired with (`DistillConfig.teacher_seed`; a no-KD
run records no teacher, so the study passes the grouping itself). `stats.nested_bootstrap` then
resamples teachers, students within teachers and test sentences, and `nested_verdict` says the
answer in one sentence, calling a difference whose interval holds zero a tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..experiment import RunRecord
from ..experiment.compare import system_errors
from ..stats import NestedComparison, StatsError, nested_bootstrap, nested_verdict
from .configs import DistillConfig
from .profiles import EQUAL_COST, HEADLINE_ARMS
from .training import MODEL_LABELS, STUDENT_KINDS, require_complete

TEACHER = "teacher"


@dataclass(frozen=True)
class Question:
    """A question of the study: arm `a` against arm `b` (arms: teacher, crkd, nokd, recover)."""

    key: str  # its name in study.json's `answers`
    text: str  # the question, as the report asks it
    a: str
    b: str


QUESTIONS = (
    Question(
        "crkd_vs_teacher", "How far is LRINet with CRKD from its own teacher?", "crkd", TEACHER
    ),
    Question("crkd_vs_nokd", "Does CRKD beat LRINet trained without KD?", "crkd", "nokd"),
    Question(
        "scale_vs_recover",
        "Do frame maps at the teacher's scale beat maps recovered by upsampling (ResKD)?",
        "crkd",
        "recover",
    ),
)


@dataclass(frozen=True)
class ArmErrors:
    """Every headline arm's per-sentence test errors, grouped by teacher ("teacher seed 0")."""

    ids: tuple[str, ...]  # the test sentences, in the order of every row
    n_ref: np.ndarray  # (sentences,) reference glosses
    arms: dict[str, dict[str, list[np.ndarray]]]  # arm -> teacher -> one row per run
    runs: dict[str, dict[str, list[Path]]]  # arm -> teacher -> the runs of those rows

    def comparison(self, a: str, b: str, seed: int = 0) -> NestedComparison:
        return nested_bootstrap(self.arms[a], self.arms[b], self.n_ref, seed=seed)

    def wer(self, arm: str) -> float:
        """The arm's mean over teachers of the mean over a teacher's runs of their test WER."""
        per_teacher = [np.mean(rows, axis=0) for rows in self.arms[arm].values()]
        return float(100 * np.mean(per_teacher, axis=0).sum() / self.n_ref.sum())


def teacher_label(seed: int) -> str:
    return f"teacher seed {seed}"


def arm_runs(cfg: DistillConfig) -> dict[str, dict[str, list[Path]]]:
    """Each arm's complete runs, grouped by the teacher that each student belongs to."""
    out: dict[str, dict[str, list[Path]]] = {TEACHER: {}, **{k: {} for k in STUDENT_KINDS}}
    for seed in cfg.seeds:
        group = teacher_label(cfg.teacher_seed(seed))
        out[TEACHER][group] = [require_complete(cfg.teacher_run(seed), TEACHER)]
        for kind in STUDENT_KINDS:
            run = require_complete(cfg.student_run(kind, seed), kind)
            out[kind].setdefault(group, []).append(run)
    return out


def arm_errors(cfg: DistillConfig) -> ArmErrors:
    """Every run's per-sentence test errors (each run evaluated first when its files are stale),
    grouped by teacher; StatsError when two runs scored different sentences or references."""
    runs = arm_runs(cfg)
    arms: dict[str, dict[str, list[np.ndarray]]] = {}
    ids, n_ref = None, None
    for arm, groups in runs.items():
        arms[arm] = {}
        for group, paths in groups.items():
            e = system_errors(f"{arm}, {group}", paths, cfg.data)
            if ids is not None and (e.ids != ids or not np.array_equal(e.n_ref, n_ref)):
                raise StatsError(
                    f"{paths[0]}: scored other test sentences or references than the "
                    "study's other runs (evaluate every run on the same test split)"
                )
            ids, n_ref = e.ids, e.n_ref
            arms[arm][group] = list(e.errors)
    return ArmErrors(ids, n_ref, arms, runs)


def student_runs(runs: dict[str, dict[str, list[Path]]], arm: str) -> int:
    return 0 if arm == TEACHER else sum(len(r) for r in runs[arm].values())


def arm_label(cfg: DistillConfig, arm: str) -> str:
    if arm == TEACHER:
        return "its own teacher"
    return f"{MODEL_LABELS[arm]} ({cfg.headline_size(HEADLINE_ARMS[arm])} px)"


def gmacs_ratio(runs: dict[str, dict[str, list[Path]]], a: str, b: str) -> float:
    """Arm A's GMACs per frame over arm B's, from their first runs' metrics.json."""
    first = {arm: next(iter(runs[arm].values()))[0] for arm in (a, b)}
    return RunRecord.read(first[a]).gmacs_per_frame / RunRecord.read(first[b]).gmacs_per_frame


def answer(cfg: DistillConfig, q: Question, errors: ArmErrors) -> dict:
    """One question answered: the nested comparison, as numbers and as one sentence."""
    c = errors.comparison(q.a, q.b)
    sentence = nested_verdict(c, arm_label(cfg, q.a), arm_label(cfg, q.b))
    out = {
        "key": q.key,
        "question": q.text,
        "a": q.a,
        "b": q.b,
        "wer_a": errors.wer(q.a),
        "wer_b": errors.wer(q.b),
        **c.to_dict(),
        # the students among the runs (a teacher arm's runs are the teachers themselves)
        "n_students": sum(student_runs(errors.runs, arm) for arm in (q.a, q.b)),
        "n_runs": c.n_students,
        "p_text": c.p_text(),
        "tie": c.is_tie,
    }
    if q.key == "scale_vs_recover":
        ratio = gmacs_ratio(errors.runs, q.b, q.a)
        equal = abs(ratio - 1) <= EQUAL_COST
        sentence += (
            f" {'At' if equal else 'Not at'} equal cost: the recover student costs "
            f"{ratio:.3g}x the scale student's GMACs per frame (both are on the "
            "WER-against-cost plane of 03)."
        )
        out |= {"cost_ratio": ratio, "at_equal_cost": equal}
    return {**out, "answer": sentence}


def distill_answers(cfg: DistillConfig) -> list[dict]:
    """The study's three answers (`QUESTIONS`), with the hierarchical interval."""
    errors = arm_errors(cfg)
    return [answer(cfg, q, errors) for q in QUESTIONS]


def teacher_gaps(cfg: DistillConfig, errors: ArmErrors | None = None) -> dict[str, dict]:
    """Each student arm's gap to its own teacher (the headline table's interval column)."""
    errors = errors or arm_errors(cfg)
    return {kind: errors.comparison(kind, TEACHER).to_dict() for kind in STUDENT_KINDS}


def answers_table(rows: list[dict]):
    """The answers as a DataFrame: question, one-sentence answer, difference and interval."""
    import pandas as pd

    cols = ["question", "answer", "difference", "ci_low", "ci_high", "p_text", "n_teachers"]
    return pd.DataFrame([{k: r[k] for k in cols} for r in rows], columns=cols)
