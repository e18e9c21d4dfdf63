"""Where training time goes, and today's step against the new one, side by side.

    .venv/bin/crkd synth --out /tmp/sw-default --profile default
    .venv/bin/python benchmarks/train_speed.py --data /tmp/sw-default \\
        --json benchmarks/results/train-speed.json

Each case runs the same training step as `crkd train-teacher` / `crkd distill` (the task's
forward, backward, gradient clipping and Adam; not the trainer itself, so that each phase can be
timed), on batches of real clips served as in training (frame store, `make_views`, `collate`),
with one of two recipes:

- `before`: the step as it was before the speed work: fp32, eager, contiguous frame trunks, and
  TSCM gathering neighbour rows (what commit 7a80de9 trained with);
- `after`: the step that `crkd` now trains with on this machine: the precision and memory
  format that `--amp auto` and `--channels-last auto` choose (`crkd_core.precision`), TSCM
  shifting channel slices, and the BiLSTM's directions run unpacked.

Phases: `views` (the frame store's slice and `make_views`), `collate`, `teacher_fwd` (the frozen
teacher, or in a `cached` case the `TeacherCache` lookup of a cache filled beforehand, as the
first student of a teacher fills it in a study), the trained network's forward and backward split
by module (`trunk`, `temporal_conv`, `bilstm`, `classifier`; `loss` is the rest: the losses and
packing), and `optim` (clipping, Adam, zeroing). Forward times come from module hooks, backward
times from backward hooks; the trunk's backward is what remains of the backward pass once the
head's modules and the losses' share are taken out, since it runs last.

Cases are interleaved round by round, so that the load of a shared machine falls evenly on all
of them; figures are pooled over rounds (all frames over all seconds; frames = the batch's valid
frames), and the JSON keeps each round's frames per second. Achieved GFLOP/s counts 2 FLOPs per
multiply-add, with the forward MACs of `crkd_core.cost.gmacs_per_frame` (the LSTM counted
analytically): the trained network costs 3x its forward, the frozen teacher 1x (0 when cached).
The ceilings are 2048x2048 fp32 and bf16 matmuls, timed in the same rounds at 1 and 2 threads;
a case is compared with the ceiling of its own precision.

`ratios` gives after / before for each case, and for the KD step as the study runs it: a share
of the study's KD runs computes the teacher, the others read it back, and the study mix is
weighted by those shares (before: one computing run per student seed; after: one per
teacher), for the KD runs of the published default study (9 runs, 3 student seeds, 1 teacher).
The frozen teacher's forward runs in bf16 in `after` where the CPU has it (`--amp auto`); the
trained network in fp32 (`crkd_core/precision.py` says why).

`--parallel` also compares one 2-thread run with two 1-thread runs side by side (separate
processes, same case, same number of steps): the aggregate frames per second of each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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
from crkd_core.models.layers import TSCM, BiLSTM, Neighbours  # noqa: E402
from crkd_core.models.presets import PRESETS, build_student, build_teacher  # noqa: E402
from crkd_core.precision import (  # noqa: E402
    autocast_dtype,
    resolve_amp,
    resolve_channels_last,
    resolve_teacher_amp,
)
from crkd_core.tasks import CTCTask, Distiller  # noqa: E402
from crkd_core.teacher_cache import TeacherCache  # noqa: E402

# the filled teacher caches of the `cached` cases (removed at the end)
CACHE_DIR = Path(tempfile.mkdtemp(prefix="crkd-train-speed-"))
FILLED = 64  # batches filled: more than --rounds x --steps + 1 of any run here

MODULES = ("trunk", "temporal_conv", "bilstm", "classifier")
PHASES = (
    "views",
    "collate",
    "teacher_fwd",
    *(f"{m}_fwd" for m in MODULES),
    "loss_fwd",
    *(f"{m}_bwd" for m in MODULES),
    "loss_bwd",
    "optim",
)
RECIPES = ("before", "after")


@dataclass(frozen=True)
class Recipe:
    """How a step computes: autocast precision ('none' = fp32), channels-last trunks, and
    whether TSCM gathers rows (the step before the speed work) or shifts slices."""

    name: str
    amp: str  # the trained network's
    channels_last: bool
    gather_tscm: bool  # and the BiLSTM on packed sequences
    teacher_amp: str = "none"  # the frozen teacher's forward in distillation


def recipe(name: str, device: str = "cpu", role: str = "teacher") -> Recipe:
    """A recipe for the network of `role` (teacher | student) that a case trains."""
    if name == "before":
        return Recipe("before", "none", False, True)
    amp, cl = resolve_amp("auto", device), resolve_channels_last("auto", device, role)
    return Recipe("after", amp, cl, False, resolve_teacher_amp("auto", device))


def sync(device: str) -> float:
    """The time, once the device has finished its queued work (CUDA runs asynchronously)."""
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "teacher" | "lrinet"
    size: int  # input px of the trained network
    kd: str = "none"
    feature_kd: str = "scale"
    batch_size: int | None = None  # None: the preset's
    cached: bool = False  # the teacher's outputs come from a filled --teacher-cache
    recipe: str = "after"


def default_cases(
    sizes: tuple[int, ...],
    batch_sizes: tuple[int, ...] = (),
    all_kd: bool = False,
    preset: str = "cpu",
) -> list[Case]:
    """Each case once per recipe: the teacher, and LRINet at each size without KD, with CRKD
    computing its teacher and with CRKD reading it from a filled cache."""
    t = PRESETS.get(preset).teacher.input_size
    base = [Case(f"teacher-{t}", "teacher", t)]
    for s in sizes:
        kds = ("none", "feature", "logit", "both") if all_kd else ("none", "both")
        base += [Case(f"lrinet-{s}-{kd}", "lrinet", s, kd) for kd in kds]
        if all_kd:
            base.append(Case(f"lrinet-{s}-both-recover", "lrinet", s, "both", "recover"))
        base.append(Case(f"lrinet-{s}-both-cached", "lrinet", s, "both", cached=True))
    for b in batch_sizes:  # the per-operation overhead: same networks, larger batches
        base.append(Case(f"teacher-{t}-b{b}", "teacher", t, batch_size=b))
        base.append(Case(f"lrinet-{sizes[0]}-both-b{b}", "lrinet", sizes[0], "both", batch_size=b))
    return [Case(**{**c.__dict__, "recipe": r}) for c in base for r in RECIPES]


class GatherTSCM(TSCM):
    """TSCM as the step before the speed work computed it: gathering neighbour rows."""

    def forward(self, x: torch.Tensor, nb: Neighbours) -> torch.Tensor:
        return super().forward(x, Neighbours(nb.prev, nb.next))


class PackedBiLSTM(BiLSTM):
    """The BiLSTM as the step before the speed work ran it: packed sequences."""

    def _run(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 or bool((lengths == x.shape[1]).all()):
            return self.lstm(x)[0]
        return self._packed(x, lengths)


def as_before(model: nn.Module) -> None:
    """TSCM gathering rows and the BiLSTM packed, as before (the same function: tests show
    they agree to float rounding)."""
    for block in model.trunk.blocks:
        if block.tscm is not None:
            block.tscm = GatherTSCM()
    model.head.lstm.__class__ = PackedBiLSTM


class TimedTeacher(nn.Module):
    """The frozen teacher, timing each forward call (the Distiller calls it once per step)."""

    def __init__(self, teacher: nn.Module, net: nn.Module):
        super().__init__()
        self.inner = teacher
        self.net = net  # the SLRNet, for output_lengths
        self.seconds = 0.0

    def forward(self, *args):
        t0 = time.perf_counter()
        out = self.inner(*args)
        self.seconds += time.perf_counter() - t0
        return out

    def output_lengths(self, lengths):
        return self.net.output_lengths(lengths)


@dataclass
class ModuleTimer:
    """Forward and backward seconds of the trained network's modules, from hooks."""

    fwd: dict = field(default_factory=lambda: dict.fromkeys(MODULES, 0.0))
    bwd: dict = field(default_factory=lambda: dict.fromkeys(MODULES, 0.0))
    started: dict = field(default_factory=dict)
    first_backward: float | None = None  # when the backward pass first reached a hooked module

    def attach(self, model: nn.Module) -> None:
        head = model.head
        modules = {
            "trunk": [model.trunk],
            "temporal_conv": [head.conv],
            "bilstm": [head.lstm],
            "classifier": [m for m in (head.classifier, head.visual) if m is not None],
        }
        for name, mods in modules.items():
            for m in mods:
                m.register_forward_pre_hook(self._start(name, "f"))
                m.register_forward_hook(self._stop(name, "f", self.fwd))
                if name != "trunk":  # its input needs no gradient: the remainder, below
                    m.register_full_backward_pre_hook(self._start(name, "b"))
                    m.register_full_backward_hook(self._stop(name, "b", self.bwd))

    def _start(self, name, kind):
        def hook(*_):
            now = time.perf_counter()
            self.started[(name, kind)] = now
            if kind == "b" and self.first_backward is None:
                self.first_backward = now

        return hook

    def _stop(self, name, kind, into):
        def hook(*_):
            into[name] += time.perf_counter() - self.started.pop((name, kind))

        return hook

    def reset(self) -> None:
        for times in (self.fwd, self.bwd):  # in place: the hooks hold these dicts
            times.update(dict.fromkeys(MODULES, 0.0))
        self.first_backward = None


