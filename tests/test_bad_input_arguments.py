"""The bad-input catalogue, round three (issue 21): options, settings and parameters.

Every case runs the real `crkd` command line in-process, or the reader that a notebook calls
first, with one bad option, environment variable, checkpoint meta field, demo setting or
notebook parameter. A bad value is refused before any work: exit 2, one line that names the
option (or file and field) and the cause, no traceback, and nothing written. An option value
is refused by argparse at parse time, with the same words in every command (`_args.py`).
"""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from crkd_core.cli import main
from crkd_core.errors import ConfigError, CRKDError
from crkd_core.study.configs import (
    AblationConfig,
    AttributionConfig,
    DistillConfig,
    EfficiencyConfig,
    ExploreConfig,
    TeacherConfig,
)
from crkd_core.teacher_cache import TeacherCache

from .helpers import write_phoenix
from .test_bad_input_data import ROWS, assert_refused, train_one_epoch


def crkd(capsys, *argv):
    """Run `crkd argv...` in-process: (exit code, stdout, stderr); argparse's exit counts."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # a value refused at parse time
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data, a 1-epoch teacher run) for the cases that need a real run."""
    return train_one_epoch(tmp_path_factory.mktemp("trained"))


def digest(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# --- option values: refused at parse time, the same way by every command ------------------------

FRAMES = "frames-folder"  # never read: the value is refused first
RUN_ARGS = ["--data", "data", "--out", "out"]
PREDICT = ["predict", "--run", "run", "--frames", FRAMES]
BIG = str(10**20)

OPTION_CASES = [
    # (id, argv, pattern)
    ("seed -1", ["train-teacher", *RUN_ARGS, "--seed", "-1"],
     r"argument --seed: must be >= 0 \(numpy's seed range\), got -1"),
    ("seed 10^20", ["distill", *RUN_ARGS, "--seed", BIG],
     rf"argument --seed: must be <= 4294967295 \(numpy's seed range\), got {BIG}"),
    ("threads 2^31 in training", ["train-teacher", *RUN_ARGS, "--threads", "2147483648"],
     r"argument --threads: must be <= 1024, got 2147483648"),
    ("threads 2^31 in evaluate", ["evaluate", "--run", "r", "--data", "d", "--threads", 2**31],
     r"argument --threads: must be <= 1024, got 2147483648"),
    ("threads 2^31 in predict", [*PREDICT, "--threads", 2**31],
     r"argument --threads: must be <= 1024, got 2147483648"),
    ("threads 2^31 in profile", ["profile", "--threads", 2**31],
     r"argument --threads: must be <= 1024, got 2147483648"),
    ("beam width 10^9 in evaluate", ["evaluate", "--run", "r", "--data", "d", "--beam-width",
                                     10**9], r"argument --beam-width: must be <= 1024"),
    ("beam width 10^9 in training", ["train-teacher", *RUN_ARGS, "--beam-width", 10**9],
     r"argument --beam-width: must be <= 1024, got 1000000000"),
    ("beam width 0 in predict", [*PREDICT, "--decoder", "beam", "--beam-width", 0],
     r"argument --beam-width: must be > 0, got 0"),
    ("beam width -3 in predict", [*PREDICT, "--decoder", "beam", "--beam-width", -3],
     r"argument --beam-width: must be > 0, got -3"),
    ("demo port 70000", ["demo", "--page", "p", "--port", 70000],
     r"argument --port: must be <= 65535 \(0: any free port\), got 70000"),
    ("demo port -1", ["demo", "--page", "p", "--port", -1],
     r"argument --port: must be >= 0 \(0: any free port\), got -1"),
    ("predict max frames -1", [*PREDICT, "--max-frames", -1],
     r"argument --max-frames: must be > 0, got -1"),
    ("predict fps nan", [*PREDICT, "--fps", "nan"], r"argument --fps: must be > 0 and finite"),
    ("predict fps inf", [*PREDICT, "--fps", "inf"], r"argument --fps: must be > 0 and finite"),
    ("predict fps 0", [*PREDICT, "--fps", "0"], r"argument --fps: must be > 0 and finite"),
    ("predict camera -1", ["predict", "--run", "r", "--camera", -1],
     r"argument --camera: must be >= 0"),
    ("predict hop 0", [*PREDICT, "--stream", "--hop", 0], r"argument --hop: must be > 0"),
    ("demo fps nan", ["demo", "--run", "r", "--fps", "nan"], r"argument --fps: must be > 0"),
    ("export calibration clips 0", ["export", "--run", "r", "--int8", "static", "--calibrate",
                                    "v", "--calibration-clips", 0],
     r"argument --calibration-clips: must be > 0, got 0"),
    ("study jobs 2^31", ["study", "--jobs", 2**31], r"argument --jobs: must be <= 1024"),
    ("export frames 0", ["export", "--run", "r", "--frames", 0], r"argument --frames: must be > 0"),
]  # fmt: skip


@pytest.mark.parametrize("case,argv,pattern", OPTION_CASES, ids=[c[0] for c in OPTION_CASES])
def test_bad_option_value_is_refused_at_parse_time(tmp_path, monkeypatch, capsys, case, argv,
                                                   pattern):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    rc, _, err = crkd(capsys, *argv)
    assert_refused(rc, err, pattern)
    assert not list(tmp_path.iterdir()), "nothing may be written"


# --- the environment ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["lots", "nan", "inf", "0", "-2"])
def test_bad_cache_size_variable(tmp_path, monkeypatch, capsys, value):
    data = write_phoenix(tmp_path / "data", ROWS)
    monkeypatch.setenv("CRKD_CACHE_MAX_GB", value)
    rc, _, err = crkd(capsys, "train-teacher", "--data", data, "--out", tmp_path / "run",
                      "--epochs", 1, "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert_refused(
        rc, err, rf"environment variable CRKD_CACHE_MAX_GB='{value}': must be a number of GB, "
        "finite and > 0"
    )  # fmt: skip
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


# --- checkpoint meta: the network's sizes, refused before the network is built -------------------


def edit_net(run, change):
    meta = json.loads((run / "checkpoint.json").read_text())
    change(meta)
    (run / "checkpoint.json").write_text(json.dumps(meta))


NET_CASES = [
    ("lstm_hidden 10^6", lambda m: m["net"]["head"].update(lstm_hidden=10**6),
     r"net\.head\.lstm_hidden must be an integer between 1 and 4096, got 1000000"),
    ("net input_size 10^5", lambda m: m["net"].update(input_size=10**5),
     r"net\.input_size must be an integer between 8 and 1024, got 100000"),
    ("meta input_size 10^5", lambda m: m.update(input_size=10**5),
     r"input_size 100000 is not net\.input_size 64"),
    ("widths 10^5", lambda m: m["net"]["trunk"].update(widths=[16, 32, 64, 10**5]),
     r"net\.trunk\.widths must be integers between 1 and 4096"),
    ("lstm_layers 0", lambda m: m["net"]["head"].update(lstm_layers=0),
     r"net\.head\.lstm_layers must be an integer between 1 and 16, got 0"),
    ("stage lists of two lengths", lambda m: m["net"]["trunk"]["widths"].pop(),
     r"net\.trunk widths, blocks and strides must be lists of one length"),
    ("visual_ctc NaN", lambda m: m["net"]["head"].update(visual_ctc=float("nan")),
     r"net\.head\.visual_ctc must be a finite number >= 0, got nan"),
]  # fmt: skip


@pytest.mark.parametrize("case,change,pattern", NET_CASES, ids=[c[0] for c in NET_CASES])
def test_network_sizes_in_checkpoint_meta(trained, tmp_path, capsys, case, change, pattern):
    run = shutil.copytree(trained[1], tmp_path / "run")
    edit_net(run, change)
    before = digest(run)
    rc, _, err = crkd(capsys, "predict", "--run", run, "--frames", tmp_path / "nowhere")
    assert_refused(rc, err, r"run/checkpoint\.json: checkpoint meta: " + pattern)
    assert digest(run) == before


# --- crkd study: the selection and the data tree, checked before the study starts ---------------


@pytest.mark.parametrize("only", [",", "", " , "])
def test_study_empty_selection(tmp_path, capsys, only):
    rc, _, err = crkd(capsys, "study", "--profile", "smoke", "--out", tmp_path / "st", "--only",
                      only)  # fmt: skip
    assert_refused(rc, err, r"--only '.*' names no notebook; choose from \['00_explore_data'")
    assert not (tmp_path / "st").exists()


def test_study_unknown_selection_names_the_option(tmp_path, capsys):
    rc, _, err = crkd(capsys, "study", "--profile", "smoke", "--out", tmp_path / "st", "--only",
                      "00_explore_data,01_teacher")  # fmt: skip
    assert_refused(rc, err, r"--only: unknown notebooks \['01_teacher'\]")


def test_study_data_without_a_split(tmp_path, capsys):
    data = write_phoenix(tmp_path / "data", ROWS)
    (data / "annotations/manual/dev.corpus.csv").unlink()
    rc, _, err = crkd(capsys, "study", "--profile", "smoke", "--data", data, "--out",
                      tmp_path / "st", "--only", "00_explore_data")  # fmt: skip
    assert_refused(rc, err, r"dev\.corpus\.csv: corpus file is missing \(a study needs train, dev")
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize("text", ["[]", '{"provenance": 3}'], ids=["a list", "no provenance"])
def test_study_reports_holding_a_damaged_study_record(tmp_path, capsys, text):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "study.json").write_text(text)
    rc, _, err = crkd(capsys, "study", "--profile", "smoke", "--out", tmp_path / "st",
                      "--reports", reports)  # fmt: skip
    assert_refused(rc, err, r"reports/study\.json: not a study record \(no provenance object\)")
    assert not (tmp_path / "st").exists() and (reports / "study.json").read_text() == text


