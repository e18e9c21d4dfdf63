"""Where training time goes: a training step of the cpu teacher and LRINet, split into phases.

    .venv/bin/crkd synth --out /tmp/sw-smoke --profile smoke
    .venv/bin/python benchmarks/train_speed.py --data /tmp/sw-smoke \\
        --json benchmarks/results/train-speed.json

Each case runs the same training step as `crkd train-teacher` / `crkd distill` (the task's
forward, backward, gradient clipping and Adam; not the trainer itself, so that each phase can be
timed), on batches of real clips served as in training (frame store, `make_views`, `collate`):

- `views`: `SLRDataset.__getitem__`: the frame store's slice and `make_views` (crop, flip,
  temporal rescale, the student's antialiased resize);
- `collate`: padding the clips into a batch;
- `teacher_fwd`: the frozen teacher's forward pass (KD cases only; timed inside the task). In
  the `cached` case it is the `TeacherCache` lookup instead (hash, read), on a cache filled
  beforehand as the first student of a seed fills it in a study;
- `student_fwd_bwd`: the trained network's forward, losses and backward;
- `optim`: gradient clipping, Adam step, zeroing.

Cases are interleaved round by round, so that the load of a shared machine falls evenly on all
of them; the figures are pooled over rounds (all frames over all seconds; frames = the batch's
valid frames), and the JSON keeps each round's frames per second. Achieved GFLOP/s counts 2
FLOPs per multiply-add, with the forward MACs of `crkd_core.cost.gmacs_per_frame` (the LSTM
counted analytically): the trained network costs 3x its forward (forward, backward for the
activations and for the weights), the frozen teacher 1x. That is an approximation: the first
convolution needs no input gradient, and training adds the visual CTC classifier. The ceiling
is a 2048x2048 fp32 matmul, timed in the same rounds at 1 and 2 threads.

`--parallel` also compares one 2-thread run with two 1-thread runs side by side (separate
processes, same case, same number of steps): the aggregate frames per second of each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the crkd CLI: read when torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from crkd_core.cost import gmacs_per_frame  # noqa: E402
from crkd_core.data.corpus import open_dataset  # noqa: E402
from crkd_core.data.dataset import SLRDataset, collate  # noqa: E402
from crkd_core.data.frames import build_store  # noqa: E402
from crkd_core.data.sampler import BucketBatchSampler  # noqa: E402
from crkd_core.data.transforms import ViewSpec  # noqa: E402
from crkd_core.data.vocab import Vocab  # noqa: E402
from crkd_core.losses.registry import resolve_kd  # noqa: E402
from crkd_core.machine import machine_facts  # noqa: E402
from crkd_core.models.presets import PRESETS, build_student, build_teacher  # noqa: E402
from crkd_core.tasks import CTCTask, Distiller  # noqa: E402
from crkd_core.teacher_cache import TeacherCache  # noqa: E402

# the filled teacher caches of the `cached` cases (removed at the end)
CACHE_DIR = Path(tempfile.mkdtemp(prefix="crkd-train-speed-"))
FILLED = 64  # batches filled: more than --rounds x --steps + 1 of any run here

PHASES = ("views", "collate", "teacher_fwd", "student_fwd_bwd", "optim")


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "teacher" | "lrinet"
    size: int  # input px of the trained network
    kd: str = "none"
    feature_kd: str = "scale"
    batch_size: int | None = None  # None: the preset's
    cached: bool = False  # the teacher's outputs come from a filled --teacher-cache


def default_cases(sizes: tuple[int, ...], batch_sizes: tuple[int, ...] = ()) -> list[Case]:
    cases = [Case("teacher-64", "teacher", 64)]
    for s in sizes:
        for kd in ("none", "feature", "logit", "both"):
            cases.append(Case(f"lrinet-{s}-{kd}", "lrinet", s, kd))
        cases.append(Case(f"lrinet-{s}-both-recover", "lrinet", s, "both", "recover"))
        cases.append(Case(f"lrinet-{s}-both-cached", "lrinet", s, "both", cached=True))
    for b in batch_sizes:  # the per-operation overhead: same networks, larger batches
        cases.append(Case(f"teacher-64-b{b}", "teacher", 64, batch_size=b))
        cases.append(Case(f"lrinet-{sizes[0]}-both-b{b}", "lrinet", sizes[0], "both", batch_size=b))
    return cases


class TimedTeacher(nn.Module):
    """The frozen teacher, timing each forward call (the Distiller calls it once per step)."""

    def __init__(self, teacher: nn.Module):
        super().__init__()
        self.inner = teacher
        self.seconds = 0.0

    def forward(self, *args):
        t0 = time.perf_counter()
        out = self.inner(*args)
        self.seconds += time.perf_counter() - t0
        return out


@dataclass
class Setup:
    case: Case
    task: nn.Module
    dataset: SLRDataset
    batches: list[list[int]]
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]
    timer: TimedTeacher | None
    macs: dict  # forward MACs per frame: trained network, frozen teacher


def load_split(root: Path, preset: str):
    layout = open_dataset(root)
    entries = layout.read_split("train")
    vocab = Vocab.from_glosses(g for e in entries for g in e.glosses)
    return entries, vocab, build_store(entries, PRESETS.get(preset).pre_size), layout.mirror_safe


def build_setup(case: Case, preset: str, data: tuple, seed: int = 0) -> Setup:
    """The task, dataset, batches and optimizer of one case; `data` is `load_split`'s."""
    entries, vocab, store, mirror_safe = data
    p = PRESETS.get(preset)
    torch.manual_seed(seed)
    teacher = build_teacher(preset, len(vocab))
    timer = None
    if case.model == "teacher":
        task, student_size = CTCTask(teacher, "teacher"), None
        macs = {"trained": gmacs_per_frame(teacher, 16), "teacher": 0.0}
    else:
        student = build_student(preset, len(vocab), case.size, case.feature_kd)
        kd = resolve_kd(case.kd, {}, weights=p.kd_weights)  # the preset's KD weights
        task = Distiller(student, teacher, kd=kd, variant=case.feature_kd)
        if case.kd != "none":
            # with a cache, the timed "forward" is the cache's lookup and read
            inner = TeacherCache(CACHE_DIR / case.name, task.teacher) if case.cached else None
            timer = TimedTeacher(task.teacher) if inner is None else TimedTeacher(inner)
            task.__dict__["teacher"] = timer  # a plain attribute, as Distiller keeps it
        student_size = case.size
        kd_teacher = gmacs_per_frame(teacher, 16) if case.kd != "none" else 0.0
        macs = {"trained": gmacs_per_frame(student, 16), "teacher": kd_teacher}
    # flip only where the layout allows it, as training does (SignWorld: no)
    spec = ViewSpec(p.pre_size, p.teacher.input_size, student_size, flip=mirror_safe)
    ds = SLRDataset(entries, vocab, store, spec, train=True, seed=seed)
    batch = case.batch_size or p.batch_size
    sampler = BucketBatchSampler(ds.lengths(), batch, shuffle=True, seed=seed)
    params = [q for q in task.parameters() if q.requires_grad]
    opt = torch.optim.Adam(params, lr=p.lr, weight_decay=1e-4)
    task.train()
    setup = Setup(
        case=case,
        task=task,
        dataset=ds,
        batches=list(sampler),
        optimizer=opt,
        params=params,
        timer=timer,
        macs=macs,
    )
    if case.cached:  # fill the cache as another student of the seed would have
        with torch.no_grad():
            for idx in setup.batches[:FILLED]:
                b = collate([ds[i] for i in idx])
                timer.inner(b.video, b.video_lengths)
    return setup


