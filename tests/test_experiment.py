"""The experiment layer: typed configs checked before any work, the run record, the run folder,
and the defects that the old tangle hid (silent defaults, dropped micro-batches, argv in
command.txt, cost counting that moved the model)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from crkd_core import api
from crkd_core.cli import main
from crkd_core.cost import gmacs_per_frame
from crkd_core.data.dataset import Batch
from crkd_core.data.vocab import Vocab
from crkd_core.distributed import DistEnv
from crkd_core.errors import CheckpointError, ConfigError, FileFormatError
from crkd_core.experiment import (
    EvalConfig,
    RunDir,
    RunRecord,
    Score,
    StudentRunConfig,
    TeacherRunConfig,
)
from crkd_core.experiment.train import stale_settings
from crkd_core.io import read_json
from crkd_core.models import build_teacher
from crkd_core.tasks import CTCTask
from crkd_core.trainer import TrainConfig, Trainer, plateau_epoch

from .helpers import write_phoenix

ROWS = {
    "train": [("v1", "A B"), ("v2", "B C A"), ("v3", "C A")],
    "dev": [("v4", "A C")],
    "test": [("v5", "B")],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny dataset, a one-epoch teacher (from the API) and a student (from the CLI)."""
    root = tmp_path_factory.mktemp("exp")
    data = write_phoenix(root / "data", ROWS)
    teacher = root / "teacher"
    api.train_teacher(data=data, out=teacher, epochs=1, cache_dir=str(root / "cache"))
    student = root / "student"
    argv = ["distill", "--data", str(data), "--teacher", str(teacher), "--out", str(student)]
    assert main([*argv, "--epochs", "1", "--cache-dir", str(root / "cache")]) == 0
    return root, data, teacher, student


BAD_VALUES = [
    ("epochs", 0),
    ("lr", 0.0),
    ("lr", -0.1),
    ("batch_size", 0),
    ("grad_accum", 0),
    ("beam_width", 0),
    ("threads", -1),
    ("num_workers", -1),
    ("device", "tpu"),
    ("frame_cache", "ram"),
    ("preset", "huge"),
    ("seed", "zero"),
]


@pytest.mark.parametrize("key, value", BAD_VALUES, ids=[f"{k}={v}" for k, v in BAD_VALUES])
def test_teacher_config_refuses_bad_values_before_any_work(tmp_path, key, value):
    (tmp_path / "data").mkdir()
    with pytest.raises(ConfigError, match=key.replace("_", "-")):
        TeacherRunConfig(data=tmp_path / "data", out=tmp_path / "run", **{key: value})
    assert not (tmp_path / "run").exists()


STUDENT_BAD = [("student_size", 0), ("alpha", -10.0), ("beta", -1.0), ("temperature", 0.0)]


@pytest.mark.parametrize("key, value", STUDENT_BAD, ids=[f"{k}={v}" for k, v in STUDENT_BAD])
def test_student_config_refuses_bad_values(runs, tmp_path, key, value):
    _, data, teacher, _ = runs
    with pytest.raises(ConfigError, match=key.replace("_", "-")):
        StudentRunConfig(data=data, teacher=teacher, out=tmp_path / "s", **{key: value})


CLI_BAD = [
    ["train-teacher", "--epochs", "0"],
    ["train-teacher", "--lr", "0"],
    ["train-teacher", "--lr", "-0.1"],
    ["train-teacher", "--batch-size", "0"],
    ["train-teacher", "--grad-accum", "0"],
    ["train-teacher", "--min-epochs", "0"],
    ["train-teacher", "--beam-width", "0"],
    ["train-teacher", "--threads", "-1"],
    ["distill", "--teacher", "T", "--student-size", "0"],
    ["distill", "--teacher", "T", "--alpha", "-10"],
    ["evaluate", "--run", "R", "--beam-width", "0"],
    ["evaluate", "--run", "R", "--batch-size", "0"],
    ["evaluate", "--run", "R", "--threads", "-1"],
]


