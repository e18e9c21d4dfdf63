"""The study's background queue of LRINet runs (`study.run.Batch`): at most `workers` at a time,
in order, and no KD run before its seed's first KD run has filled the teacher cache."""

from __future__ import annotations

import threading
import time

import pytest

from crkd_core.study import run as study_run
from crkd_core.study.grid import PointStatus
from crkd_core.study.paths import GridPoint


class FakeTraining:
    """Stands in for `run_point`: records when each point starts and ends."""

    def __init__(self, seconds: float = 0.05, fail: str | None = None):
        self.seconds, self.fail = seconds, fail
        self.lock = threading.Lock()
        self.events: list[tuple[str, str]] = []
        self.running = self.most = 0

    def __call__(self, cfg, p: GridPoint, threads: int) -> PointStatus:
        assert threads == 1
        with self.lock:
            self.events.append(("start", p.name))
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.events.append(("end", p.name))
        if p.name == self.fail:
            raise OSError(f"cannot write the log of {p.name}")
        return PointStatus(p, "done", self.seconds)


POINTS = [
    GridPoint(32, "both", 6, 0),
    GridPoint(32, "both", 6, 1),
    GridPoint(32, "both-recover", 6, 0),
    GridPoint(32, "both-recover", 6, 1),
    GridPoint(32, "logit", 6, 1),
    GridPoint(16, "none", 6, 2),
    GridPoint(32, "both", 6, 2),
    GridPoint(32, "feature-scale", 6, 2),
]


def test_kd_runs_wait_for_their_seeds_first_run(monkeypatch):
    fake = FakeTraining()
    monkeypatch.setattr(study_run, "run_point", fake)
    batch = study_run.Batch(None, POINTS, workers=2)
    batch.wait(2)  # the first two are done; the rest may still run
    assert {("end", p.name) for p in POINTS[:2]} <= set(fake.events)
    batch.wait()
    assert [s.point for s in batch.statuses] == POINTS
    assert fake.most == 2
    order = [name for kind, name in fake.events if kind == "start"]
    assert sorted(order) == sorted(p.name for p in POINTS)
    first_done = {}  # seed -> index in events where its first KD run ended
    for k, (kind, name) in enumerate(fake.events):
        p = next(q for q in POINTS if q.name == name)
        if kind == "end" and p.setting != "none":
            first_done.setdefault(p.seed, k)
    for seed in (0, 1, 2):
        kd = [p for p in POINTS if p.seed == seed and p.setting != "none"]
        for p in kd[1:]:  # not before the seed's first KD run has ended
            assert fake.events.index(("start", p.name)) > first_done[seed], p.name
    # without KD there is nothing to wait for: the 16-px run starts before seed 2's KD runs end
    assert order.index("s16-none-e6-seed2") < order.index("s32-feature-scale-e6-seed2")


def test_an_error_of_a_run_reaches_whoever_waits(monkeypatch):
    fake = FakeTraining(fail="s32-both-e6-seed1")
    monkeypatch.setattr(study_run, "run_point", fake)
    batch = study_run.Batch(None, POINTS[:4], workers=2)
    batch.wait(1)
    with pytest.raises(OSError, match="cannot write the log of s32-both-e6-seed1"):
        batch.wait()
