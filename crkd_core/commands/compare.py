"""`crkd compare`: are two systems' WERs different beyond the noise of the test set?

crkd compare RUN [RUN ...] --against RUN [RUN ...] [--split test] [--margin 1] [--json F]

Each system is its runs, one per seed. Their greedy hypotheses are scored on the split (a run
without fresh evaluation files is evaluated first, on --data or the dataset it was trained
on), and the two are compared with a paired bootstrap over sentences, pooled across seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..experiment.compare import SPLITS, CompareConfig, compare_runs
from ..io import check_output
from ..stats import CONFIDENCE, N_RESAMPLES
from ._args import at_least, config_from_args, non_negative_float


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", nargs="+", type=Path, metavar="RUN", help="system A's run folders")
    p.add_argument(
        "--against", dest="b", nargs="+", type=Path, required=True, metavar="RUN",
        help="system B's run folders",
    )  # fmt: skip
    p.add_argument("--data", type=Path, default=None, help="default: each run's own dataset")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--name-a", default=None, help="default: the runs' folder name less -seedN")
    p.add_argument("--name-b", default=None)
    p.add_argument(
        "--margin", type=non_negative_float, default=None,
        help="WER points: also say whether A is shown to be within them of B",
    )  # fmt: skip
    p.add_argument("--resamples", type=at_least(100), default=N_RESAMPLES)
    p.add_argument("--confidence", type=float, default=CONFIDENCE)
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write JSON")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(CompareConfig, args)
    if cfg.json is not None:  # an output never lands in a run folder, before any evaluation
        check_output(cfg.json, {})
    out = compare_runs(cfg)
    for side in ("a", "b"):
        s = out[f"seeds_summary_{side}"]
        spread = f" ± {s['std']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]" if s["n"] > 1 else ""
        runs = f"{s['n']} run{'s' if s['n'] > 1 else ''}"
        print(f"{side.upper()}: {out[side]} ({runs}): {cfg.split} WER {s['mean']:.2f}{spread}")
    print(out["answer"])
    if "answer" in out["nested"]:  # the runs name their teachers
        print(out["nested"]["answer"])
    if cfg.json is not None:
        print(f"-> {cfg.json}")
    return 0