@pytest.mark.parametrize("argv", CLI_BAD, ids=[" ".join(a) for a in CLI_BAD])
def test_cli_refuses_bad_numbers_at_parse_time(tmp_path, capsys, argv):
    command, *rest = argv
    out = [] if command == "evaluate" else ["--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exc:
        main([command, "--data", str(tmp_path), *out, *rest])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {rest[-2]}" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


MIN_EPOCHS_BAD = [
    ({"min_epochs": 5}, "--min-epochs needs --patience"),
    ({"min_epochs": 5, "patience": 3, "epochs": 4}, r"--min-epochs \(5\) must not exceed"),
]


@pytest.mark.parametrize("kwargs, message", MIN_EPOCHS_BAD, ids=["no patience", "past epochs"])
def test_min_epochs_is_refused_where_it_means_nothing(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TeacherRunConfig(data=tmp_path, out=tmp_path / "r", **kwargs)
    assert not (tmp_path / "r").exists()


def test_preset_defaults_are_resolved_in_one_place(tmp_path):
    cfg = TeacherRunConfig(data=tmp_path, out=tmp_path / "r")
    train = cfg.train_config()
    p = cfg.preset_spec
    assert (train.epochs, train.batch_size, train.lr) == (p.epochs, p.batch_size, p.lr)
    assert TeacherRunConfig(data=tmp_path, out=tmp_path / "r", epochs=3).train_config().epochs == 3


def test_lrinet_without_kd_trains_without_a_teacher(runs, capsys):
    root, data, teacher, _ = runs
    alone = root / "alone"
    argv = ["distill", "--data", str(data), "--out", str(alone), "--kd", "none", "--epochs", "1"]
    assert main([*argv, "--cache-dir", str(root / "cache")]) == 0
    meta, tmeta = (read_json(r / "checkpoint.json") for r in (alone, teacher))
    assert meta["vocab"] == tmeta["vocab"]  # the glosses a teacher of the data would have
    view = {k: v for k, v in meta["view"].items() if k != "student_size"}
    assert view == {k: v for k, v in tmeta["view"].items() if k != "student_size"}
    assert read_json(alone / "metrics.json")["teacher_run"] == ""
    capsys.readouterr()
    out = root / "needs-teacher"
    bad = ["distill", "--data", str(data), "--out", str(out), "--kd", "both"]
    assert main(bad) == 2
    assert "--kd both needs --teacher" in capsys.readouterr().err
    assert not out.exists()


def test_lrinet_takes_the_presets_student_learning_rate(runs):
    root, data, teacher, _ = runs
    cfg = StudentRunConfig(data=data, teacher=teacher, out=root / "s")
    assert cfg.train_config().lr == cfg.preset_spec.student_lr == 6e-3
    assert TeacherRunConfig(data=data, out=root / "t").train_config().lr == 1e-3
    lr = StudentRunConfig(data=data, teacher=teacher, out=root / "s", lr=5e-4).train_config().lr
    assert lr == 5e-4


def test_a_student_can_start_from_its_teachers_head_at_its_own_learning_rate(runs):
    from crkd_core.checkpoint import load_model
    from crkd_core.experiment.train import student_job
    from crkd_core.trainer import param_groups

    root, data, teacher, _ = runs
    cfg = StudentRunConfig(
        data=data, teacher=teacher, out=root / "h", head_init="teacher", head_lr=1.5e-3
    )
    model = student_job(cfg).task.model
    taught = load_model(teacher)[0].head.state_dict()
    assert all(torch.equal(v, taught[k]) for k, v in model.head.state_dict().items())
    scale = cfg.train_config().head_lr_scale
    assert scale == pytest.approx(1.5e-3 / 6e-3)
    params = list(model.parameters())
    groups = param_groups(model, params, scale)
    assert [g["lr_scale"] for g in groups] == [1.0, scale]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.head.parameters()}
    assert sum(len(g["params"]) for g in groups) == len(params)
    with pytest.raises(ConfigError, match="--head-init teacher .* give --teacher"):
        StudentRunConfig(data=data, kd="none", out=root / "x", head_init="teacher")


def test_api_paths_become_paths_and_unknown_options_are_refused(tmp_path):
    cfg = TeacherRunConfig(data=str(tmp_path), out="r", cache_dir="c")
    assert isinstance(cfg.cache_dir, Path) and isinstance(cfg.data, Path)
    with pytest.raises(TypeError, match="epoch"):
        api.train_teacher(data=tmp_path, out=tmp_path / "r", epoch=3)


def test_resume_of_a_folder_that_holds_no_run_is_refused(runs, tmp_path):
    _, data, _, _ = runs
    with pytest.raises(ConfigError, match="cannot --resume: the folder does not exist"):
        api.train_teacher(data=data, out=tmp_path / "nothing", epochs=1, resume=True)
    assert not (tmp_path / "nothing").exists()


def test_reuse_of_a_partial_run_resumes_it(runs, tmp_path):
    """`reuse=True` on a partial run plus `resume=` used to raise 'multiple values'."""
    root, data, teacher, _ = runs
    partial = tmp_path / "partial"
    shutil.copytree(teacher, partial)
    (partial / "metrics.json").unlink()
    record = api.train_teacher(
        data=data, out=partial, epochs=1, reuse=True, resume=True, cache_dir=root / "cache"
    )
    assert isinstance(record, RunRecord) and RunRecord.read(partial) == record
    kept = api.train_teacher(data=data, out=teacher, epochs=1, reuse=True)
    assert kept == RunRecord.read(teacher)


def test_reuse_refuses_a_finished_run_made_with_other_settings(runs):
    """A study rerun after a preset default changed used to report the old runs as new."""
    _, data, teacher, student = runs
    before = (teacher / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match=r"other settings \(train.lr: was 0.001, now 0.01\)"):
        api.train_teacher(data=data, out=teacher, epochs=1, lr=0.01, reuse=True)
    with pytest.raises(ConfigError, match="train.epochs: was 1, now 20"):
        api.train_teacher(data=data, out=teacher, reuse=True)  # the preset's 20 epochs
    assert (teacher / "metrics.json").read_bytes() == before
    same = StudentRunConfig(data=data, teacher=teacher, out=student, epochs=1)
    assert stale_settings(RunDir(student), same) == []
    other = StudentRunConfig(data=data, teacher=teacher, out=student, epochs=1, beta=1.0)
    assert stale_settings(RunDir(student), other) == ["beta: was 5.0, now 1.0"]
    logit_free = StudentRunConfig(
        data=data, teacher=teacher, out=student, epochs=1, kd="feature", beta=1.0
    )  # beta weighs nothing without logit KD: only the KD mode differs
    assert stale_settings(RunDir(student), logit_free) == ["kd: was 'both', now 'feature'"]
    other_teacher = teacher.parent / "another-teacher"
    shutil.copytree(teacher, other_teacher)
    taught_otherwise = StudentRunConfig(data=data, teacher=other_teacher, out=student, epochs=1)
    [message] = stale_settings(RunDir(student), taught_otherwise)
    assert message.startswith("teacher_run: was ") and message.endswith("another-teacher'")
    shutil.rmtree(other_teacher)


def test_a_setting_added_later_counts_at_its_default_when_reusing(runs):
    """Runs made before `--min-epochs` existed have no `train.min_epochs`: they ran with 0."""
    _, data, teacher, _ = runs
    config = teacher / "config.json"
    saved = config.read_bytes()
    try:
        old = json.loads(saved)
        del old["train"]["min_epochs"]
        config.write_text(json.dumps(old))
        same = TeacherRunConfig(data=data, out=teacher, epochs=1)
        assert stale_settings(RunDir(teacher), same) == []
        later = TeacherRunConfig(data=data, out=teacher, epochs=1, patience=1, min_epochs=1)
        assert stale_settings(RunDir(teacher), later) == [
            "train.patience: was None, now 1",
            "train.min_epochs: was 0, now 1",
        ]
    finally:
        config.write_bytes(saved)


def test_command_txt_records_the_real_call(runs):
    _, _, teacher, student = runs
    api_call = (teacher / "command.txt").read_text()
    assert api_call.startswith("crkd_core.api.train_teacher(") and "epochs=1" in api_call
    cli_call = (student / "command.txt").read_text()
    assert cli_call.startswith("crkd distill --data ") and "--epochs 1" in cli_call


def test_resume_accepts_another_spelling_of_the_same_data_folder(runs, tmp_path, monkeypatch):
    root, data, teacher, _ = runs
    run = tmp_path / "again"
    shutil.copytree(teacher, run)
    (run / "metrics.json").unlink()
    monkeypatch.chdir(data.parent)
    api.train_teacher(
        data=Path(data.name), out=run, epochs=1, resume=True, cache_dir=root / "cache"
    )
    assert RunRecord.read(run).epochs == 1


def test_run_record_round_trips_and_names_a_damaged_file(runs, tmp_path):
    _, _, teacher, student = runs
    for run in (teacher, student):
        record = RunRecord.read(run)
        assert RunRecord.from_json(record.to_json(), run) == record
    t, s = RunRecord.read(teacher), RunRecord.read(student)
    assert t.role == "teacher" and t.distill is None and s.distill.feature_kd == "scale"
    raw = read_json(teacher / "metrics.json")
    for damage in ({"wer": "low"}, {"params": None}):
        (tmp_path / "metrics.json").write_text(json.dumps({**raw, **damage}))
        with pytest.raises(FileFormatError, match=r"metrics\.json.*must be"):
            RunRecord.read(tmp_path)
    del raw["preset"]
    (tmp_path / "metrics.json").write_text(json.dumps(raw))
    with pytest.raises(FileFormatError, match=r"metrics\.json.*'preset' is missing"):
        RunRecord.read(tmp_path)


def test_metrics_json_keeps_the_design_keys(runs):
    _, _, teacher, _ = runs
    keys = set(read_json(teacher / "metrics.json"))
    design = {"role", "preset", "input_size", "kd", "seed", "split", "wer", "sub", "del", "ins"}
    design |= {"n_ref", "params", "gmacs_per_frame", "train_seconds", "world_size", "complete"}
    assert design <= keys


def test_a_student_run_is_refused_as_teacher(runs, tmp_path):
    _, data, _, student = runs
    with pytest.raises(CheckpointError, match="names a student run, not a teacher"):
        api.distill(data=data, teacher=student, out=tmp_path / "s2", epochs=1)
    assert not (tmp_path / "s2").exists()


def test_evaluate_refuses_an_unfinished_run_before_writing(runs, tmp_path):
    _, data, teacher, _ = runs
    run = tmp_path / "unfinished"
    shutil.copytree(teacher, run)
    (run / "metrics.json").unlink()
    before = sorted(p.name for p in run.iterdir())
    with pytest.raises(FileFormatError, match="did not finish"):
        api.evaluate(run=run, data=data)
    assert sorted(p.name for p in run.iterdir()) == before  # no CTM, STM or eval JSON


def test_evaluate_takes_a_device(runs):
    _, data, teacher, _ = runs
    e = api.evaluate(run=teacher, data=data, device="cpu")
    assert isinstance(e.score, Score) and e.score.split == "test"
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            api.evaluate(run=teacher, data=data, device="cuda")
    with pytest.raises(ConfigError, match="--device"):
        EvalConfig(run=teacher, data=data, device="gpu")


def tiny_batch() -> Batch:
    return Batch(
        torch.zeros(1, 12, 3, 64, 64),
        torch.tensor([12]),
        torch.tensor([[1, 2]]),
        torch.tensor([2]),
        ["a"],
    )


class _Loader(list):
    """A list of batches with the two hooks the trainer calls on a DataLoader."""

    class _Sampler:
        def set_epoch(self, epoch):
            pass

    class _Dataset:
        def set_epoch(self, epoch):
            pass

    batch_sampler, dataset = _Sampler(), _Dataset()


def test_leftover_micro_batches_make_a_shorter_step(tmp_path):
    """4 micro-batches with --grad-accum 3: 2 optimizer steps, none dropped."""
    task = CTCTask(build_teacher("cpu", 4), "teacher")
    cfg = TrainConfig(epochs=1, batch_size=1, lr=1e-3, grad_accum=3)
    trainer = Trainer(task, cfg, tmp_path, DistEnv(), {}, Vocab.from_glosses("ABC"), False)
    steps = []
    trainer._step = lambda micro: steps.append(len(micro)) or {"total": 1.0}
    trainer.train_one_epoch(_Loader([tiny_batch()] * 4), 0)
    assert steps == [3, 1] and trainer.state.optimizer_steps == 2


def test_cost_counting_keeps_the_model_mode_and_device():
    model = build_teacher("cpu", 5).train()
    before = gmacs_per_frame(model)
    assert model.training and before > 0
    assert gmacs_per_frame(model.eval()) == before and not model.training


@pytest.mark.parametrize(
    "wers, patience, min_epochs, stop",
    [
        ([50, 40, 39.8, 39.9], 2, 0, True),  # 39.8 is within min_delta (0.5) of 40: no progress
        ([50, 40, 39.0, 39.9], 2, 0, False),
        ([50, 40, 41, 42, 43], 3, 0, True),
        ([50, 40, 41, 42, 43], None, 0, False),
        ([50, 40, 41, 42, 43], 3, 6, False),  # a plateau before epoch 6 does not stop it
        ([50, 40, 41, 42, 43, 44], 3, 6, True),  # ... the rule applies from epoch 6 on
        ([50, 40, 41, 42, 43, 30], 3, 6, False),  # the breakthrough it waited for
    ],
)
def test_training_stops_when_dev_wer_plateaus(tmp_path, wers, patience, min_epochs, stop):
    task = CTCTask(build_teacher("cpu", 4), "teacher")
    cfg = TrainConfig(epochs=10, batch_size=1, lr=1e-3, patience=patience, min_epochs=min_epochs)
    trainer = Trainer(task, cfg, tmp_path, DistEnv(), {}, Vocab.from_glosses("ABC"), False)
    trainer.state.history = [{"epoch": i + 1, "dev_wer": w} for i, w in enumerate(wers)]
    assert trainer.plateaued() is stop


def test_the_plateau_rule_names_the_epoch_it_stops_after():
    """A replay of the rule on a SignWorld teacher's dev curve (seed 1, 20 epochs, session 4):
    it sat at 63-67 % for four epochs, then went on to 33 %."""
    curve = [90.9, 79.5, 78.7, 70.1, 63.4, 66.9, 66.9, 67.3, 50.0, 50.8, 51.6, 48.4]
    rule = TrainConfig(epochs=20, batch_size=1, lr=1e-3, patience=3)
    assert plateau_epoch(curve, rule) == 8
    assert plateau_epoch(curve, replace(rule, min_epochs=12)) is None
    assert plateau_epoch(curve, replace(rule, patience=None)) is None


PROFILE_BAD = [
    (["--frames", "0"], "argument --frames: must be >= 8"),
    (["--repeats", "0"], "argument --repeats: must be > 0"),
    (["--threads", "0"], "argument --threads: must be > 0"),
    (["--classes", "1"], "argument --classes: must be >= 2"),
    (["--student-size", "1000"], "--student-size must be between 8 px and the cpu teacher's"),
]


@pytest.mark.parametrize("argv, message", PROFILE_BAD, ids=[" ".join(a) for a, _ in PROFILE_BAD])
def test_profile_refuses_bad_numbers(capsys, argv, message):
    try:
        rc = main(["profile", *argv])
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_a_study_keeps_its_report_with_its_folder_unless_published(tmp_path):
    from crkd_core.study.paths import REPO_ROOT
    from crkd_core.study.run import StudyOptions, check_not_smaller

    scratch = StudyOptions(profile="smoke", out=tmp_path / "scratch")
    assert scratch.reports_dir() == (tmp_path / "scratch" / "reports").resolve()
    assert StudyOptions(profile="smoke", publish=True).reports_dir() == REPO_ROOT / "reports"
    published = tmp_path / "reports"
    published.mkdir()
    (published / "study.json").write_text(json.dumps({"provenance": {"profile": "default"}}))
    with pytest.raises(ConfigError, match="holds a 'default' study; a 'smoke' study would"):
        check_not_smaller(published, "smoke", replace_larger=False)
    check_not_smaller(published, "smoke", replace_larger=True)
    check_not_smaller(published, "full", replace_larger=False)


def test_study_refuses_to_publish_a_smaller_profile_before_any_work(tmp_path, capsys):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "study.json").write_text(json.dumps({"provenance": {"profile": "full"}}))
    out = tmp_path / "study"
    argv = ["study", "--profile", "default", "--out", str(out), "--reports", str(reports)]
    assert main(argv) == 2
    assert "--replace-larger" in capsys.readouterr().err
    assert not out.exists()
