"""`crkd predict`: glosses of a video file, a frame folder or a camera, with their time spans.

Frames get exactly the training-time test view (resize to the run's pre_size, centre crop,
then LRINet's resize: see deploy/sources.py). Offline, the whole input is decoded at once; with
`--stream`, glosses are printed as they become stable in a sliding window
(deploy/streaming.py), each with its added latency, and a latency summary ends the output.
`--mode incremental` (the default) passes every frame through the trunk once, carrying the
TSCM state, and runs only the head per hop; `--mode recompute` re-runs the whole window every
hop (each frame passes the trunk window / hop times), for comparison. With `--onnx FILE`, the
incremental mode runs the streaming pair that `crkd export` wrote beside FILE.

Threads wait passively (OMP_WAIT_POLICY=PASSIVE, unless set): on a loaded 2-core machine the
default spinning made 2-thread inference 2x to 50x slower (deploy/fuse.py). The variable must
be set before torch loads OpenMP, hence before the imports below.
"""

# ruff: noqa: E402
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import meta_view, meta_vocab
from ..data.transforms import ViewSpec
from ..data.vocab import Vocab
from ..decode import GlossSpan
from ..deploy.runtime import Recognizer, load_recognizer, load_stream_engines
from ..deploy.sources import FrameSource, model_input, open_source
from ..deploy.spans import decode_spans, min_frames, step_timing
from ..deploy.streaming import (
    Emission,
    IncrementalStreamingRecognizer,
    StreamConfig,
    StreamingRecognizer,
)
from ..errors import DataError
from ..models.network import NetConfig
from ._args import beam_width, non_negative_int, positive_float, positive_int, threads

DEFAULT_FPS = 25.0  # PHOENIX-2014's rate, used when neither the input nor --fps gives one


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, type=Path, help="a run folder with checkpoint.*")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", type=Path, help="a video file (read with PyAV)")
    src.add_argument("--frames", type=Path, help="a folder of RGB frame images")
    src.add_argument(
        "--camera", type=non_negative_int, metavar="N", help="camera index (needs OpenCV)"
    )
    p.add_argument("--onnx", type=Path, default=None, help="run this exported model instead")
    p.add_argument("--decoder", default="greedy", choices=["greedy", "beam"])
    p.add_argument("--beam-width", type=beam_width, default=10)
    p.add_argument(
        "--fps", type=positive_float, default=None, help="frame rate (default: the video's)"
    )
    p.add_argument(
        "--max-frames", type=positive_int, default=None, help="stop after this many frames"
    )
    p.add_argument("--threads", type=threads, default=None)
    p.add_argument("--stream", action="store_true", help="emit glosses as they become stable")
    p.add_argument("--window", type=positive_int, default=64, help="--stream: frames per window")
    p.add_argument("--hop", type=positive_int, default=8, help="--stream: frames between windows")
    p.add_argument(
        "--margin", type=non_negative_int, default=12, help="--stream: tail margin, frames"
    )
    p.add_argument(
        "--mode",
        default="incremental",
        choices=["incremental", "recompute"],
        help="--stream: every frame through the trunk once (default), or the whole window "
        "every hop",
    )
    p.add_argument(
        "--chunk", type=positive_int, default=1, help="--stream incremental: frames per trunk call"
    )


def _frames(source: FrameSource, limit: int | None):
    """The source's frames, up to `limit`; Ctrl-C ends a camera input instead of the program."""
    try:
        for i, frame in enumerate(source.frames):
            if limit is not None and i >= limit:
                return
            yield frame
    except KeyboardInterrupt:
        return


def format_span(
    span: GlossSpan, vocab: Vocab, fps: float, source: FrameSource | None = None
) -> str:
    """One gloss and its time: from the source's frame timestamps (variable-rate video), else
    frame / fps."""
    start, end = (
        (source.seconds(span.start, fps), source.seconds(span.end, fps))
        if source is not None
        else (span.start / fps, span.end / fps)
    )
    return f"{start:8.2f} - {end:6.2f} s  {vocab.tokens[span.label]}  (p={span.confidence:.2f})"


@dataclass
class Setup:
    """What every prediction mode needs: the recogniser, its network, view and vocabulary."""

    rec: Recognizer | None  # None in incremental streaming, which runs `engines`
    net: NetConfig
    spec: ViewSpec
    vocab: Vocab
    fps: float
    engines: tuple | None = None  # (trunk engine, head engine) for incremental streaming
    source: FrameSource | None = None  # for the frames' own timestamps

    def prep(self, frames: np.ndarray) -> torch.Tensor:
        """(T, pre, pre, 3) uint8 -> (T, 3, S, S): the training-time test view."""
        return model_input(frames, self.spec, self.net.role, self.net.input_size)


