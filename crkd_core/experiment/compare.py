"""Two systems compared on a split, each given as its finished runs (one per seed).

A system's per-sentence errors come from the CTM and STM files that `evaluate_run` writes; a run
whose files are missing or older than its `metrics.json` is evaluated first (greedy decoding).
`compare_runs` pools each system's seeds and compares them with a paired bootstrap over the
split's sentences (`crkd_core.stats`), and says the answer in one sentence: a difference whose
interval holds zero is a tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io import atomic_write_json, read_json
from ..scoring.ctm import read_scored_pair
from ..stats import (
    CONFIDENCE,
    N_RESAMPLES,
    SystemErrors,
    nested_bootstrap,
    nested_verdict,
    paired_bootstrap,
    summarize_seeds,
)
from ..stats import verdict as say
from .config import EvalConfig, _Checked, check_data_root, check_non_negative
from .evaluate import evaluate_run
from .folder import RunDir
from .record import METRICS_FILE, EvalRecord, RunRecord, Score

SPLITS = ("dev", "test")


def eval_files(run: Path, split: str) -> tuple[Path, Path, Path]:
    """The greedy evaluation's JSON, hypotheses (CTM) and references (STM) of `run`."""
    return (
        EvalRecord.path(run, split, "greedy"),
        run / f"hyp-{split}-greedy.ctm",
        run / f"ref-{split}.stm",
    )


def needs_evaluation(run: Path, split: str) -> bool:
    """True when the run's greedy evaluation files are missing or older than the run."""
    done = (run / METRICS_FILE).stat().st_mtime
    return any(not p.is_file() or p.stat().st_mtime < done for p in eval_files(run, split))


def score_split(run: Path, data: str | Path, split: str) -> Score:
    """The greedy score of a run on `split`, evaluated only when its files are stale."""
    run = Path(run)
    if needs_evaluation(run, split):
        cfg = EvalConfig(run=run, data=Path(data), split=split, allow_oov=True)
        return evaluate_run(cfg).score
    return EvalRecord.read(run, split).score


def predictions(run: Path, split: str) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """(references, hypotheses, ids) from the CTM/STM files that `evaluate_run` wrote."""
    _, ctm, stm = eval_files(Path(run), split)
    hyps, refs = read_scored_pair(ctm, stm)  # as sclite pairs them (ids, channels, times)
    ids = sorted(refs)
    return [refs[i] for i in ids], [hyps.get(i, []) for i in ids], ids


def system_errors(name: str, runs: list[Path], data: str | Path, split: str = "test"):
    """One system's per-sentence errors, one row per run (seed), from its evaluation files."""
    for run in runs:
        score_split(run, data, split)
    return read_errors(name, runs, split)


def read_errors(name: str, runs: list[Path], split: str) -> SystemErrors:
    """The per-sentence errors of runs whose evaluation files are written."""
    per_run = []
    for run in runs:
        refs, hyps, ids = predictions(run, split)
        per_run.append((dict(zip(ids, hyps, strict=True)), dict(zip(ids, refs, strict=True))))
    return SystemErrors.from_runs(name, per_run)