def one_step(s: Setup, idx: list[int]) -> dict:
    t0 = time.perf_counter()
    samples = [s.dataset[i] for i in idx]
    tv = time.perf_counter()
    batch = collate(samples)
    t1 = time.perf_counter()
    if s.timer is not None:
        s.timer.seconds = 0.0
    losses = s.task(batch)
    losses["total"].backward()
    t2 = time.perf_counter()
    torch.nn.utils.clip_grad_norm_(s.params, 5.0)
    s.optimizer.step()
    s.optimizer.zero_grad(set_to_none=True)
    t3 = time.perf_counter()
    teacher = s.timer.seconds if s.timer is not None else 0.0
    return {
        "frames": int(batch.video_lengths.sum()),
        "views": tv - t0,
        "collate": t1 - tv,
        "teacher_fwd": teacher,
        "student_fwd_bwd": t2 - t1 - teacher,
        "optim": t3 - t2,
    }


def run_round(s: Setup, steps: int, start: int) -> dict:
    """`steps` steps on the next batches; totals of frames and seconds per phase."""
    tot = {"frames": 0, **dict.fromkeys(PHASES, 0.0)}
    for k in range(steps):
        r = one_step(s, s.batches[(start + k) % len(s.batches)])
        for key in tot:
            tot[key] += r[key]
    return tot


