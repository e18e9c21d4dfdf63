"""The ablation grid of notebook 03: its points, run by the study's executor, and their rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..experiment import RunDir, RunRecord, StudentRunConfig
from .configs import SWEEP_TERMS, AblationConfig, DistillConfig, parse_shard
from .executor import RunSpec, available_cpus, cache_order, resumable, run_specs, unique  # noqa: F401 (available_cpus: the facade's name)
from .executor_choice import origin, study_executor
from .paths import GridPoint
from .profiles import HEADLINE_ARMS, KD_SETTINGS, GridBlock, StudyError
from .status import JobRecord


def grid_points(cfg: AblationConfig) -> list[GridPoint]:
    """Every point of the grid, in a stable order, without duplicates: the headline's arms
    (02's runs, reused: they put scale and recover on the WER-against-cost plane), then the
    profile's blocks (or the notebook's `sizes` x `settings`)."""
    headline = [cfg.point(s, seed) for seed in cfg.seeds for s in HEADLINE_ARMS.values()]
    points = [
        cfg.point(s, seed, size)
        for b in cfg.blocks()
        for size in b.sizes
        for s in b.settings
        for seed in block_seeds(b, cfg.seeds)
    ]
    return list(dict.fromkeys(headline + points))


def sweep_points(cfg: AblationConfig) -> list[GridPoint]:
    """The KD-weight sweep: both terms at the headline size, one run per (weights, seed)."""
    return [
        cfg.point("both", seed, weights=zip(SWEEP_TERMS, map(float, w), strict=True))
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


def point_spec(cfg: DistillConfig, p: GridPoint, label: str = "") -> RunSpec:
    """The LRINet run of a grid point, or of 02's: the one builder of "a KD setting at size s,
    seed k" (its config is built when it starts: its teacher may not exist before)."""
    s = KD_SETTINGS[p.setting]
    values = {
        "data": Path(cfg.data),
        "allow_oov": True,
        "teacher": None if s.kd == "none" else cfg.teacher_run(p.seed),  # no KD: trains alone
        "out": cfg.paths.point(p),
        "preset": cfg.plan.preset,
        "student_size": p.size,
        "kd": dict(p.weights) if p.weights else s.kd,
        "student_variant": s.variant,
        "epochs": p.epochs,
        "patience": p.patience,
        "min_epochs": p.min_epochs or None,
        "seed": p.seed,
        "teacher_cache": cfg.paths.teacher_cache,
        # a taught student's head starts as its teacher's; a no-KD student's, random
        "head_init": "random" if s.kd == "none" else cfg.plan.student_head_init,
    }
    return RunSpec("student", values, origin(cfg), label or p.name)


def point_config(cfg: DistillConfig, p: GridPoint, threads: int | None = None) -> StudentRunConfig:
    """The distillation run of a grid point (resumed when a partial run is there)."""
    return resumable(point_spec(cfg, p), threads=threads)


def run_grid(cfg: AblationConfig) -> list[PointStatus]:
    """Run this shard's points through the study's executor (`cfg.jobs` worker processes, or
    Slurm jobs in a Slurm study); complete runs are not redone."""
    i, n = parse_shard(cfg.shard)
    points = grid_points(cfg) + sweep_points(cfg)
    mine = [p for k, p in enumerate(points) if k % n == i - 1] if cfg.run else []
    specs = {p: point_spec(cfg, p) for p in mine}
    ordered = cache_order(unique(list(specs.values())))
    records = {r.name: r for r in run_specs(study_executor(cfg, cfg.jobs), ordered)}
    done = [point_status(p, records[s.name]) for p, s in specs.items()]
    rest = [PointStatus(p, "skipped") for p in points if p not in mine]
    return done + rest


def point_status(p: GridPoint, r: JobRecord) -> PointStatus:
    error = r.error + (f" (log: {r.log})" if r.error and r.log else "")
    return PointStatus(p, r.state, r.seconds, error)


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