def run(args) -> int:
    cfg = StreamConfig(args.window, args.hop, args.margin) if args.stream else None
    incremental = args.stream and args.mode == "incremental"
    rec, engines = None, None
    if incremental:
        *engines, meta = load_stream_engines(args.run, args.onnx, args.threads)
    else:
        rec, meta = load_recognizer(args.run, args.onnx, args.threads)
    net, spec = NetConfig.from_dict(meta["net"]), meta_view(meta)
    source = open_source(spec.pre_size, args.video, args.frames, args.camera, args.fps)
    vocab = meta_vocab(meta, args.run / "checkpoint.json")
    setup = Setup(rec, net, spec, vocab, source.fps or DEFAULT_FPS, engines and tuple(engines))
    setup.source = source
    note = "" if source.fps else f" (unknown; assumed {DEFAULT_FPS:g}, set --fps)"
    mode = f", {args.mode} streaming" if args.stream else ""
    print(
        f"{source.name}: {net.role} {net.input_size} px, {setup.fps:g} fps{note}, "
        f"{'onnxruntime' if args.onnx else 'PyTorch'}{mode}, {args.decoder} decoding"
    )
    frames = _frames(source, args.max_frames)
    labels = _stream(args, cfg, frames, setup) if cfg else _offline(args, source, frames, setup)
    print(f"{len(labels)} glosses: {' '.join(setup.vocab.decode(labels))}")
    return 0


def _offline(args, source: FrameSource, frames, setup: Setup) -> list[int]:
    frames = list(frames)
    need = min_frames(setup.net.head)
    if len(frames) < need:
        raise DataError(source.name, f"{len(frames)} frames read; the model needs at least {need}")
    clip = setup.prep(np.stack(frames))  # (T, 3, S, S)
    out = setup.rec(clip[None], torch.tensor([len(clip)]))
    lp = out.logits[0, : int(out.lengths[0])].float().log_softmax(-1)
    timing = step_timing(setup.net.head)
    spans = [timing.frames(s, len(clip)) for s in decode_spans(lp, args.decoder, args.beam_width)]
    for s in spans:
        print(format_span(s, setup.vocab, setup.fps, setup.source))
    return [s.label for s in spans]


def make_stream(args, cfg: StreamConfig, setup: Setup):
    """The streaming recogniser of the chosen mode."""
    head = setup.net.head
    common = (step_timing(head), cfg, setup.fps, min_frames(head), args.decoder, args.beam_width)
    if setup.engines is not None:
        trunk, head_engine = setup.engines
        return IncrementalStreamingRecognizer(trunk, head_engine, *common, chunk=args.chunk)
    return StreamingRecognizer(setup.rec, *common)


def _stream(args, cfg: StreamConfig, frames, setup: Setup) -> list[int]:
    stream = make_stream(args, cfg, setup)
    emitted = []
    for frame in frames:
        for e in stream.push(setup.prep(frame[None])[0]):
            emitted.append(_print_emission(e, setup))
    emitted += [_print_emission(e, setup) for e in stream.flush()]
    if stream.seen < stream.min_frames:
        raise DataError(
            f"{args.video or args.frames or f'camera {args.camera}'}",
            f"{stream.seen} frames read; the model needs at least {stream.min_frames}",
        )
    _print_latency(stream.report.summary(), cfg)
    return emitted


def _print_emission(e: Emission, setup: Setup) -> int:
    print(
        f"{format_span(e.span, setup.vocab, setup.fps, setup.source)}  "
        f"emitted at frame {e.emitted_at} "
        f"(+{e.latency_frames} frames, {e.rule})"
    )
    return e.span.label


def _print_latency(summary: dict, cfg: StreamConfig) -> None:
    print(
        f"stream: window {cfg.window}, hop {cfg.hop}, margin {cfg.margin} frames; "
        f"{summary['windows']} windows"
    )
    if "latency_frames_median" in summary:
        print(
            f"added latency: median {summary['latency_frames_median']:g} frames "
            f"({summary['latency_s_median']:.3f} s), max {summary['latency_frames_max']} "
            f"frames ({summary['latency_s_max']:.3f} s), incl. compute"
        )
    if "window_compute_s_mean" in summary:
        print(
            f"compute: {1000 * summary['window_compute_s_mean']:.1f} ms per window, "
            f"real-time factor {summary['real_time_factor']:.2f} (< 1 keeps up)"
        )
