"""Streaming LRINet: incremental (each frame through the trunk once) vs recompute (the whole
window every hop), in PyTorch eager and onnxruntime fp32 / int8, for the `paper` and `cpu`
presets, measured side by side in one run.

Not a test: a measurement script. Run from the repository root:

    .venv/bin/python benchmarks/streaming.py                 # ~3 min on 2 shared cores
    .venv/bin/python benchmarks/streaming.py --frames 96 --presets cpu

Every case streams the same random preprocessed frames (random weights, 1296 classes as
PHOENIX: speed does not depend on the weights). Cases are interleaved hop by hop, so the load
of a shared machine falls on all of them alike. Reported per case:

- `rtf`: real-time factor at `--fps` (25): compute time of all windows / video duration;
  < 1 keeps up. A window's compute is the trunk work since the previous window plus the head
  and the decoder (streaming.py).
- added latency, median and p90, in frames and seconds: for every frame t, the frames from t
  to the first window in which a gloss ending at t is stable by the *tail* rule (it ends
  `margin` frames before the window's end; incremental windows end `delay` frames behind the
  newest frame), plus that window's compute. This is an upper bound: the "repeat" rule can
  emit earlier. It needs no trained model.
- trunk GMACs per frame: one frame's trunk multiply-adds (torch FlopCounterMode) times the
  trunk passes per frame counted in the run, and the ratio recompute / incremental.
- head GMACs per hop (1D convolutions + classifier counted, the BiLSTM analytically).

int8 = static QDQ int8 convolutions calibrated on random clips (speed only) plus dynamic int8
LSTM/MatMul weights (deploy/quantize.py).
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see deploy/fuse.py

import datetime
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from crkd_core.deploy.export import export_onnx
from crkd_core.deploy.fuse import fold_conv_bn
from crkd_core.deploy.incremental import (
    TorchHeadEngine,
    TorchTrunkEngine,
)
from crkd_core.deploy.quantize import quantize_int8, quantize_stream
from crkd_core.deploy.runtime import OnnxRecognizer, TorchRecognizer
from crkd_core.deploy.spans import min_frames, step_timing
from crkd_core.deploy.stream_onnx import (
    OnnxHeadEngine,
    OnnxTrunkEngine,
    export_stream,
    stream_files,
)
from crkd_core.deploy.streaming import (
    IncrementalStreamingRecognizer,
    StreamConfig,
    StreamingRecognizer,
)
from crkd_core.io import atomic_write_json
from crkd_core.models import build_student

ROOT = Path(__file__).resolve().parent
ENGINES = ("eager", "ort-fp32", "ort-int8")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="paper,cpu")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--frames", type=int, default=160, help="frames streamed per case")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--classes", type=int, default=1296)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--hop", type=int, default=8)
    p.add_argument("--margin", type=int, default=12)
    p.add_argument("--low-latency", default="64,4,4", help="window,hop,margin of a 2nd config")
    p.add_argument("--json", default=None, help="default: benchmarks/results/streaming-<date>")
    return p.parse_args(argv)


@dataclass
class Case:
    preset: str
    engine: str
    mode: str  # "incremental" | "recompute"
    config: StreamConfig
    chunk: int
    stream: object
    trunk_gmacs: float  # one frame
    head_gmacs: float  # one window
    windows: list = field(default_factory=list)  # (newest frame, window end, compute s)
    trunk_frames: int = 0  # frames passed through the trunk


def macs(fn) -> float:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn()
    return counter.get_total_flops() / 2


def lstm_macs(model, steps: int) -> float:
    """BiLSTM multiply-adds (FlopCounterMode counts nn.LSTM as zero)."""
    lstm = model.head.lstm.lstm
    total, cin = 0, lstm.input_size
    for _ in range(lstm.num_layers):
        total += 2 * steps * 4 * lstm.hidden_size * (cin + lstm.hidden_size)  # 2 directions
        cin = 2 * lstm.hidden_size
    return total


def model_costs(model, window: int) -> tuple[float, float]:
    """(trunk GMACs for one frame, head GMACs for one window of features)."""
    s, c = model.cfg.input_size, model.cfg.trunk.channels
    trunk = macs(lambda: model.trunk.eval()(torch.zeros(1, 3, s, s), _single()))
    head = macs(lambda: model.head.eval()(torch.zeros(1, window, c), torch.tensor([window])))
    t_out = int(model.output_lengths(torch.tensor([window]))[0])
    return trunk / 1e9, (head + lstm_macs(model, t_out)) / 1e9


def _single():
    from crkd_core.models.layers import Neighbours

    return Neighbours(prev=torch.tensor([1]), next=torch.tensor([1]))


def build_files(model, folder: Path, engines: list[str]) -> dict:
    """The ONNX files the onnxruntime engines need (int8: calibrated on random clips)."""
    files = {"whole": export_onnx(model, folder / "model.onnx", {})}
    files["stream"] = export_stream(model, folder / "model.onnx", {})
    if "ort-int8" in engines:
        s = model.cfg.input_size
        rng = np.random.default_rng(0)
        clips = [rng.uniform(-1, 1, (24, 3, s, s)).astype(np.float32) for _ in range(2)]
        files["whole-int8"] = quantize_int8(
            files["whole"], folder / "model.int8.onnx", "static", clips
        )
        files["stream-int8"] = quantize_stream(
            files["stream"], stream_files(folder / "model.int8.onnx"), "static", clips
        )
    return files


def make_stream(model, engine: str, mode: str, cfg: StreamConfig, chunk: int, files: dict, args):
    common = (step_timing(model.cfg.head), cfg, args.fps, min_frames(model.cfg.head))
    t = args.threads
    if mode == "recompute":
        if engine == "eager":
            rec = TorchRecognizer(model)
        else:
            rec = OnnxRecognizer(files["whole" if engine == "ort-fp32" else "whole-int8"], t)
        return StreamingRecognizer(rec, *common)
    if engine == "eager":
        trunk, head = TorchTrunkEngine(model.trunk, model.cfg.input_size), TorchHeadEngine(model)
    else:
        pair = files["stream" if engine == "ort-fp32" else "stream-int8"]
        trunk, head = OnnxTrunkEngine(pair.trunk, t), OnnxHeadEngine(pair.head, t)
    return IncrementalStreamingRecognizer(trunk, head, *common, chunk=chunk)


def setup(args, folder: Path) -> tuple[list[Case], dict]:
    engines = args.engines.split(",")
    low = StreamConfig(*map(int, args.low_latency.split(",")))
    default = StreamConfig(args.window, args.hop, args.margin)
    cases, inputs = [], {}
    for preset in args.presets.split(","):
        torch.manual_seed(0)
        model = fold_conv_bn(build_student(preset, args.classes)).eval()
        s = model.cfg.input_size
        inputs[preset] = torch.rand(args.frames, 3, s, s) * 2 - 1
        files = build_files(model, folder / preset, engines)
        for engine in engines:
            runs = [("recompute", default, 1), ("incremental", default, 1)]
            runs += [("incremental", default, default.hop), ("incremental", low, 1)]
            runs += [("incremental", low, low.hop)]
            for mode, cfg, chunk in runs:
                tg, hg = model_costs(model, cfg.window)
                stream = make_stream(
                    model, engine, mode, cfg=cfg, chunk=chunk, files=files, args=args
                )
                cases.append(
                    Case(
                        preset=preset,
                        engine=engine,
                        mode=mode,
                        config=cfg,
                        chunk=chunk,
                        stream=stream,
                        trunk_gmacs=tg,
                        head_gmacs=hg,
                    )
                )
    return cases, inputs


def push(case: Case, frame: torch.Tensor) -> None:
    s = case.stream
    before = len(s.report.window_compute_s)
    if case.mode == "recompute":
        s.push(frame)
        if len(s.report.window_compute_s) > before:
            case.trunk_frames += len(s.buffer)
    else:
        s.push(frame)
        case.trunk_frames += 1
    if len(s.report.window_compute_s) > before:
        end = s.seen if case.mode == "recompute" else s.done
        case.windows.append((s.seen, end, s.report.window_compute_s[-1]))


def run_interleaved(cases: list[Case], inputs: dict, hop_block: int) -> None:
    """Push the frames hop block by hop block, case after case (alternating the order)."""
    n = len(next(iter(inputs.values())))
    for i, start in enumerate(range(0, n, hop_block)):
        order = cases if i % 2 == 0 else cases[::-1]
        for case in order:
            for frame in inputs[case.preset][start : start + hop_block]:
                push(case, frame)


def latency(case: Case, fps: float, frames: int) -> dict:
    """Tail-rule added latency of every frame that some window covered (see docstring)."""
    lat_f, lat_s = [], []
    margin = max(case.config.margin, 1)
    for t in range(frames):
        w = next((w for w in case.windows if w[1] - margin >= t + 1), None)
        if w is None:
            continue
        lat_f.append(w[0] - 1 - t)
        lat_s.append((w[0] - 1 - t) / fps + w[2])
    q = statistics.quantiles
    return {
        "latency_frames_median": statistics.median(lat_f),
        "latency_frames_p90": q(lat_f, n=10)[-1],
        "latency_s_median": statistics.median(lat_s),
        "latency_s_p90": q(lat_s, n=10)[-1],
        "frames_covered": len(lat_f),
    }


def summarise(case: Case, args) -> dict:
    compute = [w[2] for w in case.windows]
    passes = case.trunk_frames / args.frames
    out = {
        "preset": case.preset,
        "engine": case.engine,
        "mode": case.mode,
        "window": case.config.window,
        "hop": case.config.hop,
        "margin": case.config.margin,
        "chunk": case.chunk,
        "windows": len(compute),
        "rtf": sum(compute) / (args.frames / args.fps),
        "window_compute_ms_median": 1000 * statistics.median(compute),
        "trunk_passes_per_frame": passes,  # measured, start-up windows included
        "trunk_passes_steady": (
            case.config.window / case.config.hop if case.mode == "recompute" else 1.0
        ),
        "trunk_gmacs_per_frame": case.trunk_gmacs * passes,
        "head_gmacs_per_hop": case.head_gmacs,
        "delay_frames": getattr(case.stream, "delay", 0),
    }
    return {**out, **latency(case, args.fps, args.frames)}


def add_ratios(rows: list[dict]) -> None:
    """Trunk compute per frame of recompute / incremental, same preset, engine and window."""
    for r in rows:
        if r["mode"] != "incremental":
            continue
        # the same engine's recompute case (window 64, hop 8)
        ref = next(
            x
            for x in rows
            if x["mode"] == "recompute" and (x["preset"], x["engine"]) == (r["preset"], r["engine"])
        )
        r["trunk_compute_ratio_vs_recompute"] = (
            ref["trunk_gmacs_per_frame"] / r["trunk_gmacs_per_frame"]
        )
        r["rtf_speedup_vs_recompute"] = ref["rtf"] / r["rtf"]


def print_table(rows: list[dict]) -> None:
    print(
        "| preset | engine | mode | W/H/M/chunk | RTF | latency median (frames, s) "
        "| p90 (frames, s) | trunk GMACs/frame | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r.get("trunk_compute_ratio_vs_recompute")
        print(
            f"| {r['preset']} | {r['engine']} | {r['mode']} | {r['window']}/{r['hop']}/"
            f"{r['margin']}/{r['chunk']} | {r['rtf']:.3f} | {r['latency_frames_median']:g}, "
            f"{r['latency_s_median']:.3f} | {r['latency_frames_p90']:g}, "
            f"{r['latency_s_p90']:.3f} | {r['trunk_gmacs_per_frame']:.3f} | "
            f"{'' if ratio is None else f'{ratio:.1f}x'} |"
        )


def main(args) -> int:
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cases, inputs = setup(args, Path(tmp))
        warm = {p: x[: 2 * args.hop] for p, x in inputs.items()}
        for case in cases:  # warm-up stream, then fresh recognisers of the same kind
            for frame in warm[case.preset]:
                case.stream.push(frame)
        cases = _reset(cases, args)
        t0 = time.perf_counter()
        run_interleaved(cases, inputs, args.hop)
        wall = time.perf_counter() - t0
    rows = [summarise(c, args) for c in cases]
    add_ratios(rows)
    print_table(rows)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": vars(args),
        "wall_s": wall,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "torch": torch.__version__,
        "results": rows,
    }
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = Path(args.json) if args.json else ROOT / "results" / f"streaming-{stamp}.json"
    atomic_write_json(path, report)
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


def _reset(cases: list[Case], args) -> list[Case]:
    """Fresh recognisers on the warmed-up engines (same sessions, caches and weights)."""
    out = []
    for c in cases:
        s = c.stream
        common = (s.timing, s.cfg, args.fps, s.min_frames)
        if c.mode == "recompute":
            fresh = StreamingRecognizer(s.rec, *common)
        else:
            fresh = IncrementalStreamingRecognizer(s.trunk.engine, s.head, *common, chunk=c.chunk)
        out.append(dataclasses.replace(c, stream=fresh, windows=[], trunk_frames=0))
    return out


if __name__ == "__main__":
    sys.exit(main(parse_args()))