@dataclass
class Setup:
    case: Case
    recipe: Recipe
    task: nn.Module
    dataset: SLRDataset
    batches: list[list[int]]
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]
    timer: TimedTeacher | None
    modules: ModuleTimer
    macs: dict  # forward MACs per frame: trained network, frozen teacher
    device: str = "cpu"

    def autocast(self):
        dtype = autocast_dtype(self.recipe.amp)
        return torch.autocast(self.device, dtype=dtype) if dtype else contextlib.nullcontext()


def load_split(root: Path, preset: str):
    layout = open_dataset(root)
    entries = layout.read_split("train")
    vocab = Vocab.from_glosses(g for e in entries for g in e.glosses)
    return entries, vocab, build_store(entries, PRESETS.get(preset).pre_size), layout.mirror_safe


def build_task(
    case: Case, preset: str, n_vocab: int, teacher_amp: str = "none"
) -> tuple[nn.Module, TimedTeacher | None]:
    p = PRESETS.get(preset)
    teacher = build_teacher(preset, n_vocab)
    if case.model == "teacher":
        return CTCTask(teacher, "teacher"), None
    student = build_student(preset, n_vocab, case.size, case.feature_kd)
    kd = resolve_kd(case.kd, {}, weights=p.kd_weights)  # the preset's KD weights
    task = Distiller(student, teacher, kd=kd, variant=case.feature_kd, teacher_amp=teacher_amp)
    if case.kd == "none":
        return task, None
    # with a cache, the timed "forward" is the cache's lookup and read
    inner = TeacherCache(CACHE_DIR / case_key(case), task.teacher) if case.cached else task.teacher
    timer = TimedTeacher(inner, task.teacher)
    return task, timer


