"""`crkd study`: data, the notebooks 00-05 under papermill, then the HTML report.

The data is drawn (or reused), each notebook is executed into its folder of the study
(`<out>/<notebook>/<notebook>.ipynb`), and `reports/` gets one page per notebook plus
`index.html`. Training runs are reused when complete, so a second study run only re-executes
the notebooks. A notebook that fails is reported as FAILED (with its partial page); the
notebooks that need it are not run; the command writes the index, then exits with 1.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

PROFILES = ("smoke", "default", "full")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="default", choices=PROFILES)
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="dataset root; default: <out>/data, drawn when missing",
    )
    p.add_argument("--out", type=Path, default=None, help="study folder; runs/study-<profile>")
    p.add_argument("--reports", type=Path, default=Path("reports"), help="where the HTML goes")
    p.add_argument("--jobs", type=int, default=1, help="ablation grid points run in parallel")
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated notebooks to run (e.g. 00_explore_data); default: all",
    )
    p.add_argument("--timeout", type=int, default=None, help="seconds per notebook cell")


def run(args: argparse.Namespace) -> int:
    from .. import study
    from ..report import Provenance, compile_report
    from ..runs import git_commit

    t0, started = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S")
    plan = study.STUDY_PROFILES.get(args.profile)
    # Paths on the command line are relative to the cwd (notebook defaults, to the repo).
    out = Path(args.out or f"runs/study-{args.profile}").resolve()
    data = study.ensure_data(
        Path(args.data or out / "data").resolve(), plan.data_profile, plan.data_seed
    )
    params = {"profile": args.profile, "data": str(data), "study_dir": str(out)}
    statuses = run_notebooks(selected(args.only), params, out, args)
    reports = Path(args.reports).resolve()
    command = (
        f"crkd study --profile {args.profile} --data {data} --out {out} "
        f"--reports {reports} --jobs {args.jobs}" + (f" --only {args.only}" if args.only else "")
    )
    prov = Provenance(
        args.profile,
        list(plan.seeds),
        git_commit(),
        str(data),
        str(out),
        command,
        started,
        time.perf_counter() - t0,
        {"torch threads": threads(), **dataset_facts(data)},
    )
    index = compile_report(out, reports, statuses, prov)
    bad = [s for s in statuses if s.status in ("failed", "skipped")]
    for s in statuses:
        print(f"{s.notebook:26} {s.status.upper():8} {s.seconds:7.0f} s  {s.error[:120]}")
    ok = sum(s.status == "ok" for s in statuses)
    print(
        f"study ({args.profile}): {ok}/{len(statuses)} notebooks ok, "
        f"{time.perf_counter() - t0:.0f} s -> {index}"
    )
    return 1 if bad else 0


def threads() -> str:
    import torch

    return str(torch.get_num_threads())


def selected(only: str | None) -> list[str]:
    from ..errors import ConfigError
    from ..study import NOTEBOOKS

    if not only:
        return list(NOTEBOOKS)
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ConfigError(f"unknown notebooks {unknown}; choose from {list(NOTEBOOKS)}")
    return [n for n in NOTEBOOKS if n in names]


def notebook_params(name: str, base: dict, args: argparse.Namespace) -> dict:
    extra = {"03_resolution_ablation": {"jobs": args.jobs}}.get(name, {})
    return {**base, "interactive": False, **extra}


def run_notebooks(names: list[str], base: dict, out: Path, args) -> list:
    """Execute the notebooks in order; one whose prerequisites failed is skipped."""
    from ..report import PageStatus
    from ..study import NEEDS, NOTEBOOKS

    statuses: dict[str, PageStatus] = {}
    for name in NOTEBOOKS:
        if name not in names:
            statuses[name] = PageStatus(name, "not run", error="not selected (--only)")
            continue
        broken = [n for n in NEEDS.get(name, ()) if failed(statuses.get(n))]
        if broken:
            statuses[name] = PageStatus(
                name, "skipped", error=f"needs {', '.join(broken)}, which did not succeed"
            )
            continue
        print(f"running {name} ...", flush=True)
        statuses[name] = execute(name, notebook_params(name, base, args), out, args.timeout)
    return list(statuses.values())


def failed(status) -> bool:
    """Whether a notebook ran in this study and did not succeed (not run is not failed)."""
    return status is not None and status.status in ("failed", "skipped")


def execute(name: str, params: dict, out: Path, timeout: int | None):
    """Run one notebook with papermill into `<out>/<name>/<name>.ipynb`; never raises."""
    import papermill as pm

    from ..report import PageStatus
    from ..study import REPO_ROOT

    source = REPO_ROOT / "notebooks" / f"{name}.ipynb"
    target = out / name / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)  # a crash must not leave the previous run's notebook
    os.environ.setdefault("CRKD_NO_PROGRESS", "1")
    t0 = time.perf_counter()
    try:
        if not source.is_file():
            raise FileNotFoundError(f"notebook {source} is missing")
        pm.execute_notebook(
            str(source),
            str(target),
            parameters=params,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(target.parent),
            execution_timeout=timeout,
        )
    except Exception as exc:  # papermill raises many types; all of them mean FAILED
        return PageStatus(
            name,
            "failed",
            time.perf_counter() - t0,
            describe(exc),
            executed=str(target) if target.is_file() else None,
        )
    return PageStatus(name, "ok", time.perf_counter() - t0, executed=str(target))


def describe(exc: Exception) -> str:
    """The error of a failed notebook in one or two lines (papermill's carry the cell's)."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}"
    return f"{type(exc).__name__}: {exc}"


def dataset_facts(data: Path) -> dict:
    """What the report should say about the data: SignWorld's handshape-blind floor."""
    from ..study import signworld_floor

    floor = signworld_floor(data)
    if not floor:
        return {}
    text = ", ".join(f"{split} {value:.1f} %" for split, value in floor.items())
    return {"handshape-blind floor (WER of an oracle that reads all but handshape)": text}
