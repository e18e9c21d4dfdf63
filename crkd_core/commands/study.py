"""`crkd study`: data, the notebooks 00-05 under papermill, then the HTML report.

Reports go to `<out>/reports/`; `--publish` writes the repository's `reports/` (what `make study`
does). A notebook that fails is reported as FAILED; the command writes the index, then exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..study.profiles import PROFILE_ORDER
from ._args import MAX_THREADS, in_range, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="default", choices=PROFILE_ORDER, help="the study's size")
    p.add_argument("--data", type=Path, default=None, help="dataset root; default: <out>/data")
    p.add_argument("--out", type=Path, default=None, help="study folder; runs/study-<profile>")
    p.add_argument("--reports", type=Path, default=None, help="default: <out>/reports")
    p.add_argument("--publish", action="store_true", help="write the repository's reports/")
    p.add_argument(
        "--replace-larger",
        action="store_true",
        help="let a smaller profile's study replace a larger one's reports",
    )
    p.add_argument(
        "--jobs", type=in_range(1, MAX_THREADS), default=1, help="grid points run in parallel"
    )
    p.add_argument("--only", default=None, help="comma-separated notebooks (default: all)")
    p.add_argument("--timeout", type=positive_int, default=None, help="seconds per cell")


def run(args: argparse.Namespace) -> int:
    from ..study.run import StudyOptions, run_study

    opts = StudyOptions(
        profile=args.profile,
        data=args.data,
        out=args.out,
        reports=args.reports,
        publish=args.publish,
        replace_larger=args.replace_larger,
        jobs=args.jobs,
        only=args.only,
        timeout=args.timeout,
    )
    result = run_study(opts)  # checks the options before any work
    for s in result.statuses:
        print(f"{s.notebook:26} {s.status.upper():8} {s.seconds:7.0f} s  {s.error[:120]}")
    ok = sum(s.status == "ok" for s in result.statuses)
    print(
        f"study ({args.profile}): {ok}/{len(result.statuses)} notebooks ok, "
        f"{result.seconds:.0f} s -> {result.index}"
    )
    return 0 if result.ok else 1
