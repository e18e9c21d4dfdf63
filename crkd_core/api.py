"""The Python API of the workbench: the experiment functions, typed, for notebooks and scripts.

Each function takes the options of its `crkd` command as keyword arguments (the CLI flags with
`-` written as `_`), builds the command's typed config (so a bad value is refused before any
work, as on the command line), runs the same experiment code, and returns the run's record::

    from crkd_core import api
    api.synth(out="data/sw", profile="smoke")
    t = api.train_teacher(data="data/sw", out="runs/teacher", epochs=3)
    s = api.distill(data="data/sw", teacher="runs/teacher", out="runs/crkd", kd="both")
    e = api.evaluate(run="runs/crkd", data="data/sw", split="test")
    print(t.wer, s.wer, e.score.wer)
    c = api.compare(["runs/crkd"], ["runs/teacher"])  # seeds: several runs per side
    print(c["answer"])

and deployment, which returns what the command prints::

    x = api.export(run="runs/crkd", int8="dynamic")  # model.onnx, its streaming pair, int8
    p = api.predict(run="runs/crkd", video="clip.mp4")  # or frames=FOLDER, stream=True, ...
    print(p.text, [(g.gloss, g.start_s, g.end_s) for g in p.glosses])
    page = api.demo(run="runs/crkd", out="page")  # then: crkd demo --page page

`command.txt` of a run started here records this Python call, not the kernel's argv.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .data.signworld import generate_signworld
from .data.synthetic import read_metadata
from .demo import DemoConfig, DemoPage, prepare_demo
from .deploy.package import ExportConfig, ExportedFile, ExportRecord, export_run
from .deploy.predict import PredictConfig, Prediction, TimedGloss
from .deploy.predict import predict as _predict
from .errors import ConfigError
from .experiment import (
    EvalConfig,
    EvalRecord,
    RunConfig,
    RunRecord,
    StudentRunConfig,
    TeacherRunConfig,
    evaluate_run,
    reuse_or_resume,
)
from .experiment import distill as _distill
from .experiment import train_teacher as _train_teacher
from .experiment.compare import CompareConfig, compare_runs

EpochHook = Callable[[dict], None]


def synth(out, profile: str = "default", seed: int = 0, **options: Any) -> dict:
    """Draw SignWorld into `out` (see `crkd synth`); returns its `signworld.json`."""
    generate_signworld(Path(out), profile, seed, **options)
    return read_metadata(out)


def _reuse(cfg: RunConfig, reuse: bool) -> tuple[RunRecord | None, RunConfig]:
    """With `reuse`, a complete run made with the same settings is returned as it is (one made
    with others is refused) and a partial one is resumed."""
    if not reuse:
        return None, cfg
    done, partial = reuse_or_resume(cfg.out, cfg)
    return done, replace(cfg, resume=True) if partial and not cfg.resume else cfg


def train_teacher(
    data, out, on_epoch: EpochHook | None = None, reuse: bool = False, **options: Any
) -> RunRecord:
    """Train a teacher; `on_epoch(row)` is called after each epoch (for live plots)."""
    done, cfg = _reuse(TeacherRunConfig(data=data, out=out, **options), reuse)
    if done:
        return done
    return _train_teacher(cfg, on_epoch, command=f"crkd_core.api.{cfg.as_call('train_teacher')}")


def distill(
    data,
    teacher=None,
    out=None,
    on_epoch: EpochHook | None = None,
    reuse: bool = False,
    **options: Any,
) -> RunRecord:
    """Train LRINet from a teacher run (see `crkd distill`); `kd="none"` needs no teacher."""
    if out is None:
        raise ConfigError("distill: out (the run folder to create) is required")
    done, cfg = _reuse(StudentRunConfig(data=data, teacher=teacher, out=out, **options), reuse)
    if done:
        return done
    return _distill(cfg, on_epoch, command=f"crkd_core.api.{cfg.as_call('distill')}")


def evaluate(run, data, split: str = "test", decoder: str = "greedy", **options: Any) -> EvalRecord:
    """Score a finished run on a split (see `crkd evaluate`)."""
    return evaluate_run(EvalConfig(run=run, data=data, split=split, decoder=decoder, **options))


def compare(a, b, split: str = "test", **options: Any) -> dict:
    """System A's runs against system B's, a paired bootstrap (see `crkd compare`)."""
    return compare_runs(CompareConfig(a=tuple(a), b=tuple(b), split=split, **options))


def predict(
    run, on_gloss: Callable[[TimedGloss], None] | None = None, **options: Any
) -> Prediction:
    """Recognise the glosses of a clip: `video=`, `frames=` or `camera=` (see `crkd predict`);
    `stream=True` streams it, calling `on_gloss(g)` as each gloss becomes stable."""
    return _predict(PredictConfig(run=run, **options), on_gloss=on_gloss)


def export(
    run, on_file: Callable[[ExportedFile], None] | None = None, **options: Any
) -> ExportRecord:
    """Export a run to ONNX by the export policy of `crkd export`; `on_file(f)` sees each file."""
    return export_run(ExportConfig(run=run, **options), on_file=on_file)


def demo(run=None, **options: Any) -> DemoPage:
    """Build a run's live camera page (see `crkd demo`; `page=` checks one built before). It is
    not served: serve it with `crkd demo --page FOLDER`."""
    return prepare_demo(DemoConfig(run=run, **options))
