"""Tables of trained runs: WER per split, confusions, speed, and the headline of 02."""

from __future__ import annotations

import math
from pathlib import Path

from ..checkpoint import load_model
from ..data.synthetic import METADATA_FILE, read_metadata
from ..experiment import RunRecord
from ..experiment.compare import predictions
from ..experiment.compare import score_split as evaluate_split  # the study's name for it
from ..explain import confusions as confusion_table
from ..stats import summarize_seeds
from ..trainer import TrainConfig, plateau_epoch
from .compare import teacher_gaps
from .configs import DistillConfig, NotebookConfig
from .convergence import Convergence
from .explore import gloss_groups
from .paths import resolve_path
from .speed import study_costs
from .training import MODEL_LABELS, STUDENT_KINDS, read_log, require_complete


def wer_table(runs: dict[str, Path], data: str | Path, splits=("dev", "test")):
    """Dev and test WER with S/D/I of each run, as a DataFrame; on SignWorld also the
    handshape-blind floor of the split (a model below it reads handshapes)."""
    import pandas as pd

    floor = signworld_floor(data)
    rows = []
    for name, run in runs.items():
        for split in splits:
            e = evaluate_split(run, data, split)
            row = {
                "model": name,
                "split": split,
                "WER %": round(e.wer, 2),
                "S": e.sub,
                "D": e.dele,
                "I": e.ins,
                "N": e.n_ref,
            }
            if split in floor:
                row["handshape-blind floor %"] = round(floor[split], 1)
            rows.append(row)
    return pd.DataFrame(rows)


def signworld_floor(data: str | Path) -> dict[str, float]:
    """The handshape-blind floor per split, or {} when `data` is not a SignWorld dataset."""
    root = resolve_path(data)
    if not (root / METADATA_FILE).is_file():
        return {}
    return read_metadata(root).get("handshape_blind_floor", {})


def confusions(run: Path, data: str | Path, split: str = "test", k: int = 15):
    """The run's most confused gloss pairs on `split`, flagged when only the handshape differs."""
    evaluate_split(run, data, split)
    refs, hyps, _ = predictions(run, split)
    return confusion_table(refs, hyps, gloss_groups(data), k)


def measure_runs(runs: dict[str, Path], cfg: NotebookConfig) -> dict[str, dict]:
    """Params, GMACs/frame and fps of trained models: each architecture as the study first
    timed it (`speed.study_costs`: one fps per model on every page)."""
    models = {name: load_model(run)[0] for name, run in runs.items()}
    return study_costs(cfg.paths.root, cfg.plan.preset, models, cfg.plan)


def add_fps(rows: list[dict], cfg: NotebookConfig) -> list[dict]:
    """Give every row its architecture's (size, variant) fps, as the study timed it."""
    arch = {}
    for r in rows:
        arch.setdefault(f"s{r['size']}-{r['variant']}", Path(r["run"]))
    fps = {k: v["fps"] for k, v in measure_runs(arch, cfg).items()} if arch else {}
    return [{**r, "fps": fps[f"s{r['size']}-{r['variant']}"]} for r in rows]


def summarise(rows: list[dict], by: list[str]):
    """Mean and std (over seeds) of WER per group, with the group's cost columns."""
    import pandas as pd

    if not rows:
        cols = ["wer", "wer_std", "wer_ci_low", "wer_ci_high", "seeds", "params"]
        return pd.DataFrame(columns=[*by, *cols, "gmacs_per_frame", "fps"])
    df = pd.DataFrame(rows)
    extra = {c: (c, "mean") for c in ("train_fps",) if c in df}
    agg = df.groupby(by, sort=False).agg(
        wer=("wer", "mean"),
        seeds=("seed", "count"),
        params=("params", "first"),
        gmacs_per_frame=("gmacs_per_frame", "first"),
        fps=("fps", "first"),
        **extra,
    )
    spread = [summarize_seeds(g["wer"].tolist()) for _, g in df.groupby(by, sort=False)]
    agg["wer_std"] = [s.std for s in spread]  # NaN for one seed: no spread was measured
    agg["wer_ci_low"] = [s.ci_low for s in spread]
    agg["wer_ci_high"] = [s.ci_high for s in spread]
    return agg.reset_index()