def matmul_gflops(threads: int, n: int = 2048, min_seconds: float = 0.5) -> float:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        a @ b
        reps += 1
    dt = time.perf_counter() - t0
    torch.set_num_threads(old)
    return 2 * n**3 * reps / dt / 1e9


def summarise(case: Case, rounds: list[dict], macs: dict, ceiling: float) -> dict:
    """Pooled figures (all frames over all seconds: every case saw the same load), and each
    round's frames per second."""
    seconds = [sum(r[p] for p in PHASES) for r in rounds]
    total = {k: sum(r[k] for r in rounds) for k in ("frames", *PHASES)}
    fps = total["frames"] / sum(seconds)
    # FLOPs per frame of one training step: 3x forward for the trained net, 1x for the teacher
    flops = 2e9 * (3 * macs["trained"] + macs["teacher"])
    compute_s = total["teacher_fwd"] + total["student_fwd_bwd"]
    return {
        "case": case.__dict__,
        "fps": fps,
        "fps_rounds": [r["frames"] / t for r, t in zip(rounds, seconds, strict=True)],
        "ms_per_frame": {p: 1e3 * total[p] / total["frames"] for p in PHASES},
        "share": {p: total[p] / sum(seconds) for p in PHASES},
        "gmacs_fwd_per_frame": macs,
        "train_gflop_per_frame": flops / 1e9,
        "gflops_step": flops * fps / 1e9,
        "gflops_compute": flops * total["frames"] / compute_s / 1e9,
        "ceiling_fraction": flops * fps / 1e9 / ceiling,
    }


def benchmark(args, data: tuple) -> dict:
    cases = default_cases(tuple(args.sizes), tuple(args.batch_sizes))
    setups = [build_setup(c, args.preset, data) for c in cases]
    for s in setups:  # warm-up
        run_round(s, 1, 0)
    rounds: dict[str, list[dict]] = {s.case.name: [] for s in setups}
    ceil1, ceil2 = [], []
    for r in range(args.rounds):
        ceil1.append(matmul_gflops(1))
        ceil2.append(matmul_gflops(2))
        order = setups if r % 2 == 0 else setups[::-1]
        for s in order:
            rounds[s.case.name].append(run_round(s, args.steps, 1 + r * args.steps))
    ceiling = statistics.median(ceil1 if args.threads == 1 else ceil2)
    results = [
        summarise(s.case, rounds[s.case.name], s.macs, ceiling) for s in setups
    ]  # fmt: skip
    return {
        "ceiling_gflops": {"1": statistics.median(ceil1), "2": statistics.median(ceil2)},
        "ceiling_rounds": {"1": ceil1, "2": ceil2},
        "cases": results,
    }


def parse_case(spec: str) -> Case:
    """'teacher' or 'SIZE:KD[:FEATURE_KD]' (e.g. '16:both') -> a Case."""
    if spec == "teacher":
        return Case("teacher-64", "teacher", 64)
    size, kd, *rest = spec.split(":")
    return Case(f"lrinet-{spec}", "lrinet", int(size), kd, *rest)


def worker(args) -> None:
    """One case for --parallel: prints {'frames', 'seconds'} of its steps as JSON."""
    torch.set_num_threads(args.threads)
    s = build_setup(parse_case(args.worker), args.preset, load_split(args.data, args.preset))
    run_round(s, 2, 0)
    t0, c0 = time.perf_counter(), time.process_time()
    tot = run_round(s, args.steps, 2)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # cpu / wall: the cores this process got (a starved 1-thread run reads well below 1)
    print(json.dumps({"frames": tot["frames"], "seconds": wall, "cpu_seconds": cpu}))


