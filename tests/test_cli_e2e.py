"""End to end on the smoke profile: synth -> train-teacher -> distill -> evaluate -> profile."""

import json

import pytest

from crkd_core.cli import main
from crkd_core.io import read_json

pytestmark = pytest.mark.slow

METRIC_KEYS = {
    "role",
    "preset",
    "input_size",
    "kd",
    "seed",
    "split",
    "wer",
    "sub",
    "del",
    "ins",
    "n_ref",
    "params",
    "gmacs_per_frame",
    "train_seconds",
    "world_size",
    "complete",
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, smoke_data):
    root = tmp_path_factory.mktemp("e2e")
    data = smoke_data  # `crkd synth --profile smoke`, once per session (conftest.py)
    teacher = root / "teacher"
    assert main(["train-teacher", "--data", str(data), "--out", str(teacher), "--epochs", "1"]) == 0
    return root, data, teacher


def test_teacher_run_folder(smoke):
    _, _, teacher = smoke
    m = read_json(teacher / "metrics.json")
    assert set(m) >= METRIC_KEYS and m["complete"] is True
    assert m["role"] == "teacher" and m["input_size"] == 64 and m["kd"] == "none"
    assert m["wer"] >= 0 and m["n_ref"] > 0
    for f in ("config.json", "checkpoint.safetensors", "checkpoint.json", "log.jsonl", "git.txt"):
        assert (teacher / f).is_file(), f
    meta = read_json(teacher / "checkpoint.json")
    assert meta["preset"] == "cpu" and meta["input_size"] == 64 and meta["vocab"]["tokens"][0]


def test_distill_then_evaluate(smoke, capsys):
    root, data, teacher = smoke
    student = root / "student"
    assert (
        main(
            [
                "distill",
                "--data",
                str(data),
                "--teacher",
                str(teacher),
                "--out",
                str(student),
                "--epochs",
                "1",
                "--kd",
                "both",
                "--feature-kd",
                "scale",
            ]
        )
        == 0
    )
    m = read_json(student / "metrics.json")
    assert set(m) >= METRIC_KEYS
    assert m["role"] == "student" and m["input_size"] == 16 and m["kd"] == "both"
    assert (
        main(
            [
                "evaluate",
                "--run",
                str(student),
                "--data",
                str(data),
                "--split",
                "dev",
                "--decoder",
                "beam",
            ]
        )
        == 0
    )
    e = read_json(student / "eval-dev-beam.json")
    assert METRIC_KEYS - {"train_seconds"} <= set(e) and e["split"] == "dev"
    assert e["decoder"] == "beam10" and "official" in e
    assert (student / "hyp-dev-beam.ctm").is_file() and (student / "ref-dev.stm").is_file()
    # the CTM/STM files are accepted by sclite, which agrees with our WER
    from crkd_core.scoring.sclite import find_sclite, run_sclite

    if find_sclite():
        official = run_sclite(student / "hyp-dev-beam.ctm", student / "ref-dev.stm")
        assert official.wer == pytest.approx(e["wer"], abs=0.01)


def test_recover_student_without_kd(smoke):
    root, data, teacher = smoke
    out = root / "recover"
    assert (
        main(
            [
                "distill",
                "--data",
                str(data),
                "--teacher",
                str(teacher),
                "--out",
                str(out),
                "--epochs",
                "1",
                "--kd",
                "feature",
                "--feature-kd",
                "recover",
            ]
        )
        == 0
    )
    assert read_json(out / "metrics.json")["student_variant"] == "recover"


def test_existing_run_folder_is_not_clobbered(smoke, capsys):
    _, data, teacher = smoke
    before = (teacher / "metrics.json").read_bytes()
    assert main(["train-teacher", "--data", str(data), "--out", str(teacher), "--epochs", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (teacher / "metrics.json").read_bytes() == before


def test_profile_json(tmp_path):
    out = tmp_path / "p.json"
    assert (
        main(["profile", "--preset", "cpu", "--repeats", "1", "--frames", "8", "--json", str(out)])
        == 0
    )
    p = json.loads(out.read_text())
    for k in ("params", "gmacs_per_frame", "input_size", "fps"):
        assert k in p["teacher"] and k in p["lrinet"]
