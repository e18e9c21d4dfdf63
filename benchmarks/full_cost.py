"""What a study profile costs: one measured epoch of each kind of run, scaled to the profile.

    .venv/bin/python benchmarks/full_cost.py --data D [--profile full] [--slots 1 2 4 16]

1. Trains one epoch of each kind of run on `--data` (SignWorld `default`), one after another,
   one torch thread each: the teacher; LRINet without KD at every size of the profile; CRKD at
   the headline size filling a teacher cache, then reading it back.
2. Takes the profile's runs from `study_plan` (the study's one statement of what it trains) and
   gives each a cost: epochs x (one measured epoch of its kind) x (the profile's train videos
   over the measured data's). A KD run at size s costs the no-KD run at s times the measured
   KD / no-KD ratio at the headline size (the cache filler's or reader's).
3. Schedules them on N one-thread slots in the plan's order (a run starts once a slot is free
   and the runs it waits for have ended: the teacher-cache rule), for the wall time.

Two ends: every run at its cap (`--epochs cap`, the high end) or stopped at its rule's first
chance (`min_epochs + patience`, the low end). The study's own runs fall between: in the
published `default` study 5 of 12 reached the 20-epoch cap.
"""

from __future__ import annotations

import argparse
import heapq
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from crkd_core.data.signworld import DATA_SIZES
from crkd_core.experiment import RunRecord
from crkd_core.study.profiles import STUDY_PROFILES
from crkd_core.study.training import study_plan

NOTEBOOKS = ["01_train_teacher", "02_distill_student", "03_resolution_ablation"]


def crkd(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "crkd_core.cli", *args], check=True)


def measure(data: Path, work: Path, sizes: list[int], size: int) -> dict[str, float]:
    """Seconds of one training epoch (`train_seconds`) of each kind of run."""
    common = ["--data", str(data), "--epochs", "1", "--threads", "1", "--allow-oov"]
    crkd("train-teacher", *common, "--out", str(work / "teacher"))
    seconds = {"teacher": RunRecord.read(work / "teacher").train_seconds}
    for s in sizes:
        out = work / f"nokd-s{s}"
        crkd("distill", *common, "--kd", "none", "--student-size", str(s), "--out", str(out))
        seconds[f"nokd-{s}"] = RunRecord.read(out).train_seconds
    taught = [*common, "--teacher", str(work / "teacher"), "--student-size", str(size)]
    taught += ["--teacher-cache", str(work / "cache"), "--head-init", "teacher"]
    for kind in ("fill", "read"):
        out = work / f"crkd-{kind}"
        crkd("distill", *taught, "--out", str(out), "--seed", "1" if kind == "read" else "0")
        seconds[f"crkd-{kind}"] = RunRecord.read(out).train_seconds
    return seconds


def run_cost(spec, epoch: dict[str, float], size: int, fillers: set[str], epochs: int) -> float:
    if spec.role == "teacher":
        return epochs * epoch["teacher"]
    s = spec.values["student_size"]
    base = epoch.get(f"nokd-{s}") or epoch[f"nokd-{size}"] * s * s / (size * size)
    if spec.values.get("teacher") is None:  # no KD: the study gives such a run no teacher
        return epochs * base
    kind = "fill" if spec.name in fillers else "read"
    return epochs * base * epoch[f"crkd-{kind}"] / epoch[f"nokd-{size}"]


def schedule(specs, cost: dict[str, float], slots: int) -> float:
    """The wall time of the runs in order on `slots` slots, each run waiting for its `after`."""
    free = [0.0] * slots
    end: dict[str, float] = {}
    for s in specs:
        ready = max((end[a] for a in s.after if a in end), default=0.0)
        start = max(heapq.heappop(free), ready)
        end[s.name] = start + cost[s.name]
        heapq.heappush(free, end[s.name])
    return max(end.values(), default=0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="SignWorld default (measured on)")
    ap.add_argument("--profile", default="full")
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--measured", type=Path, help="reuse a JSON of this script's epochs")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    plan = STUDY_PROFILES.get(args.profile)
    params = {"profile": plan.name, "data": "data", "study_dir": "study"}
    specs = study_plan(params, NOTEBOOKS, jobs=1).specs
    sizes = sorted({s.values["student_size"] for s in specs if s.role == "student"})
    if args.measured:
        epoch = json.loads(args.measured.read_text("utf-8"))["epoch_seconds"]
    else:
        with tempfile.TemporaryDirectory(prefix="crkd-cost-") as tmp:
            epoch = measure(args.data, Path(tmp), sizes, plan.student_size)
    measured = json.loads((args.data / "signworld.json").read_text("utf-8"))["splits"]["train"]
    scale = DATA_SIZES.get(plan.data_profile).train / measured
    # the cache fillers: the KD runs that other runs wait for (the others read the cache)
    waited = {a for s in specs for a in s.after}
    fillers = {s.name for s in specs if s.role == "student" and s.name in waited}
    out = {"profile": plan.name, "runs": len(specs), "data_scale": scale, "epoch_seconds": epoch}
    for end, pick in (("low", "rule"), ("high", "cap")):
        cost = {}
        for s in specs:
            cap = s.values["epochs"]
            low = (s.values.get("min_epochs") or 0) + (s.values.get("patience") or 0)
            epochs = cap if pick == "cap" else min(cap, max(low, 1))
            cost[s.name] = scale * run_cost(s, epoch, plan.student_size, fillers, epochs)
        out[end] = {
            "core_hours": sum(cost.values()) / 3600,
            "wall_hours": {n: schedule(specs, cost, n) / 3600 for n in args.slots},
        }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