def compare_systems(
    a: SystemErrors,
    b: SystemErrors,
    margin: float | None = None,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """A against B: the paired bootstrap, its one-sentence verdict, each side's seeds."""
    c = paired_bootstrap(a, b, n_resamples=n_resamples, confidence=confidence)
    return {
        "answer": say(c, margin),
        "tie": c.is_tie,
        **c.to_dict(),
        "seeds_summary_a": summarize_seeds(a.seed_wers, confidence).to_dict(),
        "seeds_summary_b": summarize_seeds(b.seed_wers, confidence).to_dict(),
    }


def system_name(runs: tuple[Path, ...]) -> str:
    """The runs' common folder name without its seed (`crkd-s32-seed0` -> `crkd-s32`)."""
    names = {re.sub(r"[-_]?seed\d+$", "", r.resolve().name) for r in runs}
    return names.pop() if len(names) == 1 else ", ".join(sorted(r.name for r in runs))


@dataclass(frozen=True, kw_only=True)
class CompareConfig(_Checked):
    """`crkd compare`: system A's runs against system B's, on one split."""

    a: tuple[Path, ...]
    b: tuple[Path, ...]
    data: Path | None = None  # None: the dataset each run was trained on (its config.json)
    split: str = "test"
    name_a: str | None = None
    name_b: str | None = None
    margin: float | None = None
    resamples: int = N_RESAMPLES
    confidence: float = CONFIDENCE
    json: Path | None = None

    def __post_init__(self) -> None:
        for side in ("a", "b"):
            runs = getattr(self, side)
            if isinstance(runs, (str, Path)) or not all(isinstance(r, (str, Path)) for r in runs):
                raise ConfigError(f"system {side.upper()} must be a list of run folders")
            object.__setattr__(self, side, tuple(Path(r).expanduser() for r in runs))
        if isinstance(self.json, str):  # `data` is one of _Checked's paths
            object.__setattr__(self, "json", Path(self.json).expanduser())
        super().__post_init__()

    def validate(self) -> None:
        if not self.a or not self.b:
            raise ConfigError("each system needs at least one run folder")
        if self.split not in SPLITS:
            raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, not {self.split!r}")
        if isinstance(self.resamples, bool) or not isinstance(self.resamples, int):
            raise ConfigError(f"--resamples must be an integer, got {self.resamples!r}")
        if self.resamples < 100:
            raise ConfigError(f"--resamples must be at least 100, got {self.resamples}")
        if not 0.5 <= self.confidence < 1.0:
            raise ConfigError(f"--confidence must be in [0.5, 1), got {self.confidence!r}")
        check_non_negative("margin", self.margin)
        seen: dict[Path, str] = {}
        for side, runs in (("A", self.a), ("B", self.b)):
            for run in runs:
                key = run.resolve()
                if key in seen:
                    raise ConfigError(f"{run}: given twice (in {seen[key]} and in {side})")
                seen[key] = side
                if not run.is_dir():
                    raise ConfigError(f"{run}: no such run folder (system {side})")
                RunRecord.read(run)  # a missing or unfinished run is refused here
        if self.data is not None:
            check_data_root(self.data)
        for run in self.a + self.b:
            if needs_evaluation(run, self.split):
                check_data_root(self.data_of(run))
        if self.json is not None and self.json.is_dir():
            raise ConfigError(f"{self.json}: --json is a folder; give a file name")

    def data_of(self, run: Path) -> Path:
        """The dataset to evaluate `run` on: --data, or the one it was trained on."""
        if self.data is not None:
            return self.data
        path = RunDir(run).config_path
        recorded = read_json(path) if path.is_file() else None
        recorded = recorded.get("data") if isinstance(recorded, dict) else None
        if not isinstance(recorded, str):
            raise ConfigError(f"{path}: names no dataset the run was trained on; give --data")
        return Path(recorded)


def compare_runs(cfg: CompareConfig) -> dict[str, Any]:
    """Compare system A with system B; write the result to `cfg.json` when it is given."""
    for run in cfg.a + cfg.b:
        score_split(run, cfg.data_of(run), cfg.split)
    name_a, name_b = cfg.name_a or system_name(cfg.a), cfg.name_b or system_name(cfg.b)
    if name_a == name_b:
        name_a, name_b = f"A ({name_a})", f"B ({name_b})"
    a = read_errors(name_a, list(cfg.a), cfg.split)
    b = read_errors(name_b, list(cfg.b), cfg.split)
    out = {
        "split": cfg.split,
        "runs_a": [r.resolve().name for r in cfg.a],
        "runs_b": [r.resolve().name for r in cfg.b],
        **compare_systems(a, b, cfg.margin, cfg.resamples, cfg.confidence),
        "nested": nested_comparison(a, b, cfg),
    }
    if cfg.json is not None:
        atomic_write_json(cfg.json, out)
    return out


def teacher_of(run: Path) -> str | None:
    """The teacher run that taught `run`, resolved (a teacher run is its own teacher); None for
    a run that names none (trained without KD)."""
    record = RunRecord.read(run)
    if record.role == "teacher":
        return str(run.resolve())
    named = record.distill.teacher_run if record.distill else ""
    if not named:
        return None
    return str(Path(named).resolve()) if Path(named).exists() else named


def nested_comparison(a: SystemErrors, b: SystemErrors, cfg: CompareConfig) -> dict[str, Any]:
    """A against B with every source of noise (teachers, runs within teachers, sentences), when
    every run names its teacher and both systems were taught by the same teachers."""
    keys = {"a": [teacher_of(r) for r in cfg.a], "b": [teacher_of(r) for r in cfg.b]}
    if None in keys["a"] + keys["b"]:
        return {"skipped": "a run names no teacher (trained without KD)"}
    if set(keys["a"]) != set(keys["b"]):
        return {"skipped": "A and B were taught by different teachers"}
    order = {sid: k for k, sid in enumerate(b.ids)}
    rows = {"a": a.errors, "b": b.errors[:, [order[sid] for sid in a.ids]]}
    nested = {}
    for side in ("a", "b"):
        groups: dict[str, list] = {}
        for key, row in zip(keys[side], rows[side], strict=True):
            groups.setdefault(key, []).append(row)
        nested[side] = groups
    c = nested_bootstrap(
        nested["a"], nested["b"], a.n_ref, resamples=cfg.resamples, confidence=cfg.confidence
    )
    return {**c.to_dict(), "answer": nested_verdict(c, a.name, b.name)}