def case_key(case: Case) -> str:
    return f"{case.name}-{case.recipe}"


def build_setup(case: Case, preset: str, data: tuple, seed: int = 0, device="cpu") -> Setup:
    """The task, dataset, batches and optimizer of one case; `data` is `load_split`'s."""
    entries, vocab, store, mirror_safe = data
    p = PRESETS.get(preset)
    rec = recipe(case.recipe, device, "teacher" if case.model == "teacher" else "student")
    torch.manual_seed(seed)
    task, timer = build_task(case, preset, len(vocab), rec.teacher_amp)
    task.to(device)
    frozen = getattr(task, "teacher", None)
    for net in (task.model, frozen):
        if net is not None and rec.gather_tscm:
            as_before(net)
    if rec.channels_last:
        task.to_channels_last()
    if timer is not None:
        task.__dict__["teacher"] = timer  # a plain attribute, as Distiller keeps it
    trained = gmacs_per_frame(task.model, 16)
    kd_teacher = gmacs_per_frame(frozen, 16) if timer is not None and not case.cached else 0.0
    # flip only where the layout allows it, as training does (SignWorld: no)
    student_size = None if case.model == "teacher" else case.size
    spec = ViewSpec(p.pre_size, p.teacher.input_size, student_size, flip=mirror_safe)
    ds = SLRDataset(entries, vocab, store, spec, train=True, seed=seed)
    batch = case.batch_size or p.batch_size
    sampler = BucketBatchSampler(ds.lengths(), batch, shuffle=True, seed=seed)
    params = [q for q in task.parameters() if q.requires_grad]
    opt = torch.optim.Adam(params, lr=p.lr, weight_decay=1e-4)
    task.train()
    modules = ModuleTimer()
    modules.attach(task.model)
    setup = Setup(
        case=case,
        recipe=rec,
        task=task,
        dataset=ds,
        batches=list(sampler),
        optimizer=opt,
        params=params,
        timer=timer,
        modules=modules,
        macs={"trained": trained, "teacher": kd_teacher},
        device=device,
    )
    if case.cached:  # fill the cache as the first student of the teacher would have
        dtype = autocast_dtype(rec.teacher_amp)
        with torch.no_grad(), torch.autocast(device, dtype, enabled=dtype is not None):
            for idx in setup.batches[:FILLED]:
                b = collate([ds[i] for i in idx]).to(device)
                timer.inner(b.video, b.video_lengths)
    return setup


