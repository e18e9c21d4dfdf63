"""The study: profiles, notebook configs, the runs the notebooks start, tables, figures' data,
papermill execution and the HTML report. It calls the experiment layer, never argv.

A study executes the notebooks 00-05 in order on one dataset, and keeps everything in one folder
(default `runs/study-<profile>/`):

    <study>/data/                           SignWorld, unless `--data` names another root
    <study>/runs/teacher-e20-p3-min12-seed0/ training runs (crkd_core run folders)
    <study>/runs/crkd-s16-e8-seed0/         LRINet with KD (both terms, feature KD at scale)
    <study>/runs/nokd-s16-e8-seed0/         LRINet without KD
    <study>/runs/ablation/s16-logit-e4-seed0/  other grid points (both/none are named as above)
    <study>/runs/ablation/s32-both-a10-b1-e6-seed0/  a point of the KD-weight sweep
    <study>/teacher-cache/                  the frozen teacher's outputs, shared by the students
                                            of a seed (removed once every notebook is done)
    <study>/<notebook>/                     config.json, results (*.json), executed notebook
    <study>/reports/                        the HTML report (unless published elsewhere)
    <study>/study.json                      provenance and the status of every notebook

Modules: `profiles` (study sizes), `paths`, `configs` (one per notebook), `training` (01, 02),
`tables`, `grid` (03), `attribution` (04), `efficiency` (05), `explore` (00), `session` (a
notebook's first call), `notebooks` (papermill), `report` (HTML), `run` (the whole study).
Notebooks use the names below (`study.session()`, `study.headline(...)`).

The facade is lazy: a name loads its module on first use, so `import crkd_core.study.profiles`
(the study's names) stays cheap, without torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

# module -> the names that notebooks use from it
_FACADE = {
    "attribution": ("attribute_sentences", "attribution_figures", "attribution_ids", "explorer"),
    "compare": ("Question", "answers", "answers_table", "distill_answers", "grid_answers"),
    "configs": (
        "AblationConfig",
        "AttributionConfig",
        "DistillConfig",
        "EfficiencyConfig",
        "ExploreConfig",
        "NotebookConfig",
        "TeacherConfig",
        "parse_shard",
    ),
    "efficiency": ("benchmark_results", "efficiency", "latency_rows"),
    "explore": (
        "Segment",
        "Sentence",
        "browser",
        "dataset_tables",
        "gloss_groups",
        "gloss_timeline",
        "is_signworld",
        "load_sentence",
        "sentence_ids",
    ),
    "grid": (
        "PointStatus",
        "available_cpus",
        "check_grid",
        "grid_points",
        "grid_rows",
        "point_config",
        "run_grid",
        "run_point",
        "status_table",
        "sweep_points",
        "sweep_rows",
    ),
    "paths": ("REPO_ROOT", "GridPoint", "StudyPaths", "display_path", "resolve_path"),
    "profiles": (
        "KD_SETTINGS",
        "NEEDS",
        "NOTEBOOKS",
        "STUDY_PROFILES",
        "GridBlock",
        "KDSetting",
        "StudyError",
        "StudyProfile",
    ),
    "session": ("cell_parameters", "grid_logs", "session"),
    "tables": (
        "add_fps",
        "confusions",
        "evaluate_split",
        "headline",
        "measure_runs",
        "plateau_table",
        "predictions",
        "signworld_floor",
        "summarise",
        "wer_table",
    ),
    "training": (
        "MODEL_LABELS",
        "STUDENT_KINDS",
        "ensure_data",
        "read_log",
        "require_complete",
        "train_students",
        "train_teachers",
    ),
}
_HOME = {name: module for module, names in _FACADE.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> object:
    """A facade name loads its module on first use; a module's name (`study.tables`) that."""
    if name in _HOME:
        value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Facade(types.ModuleType):
    """`study.session` and `study.efficiency` are functions in modules of the same name:
    importing such a module binds it to the package's attribute, so keep the function there."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and _HOME.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade
