"""The bad-input catalogue, round three (issue 21): run folders, outputs and locks.

As in rounds one and two (`tests/test_bad_input.py`, `tests/test_bad_input_data.py`), each case
runs the real `crkd` command line in-process on a small valid input with one defect, and checks
the exit code, that stderr holds no traceback, that the last line names the file and the cause,
and that nothing was half-written or lost: a refused call leaves the run folder byte for byte
as it was.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from crkd_core.errors import FileFormatError
from crkd_core.experiment import EvalRecord, RunDir
from crkd_core.io import atomic_write_json, read_json

from .helpers import write_phoenix
from .test_bad_input_data import ROWS, assert_refused, crkd, leftovers

TRAIN = ["--threads", "1"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(data, a finished 2-epoch teacher run, the frame cache), for each case to copy."""
    root = tmp_path_factory.mktemp("finished")
    data = write_phoenix(root / "data", ROWS)
    cache = root / "cache"
    argv = ["train-teacher", "--data", data, "--out", root / "teacher", "--epochs", 2, *TRAIN,
            "--cache-dir", cache]  # fmt: skip
    from crkd_core.cli import main

    assert main([str(a) for a in argv]) == 0
    return data, root / "teacher", cache


@pytest.fixture
def run(finished, tmp_path):
    """A copy of the finished run, for one case to damage."""
    return shutil.copytree(finished[1], tmp_path / "run")


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def train(capsys, finished, out, *extra, command="train-teacher"):
    data, _, cache = finished
    return crkd(capsys, command, "--data", data, "--out", out, *TRAIN, "--cache-dir", cache, *extra)


# --- --resume checks everything before it touches anything -------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def edit_train_state(path: Path, change) -> None:
    from crkd_core.checkpoint import FORMAT, load_extra

    extra = load_extra(path)
    change(extra["train_state"])
    metadata = {"format": FORMAT, "extra": json.dumps(extra)}
    save_file(load_file(str(path)), str(path), metadata=metadata)


def poison_last(path: Path) -> None:
    tensors = load_file(str(path))
    key = next(k for k, v in tensors.items() if k.startswith("model.") and v.is_floating_point())
    tensors[key].view(-1)[0] = float("nan")
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        metadata = fh.metadata()
    save_file(tensors, str(path), metadata=metadata)


DAMAGED_LAST = [
    ("truncated", truncate, r"last\.safetensors: not a readable safetensors file"),
    ("missing", lambda p: p.unlink(), r"last\.safetensors: missing, though metrics\.json says"),
    (
        "epoch is text",
        lambda p: edit_train_state(p, lambda s: s.update(epoch="2")),
        r"last\.safetensors: its train state is inconsistent \(epoch '2'",
    ),
    (
        "history shorter than the epochs",
        lambda p: edit_train_state(p, lambda s: s.update(history=[])),
        r"last\.safetensors: its train state is inconsistent .* 0 logged epochs",
    ),
    (
        "unknown train-state key",
        lambda p: edit_train_state(p, lambda s: s.update(surprise=1)),
        r"last\.safetensors: its train state is missing or has unknown keys",
    ),
    ("NaN weights", poison_last, r"last\.safetensors: tensor '.*' holds 1 NaN or Inf"),
]


@pytest.mark.parametrize("case,damage,pattern", DAMAGED_LAST, ids=[c[0] for c in DAMAGED_LAST])
def test_resume_with_a_damaged_last_checkpoint_leaves_the_run_finished(
    finished, run, capsys, case, damage, pattern
):
    damage(run / "last.safetensors")
    before = digest(run)
    rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")
    assert_refused(rc, err, pattern)
    assert digest(run) == before and RunDir(run).is_complete()


@pytest.mark.parametrize("name", ["checkpoint.safetensors", "checkpoint.json"])
def test_resume_with_a_damaged_best_checkpoint_leaves_the_run_finished(finished, run, capsys, name):
    truncate(run / name)
    before = digest(run)
    rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")
    assert_refused(rc, err, "/run/" + re.escape(name) + ": (not a readable|cannot read)")
    assert digest(run) == before and RunDir(run).is_complete()


def test_a_refusal_while_starting_a_resumed_run_leaves_it_finished(finished, run, capsys):
    (run / "machine.json").write_text('{"sessions": 3}\n')  # read only once the run starts
    rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")
    assert_refused(rc, err, r"machine\.json: ")
    assert RunDir(run).is_complete()