def one_step(s: Setup, idx: list[int]) -> dict:
    """One training step, timed by phase (on CUDA the phases inside the forward and backward
    passes are when the host queued them, not when the GPU ran them: only the totals hold)."""
    t0 = time.perf_counter()
    samples = [s.dataset[i] for i in idx]
    tv = time.perf_counter()
    batch = collate(samples).to(s.device)
    t1 = sync(s.device)
    if s.timer is not None:
        s.timer.seconds = 0.0
    s.modules.reset()
    with s.autocast():
        losses = s.task(batch)
    t2 = sync(s.device)
    losses["total"].backward()
    t3 = sync(s.device)
    torch.nn.utils.clip_grad_norm_(s.params, 5.0)
    s.optimizer.step()
    s.optimizer.zero_grad(set_to_none=True)
    t4 = sync(s.device)
    teacher = s.timer.seconds if s.timer is not None else 0.0
    fwd, bwd = s.modules.fwd, s.modules.bwd
    head_bwd = sum(bwd.values())  # the trunk's is not hooked: it is the remainder
    # the losses' backward runs first, until the pass reaches the classifier
    loss_bwd = (s.modules.first_backward or t2) - t2
    trunk_bwd = max(0.0, t3 - t2 - head_bwd - loss_bwd)
    row = {
        "frames": int(batch.video_lengths.sum()),
        "views": tv - t0,
        "collate": t1 - tv,
        "teacher_fwd": teacher,
        **{f"{m}_fwd": fwd[m] for m in MODULES},
        "loss_fwd": max(0.0, t2 - t1 - teacher - sum(fwd.values())),
        **{f"{m}_bwd": bwd[m] for m in MODULES if m != "trunk"},
        "trunk_bwd": trunk_bwd,
        "loss_bwd": loss_bwd,
        "optim": t4 - t3,
    }
    return row


def run_round(s: Setup, steps: int, start: int) -> dict:
    """`steps` steps on the next batches; totals of frames and seconds per phase."""
    tot = {"frames": 0, **dict.fromkeys(PHASES, 0.0)}
    for k in range(steps):
        r = one_step(s, s.batches[(start + k) % len(s.batches)])
        for key in tot:
            tot[key] += r[key]
    return tot


def matmul_gflops(threads: int, dtype=torch.float32, n: int = 2048, min_seconds=0.5) -> float:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        a @ b
        reps += 1
    dt = time.perf_counter() - t0
    torch.set_num_threads(old)
    return 2 * n**3 * reps / dt / 1e9


def summarise(case: Case, rec: Recipe, rounds: list[dict], macs: dict, ceilings: dict) -> dict:
    """Pooled figures (all frames over all seconds: every case saw the same load), and each
    round's frames per second."""
    seconds = [sum(r[p] for p in PHASES) for r in rounds]
    total = {k: sum(r[k] for r in rounds) for k in ("frames", *PHASES)}
    fps = total["frames"] / sum(seconds)
    # FLOPs per frame of one training step: 3x forward for the trained net, 1x for the teacher
    flops = 2e9 * (3 * macs["trained"] + macs["teacher"])
    precision = "bf16" if rec.amp == "bf16" else "fp32"
    return {
        "case": case.__dict__,
        "recipe": rec.__dict__,
        "fps": fps,
        "fps_rounds": [r["frames"] / t for r, t in zip(rounds, seconds, strict=True)],
        "ms_per_frame": {p: 1e3 * total[p] / total["frames"] for p in PHASES},
        "share": {p: total[p] / sum(seconds) for p in PHASES},
        "gmacs_fwd_per_frame": macs,
        "train_gflop_per_frame": flops / 1e9,
        "gflops_step": flops * fps / 1e9,
        "ceiling_precision": precision,
        "ceiling_fraction": flops * fps / 1e9 / ceilings[precision],
    }


# The KD runs of the published default study (reports/, commit d954bbb) as (teacher seed,
# student seed): the headline's CRKD and the grid's recover runs for seeds 0-2, and seed 0's
# feature-only, logit-only and 16 px runs, all taught by teacher seed 0.
PUBLISHED_KD_RUNS = [(0, s) for s in (0, 1, 2) for _ in range(2)] + [(0, 0)] * 3