# --- notebook parameters: finite, in range, printable, before any work ---------------------------

BASE = {"profile": "smoke", "data": "runs/x/data", "study_dir": "runs/x"}
PARAM_CASES = [
    ("03 kd_weights NaN", AblationConfig, {"kd_weights": [[float("nan"), 1]]},
     r"parameter 'kd_weights' must be a list of lists of finite numbers, got \[\[nan, 1\]\]"),
    ("03 kd_weights Inf", AblationConfig, {"kd_weights": [[1, float("inf")]]},
     r"parameter 'kd_weights' must be a list of lists of finite numbers"),
    ("03 grid size 10^5", AblationConfig, {"sizes": [10**5], "settings": ["both"]},
     r"student size must be between 8 and 64 px \(the cpu teacher's\), got 100000"),
    ("05 min_seconds NaN", EfficiencyConfig, {"min_seconds": float("nan")},
     r"parameter 'min_seconds' must be a finite number, got nan"),
    ("05 min_seconds Inf", EfficiencyConfig, {"min_seconds": float("inf")},
     r"parameter 'min_seconds' must be a finite number, got inf"),
    ("05 min_seconds negative", EfficiencyConfig, {"min_seconds": -1.0},
     r"min_seconds must be between 0.001 and 600, got -1.0"),
    ("05 frames 3", EfficiencyConfig, {"frames": 3}, r"frames must be between 8 and 10000"),
    ("01 seed -1", TeacherConfig, {"seeds": [-1]},
     r"seeds must be between 0 and 4294967295, got -1"),
    ("01 seed twice", TeacherConfig, {"seeds": [1, 1]}, r"seeds names a seed twice: \[1, 1\]"),
    ("01 threads 2^31", TeacherConfig, {"threads": 2**31},
     r"threads must be between 0 and 1024, got 2147483648"),
    ("02 student size 10^5", DistillConfig, {"student_size": 10**5},
     r"student size must be between 8 and 64 px"),
    ("00 split with a newline", ExploreConfig, {"split": "tr\nain"},
     r"parameter 'split' must be printable text, got 'tr\\nain'"),
    ("04 sentence id with a NUL", AttributionConfig, {"sentences": ["v5\x00"]},
     r"parameter 'sentences' must be printable text, got \['v5\\x00'\]"),
    ("00 display size 10^6", ExploreConfig, {"sizes": [10**6]},
     r"sizes must be between 1 and 1024, got 1000000"),
]  # fmt: skip


