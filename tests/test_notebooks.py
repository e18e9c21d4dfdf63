"""The notebooks: in sync with their sources, parameterised as papermill expects, and (slow)
every one of them executed by `crkd study --profile smoke` into tmp_path, with its results and
figures checked. Fast tests of the study's profile table, configs and grid come first.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from crkd_core import study
from crkd_core.cli import main
from crkd_core.errors import ConfigError
from crkd_core.io import read_json
from crkd_core.plots import PLOTLY_MIME, pareto_front
from crkd_core.study import configs
from crkd_core.study.profiles import PROFILE_ORDER

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {name: ROOT / "notebooks" / f"{name}.ipynb" for name in study.NOTEBOOKS}


# -- the notebooks as files --------------------------------------------------------------------
def test_notebooks_match_their_sources():
    spec = importlib.util.spec_from_file_location(
        "sync_notebooks", ROOT / "tools" / "sync_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python tools/sync_notebooks.py"


@pytest.mark.parametrize("name", study.NOTEBOOKS)
def test_parameters_cell_holds_typed_commented_literals(name):
    nb = nbformat.read(str(NOTEBOOKS[name]), as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    cell = nb.cells[tagged[0]]
    for node, line in zip(ast.parse(cell.source).body, cell.source.splitlines(), strict=True):
        assert isinstance(node, ast.AnnAssign), line  # `name: type = literal  # comment`
        ast.literal_eval(node.value)
        assert "  # " in line, f"no comment: {line}"
    following = next(c for c in nb.cells[tagged[0] + 1 :] if c.cell_type == "code")
    assert "Config.build(" in following.source and "cfg.save()" in following.source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", study.NOTEBOOKS)
def test_parameters_cell_declares_its_configs_fields_once(name):
    """The cell's names are its config's fields, passed by `cell_parameters` (not spelled again),
    with the field's default where it has one (`interactive`: True in Lab, False for papermill)."""
    nb = nbformat.read(str(NOTEBOOKS[name]), as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = {n.target.id: ast.literal_eval(n.value) for n in ast.parse(nb.cells[index].source).body}
    following = next(c for c in nb.cells[index + 1 :] if c.cell_type == "code").source
    config = next(c for c in vars(configs).values() if getattr(c, "NOTEBOOK", "") == name)
    assert f"{config.__name__}.build(**study.cell_parameters(" in following
    fields = {f.name: f for f in dataclasses.fields(config)}
    assert set(cell) <= set(fields), set(cell) - set(fields)
    for key, value in cell.items():
        f = fields[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if key != "interactive" and default is not dataclasses.MISSING:
            assert value == default, (
                f"{key}: {value!r} in the cell, {default!r} in {config.__name__}"
            )
    assert study.cell_parameters(config, {**cell, "study": study}) == cell


# -- profiles, configs and the grid ------------------------------------------------------------
def test_profiles_and_their_order():
    assert set(study.STUDY_PROFILES.names()) == {"smoke", "default", "ablation", "full"}
    assert PROFILE_ORDER == ("smoke", "default", "ablation", "full")  # smallest first
    for name in PROFILE_ORDER:
        plan = study.STUDY_PROFILES.get(name)
        assert set(plan.seeds) <= set(plan.teacher_seeds), name  # each student has its teacher
    default = study.STUDY_PROFILES.get("default")
    assert default.teacher_seeds == (0, 1, 2) and default.seeds == (0, 1, 2)
    assert (default.student_size, default.grid, default.kd_weights) == (32, (), ())
    assert default.student_patience and default.student_min_epochs < default.student_epochs
    ablation = study.STUDY_PROFILES.get("ablation")
    assert ablation.kd_weights and {s for b in ablation.grid for s in b.settings} == {
        "feature-scale",
        "logit",
        "both-t2",
        "both-gloss",
        "none",
        "both",
    }
    assert 16 in {size for b in ablation.grid for size in b.sizes}
    smoke = study.STUDY_PROFILES.get("smoke")
    assert smoke.teacher_seeds == (0, 1) and smoke.student_epochs == 1


def test_the_headline_is_in_every_grid_and_the_ablation_adds_its_rows():
    cfg = study.AblationConfig.build(profile="default", data="/tmp/d", study_dir="/tmp/s")
    points = study.grid_points(cfg)
    # the recovered-map student at 36 px, at the scale student's cost
    assert {(p.size, p.setting) for p in points} == {
        (32, "none"),
        (32, "both"),
        (36, "both-recover"),
    }
    assert sorted({p.seed for p in points}) == [0, 1, 2]
    assert {(p.epochs, p.patience, p.min_epochs) for p in points} == {(20, 3, 14)}
    # 03's headline points are 02's runs (one folder each, never an ablation/ one)
    assert all(cfg.paths.point(p).parent.name == "runs" for p in points)
    ablation = study.AblationConfig.build(profile="ablation", data="/tmp/d", study_dir="/tmp/s")
    more = [p for p in study.grid_points(ablation) if p not in points]
    assert sorted(p.name for p in more) == [
        "s16-both-e20-p3-min14-seed0",
        "s16-none-e20-p3-min14-seed0",
        "s32-both-gloss-e20-p3-min14-seed0",
        "s32-both-t2-e20-p3-min14-seed0",
        "s32-feature-scale-e20-p3-min14-seed0",
        "s32-logit-e20-p3-min14-seed0",
    ]
    assert len(study.sweep_points(ablation)) == 4
    smoke = study.AblationConfig.build(profile="smoke", data="/tmp/d", study_dir="/tmp/s")
    assert len(study.grid_points(smoke)) == 6  # 2 teachers x the 3 headline arms


def test_a_students_min_epochs_never_exceeds_its_cap():
    cfg = study.DistillConfig.build(profile="default", data="/tmp/d", study_dir="/tmp/s", epochs=5)
    p = cfg.point("both", 0)
    assert (p.epochs, p.patience, p.min_epochs) == (5, 3, 5)
    assert cfg.student_run("recover", 1).name == "recover-s36-e5-p3-min5-seed1"


def test_config_takes_profile_values_for_unset_parameters(tmp_path):
    cfg = study.DistillConfig.build(
        profile="smoke", data="d", study_dir=str(tmp_path), epochs=0, seeds=[], teacher_epochs=3
    )
    assert cfg.epochs == 1 and cfg.seeds == [0, 1] and cfg.teacher_epochs == 3
    assert Path(cfg.data).is_absolute()
    saved = read_json(cfg.save())
    assert saved["config"]["epochs"] == 1 and saved["profile_table"]["name"] == "smoke"
    with pytest.raises(ConfigError):
        study.AblationConfig.build(
            profile="smoke", data="d", study_dir="s", settings=["x"], sizes=[16]
        )
    with pytest.raises(ConfigError):
        study.TeacherConfig.build(profile="huge", data="d", study_dir="s")


@pytest.mark.parametrize(
    "weights, message",
    [
        ([[10]], "each entry is"),
        ([[10, -1]], "each entry is"),
        ([["10", 5]], "kd_weights"),
        ([[0, 0]], "no KD"),
        ([[10, 5], [10.0, 5.0]], "twice"),
    ],
)
def test_kd_weight_sweep_refuses_bad_pairs(weights, message):
    with pytest.raises(ConfigError, match=message):
        study.AblationConfig.build(profile="smoke", data="d", study_dir="s", kd_weights=weights)


def test_kd_weight_sweep_points_are_named_by_their_weights(tmp_path):
    (tmp_path / "d").mkdir()
    cfg = study.AblationConfig.build(
        profile="default",
        data=str(tmp_path / "d"),
        study_dir=str(tmp_path),
        kd_weights=[[10, 5], [30, 1]],
        sweep_seeds=[1],
    )
    cfg.teacher_run(1).mkdir(parents=True)
    (cfg.teacher_run(1) / "checkpoint.json").write_text("{}")
    points = study.sweep_points(cfg)
    assert [p.name for p in points] == [
        "s32-both-a10-b5-e20-p3-min14-seed1",
        "s32-both-a30-b1-e20-p3-min14-seed1",
    ]
    assert all(cfg.paths.point(p).parent.name == "ablation" for p in points)  # never 02's run
    run = study.point_config(cfg, points[0], threads=1)
    # the sweep's [alpha, beta] pair is the feature and logit terms' weights (logit's T: 8)
    terms = {"feature": {"weight": 10.0}, "logit": {"weight": 5.0, "T": 8.0}}
    assert (run.kd_terms(), run.kd_label, run.variant) == (terms, "both", "scale")
    assert run.teacher_cache == cfg.paths.teacher_cache
    with pytest.raises(ConfigError, match="sweep_seeds"):
        study.AblationConfig.build(profile="default", data="d", study_dir="s", sweep_seeds=[7])


def test_shards_partition_the_grid_and_partial_points_resume(tmp_path):
    base = dict(profile="default", data=str(tmp_path / "d"), study_dir=str(tmp_path))
    names = []
    for i in (1, 2, 3):
        cfg = study.AblationConfig.build(**base, shard=f"{i}/3", run=False)
        i_, n = study.parse_shard(cfg.shard)
        names += [p.name for k, p in enumerate(study.grid_points(cfg)) if k % n == i_ - 1]
    assert sorted(names) == sorted(p.name for p in study.grid_points(cfg))
    p = study.grid_points(cfg)[0]
    (tmp_path / "d").mkdir()
    (cfg.teacher_run(p.seed)).mkdir(parents=True)
    (cfg.teacher_run(p.seed) / "checkpoint.json").write_text("{}")
    assert not study.point_config(cfg, p, 1).resume
    cfg.paths.point(p).mkdir(parents=True)
    (cfg.paths.point(p) / "config.json").write_text("{}")
    assert study.point_config(cfg, p, 1).resume


def test_benchmark_results_are_tabulated(tmp_path):
    assert study.benchmark_results(tmp_path) is None
    engines = {"eager": {"fps": 10.0, "ms_per_frame": 100.0}, "ort-fp32": {"fps": 20.0}}
    report = {"threads": 2, "results": {"cpu": {"teacher": {"engines": engines}}}}
    (tmp_path / "latency-1.json").write_text(json.dumps(report))
    (tmp_path / "other.json").write_text(json.dumps({"a": {"b": 1}}))
    df = study.benchmark_results(tmp_path)
    assert len(df) == 3 and set(df["engine"].dropna()) == {"eager", "ort-fp32"}
    assert "a.b" in df


def test_pareto_front():
    x, y = [1.0, 2.0, 3.0, 4.0], [30.0, 25.0, 28.0, 20.0]
    assert pareto_front(x, y, higher_x_better=False) == [0, 1, 3]
    assert pareto_front(x, y, higher_x_better=True) == [3]


# -- every notebook under papermill (slow) -----------------------------------------------------
@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    rc = main(
        [
            "study",
            "--profile",
            "smoke",
            "--out",
            str(root / "study"),
            "--reports",
            str(root / "reports"),
            "--jobs",
            "2",  # 02's students and 03's points as parallel processes
        ]
    )
    return root, rc


def executed(root: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(str(root / "study" / name / f"{name}.ipynb"), as_version=4)


def plotly_figures(nb) -> list[dict]:
    return [
        o["data"][PLOTLY_MIME]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if PLOTLY_MIME in o.get("data", {})
    ]


def errors(nb) -> list[str]:
    return [
        f"{o['ename']}: {o['evalue']}"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


MIN_FIGURES = {
    "00_explore_data": 2,
    "01_train_teacher": 2,
    "02_distill_student": 3,
    "03_resolution_ablation": 1,
    "04_attribution": 2,
    "05_efficiency": 2,
}
RESULTS = {
    "01_train_teacher": "wer",
    "02_distill_student": "headline",
    "03_resolution_ablation": "grid",
    "04_attribution": "attribution",
    "05_efficiency": "efficiency",
}


@pytest.mark.slow
def test_smoke_study_succeeds(smoke_study):
    root, rc = smoke_study
    index = (root / "reports" / "index.html").read_text("utf-8")
    assert rc == 0, index[-3000:]
    assert "FAILED" not in index and "Plotly.newPlot" in index
    for name in study.NOTEBOOKS:
        assert (root / "reports" / f"{name}.html").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", study.NOTEBOOKS)
def test_notebook_outputs(smoke_study, name):
    root, _ = smoke_study
    nb = executed(root, name)
    assert errors(nb) == []
    assert len(plotly_figures(nb)) >= MIN_FIGURES[name]
    folder = root / "study" / name
    assert read_json(folder / "config.json")["config"]["profile"] == "smoke"
    if name in RESULTS:
        assert json.loads((folder / f"{RESULTS[name]}.json").read_text())


@pytest.mark.slow
def test_training_runs_are_complete_and_reused(smoke_study):
    root, _ = smoke_study
    runs = sorted((root / "study" / "runs").glob("*-seed[01]"))
    points = sorted((root / "study" / "runs" / "ablation").glob("s*-seed0"))
    # the nested headline: 2 teachers, each with its own CRKD, no-KD and recover student; 03
    # reuses them all and the KD-weight sweep adds one point
    assert [r.name for r in runs] == [
        f"{kind}-seed{seed}"
        for kind in ("crkd-s16-e1", "nokd-s16-e1", "recover-s16-e1", "teacher-e1")
        for seed in (0, 1)
    ]
    assert [p.name for p in points] == ["s16-both-a10-b5-e1-seed0"]
    for run in runs + points:
        assert read_json(run / "metrics.json")["complete"] is True
    # 02's CRKD run computed its teacher's outputs; the other KD runs of the seed read them back
    crkd = read_json(root / "study" / "runs" / "crkd-s16-e1-seed0" / "metrics.json")
    assert crkd["teacher_cache_misses"] > 0
    for run in [root / "study" / "runs" / "recover-s16-e1-seed0", *points]:
        m = read_json(run / "metrics.json")
        assert m["teacher_cache_misses"] == 0, run.name
        assert m["teacher_cache_hits"] == crkd["teacher_cache_misses"], run.name
    assert read_json(root / "study" / "runs" / "crkd-s16-e1-seed1" / "metrics.json")[
        "teacher_run"
    ].endswith("teacher-e1-seed1")  # each student learns from its own teacher
    assert not (root / "study" / "teacher-cache").exists()  # removed once the study is done
    # LRINet without KD trained beside the teachers (--jobs 2), the KD runs of 02 and 03 in one
    # queue after them (each teacher's CRKD first, filling its cache), and the notebooks reused
    # them all
    extra = read_json(root / "study" / "study.json")["provenance"]["extra"]
    assert extra["LRINet runs trained ahead of 02 and 03"] == (
        "done: s16-none-e1-seed0, s16-none-e1-seed1, s16-both-e1-seed0, "
        "s16-both-recover-e1-seed0, s16-both-e1-seed1, s16-both-recover-e1-seed1, "
        "s16-both-a10-b5-e1-seed0"
    )
    assert (
        read_json(root / "study" / "runs" / "nokd-s16-e1-seed0" / "metrics.json")["teacher_run"]
        == ""
    )
    sweep = read_json(root / "study" / "03_resolution_ablation" / "sweep.json")
    assert [(r["alpha"], r["beta"]) for r in sweep] == [(10.0, 5.0)]
    headline = read_json(root / "study" / "02_distill_student" / "headline.json")
    assert {r["model"] for r in headline} == set(study.MODEL_LABELS.values())
    assert all(r["fps"] > 0 and r["gmacs_per_frame"] > 0 for r in headline)
    assert all(r["seed_list"] == [0, 1] for r in headline)


@pytest.mark.slow
def test_the_smoke_study_publishes_its_answers_runs_and_headline_table(smoke_study):
    root, _ = smoke_study
    record = read_json(root / "reports" / "study.json")
    assert record["provenance"]["teacher_seeds"] == [0, 1]
    assert record["provenance"]["wall_seconds"] > 0
    assert set(record["answers"]) == {"crkd_vs_teacher", "crkd_vs_nokd", "scale_vs_recover"}
    for a in record["answers"].values():
        assert a["ci_low"] <= a["difference"] <= a["ci_high"] and a["n_teachers"] == 2
    assert record["answers"]["crkd_vs_nokd"]["n_students"] == 4
    runs = record["runs"]
    assert len(runs) == 8 and {r["arm"] for r in runs} == {"teacher", "crkd", "nokd", "recover"}
    assert all(r["teacher_seed"] == r["seed"] for r in runs)
    assert all(not r["converged"] and r["best_epoch"] == r["epochs"] == 1 for r in runs)
    index = (root / "reports" / "index.html").read_text("utf-8")
    assert "8 of 8 runs did not converge" in index
    assert all(html.escape(a["answer"]) in index for a in record["answers"].values())
    table = (root / "reports" / "headline.tex").read_text("utf-8")
    assert table.count(r"\\") == 5  # the header and the 4 arms
    page = (root / "reports" / "02_distill_student.html").read_text("utf-8")
    assert "LRINet 16 px" in page and "2 teacher(s)" in page  # drawn from the profile


@pytest.mark.slow
def test_published_artifacts_hold_no_machine_paths(smoke_study):
    """study.json and every page name paths relative to the repository or the study folder."""
    root, _ = smoke_study
    machine = {str(root), str(ROOT), str(Path.home())}
    for page in [*(root / "reports").glob("*.html"), root / "reports" / "study.json"]:
        text = page.read_text("utf-8")
        leaked = [m for m in machine if m in text]
        assert not leaked, f"{page.name} names {leaked}"


@pytest.mark.slow
def test_a_failing_notebook_is_reported_and_fails_the_study(smoke_study, tmp_path):
    root, _ = smoke_study
    out, reports = tmp_path / "study", tmp_path / "reports"
    argv = ["study", "--profile", "smoke", "--data", str(root / "study" / "data")]
    argv += ["--out", str(out), "--reports", str(reports)]
    rc = main([*argv, "--only", "02_distill_student,04_attribution"])  # no teacher: 02 fails
    assert rc == 1
    index = (reports / "index.html").read_text("utf-8")
    assert "FAILED" in index and "SKIPPED" in index and "StudyError" in index
    assert "did not finish" in (reports / "02_distill_student.html").read_text("utf-8")
    assert not (reports / "04_attribution.html").exists()


@pytest.mark.parametrize(
    "epochs_run, best, verdict",
    [(12, 9, "plateaued: the rule stopped it"), (20, 16, "plateaued: 4 last"), (20, 19, "not")],
)
def test_plateau_table_says_whether_the_teacher_plateaued(monkeypatch, epochs_run, best, verdict):
    from types import SimpleNamespace

    from crkd_core.study import tables

    record = SimpleNamespace(epochs_run=epochs_run, epochs=20, best_epoch=best, best_dev_wer=49.2)
    monkeypatch.setattr(tables.RunRecord, "read", staticmethod(lambda run: record))
    # its log: one point better each epoch up to the best, then one point worse
    curve = [60.0 - e if e <= best else 61.0 - best for e in range(1, epochs_run + 1)]
    monkeypatch.setattr(tables, "dev_wers", lambda run: curve)
    table = study.plateau_table({"teacher seed 0": Path("t")}, patience=3)
    assert table.loc[0, "verdict"].startswith(verdict)
    assert table.loc[0, "rule"] == "3 epochs, 0.5 points"
    delayed = study.plateau_table({"teacher seed 0": Path("t")}, patience=3, min_epochs=12)
    assert delayed.loc[0, "rule"] == "3 epochs, 0.5 points, not before epoch 12"


def test_a_teachers_run_name_holds_its_stopping_rule(tmp_path):
    from crkd_core.study.paths import StudyPaths

    paths = StudyPaths(tmp_path)
    assert paths.teacher(20, 0).name == "teacher-e20-seed0"
    assert paths.teacher(20, 0, 3).name == "teacher-e20-p3-seed0"
    assert paths.teacher(20, 1, 3, 12).name == "teacher-e20-p3-min12-seed1"