def kd_compute_shares(runs: list[tuple[int, int]] = PUBLISHED_KD_RUNS) -> dict:
    """Of a study's KD runs, the share that computes its teacher: before the speed work, the
    first KD run of each student seed did (views were drawn from the student's seed); now the
    first KD run of each teacher does (views drawn from the teacher's seed)."""
    return {
        "kd_runs": len(runs),
        "before": len({student for _, student in runs}) / len(runs),
        "after": len({teacher for teacher, _ in runs}) / len(runs),
    }


def ratios(results: list[dict], shares: dict) -> dict:
    """after / before frames per second of each case, and of the study's KD mix."""
    fps = {(r["case"]["name"], r["recipe"]["name"]): r for r in results}
    out = {}
    for name in dict.fromkeys(r["case"]["name"] for r in results):
        if (name, "before") in fps and (name, "after") in fps:
            out[name] = fps[name, "after"]["fps"] / fps[name, "before"]["fps"]
    for name in dict.fromkeys(r["case"]["name"] for r in results):
        cached = name + "-cached"
        if not all((n, r) in fps for n in (name, cached) for r in RECIPES):
            continue

        def mix(rec: str, names=(name, cached)) -> float:  # weighted by the computing share
            f = shares[rec]
            ms = [1e3 / fps[n, rec]["fps"] for n in names]
            return 1e3 / (f * ms[0] + (1 - f) * ms[1])

        out[f"{name}-study-mix"] = mix("after") / mix("before")
    return out


def benchmark(args, data: tuple) -> dict:
    cases = default_cases(tuple(args.sizes), tuple(args.batch_sizes), args.all_kd, args.preset)
    setups = [build_setup(c, args.preset, data, device=args.device) for c in cases]
    for s in setups:  # warm-up
        run_round(s, 1, 0)
    rounds: dict[str, list[dict]] = {case_key(s.case): [] for s in setups}
    ceil = {f"{d}-{t}": [] for d in ("fp32", "bf16") for t in (1, 2)}
    for r in range(args.rounds):
        for key in ceil if args.device == "cpu" else ():
            dtype, threads = key.split("-")
            dt = torch.float32 if dtype == "fp32" else torch.bfloat16
            ceil[key].append(matmul_gflops(int(threads), dt))
        order = setups if r % 2 == 0 else setups[::-1]
        for s in order:
            rounds[case_key(s.case)].append(run_round(s, args.steps, 1 + r * args.steps))
    ceilings = {
        d: statistics.median(ceil[f"{d}-{min(args.threads, 2)}"] or [float("nan")])
        for d in ("fp32", "bf16")
    }
    results = [
        summarise(s.case, s.recipe, rounds[case_key(s.case)], s.macs, ceilings) for s in setups
    ]
    shares = kd_compute_shares()
    return {
        "ceiling_gflops": {k: statistics.median(v or [float("nan")]) for k, v in ceil.items()},
        "ceiling_rounds": ceil,
        "ceilings_used": ceilings,
        "kd_compute_shares": shares,
        "cases": results,
        "ratios": ratios(results, shares),
    }


def parse_case(spec: str) -> Case:
    """'teacher[@RECIPE]' or 'SIZE:KD[:FEATURE_KD][@RECIPE]' (e.g. '32:both@before')."""
    spec, _, rec = spec.partition("@")
    rec = rec or "after"
    if rec not in RECIPES:
        raise SystemExit(f"unknown recipe {rec!r} in --parallel; use one of {RECIPES}")
    if spec == "teacher":
        return Case("teacher", "teacher", 0, recipe=rec)  # size: the preset's
    size, kd, *rest = spec.split(":")
    return Case(f"lrinet-{spec}", "lrinet", int(size), kd, *rest, recipe=rec)


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


