"""One training run of a study in its own process: `python -m crkd_core.study.worker CONFIG.json`.

The executor writes the run's typed config as JSON (`executor.write_spec`): a `LocalPool`
starts this module on it, and a Slurm job calls `train_from_file` on it. The typed config
crosses the process boundary, not argv. A partial run in the folder is resumed (a requeued
Slurm job continues from `last.safetensors`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import CRKDError
from ..experiment import distill, train_teacher
from .executor import read_spec, resumable


def train_from_file(path: str | Path) -> dict | None:
    """Train (or resume) the run that `path` describes; returns its test WER and world size
    (None on ranks other than 0 of a multi-process run)."""
    spec = read_spec(Path(path))
    config = resumable(spec)
    train = train_teacher if spec.role == "teacher" else distill
    record = train(config, command=spec.command(config))
    if record is None:
        return None
    return {"run": str(config.out), "wer": record.score.wer, "world_size": record.world_size}


def main(path: str) -> int:
    try:
        train_from_file(path)
    except CRKDError as exc:  # the message names the file, the run or the option
        print(f"run {Path(path).name}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
