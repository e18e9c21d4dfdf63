"""The study: profiles, notebook configs, the runs the notebooks start, tables, figures' data,
papermill execution and the HTML report. It calls the experiment layer, never argv.

A study executes the notebooks 00-05 in order on one dataset, and keeps everything in one folder
(default `runs/study-<profile>/`):

    <study>/data/                           SignWorld, unless `--data` names another root
    <study>/runs/teacher-e20-p3-min12-seed0/ training runs (crkd_core run folders)
    <study>/runs/crkd-s32-e30-p3-min8-seed0/ LRINet with CRKD (both terms, feature KD at scale)
    <study>/runs/nokd-s32-e30-p3-min8-seed0/ LRINet without KD
    <study>/runs/recover-s32-e30-p3-min8-seed0/  CRKD with recovered maps (ResKD)
    <study>/runs/ablation/s16-both-e30-p3-min8-seed0/  other grid points
    <study>/runs/ablation/s32-both-a10-b1-e30-p3-min8-seed0/  a point of the KD-weight sweep
    <study>/teacher-cache/                  the frozen teachers' outputs, shared by the students
                                            of a teacher (removed once every notebook is done)
    <study>/<notebook>/                     config.json, results (*.json), executed notebook
    <study>/reports/                        the HTML report, study.json and headline.tex
                                            (unless published elsewhere)
    <study>/study.json                      provenance, notebooks, answers and headline runs

Modules: `profiles` (study sizes), `paths`, `configs` (one per notebook), `training` (01, 02),
`tables`, `compare` (the answers: nested bootstrap), `convergence` (the not-converged flag),
`text` (prose drawn from the profile), `grid` (03), `attribution` (04), `efficiency` (05),
`explore` (00), `session` (a notebook's first call), `notebooks` (papermill), `report`,
`pages`, `index` and `published` (HTML, study.json, headline.tex), `run` (the whole study).
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
    "compare": (
        "QUESTIONS",
        "ArmErrors",
        "Question",
        "answers_table",
        "arm_errors",
        "distill_answers",
        "teacher_gaps",
    ),
    "configs": (
        "AblationConfig",
        "AttributionConfig",
        "DistillConfig",
        "EfficiencyConfig",
        "ExploreConfig",
        "NotebookConfig",
        "TeacherConfig",
        "parse_shard",
        "view_sizes",
    ),
    "convergence": ("Convergence", "convergence", "headline_runs", "runs_table"),
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
        "status_table",
        "sweep_points",
        "sweep_rows",
    ),
    "paths": ("REPO_ROOT", "GridPoint", "StudyPaths", "display_path", "resolve_path"),
    "profiles": (
        "HEADLINE_ARMS",
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
    "text": (
        "distill_text",
        "headline_frame",
        "rule_text",
        "scale_recover_text",
        "teacher_text",
        "views_text",
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