def parallel_check(args, spec: str) -> dict:
    """Aggregate frames/s: one 2-thread process against two 1-thread processes at once."""
    cmd = [sys.executable, __file__, "--data", str(args.data), "--preset", args.preset]
    cmd += ["--steps", str(args.parallel_steps), "--worker", spec]

    def launch(threads: int, n: int) -> list[dict]:
        procs = [
            subprocess.Popen([*cmd, "--threads", str(threads)], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        outs = []
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"worker {spec} exited with {p.returncode}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
        return outs

    runs: dict[str, list[dict]] = {"1x2threads": [], "2x1thread": [], "1x1thread": []}
    layouts = (("1x2threads", 2, 1), ("2x1thread", 1, 2), ("1x1thread", 1, 1))
    for rep in range(args.parallel_repeats):  # alternate the order: the load drifts
        for label, threads, n in layouts if rep % 2 == 0 else layouts[::-1]:
            outs = launch(threads, n)
            runs[label].append({"runs": outs, "fps": sum(o["frames"] / o["seconds"] for o in outs)})
    res = {
        label: {"repeats": reps, "aggregate_fps": statistics.median(r["fps"] for r in reps)}
        for label, reps in runs.items()
    }
    two, one = res["2x1thread"]["aggregate_fps"], res["1x2threads"]["aggregate_fps"]
    res["ratio_2x1_over_1x2"] = two / one
    return res


def print_table(out: dict) -> None:
    m = out["machine"]
    pins = " ".join(f"{k}={v}" for k, v in m["kernel_pins"].items())
    print(
        f"{m['cpu']['model']} ({' '.join(m['cpu']['isa'])}); torch kernels "
        f"{m['torch_cpu_capability']}{' pinned: ' + pins if pins else ''}; {m['threads']} threads"
    )
    if "cases" in out:
        c = out["ceiling_gflops"]
        print(f"fp32 matmul ceiling: {c['1']:.1f} GFLOP/s (1 thread), {c['2']:.1f} (2 threads)")
        head = "".join(f"{p:>16}" for p in PHASES)
        print(f"{'case':26}{'fps':>7}{'ms/frame':>9}{head}{'GFLOP/s':>9}{'ceil':>6}")
        for r in out["cases"]:
            shares = "".join(f"{100 * r['share'][p]:>15.0f}%" for p in PHASES)
            ms = sum(r["ms_per_frame"].values())
            print(
                f"{r['case']['name']:26}{r['fps']:>7.0f}{ms:>9.2f}{shares}"
                f"{r['gflops_step']:>9.2f}{100 * r['ceiling_fraction']:>5.0f}%"
            )
    for spec, par in out.get("parallel", {}).items():
        agg = {k: v["aggregate_fps"] for k, v in par.items() if isinstance(v, dict)}
        print(f"parallel {spec}: " + ", ".join(f"{k} {v:.0f} fps" for k, v in agg.items()))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a SignWorld root (crkd synth)")
    ap.add_argument("--preset", default="cpu", choices=PRESETS.names())
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[], help="extra batch sizes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the cases")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="training steps per case and round")
    ap.add_argument(
        "--parallel",
        nargs="*",
        default=[],
        metavar="CASE",
        help="cases for the 2-thread vs 2x1-thread check: SIZE:KD or teacher",
    )
    ap.add_argument("--parallel-steps", type=int, default=12)
    ap.add_argument("--parallel-repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    finally:
        shutil.rmtree(CACHE_DIR, ignore_errors=True)


def run(args) -> int:
    if args.worker:
        worker(args)
        return 0
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    data = load_split(args.data, args.preset)
    # paths by their last part only: the JSON is published and names no folder of this machine
    settings = {k: v.name if isinstance(v, Path) else str(v) for k, v in vars(args).items()}
    out = {"settings": settings, "load_before": load_before}
    if args.rounds > 0:  # --rounds 0: only the --parallel check
        out.update(benchmark(args, data))
    out["parallel"] = {spec: parallel_check(args, spec) for spec in args.parallel}
    out["load_after"] = os.getloadavg()
    out["versions"] = {"torch": torch.__version__, "numpy": np.__version__}
    out["machine"] = machine_facts()  # CPU model, ISA, kernel set (and any pins), threads
    print_table(out)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
        print(f"-> {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