@pytest.mark.parametrize("case,cls,params,pattern", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_bad_notebook_parameter(case, cls, params, pattern):
    with pytest.raises(ConfigError, match=pattern):
        cls.build(**BASE, **params)


def test_notebook_defaults_still_build():
    """The control of the cases above: the profile's values pass."""
    for cls in (ExploreConfig, TeacherConfig, DistillConfig, AblationConfig, EfficiencyConfig):
        assert cls.build(**BASE).profile == "smoke"


# --- crkd demo: --no-serve with --page, another run's files, demo.json ---------------------------


@pytest.fixture(scope="module")
def page(trained, tmp_path_factory):
    """A demo page built from the trained run (needs onnxruntime-web: make web)."""
    from crkd_core.demo import ort_dist

    try:
        ort_dist()
    except CRKDError:
        pytest.skip("onnxruntime-web is not installed (make web)")
    out = tmp_path_factory.mktemp("demo") / "page"
    assert main(["demo", "--run", str(trained[1]), "--out", str(out), "--no-serve"]) == 0
    return out


def never_serve(monkeypatch):
    def serve(folder, port):
        raise AssertionError("--no-serve must not serve")

    monkeypatch.setattr("crkd_core.commands.demo.serve", serve)


def test_demo_page_no_serve_checks_and_exits(page, monkeypatch, capsys):
    never_serve(monkeypatch)
    rc, out, err = crkd(capsys, "demo", "--page", page, "--no-serve")
    assert rc == 0, err
    assert "not served: --no-serve" in out


def other_run(trained, folder):
    """A copy of the trained run with other weights (another checkpoint digest)."""
    run = shutil.copytree(trained[1], folder)
    path = run / "checkpoint.safetensors"
    state = load_file(str(path))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[key].view(-1)[0] += 0.5
    save_file(state, str(path))
    return run


def test_demo_out_in_another_run_is_refused(trained, tmp_path, monkeypatch, capsys):
    never_serve(monkeypatch)
    other = other_run(trained, tmp_path / "other")
    (other / "model.trunk.onnx").write_bytes(b"the other run's export")
    before = digest(other)
    for out in (other, other / "page"):
        rc, _, err = crkd(capsys, "demo", "--run", trained[1], "--out", out, "--no-serve")
        assert_refused(rc, err, r"lies in another run's folder \(.*other holds checkpoint\.json\)")
    assert digest(other) == before and not (other / "page").exists()


def test_export_into_another_run_is_refused_even_with_force(trained, tmp_path, capsys):
    other = other_run(trained, tmp_path / "other")
    before = digest(other)
    for out in (other / "model.onnx", other / "sub" / "model.onnx"):
        rc, _, err = crkd(capsys, "export", "--run", trained[1], "--out", out, "--force")
        assert_refused(rc, err, r"lies in another run's folder .*; choose another --out")
    assert digest(other) == before and not (other / "sub").exists()


def test_demo_over_another_runs_page_needs_force(trained, page, tmp_path, monkeypatch, capsys):
    never_serve(monkeypatch)
    other = other_run(trained, tmp_path / "other")
    shared = shutil.copytree(page, tmp_path / "page", ignore=shutil.ignore_patterns("ort"))
    before = digest(shared)
    rc, _, err = crkd(capsys, "demo", "--run", other, "--out", shared, "--no-serve")
    assert_refused(rc, err, r"page/model\.(trunk|head)\.onnx: exists and was exported from another")
    assert digest(shared) == before
    rc, _, err = crkd(capsys, "demo", "--run", other, "--out", shared, "--no-serve", "--force")
    assert rc == 0, err


def edit_settings(folder, change):
    settings = json.loads((folder / "demo.json").read_text())
    change(settings)
    (folder / "demo.json").write_text(json.dumps(settings))


SETTINGS_CASES = [
    ("model outside the page", lambda s: s["models"].update(trunk="../x/model.trunk.onnx"),
     r"models\.trunk: '\.\./x/model\.trunk\.onnx' is not a file name inside the page"),
    ("model by absolute path", lambda s: s["models"].update(head="/etc/hostname"),
     r"models\.head: '/etc/hostname' is not a file name inside the page"),
    ("fps NaN", lambda s: s.update(fps=float("nan")), r"fps: must be a finite number > 0"),
    ("input size 10^5", lambda s: s.update(input_size=10**5),
     r"input_size: must be an integer between 8 and 1024, got 100000"),
    ("vocabulary longer than the classifier", lambda s: s["vocab"].append("D"),
     r"vocab: 5 distinct glosses for 4 classes"),
    ("gloss with a control character", lambda s: s["vocab"].__setitem__(1, "A\x1b[2J"),
     r"vocab: must be a list of printable strings"),
    ("hop 0", lambda s: s["stream"].update(hop=0), r"stream: need 0 < hop < window"),
    ("a state shape missing", lambda s: s["state_shapes"].pop(),
     r"state_shapes: must hold one shape per TSCM block \(4\)"),
    ("not a demo settings file", lambda s: s.update(format="x"),
     r"format: not a crkd demo settings file"),
]  # fmt: skip


@pytest.mark.parametrize("case,change,pattern", SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES])
def test_bad_demo_settings(page, tmp_path, monkeypatch, capsys, case, change, pattern):
    never_serve(monkeypatch)
    copy = shutil.copytree(page, tmp_path / "page", ignore=shutil.ignore_patterns("ort"))
    edit_settings(copy, change)
    rc, _, err = crkd(capsys, "demo", "--page", copy, "--no-serve")
    assert_refused(rc, err, r"page/demo\.json: " + pattern)
    assert not (copy / "ort").exists(), "a refused page must not be completed"