def test_resume_to_fewer_epochs_than_done_is_refused(finished, run, capsys):
    before = digest(run)
    rc, _, err = train(capsys, finished, run, "--epochs", 1, "--resume")
    assert_refused(
        rc, err, r"/run: cannot resume to 1 epoch\(s\): the run has already done 2; pass --epochs 2"
    )
    assert digest(run) == before


def test_resume_of_a_finished_run_to_as_many_epochs_is_accepted(finished, run, capsys):
    (run / ".lock").write_text("999999999\n")  # a killed run's lock file: no process holds it
    rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")
    assert rc == 0, err
    assert RunDir(run).is_complete() and read_json(run / "metrics.json")["epochs_run"] == 2
    assert not (run / ".lock").exists()


def test_metrics_json_that_is_not_an_object_counts_as_unfinished(run):
    (run / "metrics.json").write_text("[true]\n")
    assert not RunDir(run).is_complete()


BAD_CONFIG = [
    ("not an object", lambda c: [1, 2], r"config\.json: must be a JSON object"),
    (
        "escape in a key",
        lambda c: {**c, "x\x1b[31m": 1},
        r"config\.json: 'x\\x1b\[31m' holds a control character",
    ),
    (
        "NaN learning rate",
        lambda c: {**c, "train": {**c["train"], "lr": float("nan")}},
        r"config\.json: 'train\.lr' is not finite: nan",
    ),
]


@pytest.mark.parametrize("case,change,pattern", BAD_CONFIG, ids=[c[0] for c in BAD_CONFIG])
def test_bad_config_json_is_refused_on_resume(finished, run, capsys, case, change, pattern):
    (run / "config.json").write_text(json.dumps(change(read_json(run / "config.json"))))
    before = digest(run)
    rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")
    assert_refused(rc, err, pattern)
    assert digest(run) == before


# --- metrics.json: every number finite and in range, every count agreeing ----------------------


def edit_metrics(run: Path, **change) -> None:
    metrics = read_json(run / "metrics.json")
    metrics.update(change)
    (run / "metrics.json").write_text(json.dumps(metrics))


BAD_METRICS = [
    ("wer is NaN", {"wer": float("nan")}, r"key 'wer' must be a finite number, not nan"),
    ("negative count", {"sub": -1}, r"key 'sub' must be >= 0, not -1"),
    ("infinite seconds", {"train_seconds": float("inf")}, r"key 'train_seconds' must be a finite"),
    ("control character", {"loss": "L = 1*CTC\x1b[2J"}, r"key 'loss' holds a control character"),
    ("unknown role", {"role": "oracle"}, r"role must be teacher or student: 'oracle'"),
    ("wer off its counts", {"wer": 12.5}, r"test: wer 12\.5 disagrees with its counts"),
    ("errors past n_ref", {"del": 5}, r"test: sub \+ del \(1 \+ 5\) exceed n_ref \(1\)"),
    ("best epoch past epochs run", {"best_epoch": 3}, r"the epochs disagree: best epoch 3"),
    (
        "epochs run past epochs",
        {"epochs_run": 5},
        r"the epochs disagree: best epoch 1, epochs run 5, epochs 2",
    ),
]


@pytest.mark.parametrize("case,change,pattern", BAD_METRICS, ids=[c[0] for c in BAD_METRICS])
def test_bad_metrics_json_is_refused_by_evaluate(finished, run, capsys, case, change, pattern):
    edit_metrics(run, **change)
    before = digest(run)
    rc, _, err = crkd(capsys, "evaluate", "--run", run, "--data", finished[0], "--split", "dev")
    assert_refused(rc, err, r"/run/metrics\.json: " + pattern)
    assert digest(run) == before


def test_bad_eval_json_is_refused_where_it_is_read(finished, run, capsys):
    rc, _, err = crkd(capsys, "evaluate", "--run", run, "--data", finished[0], "--split", "dev")
    assert rc == 0, err
    path = run / "eval-dev-greedy.json"
    good = read_json(path)
    for change, pattern in (
        ({"official": {**good["official"], "wer": float("nan")}}, r"'wer' must be a finite"),
        ({"preset": "cpu\n"}, r"key 'preset' holds a control character"),
        ({"seed": [0]}, r"key 'seed' must be a number or text"),
    ):
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(FileFormatError, match=r"eval-dev-greedy\.json: .*" + pattern):
            EvalRecord.read(run, "dev")