def parallel_check(args) -> dict:
    """Aggregate frames/s of each --parallel case: one 2-thread process, two 1-thread processes
    at once, and one 1-thread process. Repeats alternate the order of cases and layouts, so
    that a drifting load falls on all of them."""

    def launch(spec: str, threads: int, n: int) -> list[dict]:
        cmd = [sys.executable, __file__, "--data", str(args.data), "--preset", args.preset]
        cmd += ["--steps", str(args.parallel_steps), "--worker", spec, "--threads", str(threads)]
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(n)]
        outs = []
        for p in procs:
            out, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"worker {spec} exited with {p.returncode}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
        return outs

    layouts = (("1x2threads", 2, 1), ("2x1thread", 1, 2), ("1x1thread", 1, 1))
    runs = {spec: {label: [] for label, *_ in layouts} for spec in args.parallel}
    for rep in range(args.parallel_repeats):
        jobs = [(spec, *layout) for spec in args.parallel for layout in layouts]
        for spec, label, threads, n in jobs if rep % 2 == 0 else jobs[::-1]:
            outs = launch(spec, threads, n)
            fps = sum(o["frames"] / o["seconds"] for o in outs)
            runs[spec][label].append({"runs": outs, "fps": fps})
    res = {}
    for spec, by_layout in runs.items():
        res[spec] = {
            label: {"repeats": reps, "aggregate_fps": statistics.median(r["fps"] for r in reps)}
            for label, reps in by_layout.items()
        }
        agg = {k: v["aggregate_fps"] for k, v in res[spec].items()}
        res[spec]["ratio_2x1_over_1x2"] = agg["2x1thread"] / agg["1x2threads"]
    # the machine's training throughput: the new step on both cores as two 1-thread runs,
    # against the old step as one 2-thread run (what a single run did before)
    for spec in args.parallel:
        base, _, rec = spec.partition("@")
        if rec == "after" and f"{base}@before" in res:
            new, old = res[spec]["2x1thread"], res[f"{base}@before"]["1x2threads"]
            res[f"{base}: after 2x1thread / before 1x2threads"] = (
                new["aggregate_fps"] / old["aggregate_fps"]
            )
    return res


GROUPS = {  # the table's columns: phases summed
    "data": ("views", "collate"),
    "teacher": ("teacher_fwd",),
    "trunk": ("trunk_fwd", "trunk_bwd"),
    "tconv": ("temporal_conv_fwd", "temporal_conv_bwd"),
    "bilstm": ("bilstm_fwd", "bilstm_bwd"),
    "classif": ("classifier_fwd", "classifier_bwd"),
    "loss": ("loss_fwd", "loss_bwd"),
    "optim": ("optim",),
}


def print_table(out: dict) -> None:
    m = out["machine"]
    pins = " ".join(f"{k}={v}" for k, v in m["kernel_pins"].items())
    print(
        f"{m['cpu']['model']} ({' '.join(m['cpu']['isa'])}); torch kernels "
        f"{m['torch_cpu_capability']}{' pinned: ' + pins if pins else ''}; {m['threads']} threads"
    )
    if "cases" in out:
        c = out["ceiling_gflops"]
        print(
            "matmul ceilings, GFLOP/s: "
            + ", ".join(f"{k.replace('-', ' ')} thread(s) {v:.0f}" for k, v in c.items())
        )
        head = "".join(f"{g:>8}" for g in GROUPS)
        print(f"{'case':26}{'recipe':>7}{'fps':>7}{'ms/fr':>7}{head}{'GFLOP/s':>9}{'ceil':>6}")
        for r in out["cases"]:
            shares = "".join(
                f"{100 * sum(r['share'][p] for p in ps):>7.0f}%" for ps in GROUPS.values()
            )
            ms = sum(r["ms_per_frame"].values())
            print(
                f"{r['case']['name']:26}{r['recipe']['name']:>7}{r['fps']:>7.0f}{ms:>7.2f}"
                f"{shares}{r['gflops_step']:>9.1f}{100 * r['ceiling_fraction']:>5.0f}%"
            )
        print("after / before: " + ", ".join(f"{k} {v:.2f}x" for k, v in out["ratios"].items()))
    for spec, par in out.get("parallel", {}).items():
        if not isinstance(par, dict):
            print(f"parallel {spec}: {par:.2f}x")
            continue
        agg = {k: v["aggregate_fps"] for k, v in par.items() if isinstance(v, dict)}
        print(f"parallel {spec}: " + ", ".join(f"{k} {v:.0f} fps" for k, v in agg.items()))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a SignWorld root (crkd synth)")
    ap.add_argument("--preset", default="cpu", choices=PRESETS.names())
    ap.add_argument("--sizes", type=int, nargs="+", default=[32])
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[], help="extra batch sizes")
    ap.add_argument("--all-kd", action="store_true", help="also feature, logit and recover KD")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the cases")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4, help="training steps per case and round")
    ap.add_argument(
        "--parallel",
        nargs="*",
        default=[],
        metavar="CASE",
        help="cases for the 2-thread vs 2x1-thread check: SIZE:KD or teacher, then @before "
        "or @after (default)",
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
    out["parallel"] = parallel_check(args) if args.parallel else {}
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