# --- the teacher cache: an entry that does not fit its batch is computed again ------------------


def poison_entry(path, change):
    state = load_file(str(path))
    change(state)
    save_file(state, str(path))


CACHE_CASES = [
    ("NaN logits", lambda s: s["logits"].view(-1)[0].fill_(float("nan")), r"logits holds NaN"),
    ("Inf feature", lambda s: next(v for k, v in s.items() if k.startswith("features."))
     .view(-1)[0].fill_(float("inf")), r"holds NaN or Inf"),
    ("logits of another clip", lambda s: s.update(logits=s["logits"][:-1]),
     r"steps of logits, the teacher's are"),
    ("frames of another clip",
     lambda s: s.update({"features.frame_map": s["features.frame_map"][1:]}),
     r"features.frame_map has \d+ rows, the clip needs"),
    ("logits of a batch", lambda s: s.update(logits=s["logits"][None]),
     r"logits of shape \(1, .*\), not \(steps, classes\)"),
    ("integer features", lambda s: s.update({"features.frame_vec": s["features.frame_vec"].long()}),
     r"features.frame_vec is not a float tensor"),
]  # fmt: skip


@pytest.mark.parametrize("case,change,pattern", CACHE_CASES, ids=[c[0] for c in CACHE_CASES])
def test_teacher_cache_entry_that_does_not_fit_is_computed_again(tmp_path, case, change, pattern):
    from .test_teacher_cache import Counting, _clip, _teacher

    teacher = Counting(_teacher())
    cache = TeacherCache(tmp_path, teacher)
    video, lengths = _clip()
    good = cache(video, lengths)
    poison_entry(cache.entry_paths(video, lengths)[0], change)
    with pytest.warns(UserWarning, match=r"unreadable teacher-cache entry \(.*" + pattern):
        again = cache(video, lengths)
    assert teacher.calls == 2  # clip 0 computed again (alone), clip 1 read back
    steps = int(good.lengths[0])
    assert torch.allclose(good.logits[0, :steps], again.logits[0, :steps], atol=1e-5, rtol=1e-5)


