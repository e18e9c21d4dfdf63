"""Notebook 05: the cost of every preset and size, and the latency benchmarks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..models.presets import PRESETS, build_student, build_teacher
from .configs import EfficiencyConfig
from .paths import resolve_path
from .speed import study_costs


def efficiency(cfg: EfficiencyConfig) -> list[dict]:
    """Params, GMACs/frame and fps of every preset's teacher and LRINet sizes (and variants)."""
    rows = []
    for preset, sizes in cfg.plan.efficiency_sizes:
        p = PRESETS.get(preset)
        models = {"teacher": build_teacher(p, cfg.classes)}
        models |= {f"lrinet-{s}": build_student(p, cfg.classes, s) for s in sizes}
        models["lrinet-recover"] = build_student(p, cfg.classes, p.student_size, "recover")
        res = study_costs(cfg.paths.root, preset, models, replace(cfg.plan, **timing(cfg)))
        rows += [
            {"preset": preset, "model": name, **{k: v for k, v in r.items() if k != "fps_runs"}}
            for name, r in res.items()
        ]
    return rows


def timing(cfg: EfficiencyConfig) -> dict[str, Any]:
    """05's clip length and repeats (its parameters, the profile's when unset)."""
    return {
        "profile_frames": cfg.frames,
        "profile_repeats": cfg.repeats,
        "profile_seconds": cfg.min_seconds,
    }


def benchmark_results(folder: str | Path):
    """`benchmarks/results/*.json` as one table (None when there are none).

    Files of `benchmarks/latency.py` (results: preset -> model -> engines -> numbers) give one
    row per (file, preset, model, engine); any other JSON is flattened as it is.
    """
    import pandas as pd

    rows = []
    for f in sorted(resolve_path(folder).glob("*.json")):
        try:
            obj = json.loads(f.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            rows.append({"file": f.name, "error": str(exc)})
            continue
        rows += [{"file": f.name, **r} for r in latency_rows(obj)]
    return pd.json_normalize(rows) if rows else None


BENCH_KEYS = ("fps", "ms_per_frame", "cpu_ms_per_frame", "fraction_of_matmul_peak", "memory")


def latency_rows(obj: Any) -> list[dict]:
    """Rows of a benchmarks/latency.py report; other JSON objects as single rows."""
    results = obj.get("results") if isinstance(obj, dict) else None
    try:
        return [
            {
                "preset": preset,
                "model": model,
                "engine": engine,
                "threads": obj.get("threads"),
                **{k: v for k, v in numbers.items() if k in BENCH_KEYS},
            }
            for preset, models in results.items()
            for model, entry in models.items()
            for engine, numbers in entry["engines"].items()
        ]
    except (AttributeError, KeyError, TypeError):
        return obj if isinstance(obj, list) else [obj]