def edit_checkpoint_meta(run: Path, change) -> None:
    meta = read_json(run / "checkpoint.json")
    change(meta)
    (run / "checkpoint.json").write_text(json.dumps(meta))


BAD_META = [
    (
        "preset with an escape",
        lambda m: m.update(preset="cpu\x1b]0;x\x07"),
        r"checkpoint meta 'preset' is not plain text",
    ),
    (
        "view size NaN",
        lambda m: m["view"].update(temporal_rescale=float("nan")),
        r"checkpoint meta view\.temporal_rescale is nan, not >= 0",
    ),
]


@pytest.mark.parametrize("case,change,pattern", BAD_META, ids=[c[0] for c in BAD_META])
def test_bad_checkpoint_meta_text_and_numbers(finished, run, capsys, case, change, pattern):
    edit_checkpoint_meta(run, change)
    before = digest(run)
    rc, _, err = crkd(capsys, "evaluate", "--run", run, "--data", finished[0], "--split", "dev")
    assert_refused(rc, err, r"/run/checkpoint\.json: " + pattern)
    assert digest(run) == before


# --- one process per run folder -----------------------------------------------------------------


LOCKER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"%d\\n" % os.getpid())
print("locked", flush=True)
time.sleep(60)
"""


def test_a_run_locked_by_another_process_is_refused_until_it_dies(finished, run, capsys):
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(run / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline() == "locked\n"
        before = digest(run)
        rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")
        assert_refused(rc, err, rf"another crkd process \(pid {locker.pid}\) is training this run")
        assert digest(run) == before
    finally:
        locker.kill()
        locker.wait()
    rc, _, err = train(capsys, finished, run, "--epochs", 2, "--resume")  # its lock died with it
    assert rc == 0, err
    assert not (run / ".lock").exists()


def test_second_training_into_a_running_folder_is_refused(finished, run, capsys):
    before = digest(run)
    with RunDir(run).lock():  # as a first `crkd distill --resume` still training holds it
        rc, _, err = train(capsys, finished, run, "--epochs", 3, "--resume")
    assert_refused(
        rc, err, rf"{run}: another crkd process \(pid {os.getpid()}\) is training this run"
    )
    assert digest(run) == before and not (run / ".lock").exists()


# --- outputs never land on inputs ---------------------------------------------------------------


def test_synth_force_replaces_only_a_dataset(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "notes.txt").write_text("mine")
    rc, _, err = crkd(capsys, "synth", "--out", repo, "--profile", "smoke", "--force")
    assert_refused(rc, err, r"/repo: --force replaces only a SignWorld dataset .*holds neither")
    monkeypatch.chdir(repo)
    rc, _, err = crkd(capsys, "synth", "--out", ".", "--profile", "smoke", "--force")
    assert_refused(rc, err, r"/repo: --force would replace the current folder")
    assert sorted(p.name for p in repo.iterdir()) == [".git", "notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # no lock, no partial


def test_synth_force_does_not_replace_a_run(run, capsys):
    before = digest(run)
    rc, _, err = crkd(capsys, "synth", "--out", run, "--profile", "smoke", "--force")
    assert_refused(rc, err, r"/run: --force replaces only a SignWorld dataset")
    assert digest(run) == before


def test_synth_into_a_run_folder_is_refused(run, capsys):
    before = digest(run)
    rc, _, err = crkd(capsys, "synth", "--out", run / "data", "--profile", "smoke")
    assert_refused(rc, err, r"/run/data: lies inside the run folder .*/run; choose a folder")
    assert digest(run) == before and sorted(p.name for p in run.iterdir()) == sorted(before)


def score_files(tmp_path: Path) -> tuple[Path, Path]:
    ref, hyp = tmp_path / "ref.stm", tmp_path / "hyp.ctm"
    ref.write_text("v1 1 S1 0.0 1.0 A B\n")
    hyp.write_text("v1 1 0.0 0.5 A\nv1 1 0.5 0.5 B\n")
    return hyp, ref


@pytest.mark.parametrize("target", ["ref", "hyp", "run"])
def test_score_json_never_overwrites_an_input(tmp_path, run, capsys, target):
    hyp, ref = score_files(tmp_path)
    out = {"ref": ref, "hyp": hyp, "run": run / "score.json"}[target]
    before = {p: p.read_bytes() for p in (hyp, ref)}
    rc, stdout, err = crkd(capsys, "score", "--hyp", hyp, "--ref", ref, "--json", out)
    pattern = {
        "ref": r"ref\.stm: --json would overwrite the input --ref",
        "hyp": r"hyp\.ctm: --json would overwrite the input --hyp",
        "run": r"score\.json: --json would write inside the run folder .*/run, which",
    }[target]
    assert_refused(rc, err, pattern)
    assert {p: p.read_bytes() for p in (hyp, ref)} == before and "WER" not in stdout
    assert not (run / "score.json").exists()


def test_compare_json_never_lands_in_a_run(run, tmp_path, capsys):
    other = shutil.copytree(run, tmp_path / "other")
    before = digest(run)
    rc, _, err = crkd(capsys, "compare", run, "--against", other, "--json", run / "metrics.json")
    assert_refused(rc, err, r"metrics\.json: --json would write inside the run folder .*/run,")
    assert digest(run) == before and not list(run.glob("eval-*"))


def test_training_out_inside_its_data_or_another_run_is_refused(finished, run, capsys):
    data = finished[0]
    rc, _, err = train(capsys, finished, data / "runs" / "t", "--epochs", 1)
    assert_refused(rc, err, r"runs/t: --out is or lies inside --data ")
    rc, _, err = train(capsys, finished, run / "inner", "--epochs", 1)
    assert_refused(rc, err, r"inner: --out lies inside another run folder, .*/run")
    assert not (data / "runs").exists() and not (run / "inner").exists()


def test_a_cache_inside_another_run_is_refused(finished, run, tmp_path, capsys):
    data = finished[0]
    before = digest(run)
    rc, _, err = crkd(
        capsys, "train-teacher", "--data", data, "--out", tmp_path / "new", *TRAIN,
        "--cache-dir", run / "frames",
    )  # fmt: skip
    assert_refused(rc, err, r"/run/frames: --cache-dir lies inside another run folder, .*/run")
    assert digest(run) == before and not (run / "frames").exists()
    assert not (tmp_path / "new").exists()


# --- a full disk --------------------------------------------------------------------------------


def fail_fsync(monkeypatch, code: int, name: str = "", after: int = 0) -> None:
    """Make os.fsync fail with `code` for temporary files of `name`, after `after` such calls."""
    real, calls = os.fsync, []

    def fsync(fd):
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            calls.append(fd)
            if len(calls) > after:
                raise OSError(code, os.strerror(code))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_full_disk_in_an_atomic_write_names_the_file(tmp_path, monkeypatch, code):
    path = tmp_path / "out.json"
    path.write_text('{"old": 1}\n')
    fail_fsync(monkeypatch, code)
    with pytest.raises(OSError) as info:
        atomic_write_json(path, {"new": 2})
    assert info.value.errno == code and info.value.filename == str(path)
    assert os.strerror(code) in info.value.strerror
    assert path.read_text() == '{"old": 1}\n' and leftovers(tmp_path) == []


def test_read_only_folder_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    def mkstemp(prefix, suffix, dir):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), f"{dir}/{prefix}x1y2{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with pytest.raises(OSError, match=r"cannot write: Read-only file system") as info:
        atomic_write_json(tmp_path / "out.json", {})
    assert info.value.filename == str(tmp_path / "out.json") and leftovers(tmp_path) == []


def test_full_disk_in_score_json_names_the_file(tmp_path, capsys, monkeypatch):
    hyp, ref = score_files(tmp_path)
    fail_fsync(monkeypatch, errno.ENOSPC)
    rc, _, err = crkd(capsys, "score", "--hyp", hyp, "--ref", ref, "--json", tmp_path / "s.json")
    assert_refused(rc, err, r"/s\.json: cannot write: No space left on device")
    assert not (tmp_path / "s.json").exists() and leftovers(tmp_path) == []


def test_full_disk_while_saving_a_checkpoint_leaves_a_resumable_run(
    finished, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    fail_fsync(monkeypatch, errno.ENOSPC, ".last.safetensors.", after=1)  # epoch 2's save
    rc, _, err = train(capsys, finished, out, "--epochs", 2)
    assert_refused(
        rc,
        err,
        r"/run/last\.safetensors: cannot write: No space left on device; .*the run is unfinished "
        r"\(no metrics\.json\) and keeps the state of epoch 1: free some space, then continue it "
        r"with --resume",
    )
    assert not (out / "metrics.json").exists() and leftovers(out) == []
    monkeypatch.undo()
    rc, _, err = train(capsys, finished, out, "--epochs", 2, "--resume")
    assert rc == 0, err
    assert read_json(out / "metrics.json")["epochs_run"] == 2


def test_full_disk_while_writing_metrics_leaves_an_unfinished_run(
    finished, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    fail_fsync(monkeypatch, errno.ENOSPC, ".metrics.json.")
    rc, _, err = train(capsys, finished, out, "--epochs", 1)
    assert_refused(rc, err, r"/run/metrics\.json: cannot write: No space left on device")
    assert not RunDir(out).is_complete() and leftovers(out) == []
    monkeypatch.undo()
    rc, _, err = train(capsys, finished, out, "--epochs", 1, "--resume")
    assert rc == 0, err
    assert RunDir(out).is_complete()


# --- a diverged training ------------------------------------------------------------------------


def test_diverged_training_names_the_loss_and_keeps_the_last_epoch(finished, tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = train(capsys, finished, out, "--epochs", 2, "--lr", "1e30")
    assert_refused(
        rc,
        err,
        r"non-finite loss \(ctc=nan.*total=nan\) at epoch 2, batch 1 of L = 1\*CTC.*: the clips "
        r"are finite, so training diverged: lower --lr \(1e\+30\); .*/run keeps epoch 1 "
        r"\(last\.safetensors\): --resume continues it",
    )
    assert (out / "last.safetensors").is_file() and not (out / "metrics.json").exists()
    rc, _, err = train(capsys, finished, out, "--epochs", 2, "--lr", "1e30", "--resume",
                       "--nan-policy", "skip")  # fmt: skip
    assert rc == 0, err
    assert read_json(out / "metrics.json")["skipped_batches"] >= 1


def test_diverged_first_epoch_clears_the_folder_for_a_restart(finished, tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = train(capsys, finished, out, "--epochs", 1, "--batch-size", 1, "--lr", "1e30")
    assert_refused(
        rc,
        err,
        r"at epoch 1, batch 2 .*training diverged: lower --lr .*; no epoch had finished, so "
        r"nothing was saved and .*/run was cleared: start it again \(without --resume\)",
    )
    assert list(out.iterdir()) == []
    rc, _, err = train(capsys, finished, out, "--epochs", 1, "--batch-size", 1)
    assert rc == 0, err


@pytest.mark.parametrize(
    "option,value",
    [("--lr", "nan"), ("--lr", "inf"), ("--lr", "0"), ("--temperature", "0"),
     ("--temperature", "-1"), ("--temperature", "nan"), ("--temperature", "inf")],
)  # fmt: skip
def test_learning_rate_and_temperature_are_checked_at_parse_time(tmp_path, capsys, option, value):
    argv = ["distill", "--data", tmp_path, "--out", tmp_path / "s", "--kd", "none", option, value]
    with pytest.raises(SystemExit) as info:
        crkd(capsys, *argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert f"argument {option}: must be > 0 and finite, got {value}" in err.splitlines()[-1]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "text,pattern",
    [
        (
            '{"epoch": 1, "ctc": 1.5}\n{"epoch": 1, "ctc": 1.2}\n',
            r"row 2 is epoch 1; expected epoch 2",
        ),
        ('{"epoch": 1, "ctc": NaN}\n', r"row 1: 'ctc' is nan, not a number >= 0"),
        ('{"epoch": 1, "note": "x"}\n', r"row 1: 'note' is 'x', not a number >= 0"),
        ("[1, 2]\n", r"row 1 is not an object of numbers"),
        ('{"epoch": 1,\n', r"row 1 is not JSON"),
    ],
    ids=["epochs out of order", "nan", "text", "not an object", "not json"],
)
def test_a_damaged_training_log_is_refused_naming_its_row(tmp_path, text, pattern):
    from crkd_core.errors import FileFormatError
    from crkd_core.study.training import read_log

    (tmp_path / "log.jsonl").write_text(text)
    with pytest.raises(FileFormatError, match=pattern) as info:
        read_log(tmp_path)
    assert "log.jsonl" in str(info.value)