# --- ONNX metadata: a JSON object, or the file is named ------------------------------------------


def set_raw_metadata(path, text):
    import onnx

    proto = onnx.load(str(path))
    for entry in proto.metadata_props:
        entry.value = text
    onnx.save(proto, str(path))


@pytest.mark.parametrize("text", ["{bad", "[1, 2]"], ids=["not JSON", "not an object"])
def test_onnx_metadata_that_is_not_a_json_object(trained, tmp_path, capsys, text):
    from crkd_core.checkpoint import load_model
    from crkd_core.deploy.export import DIGEST_KEY, checkpoint_digest
    from crkd_core.deploy.stream_onnx import export_stream

    run = trained[1]
    model, meta = load_model(run)
    files = export_stream(
        model, tmp_path / "model.onnx", {**meta, DIGEST_KEY: checkpoint_digest(run)}
    )
    set_raw_metadata(files.trunk, text)
    frames = next((trained[0] / "features").glob("*/dev/v4/1"))
    rc, _, err = crkd(capsys, "predict", "--run", run, "--onnx", tmp_path / "model.onnx",
                      "--stream", "--frames", frames)  # fmt: skip
    assert_refused(
        rc, err, r"model\.trunk\.onnx: ONNX metadata 'crkd_meta' is not (JSON \(|a JSON object)"
    )
