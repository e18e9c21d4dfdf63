"""`crkd study`: data, the notebooks 00-05 under papermill, then the HTML report.

Reports go to `<out>/reports/`; `--publish` writes the repository's `reports/` (what `make study`
does). A notebook that fails is reported as FAILED; the command writes the index, then exits 1.
`--executor slurm` makes every training run a Slurm job; `--status DIR` prints the runs of a
study (running or not) and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..study.profiles import PROFILE_ORDER
from ._args import MAX_THREADS, in_range, non_negative_int, positive_int

SLURM_FLAGS = ("partition", "account", "time_limit", "cpus_per_task", "gpus_per_task")
SLURM_FLAGS += ("teacher_tasks", "sbatch")


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
        "--jobs",
        type=in_range(1, MAX_THREADS),
        default=None,
        help="runs trained at once (local: default 1; slurm: an array's cap, default none)",
    )
    p.add_argument("--only", default=None, help="comma-separated notebooks (default: all)")
    p.add_argument("--timeout", type=positive_int, default=None, help="seconds per cell")
    p.add_argument("--executor", default="local", choices=("local", "slurm"))
    p.add_argument("--status", type=Path, default=None, metavar="DIR", help="print a study's runs")
    s = p.add_argument_group("slurm (with --executor slurm)")
    s.add_argument("--partition", default=None, help="default: the cluster's default")
    s.add_argument("--account", default=None)
    s.add_argument("--time-limit", type=positive_int, default=None, metavar="MIN", help="per job")
    s.add_argument("--cpus-per-task", type=positive_int, default=None, help="also torch threads")
    s.add_argument("--gpus-per-task", type=non_negative_int, default=None)
    s.add_argument("--teacher-tasks", type=positive_int, default=None, help="torch.distributed")
    s.add_argument(
        "--sbatch", action="append", default=None, metavar="KEY=VALUE", help="more sbatch options"
    )


def run(args: argparse.Namespace) -> int:
    if args.status is not None:
        return print_status(args.status)
    from ..study.run import StudyOptions, run_study

    opts = StudyOptions(
        profile=args.profile,
        data=args.data,
        out=args.out,
        reports=args.reports,
        publish=args.publish,
        replace_larger=args.replace_larger,
        jobs=args.jobs or 1,
        only=args.only,
        timeout=args.timeout,
        executor=args.executor,
        slurm=slurm_options(args),
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


def slurm_options(args: argparse.Namespace):
    """The Slurm options given (None when none is, with the local executor: then any one given
    is refused by `check_options`)."""
    from ..study.executor_slurm import SlurmOptions

    given = {k: getattr(args, k) for k in SLURM_FLAGS if getattr(args, k) is not None}
    if args.executor == "local" and not given:
        return None
    values = {"time_min" if k == "time_limit" else k: v for k, v in given.items()}
    values["sbatch"] = tuple(values.get("sbatch", ()))
    return SlurmOptions(**values, parallel=args.jobs)


def print_status(study: Path) -> int:
    from ..study.status import status_lines, study_view

    for line in status_lines(study_view(study)):
        print(line)
    return 0
