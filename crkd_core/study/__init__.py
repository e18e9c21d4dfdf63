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
Notebooks use the names below.
"""

from .attribution import attribute_sentences, attribution_figures, attribution_ids, explorer
from .compare import Question, answers, answers_table, distill_answers, grid_answers
from .configs import (
    AblationConfig,
    AttributionConfig,
    DistillConfig,
    EfficiencyConfig,
    ExploreConfig,
    NotebookConfig,
    TeacherConfig,
    parse_shard,
)
from .efficiency import benchmark_results, efficiency, latency_rows
from .explore import (
    Segment,
    Sentence,
    browser,
    dataset_tables,
    gloss_groups,
    gloss_timeline,
    is_signworld,
    load_sentence,
    sentence_ids,
)
from .grid import (
    PointStatus,
    available_cpus,
    check_grid,
    grid_points,
    grid_rows,
    point_config,
    run_grid,
    run_point,
    status_table,
    sweep_points,
    sweep_rows,
)
from .paths import REPO_ROOT, GridPoint, StudyPaths, display_path, resolve_path
from .profiles import (
    KD_SETTINGS,
    NEEDS,
    NOTEBOOKS,
    STUDY_PROFILES,
    GridBlock,
    KDSetting,
    StudyError,
    StudyProfile,
)
from .session import grid_logs, session
from .tables import (
    add_fps,
    confusions,
    evaluate_split,
    headline,
    measure_runs,
    plateau_table,
    predictions,
    signworld_floor,
    summarise,
    wer_table,
)
from .training import (
    MODEL_LABELS,
    STUDENT_KINDS,
    ensure_data,
    read_log,
    require_complete,
    train_students,
    train_teachers,
)

__all__ = [
    "Question",
    "answers",
    "answers_table",
    "distill_answers",
    "grid_answers",
    "AblationConfig",
    "add_fps",
    "attribute_sentences",
    "attribution_figures",
    "attribution_ids",
    "AttributionConfig",
    "available_cpus",
    "benchmark_results",
    "browser",
    "check_grid",
    "confusions",
    "dataset_tables",
    "display_path",
    "DistillConfig",
    "efficiency",
    "EfficiencyConfig",
    "ensure_data",
    "explorer",
    "evaluate_split",
    "ExploreConfig",
    "gloss_groups",
    "gloss_timeline",
    "grid_logs",
    "grid_points",
    "grid_rows",
    "GridBlock",
    "GridPoint",
    "headline",
    "is_signworld",
    "KD_SETTINGS",
    "KDSetting",
    "latency_rows",
    "load_sentence",
    "measure_runs",
    "MODEL_LABELS",
    "NEEDS",
    "NotebookConfig",
    "NOTEBOOKS",
    "parse_shard",
    "point_config",
    "PointStatus",
    "plateau_table",
    "predictions",
    "read_log",
    "REPO_ROOT",
    "require_complete",
    "resolve_path",
    "run_grid",
    "run_point",
    "Segment",
    "Sentence",
    "sentence_ids",
    "session",
    "signworld_floor",
    "status_table",
    "sweep_points",
    "sweep_rows",
    "STUDENT_KINDS",
    "STUDY_PROFILES",
    "StudyError",
    "StudyPaths",
    "StudyProfile",
    "summarise",
    "TeacherConfig",
    "train_students",
    "train_teachers",
    "wer_table",
]
