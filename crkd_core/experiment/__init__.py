"""The experiment layer: the only code that turns a config into a run folder.

- `config`: typed run configs (`TeacherRunConfig`, `StudentRunConfig`, `EvalConfig`), checked
  when made, with the preset's defaults resolved in one place;
- `record`: `RunRecord` and `EvalRecord`, the one owner of `metrics.json` and `eval-*.json`;
- `folder`: the run folder (`RunDir`): config, provenance, the call that started it;
- `train`, `evaluate`: the runs themselves, as functions split into named steps;
- `compare`: two systems' runs (seeds) compared on a split with a paired bootstrap.

The library below it knows nothing of runs; the study, the CLI and the API call into it.
"""

from .compare import CompareConfig, compare_runs
from .config import EvalConfig, RunConfig, StudentRunConfig, TeacherRunConfig
from .evaluate import evaluate_run
from .folder import RunDir, git_commit
from .record import DistillInfo, EvalRecord, RunRecord, Score
from .train import distill, reuse_or_resume, train_teacher

__all__ = [
    "CompareConfig",
    "DistillInfo",
    "EvalConfig",
    "EvalRecord",
    "RunConfig",
    "RunDir",
    "RunRecord",
    "Score",
    "StudentRunConfig",
    "TeacherRunConfig",
    "compare_runs",
    "distill",
    "evaluate_run",
    "git_commit",
    "reuse_or_resume",
    "train_teacher",
]
