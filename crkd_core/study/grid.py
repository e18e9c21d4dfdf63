"""The ablation grid of notebook 03: its points, run as parallel processes, and their rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..experiment import RunDir, RunRecord, StudentRunConfig, reuse_or_resume
from ..io import atomic_write_json
from .configs import SWEEP_TERMS, AblationConfig, parse_shard
from .paths import GridPoint
from .profiles import KD_SETTINGS, GridBlock, StudyError


def grid_points(cfg: AblationConfig) -> list[GridPoint]:
    """Every point of the grid, in a stable order, without duplicates."""
    points = [
        GridPoint(size, s, cfg.epochs, seed)
        for b in cfg.blocks()
        for size in b.sizes
        for s in b.settings
        for seed in block_seeds(b, cfg.seeds)
    ]
    return list(dict.fromkeys(points))


def sweep_points(cfg: AblationConfig) -> list[GridPoint]:
    """The KD-weight sweep: both terms at the headline size, one run per (weights, seed)."""
    return [
        GridPoint(
            size=cfg.student_size,
            setting="both",
            epochs=cfg.epochs,
            seed=seed,
            weights=tuple(zip(SWEEP_TERMS, map(float, w), strict=True)),
        )
        for w in cfg.kd_weights
        for seed in cfg.sweep_seeds or cfg.seeds[:1]
    ]


@dataclass
class PointStatus:
    point: GridPoint
    status: str  # done | reused | failed | skipped (another shard's)
    seconds: float = 0.0
    error: str = ""


def block_seeds(block: GridBlock, seeds: list[int]) -> list[int]:
    """A block's own seeds (when it names fewer) among the notebook's seeds."""
    return [s for s in seeds if block.seeds is None or s in block.seeds]


def point_config(cfg: AblationConfig, p: GridPoint, threads: int) -> StudentRunConfig:
    """The distillation run of a grid point (resumed when a partial run is there)."""
    s, out = KD_SETTINGS[p.setting], cfg.paths.point(p)
    return StudentRunConfig(
        data=Path(cfg.data),
        allow_oov=True,
        teacher=None if s.kd == "none" else cfg.teacher_run(p.seed),  # no KD: trains alone
        out=out,
        preset=cfg.plan.preset,
        student_size=p.size,
        kd=dict(p.weights) if p.weights else s.kd,
        student_variant=s.variant,
        epochs=p.epochs,
        seed=p.seed,
        threads=threads,
        resume=RunDir(out).config_path.is_file(),
        teacher_cache=cfg.paths.teacher_cache,
    )


def run_point(cfg: AblationConfig, p: GridPoint, threads: int) -> PointStatus:
    """Run one grid point in its own process; output goes to the point's log file."""
    out = cfg.paths.point(p)
    if RunDir(out).is_complete():
        try:  # refused when made with other settings (a preset default changed since)
            reuse_or_resume(out, point_config(cfg, p, threads))
        except ConfigError as exc:  # that, or its teacher run is gone
            return PointStatus(p, "failed", error=str(exc))
        return PointStatus(p, "reused")
    needs_teacher = KD_SETTINGS[p.setting].kd != "none"
    if needs_teacher and not RunDir(cfg.teacher_run(p.seed)).is_complete():
        return PointStatus(p, "failed", error=f"teacher run {cfg.teacher_run(p.seed)} is missing")
    log = cfg.paths.point_log(p)
    log.parent.mkdir(parents=True, exist_ok=True)
    config = write_point_config(point_config(cfg, p, threads), log.with_suffix(".json"))
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.call(
            [sys.executable, "-m", "crkd_core.study.worker", str(config)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "CRKD_NO_PROGRESS": "1"},
        )
    seconds = time.perf_counter() - t0
    if rc != 0:
        tail = log.read_text("utf-8", errors="replace").strip().splitlines()[-3:]
        return PointStatus(p, "failed", seconds, f"exit {rc}: {' | '.join(tail)} (log: {log})")
    return PointStatus(p, "done", seconds)


def write_point_config(run: StudentRunConfig, path: Path) -> Path:
    values = {k: str(v) if isinstance(v, Path) else v for k, v in run.values().items()}
    return atomic_write_json(path, values)


def run_grid(cfg: AblationConfig) -> list[PointStatus]:
    """Run this shard's points, `cfg.jobs` processes at a time; complete runs are not redone."""
    i, n = parse_shard(cfg.shard)
    points = grid_points(cfg) + sweep_points(cfg)
    mine = [p for k, p in enumerate(points) if k % n == i - 1] if cfg.run else []
    threads = max(1, available_cpus() // cfg.jobs)
    with ThreadPoolExecutor(max_workers=cfg.jobs) as pool:
        done = list(pool.map(lambda p: run_point(cfg, p, threads), mine))
    rest = [PointStatus(p, "skipped") for p in points if p not in mine]
    return done + rest


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def status_table(statuses: list[PointStatus]):
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "point": s.point.name,
                "status": s.status,
                "seconds": round(s.seconds, 1),
                "error": s.error,
            }
            for s in statuses
        ]
    )


def check_grid(statuses: list[PointStatus]) -> None:
    """Raise, naming every failed point, so that the notebook (and the study) fails."""
    failed = [s for s in statuses if s.status == "failed"]
    if failed:
        raise StudyError(
            "grid points failed: " + "; ".join(f"{s.point.name}: {s.error}" for s in failed)
        )


def grid_rows(cfg: AblationConfig) -> list[dict]:
    """One row per complete grid point, from its metrics.json."""
    rows = []
    for p in grid_points(cfg):
        run = cfg.paths.point(p)
        if RunDir(run).is_complete():
            m = RunRecord.read(run)
            rows.append(
                {
                    "point": p.name,
                    "size": p.size,
                    "setting": p.setting,
                    "seed": p.seed,
                    "variant": KD_SETTINGS[p.setting].variant,
                    "wer": m.score.wer,
                    "params": m.params,
                    "gmacs_per_frame": m.gmacs_per_frame,
                    "train_fps": m.train_fps,
                    "run": str(run),
                }
            )
    return rows


def sweep_rows(cfg: AblationConfig) -> list[dict]:
    """The KD-weight sweep's complete runs, with the grid's KD runs at the headline size and
    scale (feature only, logit only, both: the preset's weights) as further rows. alpha and beta
    (the columns' published names) are the feature and logit terms' weights in effect: a term
    that the run leaves out counts 0."""
    grid = [
        p
        for p in grid_points(cfg)
        if p.size == cfg.student_size and p.setting in ("feature-scale", "logit", "both")
    ]
    seeds = set(cfg.sweep_seeds or cfg.seeds[:1])
    rows = []
    for p in [*sweep_points(cfg), *grid]:
        run = cfg.paths.point(p)
        if p.seed not in seeds or not RunDir(run).is_complete():
            continue
        m = RunRecord.read(run)
        rows.append(
            {
                "alpha": m.distill.weight("feature"),
                "beta": m.distill.weight("logit"),
                "seed": p.seed,
                "wer": m.score.wer,
                "best_dev_wer": m.best_dev_wer,
                "params": m.params,
                "gmacs_per_frame": m.gmacs_per_frame,
                "fps": None,
                "train_fps": m.train_fps,
                "point": p.name,
            }
        )
    return list({(r["alpha"], r["beta"], r["seed"]): r for r in rows}.values())
