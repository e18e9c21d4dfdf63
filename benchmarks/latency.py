"""Latency, throughput and memory of teacher vs LRINet: PyTorch eager vs onnxruntime fp32/int8.

Not a test: a measurement script. Run from the repository root:

    .venv/bin/python benchmarks/latency.py            # full (a few minutes)
    .venv/bin/python benchmarks/latency.py --quick    # under ~2 minutes

For each preset (`paper`, `cpu`) and model (teacher, LRINet; random weights, 1296 classes as
PHOENIX) it measures batch-1 inference on one clip with several engines:

    eager           PyTorch as trained
    eager-fold      PyTorch with conv+BN folded (deploy/fuse.py)
    eager-fold-cl   the same, channels-last
    ort-fp32        onnxruntime on the exported graph
    ort-int8-dyn    int8 weights of MatMul/LSTM (dynamic quantization)
    ort-int8-static int8 QDQ convolutions, calibrated on random clips (fine for speed only)

Timed runs of all (preset, model, engine) combinations are interleaved, round by round, so
that the noise of a shared machine falls on all of them alike; fps is the median over rounds,
ratios are taken within the same run. Wall-clock and process CPU time are both recorded.
Peak memory is the peak resident set (VmHWM, /proc/self/status) of a fresh process that
imports torch and onnxruntime, builds one engine and runs one clip; its increase over the
imports is reported too. The machine's fp32 ceiling is a 2048x2048 torch matmul, timed in the
same interleaved rounds as the models (so under the same load); each model's achieved GFLOP/s
is 2 * GMACs/frame (crkd_core.cost) * fps, and its fraction of the ceiling is reported.

Threads wait passively (OMP_WAIT_POLICY=PASSIVE, onnxruntime without spinning) unless
`--spin`: see crkd_core/deploy/fuse.py for why.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import os
import sys

ENGINES = ("eager", "eager-fold", "eager-fold-cl", "ort-fp32", "ort-int8-dyn", "ort-int8-static")
QUICK_ENGINES = ("eager", "eager-fold-cl", "ort-fp32", "ort-int8-static")
MEMORY_ENGINES = ("eager", "ort-fp32", "ort-int8-dyn", "ort-int8-static")
QUICK_MEMORY_ENGINES = ("ort-fp32",)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer frames, rounds and engines")
    p.add_argument("--json", default=None, help="default: benchmarks/results/latency-<date>.json")
    p.add_argument("--presets", default="paper,cpu")
    p.add_argument("--engines", default=None, help=f"comma-separated, of {', '.join(ENGINES)}")
    p.add_argument("--frames", type=int, default=None, help="clip length (default 32; quick 16)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; quick 3)")
    p.add_argument("--min-seconds", type=float, default=None, help="per timed run (0.5; 0.2)")
    p.add_argument("--threads", type=int, default=None, help="default: torch's default")
    p.add_argument("--classes", type=int, default=1296)
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--spin", action="store_true", help="let idle threads spin (the defaults)")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    args.engines = args.engines or ",".join(QUICK_ENGINES if quick else ENGINES)
    args.frames = args.frames or (16 if quick else 32)
    args.rounds = args.rounds or (3 if quick else 5)
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.2 if quick else 0.5)
    return args


ARGS = parse_args()
if not ARGS.spin:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch loads OpenMP

import datetime
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crkd_core.cost import count_params, gmacs_per_frame
from crkd_core.deploy.export import export_onnx
from crkd_core.deploy.fuse import fold_conv_bn, to_channels_last
from crkd_core.deploy.quantize import quantize_int8
from crkd_core.deploy.runtime import OnnxRecognizer, TorchRecognizer
from crkd_core.io import atomic_write_json
from crkd_core.machine import peak_rss_mb
from crkd_core.models import build_student, build_teacher

ROOT = Path(__file__).resolve().parent


@dataclass
class Case:
    """One (preset, model, engine) combination and its timed runs."""

    preset: str
    model: str
    engine: str
    run: object  # a recogniser
    video: torch.Tensor
    wall: list[float] = field(default_factory=list)  # seconds per clip, one per round
    cpu: list[float] = field(default_factory=list)  # process CPU seconds per clip

    @property
    def key(self) -> str:
        return f"{self.preset}/{self.model}/{self.engine}"


def build_model(preset: str, role: str, classes: int):
    torch.manual_seed(0)
    model = build_teacher(preset, classes) if role == "teacher" else build_student(preset, classes)
    return model.eval()


def onnx_files(model, folder: Path, frames: int, engines: list[str]) -> dict[str, Path]:
    """Export (and quantize) the model for the onnxruntime engines asked for."""
    files = {}
    if not any(e.startswith("ort") for e in engines):
        return files
    files["ort-fp32"] = export_onnx(model, folder / "fp32.onnx", {}, frames)
    if "ort-int8-dyn" in engines:
        files["ort-int8-dyn"] = quantize_int8(files["ort-fp32"], folder / "dyn.onnx", "dynamic")
    if "ort-int8-static" in engines:
        s = model.cfg.input_size
        gen = np.random.default_rng(0)
        clips = [gen.uniform(-1, 1, (frames, 3, s, s)).astype(np.float32) for _ in range(2)]
        files["ort-int8-static"] = quantize_int8(
            files["ort-fp32"], folder / "static.onnx", "static", clips
        )
    return files


def make_engine(name: str, model, files: dict[str, Path], threads: int, spin: bool):
    if name == "eager":
        return TorchRecognizer(model)
    if name == "eager-fold":
        return TorchRecognizer(fold_conv_bn(model))
    if name == "eager-fold-cl":
        return TorchRecognizer(to_channels_last(fold_conv_bn(model)))
    return OnnxRecognizer(files[name], threads, spin)


def time_once(case: Case, min_seconds: float) -> None:
    """One timed run: repeat the clip until `min_seconds` passed; record seconds per clip."""
    lengths = torch.tensor([case.video.shape[1]])
    n, w0, c0 = 0, time.perf_counter(), time.process_time()
    while n == 0 or time.perf_counter() - w0 < min_seconds:
        case.run(case.video, lengths)
        n += 1
    case.wall.append((time.perf_counter() - w0) / n)
    case.cpu.append((time.process_time() - c0) / n)


def time_interleaved(cases: list[Case], rounds: int, min_seconds: float) -> None:
    for case in cases:  # warm-up: first calls allocate and pick kernels
        time_once(case, 0.0)
        case.wall.clear()
        case.cpu.clear()
    for r in range(rounds):
        for case in cases if r % 2 == 0 else reversed(cases):  # alternate the order too
            time_once(case, min_seconds)
        print(f"  round {r + 1}/{rounds} done", flush=True)


class MatmulProbe:
    """The fp32 ceiling probe: an n x n torch matmul (2 n^3 FLOPs), called like a recogniser."""

    def __init__(self, n: int = 2048):
        gen = torch.Generator().manual_seed(0)
        self.n = n
        self.a, self.b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)

    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> None:
        torch.mm(self.a, self.b)

    def gflops(self, seconds: float) -> float:
        return 2 * self.n**3 / seconds / 1e9


def parity(case: Case, reference: Case) -> float:
    lengths = torch.tensor([case.video.shape[1]])
    a = case.run(case.video, lengths).logits
    return float((a - reference.run(case.video, lengths).logits).abs().max())


def memory_child(spec: str) -> None:
    """In a fresh process: peak RSS of building one engine and running one clip (JSON out)."""
    job = json.loads(spec)
    torch.set_num_threads(job["threads"])
    import onnxruntime  # noqa: F401  (loaded before the baseline, as in the parent)

    base = peak_rss_mb()
    files = {job["engine"]: Path(job["file"])} if job["file"] else {}
    # the onnxruntime engines need no PyTorch model
    model = None if files else build_model(job["preset"], job["model"], job["classes"])
    run = make_engine(job["engine"], model, files, job["threads"], job["spin"])
    s = job["size"]
    run(torch.zeros(1, job["frames"], 3, s, s), torch.tensor([job["frames"]]))
    peak = peak_rss_mb()
    print(json.dumps({"peak_rss_mb": peak, "increase_mb": peak - base}))


def measure_memory(job: dict) -> dict:
    cmd = [sys.executable, __file__, "--memory-child", json.dumps(job)]
    if job["spin"]:
        cmd.append("--spin")
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(case: Case, info: dict, frames: int, ceiling: float) -> dict:
    clip = statistics.median(case.wall)
    fps = frames / clip
    achieved = 2 * info["gmacs_per_frame"] * fps
    return {
        "fps": fps,
        "ms_per_frame": 1000 * clip / frames,
        "clip_ms": 1000 * clip,
        "cpu_ms_per_frame": 1000 * statistics.median(case.cpu) / frames,
        "fps_runs": [frames / w for w in case.wall],
        "gflops": achieved,
        "fraction_of_matmul_peak": achieved / ceiling,
    }


def ratios(results: dict) -> dict:
    """LRINet / teacher per engine, and each engine / eager per model, within this run."""
    out = {}
    for preset, models in results.items():
        t, s = models["teacher"], models["lrinet"]
        r = {
            "params": s["params"] / t["params"],
            "gmacs_per_frame": s["gmacs_per_frame"] / t["gmacs_per_frame"],
            "fps_lrinet_over_teacher": {
                e: s["engines"][e]["fps"] / t["engines"][e]["fps"]
                for e in t["engines"]
                if e in s["engines"]
            },
        }
        for name, m in models.items():
            eager = m["engines"].get("eager")
            if eager:
                r[f"{name}_fps_over_eager"] = {
                    e: v["fps"] / eager["fps"] for e, v in m["engines"].items()
                }
        out[preset] = r
    return out


def print_table(report: dict) -> None:
    print(
        f"\nfp32 matmul ceiling: {report['matmul_gflops']:.1f} GFLOP/s (median; best round "
        f"{report['matmul_gflops_best_round']:.1f}), "
        f"{report['threads']} threads, {report['frames']}-frame clips"
    )
    head = f"{'preset':7}{'model':9}{'px':>5}{'GMAC/f':>8}{'engine':>17}{'fps':>9}"
    print(head + f"{'ms/frame':>10}{'cpu ms/f':>10}{'GFLOP/s':>9}{'peak%':>7}{'mem MB':>8}")
    for preset, models in report["results"].items():
        for name, m in models.items():
            for engine, e in m["engines"].items():
                mem = e.get("memory", {}).get("peak_rss_mb")
                print(
                    f"{preset:7}{name:9}{m['input_size']:>5}{m['gmacs_per_frame']:>8.3f}"
                    f"{engine:>17}{e['fps']:>9.1f}{e['ms_per_frame']:>10.2f}"
                    f"{e['cpu_ms_per_frame']:>10.2f}{e['gflops']:>9.1f}"
                    f"{100 * e['fraction_of_matmul_peak']:>6.1f}%"
                    f"{'-' if mem is None else str(round(mem)):>8}"
                )
    for preset, r in report["ratios"].items():
        fr = ", ".join(f"{e} {v:.2f}x" for e, v in r["fps_lrinet_over_teacher"].items())
        print(
            f"{preset}: LRINet/teacher params {r['params']:.3f}x, GMACs "
            f"{r['gmacs_per_frame']:.3f}x, fps {fr}"
        )


def setup_cases(args, folder: Path, engines: list[str]) -> tuple[list[Case], dict, dict]:
    """Build every model and engine; returns (cases, per-model info, ONNX files)."""
    cases, info, files = [], {}, {}
    for preset in args.presets.split(","):
        for role, name in (("teacher", "teacher"), ("student", "lrinet")):
            model = build_model(preset, role, args.classes)
            s = model.cfg.input_size
            info[(preset, name)] = {
                "input_size": s,
                "params": count_params(model),
                "gmacs_per_frame": gmacs_per_frame(model, args.frames),
            }
            sub = folder / f"{preset}-{name}"
            sub.mkdir()
            t0 = time.perf_counter()
            files[(preset, name)] = onnx_files(model, sub, args.frames, engines)
            print(
                f"{preset}/{name}: {s} px, export+quantize {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            video = torch.rand(1, args.frames, 3, s, s, generator=torch.Generator().manual_seed(0))
            video = video * 2 - 1
            for e in engines:
                run = make_engine(e, model, files[(preset, name)], args.threads, args.spin)
                cases.append(Case(preset, name, e, run, video))
    return cases, info, files


def collect(args, cases, info, files, ceiling: float) -> dict:
    results: dict = {}
    eager = {(c.preset, c.model): c for c in cases if c.engine == "eager"}
    mem_engines = QUICK_MEMORY_ENGINES if args.quick else MEMORY_ENGINES
    for c in cases:
        m = results.setdefault(c.preset, {}).setdefault(
            c.model, {**info[(c.preset, c.model)], "engines": {}}
        )
        e = summarise(c, m, args.frames, ceiling)
        ref = eager.get((c.preset, c.model))
        e["max_abs_logit_diff_vs_eager"] = parity(c, ref) if ref else None
        if not args.no_memory and c.engine in mem_engines:
            file = files[(c.preset, c.model)].get(c.engine)
            e["memory"] = measure_memory(
                {
                    "preset": c.preset,
                    "model": "teacher" if c.model == "teacher" else "student",
                    "engine": c.engine,
                    "file": str(file) if file else None,
                    "classes": args.classes,
                    "threads": args.threads,
                    "spin": args.spin,
                    "frames": args.frames,
                    "size": m["input_size"],
                }
            )
        m["engines"][c.engine] = e
    return results


def environment(args, load_before) -> dict:
    import onnxruntime

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "ort_spinning": args.spin,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "memory_method": "VmHWM (peak RSS) of a fresh process per engine",
    }


def main(args) -> int:
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    load_before = os.getloadavg()
    engines = [e for e in args.engines.split(",") if e]
    if unknown := set(engines) - set(ENGINES):
        raise SystemExit(f"unknown engines {sorted(unknown)}; known: {ENGINES}")
    t_start = time.perf_counter()
    probe = Case("machine", "matmul", "torch-fp32", MatmulProbe(), torch.zeros(1, 1))
    with tempfile.TemporaryDirectory() as tmp:
        cases, info, files = setup_cases(args, Path(tmp), engines)
        time_interleaved([probe, *cases], args.rounds, args.min_seconds)
        ceiling = probe.run.gflops(statistics.median(probe.wall))
        results = collect(args, cases, info, files, ceiling)
    report = {
        "threads": args.threads,
        "frames": args.frames,
        "rounds": args.rounds,
        "quick": args.quick,
        "classes": args.classes,
        "matmul_gflops": ceiling,
        "matmul_gflops_best_round": probe.run.gflops(min(probe.wall)),
        "matmul_gflops_runs": [probe.run.gflops(w) for w in probe.wall],
        "results": results,
        "ratios": ratios(results),
    }
    report["environment"] = environment(args, load_before)
    report["seconds"] = time.perf_counter() - t_start
    print_table(report)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    path = Path(args.json) if args.json else ROOT / "results" / f"latency-{stamp}.json"
    atomic_write_json(path, report)
    print(f"-> {path} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
