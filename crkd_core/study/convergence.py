"""Whether a run trained to its plateau, and the headline's runs as study.json lists them.

A run whose best dev epoch is its last one was still improving when it stopped: it is "not
converged", and every page that shows it says so. The flag comes from the run's metrics.json
(`best_epoch`, `epochs_run`), checked against its log.jsonl (the dev WER of every epoch), so a
page never shows a curve that disagrees with the flag beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import FileFormatError
from ..experiment import RunRecord
from .configs import DistillConfig
from .paths import display_path
from .training import STUDENT_KINDS, read_log


@dataclass(frozen=True)
class Convergence:
    """How a run's training ended."""

    best_epoch: int  # the epoch of the best dev WER (its checkpoint is the one tested)
    epochs: int  # epochs run
    max_epochs: int  # the cap it could have run

    @property
    def converged(self) -> bool:
        """False when the best dev epoch is the last: the run was still improving."""
        return self.best_epoch < self.epochs

    def text(self) -> str:
        if self.converged:
            return f"converged: best dev WER at epoch {self.best_epoch} of {self.epochs}"
        return f"NOT CONVERGED: best dev WER at its last epoch ({self.epochs})"


def convergence(run: Path) -> Convergence:
    """The run's `Convergence`; FileFormatError naming log.jsonl when its dev WERs disagree with
    metrics.json (another best epoch, or another number of epochs)."""
    m = RunRecord.read(run)
    dev = [row.get("dev_wer") for row in read_log(run)]
    log = Path(run) / "log.jsonl"
    if len(dev) != m.epochs_run or None in dev:
        raise FileFormatError(
            log, f"holds {len(dev)} epochs with a dev WER; metrics.json says {m.epochs_run} ran"
        )
    best = dev.index(min(dev)) + 1
    if best != m.best_epoch:
        raise FileFormatError(
            log, f"its best dev WER is at epoch {best}; metrics.json says {m.best_epoch}"
        )
    return Convergence(m.best_epoch, m.epochs_run, m.epochs)


def headline_runs(cfg: DistillConfig) -> list[dict]:
    """Every headline run (the teachers, then each arm's students), as study.json's `runs`: its
    arm, teacher seed, seed, test WER, convergence and learning curve."""
    runs = [
        ("teacher", s, s, cfg.teacher_run(s))
        for s in dict.fromkeys(map(cfg.teacher_seed, cfg.seeds))
    ]
    runs += [
        (kind, cfg.teacher_seed(s), s, cfg.student_run(kind, s))
        for kind in STUDENT_KINDS
        for s in cfg.seeds
    ]
    return [run_row(cfg, *r) for r in runs]


def run_row(cfg: DistillConfig, arm: str, teacher_seed: int, seed: int, run: Path) -> dict:
    m = RunRecord.read(run)
    c = convergence(run)
    curve = [
        {k: row[k] for k in ("epoch", "dev_wer", "train_total") if k in row}
        for row in read_log(run)
    ]
    return {
        "arm": arm,
        "teacher_seed": teacher_seed,
        "seed": seed,
        "run": display_path(run, Path(cfg.study_dir)),
        "wer": m.score.wer,
        "best_dev_wer": m.best_dev_wer,
        **asdict(c),
        "converged": c.converged,
        "verdict": c.text(),
        "curve": curve,
    }


def runs_table(rows: list[dict]):
    """The runs without their curves, as a DataFrame (02 shows it)."""
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in r.items() if k != "curve"} for r in rows])