def headline(cfg: DistillConfig) -> list[dict]:
    """Teacher vs each LRINet arm (CRKD, no KD, recover): test WER (mean, std over teachers),
    each arm's gap to its own teacher with the hierarchical interval, the seeds, cost, fps."""
    runs = {
        "teacher": {s: cfg.teacher_run(s) for s in cfg.seeds},
        **{k: {s: cfg.student_run(k, s) for s in cfg.seeds} for k in STUDENT_KINDS},
    }
    # LRINet with and without KD is one network: one entry of the study's costs
    first = {k: require_complete(v[cfg.seeds[0]], k) for k, v in runs.items()}
    speed = measure_runs(first, cfg)
    rows = []
    for kind, by_seed in runs.items():
        for seed, run in by_seed.items():
            rows.append(headline_row(kind, cfg.teacher_seed(seed), seed, run, speed[kind]["fps"]))
    table = summarise(rows, ["model", "input_size"])
    return add_gaps(cfg, table.to_dict("records"), rows)


def headline_row(kind: str, teacher_seed: int, seed: int, run: Path, fps: float) -> dict:
    m = RunRecord.read(require_complete(run, kind))
    return {
        "model": MODEL_LABELS[kind],
        "input_size": m.input_size,
        "teacher_seed": teacher_seed,
        "seed": seed,
        "wer": m.score.wer,
        "sub": m.score.sub,
        "del": m.score.dele,
        "ins": m.score.ins,
        "params": m.params,
        "gmacs_per_frame": m.gmacs_per_frame,
        "fps": fps,
        "train_fps": m.train_fps,
    }


def add_gaps(cfg: DistillConfig, table: list[dict], rows: list[dict]) -> list[dict]:
    """The summary rows with their arm, seeds, GMACs against the teacher's (unrounded: 0.214x,
    not a ratio of rounded numbers) and each student arm's gap to its own teacher."""
    gaps = teacher_gaps(cfg)
    kinds = {label: kind for kind, label in MODEL_LABELS.items()}
    teacher_gmacs = next(r["gmacs_per_frame"] for r in table if kinds[r["model"]] == "teacher")
    out = []
    for r in table:
        kind = kinds[r["model"]]
        mine = [x for x in rows if x["model"] == r["model"]]
        gap = gaps.get(kind)
        out.append(
            {
                "arm": kind,
                **r,
                "seed_list": [x["seed"] for x in mine],
                "teacher_seeds": [x["teacher_seed"] for x in mine],
                "gmacs_ratio": r["gmacs_per_frame"] / teacher_gmacs,
                **{f"gap_{k}": gap[k] if gap else None for k in GAP_KEYS},
            }
        )
    return out


GAP_KEYS = ("difference", "ci_low", "ci_high", "p_value", "p_at_floor", "resamples", "n_teachers")


def plateau_table(
    runs: dict[str, Path],
    patience: int | None,
    min_epochs: int = 0,
    min_delta: float = TrainConfig.min_delta,
):
    """Whether each run reached its plateau, by the rule that stops it (`--patience`,
    `--min-epochs`): `patience` epochs in a row without a dev WER `min_delta` points below the
    best, once `min_epochs` have run. The verdict is the trainer's own rule
    (`trainer.plateau_epoch`) replayed on the run's dev WERs; `converged` says whether the best
    dev epoch came before the last (`convergence`)."""
    import pandas as pd

    rule = "none"
    if patience:
        rule = f"{patience} epochs, {min_delta} points"
        rule += f", not before epoch {min_epochs}" if min_epochs else ""
    # the trainer's rule reads only these three fields; the others are placeholders
    stop_rule = TrainConfig(
        epochs=0,
        batch_size=1,
        lr=0.0,
        patience=patience,
        min_delta=min_delta,
        min_epochs=min_epochs,
    )
    rows = []
    for name, run in runs.items():
        m = RunRecord.read(run)
        since = m.epochs_run - m.best_epoch
        if patience is None:
            verdict = f"no plateau rule; best at epoch {m.best_epoch} of {m.epochs_run}"
        elif m.epochs_run < m.epochs:
            verdict = f"plateaued: the rule stopped it after epoch {m.epochs_run}"
        elif plateau_epoch(dev_wers(run), stop_rule) is not None:
            verdict = f"plateaued: {since} last epochs without a better dev WER"
        else:
            verdict = f"not plateaued: still improving {since} epoch(s) before the limit"
        rows.append(
            {
                "run": name,
                "epochs run": m.epochs_run,
                "of at most": m.epochs,
                "best epoch": m.best_epoch,
                "best dev WER": round(m.best_dev_wer, 2),
                "rule": rule,
                "verdict": verdict,
                "converged": Convergence(m.best_epoch, m.epochs_run, m.epochs).text(),
            }
        )
    return pd.DataFrame(rows)


def dev_wers(run: Path) -> list[float]:
    """A run's dev WER per epoch, from epoch 1, as the trainer's plateau rule reads them."""
    return [row.get("dev_wer", math.inf) for row in read_log(run)]
