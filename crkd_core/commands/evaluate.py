"""`crkd evaluate`: score a finished run's checkpoint on a split, our way and the official way.

Writes `RUN/eval-<split>-<decoder>.json` (the run's identity keys, the score, and the WER under
the official cleaning of the dataset family), `RUN/hyp-<split>-<decoder>.ctm` and
`RUN/ref-<split>.stm`, which sclite accepts.
"""

from __future__ import annotations

from pathlib import Path

from ..experiment import EvalConfig, EvalRecord, evaluate_run
from ..scoring.cleaning import CLEANINGS
from ._args import beam_width, config_from_args, positive_int, threads


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, type=Path, help="a run folder with checkpoint.*")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--dataset", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--decoder", default="greedy", choices=["greedy", "beam"])
    p.add_argument("--beam-width", type=beam_width, default=10)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument(
        "--cleaning",
        default=None,
        choices=sorted(CLEANINGS),
        help="official cleaning to report beside ours; default: by dataset family",
    )
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--allow-oov", action="store_true")
    p.add_argument("--threads", type=threads, default=None)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


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
