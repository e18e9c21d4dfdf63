"""SIGKILL a training run at several points; --resume must end exactly where an uninterrupted
run ends (same seed, same machine, CPU), with no half-written file on the way."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from crkd_core.io import read_json

pytestmark = pytest.mark.slow
CRKD = str(Path(sys.executable).parent / "crkd")
ARGS = ["--epochs", "2", "--batch-size", "8", "--threads", "1", "--seed", "7"]
# what a run measures of its machine and process, not what it learned
TIMING = {
    "train_seconds",
    "wall_seconds_this_process",
    "finished_at",
    "epoch_seconds",
    "train_fps",
    "peak_memory_mb",
}


def train(data, out, *extra, fault=None):
    env = {**os.environ, "CRKD_NO_PROGRESS": "1"}
    env.pop("CRKD_FAULT", None)
    if fault:
        env["CRKD_FAULT"] = fault
    return subprocess.run(
        [CRKD, "train-teacher", "--data", str(data), "--out", str(out), *ARGS, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def results(run: Path) -> tuple[dict, list[dict]]:
    metrics = {k: v for k, v in read_json(run / "metrics.json").items() if k not in TIMING}
    log = [
        {k: v for k, v in json.loads(line).items() if k not in TIMING}
        for line in (run / "log.jsonl").read_text().splitlines()
    ]
    return metrics, log


@pytest.fixture(scope="module")
def baseline(smoke_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("crash") / "baseline"
    r = train(smoke_data, out)
    assert r.returncode == 0, r.stderr
    return results(out)


# (fault point and count, what the kill interrupts)
KILLS = [
    ("train_step:2", "mid-epoch, in the first epoch"),
    ("train_step:5", "mid-epoch, in the second epoch (after one checkpoint)"),
    ("checkpoint_write:4", "inside a checkpoint write, between temp file and rename"),
    ("evaluate_batch:3", "during the dev evaluation of epoch 2"),
]


@pytest.mark.parametrize("fault,what", KILLS, ids=[k[0] for k in KILLS])
def test_killed_run_resumes_to_identical_metrics(smoke_data, tmp_path, baseline, fault, what):
    out = tmp_path / "run"
    killed = train(smoke_data, out, fault=fault)
    assert killed.returncode == -signal.SIGKILL, (what, killed.returncode, killed.stderr[-2000:])
    assert not (out / "metrics.json").exists()  # never looks complete
    for f in out.glob("*.json"):  # whatever is there is whole
        json.loads(f.read_text())
    resumed = train(smoke_data, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert results(out) == baseline, what
    assert not list(out.glob(".*.tmp"))  # the resumed run cleaned up after itself


def test_same_seed_same_metrics(smoke_data, tmp_path, baseline):
    out = tmp_path / "again"
    assert train(smoke_data, out).returncode == 0
    assert results(out) == baseline
