"""The study's answers: paired comparisons of trained systems on the test sentences.

Each system is one setting's runs over its seeds. Their per-sentence errors come from the CTM
and STM files that `crkd evaluate` writes; `crkd_core.stats.paired_bootstrap` compares two
systems (pooled over seeds, paired by sentence), and `verdict` says the answer in one sentence,
calling a difference whose interval holds zero a tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..experiment import RunDir
from ..experiment.compare import compare_systems, system_errors
from ..stats import SystemErrors
from .configs import AblationConfig, DistillConfig
from .grid import grid_points


@dataclass(frozen=True)
class Question:
    """A question of the study: is system `a` better than `b` (or within `margin` of it)?"""

    key: str  # e.g. "crkd-vs-nokd"
    text: str  # the question, as the report asks it
    a: str
    b: str
    margin: float | None = None  # WER points: also ask whether A is within it of B


def answer(q: Question, systems: dict[str, SystemErrors]) -> dict:
    """The comparison of `q`, its one-sentence verdict, and each side's seeds summary."""
    return {
        "key": q.key,
        "question": q.text,
        **compare_systems(systems[q.a], systems[q.b], q.margin),
    }


def answers(questions: list[Question], runs: dict[str, list[Path]], data: str | Path) -> list:
    """Every question whose two systems have complete runs, answered."""
    names = {n for q in questions for n in (q.a, q.b) if runs.get(n)}
    systems = {n: system_errors(n, runs[n], data) for n in sorted(names)}
    return [
        answer(q, systems) if q.a in systems and q.b in systems else unanswered(q, systems)
        for q in questions
    ]


def unanswered(q: Question, systems: dict) -> dict:
    missing = [n for n in (q.a, q.b) if n not in systems]
    return {
        "key": q.key,
        "question": q.text,
        "answer": f"Not answered: no complete runs of {' and '.join(missing)} in this study.",
        "tie": None,
        **dict.fromkeys(("diff", "ci_low", "ci_high", "p_value", "seeds_a", "seeds_b")),
    }


def distill_answers(cfg: DistillConfig) -> list[dict]:
    """Notebook 02's questions: CRKD against no KD, and against the teacher (within 1 point)."""
    px = f"{cfg.student_size} px"
    crkd, nokd = f"LRINet + CRKD ({px})", f"LRINet without KD ({px})"
    runs = {
        crkd: [cfg.student_run("crkd", s) for s in cfg.seeds],
        nokd: [cfg.student_run("nokd", s) for s in cfg.seeds],
        "Teacher": sorted({cfg.teacher_run(s) for s in cfg.seeds}),
    }
    questions = [
        Question("crkd-vs-nokd", "Does CRKD beat LRINet trained without KD?", crkd, nokd),
        Question(
            "crkd-vs-teacher",
            "Does LRINet with CRKD keep the teacher's accuracy (within 1 WER point)?",
            crkd,
            "Teacher",
            margin=1.0,
        ),
    ]
    return answers(questions, runs, cfg.data)


def grid_answers(cfg: AblationConfig) -> list[dict]:
    """Notebook 03's question: frame maps at the teacher's scale against recovered maps."""
    points = [p for p in grid_points(cfg) if p.size == cfg.student_size]
    done = {p: cfg.paths.point(p) for p in points if RunDir(cfg.paths.point(p)).is_complete()}
    scale = f"CRKD, maps at the teacher's scale ({cfg.student_size} px)"
    recover = f"CRKD, maps recovered by upsampling ({cfg.student_size} px)"
    runs = {
        scale: [r for p, r in done.items() if p.setting == "both"],
        recover: [r for p, r in done.items() if p.setting == "both-recover"],
    }
    q = Question(
        "scale-vs-recover",
        "Do frame maps at the teacher's scale beat maps recovered by upsampling (ResKD)?",
        scale,
        recover,
    )
    return answers([q], runs, cfg.data)


def answers_table(rows: list[dict]):
    """The answers as a DataFrame: question, one-sentence answer, difference and interval."""
    import pandas as pd

    cols = ["question", "answer", "diff", "ci_low", "ci_high", "p_value", "seeds_a", "seeds_b"]
    return pd.DataFrame([{k: r[k] for k in cols} for r in rows], columns=cols)
