"""`crkd evaluate`: score a finished run's checkpoint on a split, our way and the official way.

Writes `RUN/eval-<split>-<decoder>.json` (the run's identity keys, the score, and the WER under
the official cleaning of the dataset family), `RUN/hyp-<split>-<decoder>.ctm` and
`RUN/ref-<split>.stm`, which sclite accepts.
"""

from __future__ import annotations

from pathlib import Path

from ..experiment import EvalConfig, EvalRecord, evaluate_run
from ._args import add_options, config_from_args


def add_arguments(p) -> None:
    add_options(p, EvalConfig)


def run(args) -> int:
    cfg = config_from_args(EvalConfig, args)
    record = evaluate_run(cfg)
    print(summary(record, EvalRecord.path(cfg.run, cfg.split, cfg.decoder)))
    return 0


def summary(r: EvalRecord, path: Path) -> str:
    s, o = r.score, r.official
    return (
        f"{s.split} ({s.decoder}): WER {s.wer:.2f}% (S {s.sub} D {s.dele} I {s.ins} "
        f"N {s.n_ref}); official {r.official_cleaning} cleaning: WER {o.wer:.2f}% -> {path}"
    )
