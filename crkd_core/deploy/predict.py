"""Recognising the glosses of a clip or a stream: the library of `crkd predict` and `api.predict`.

Frames get exactly the training-time test view (resize to the run's pre_size, centre crop,
then LRINet's resize: see sources.py). Offline, the whole input is decoded at once; streaming
(`stream=True`), glosses come as they become stable in a sliding window (streaming.py), each
with its added latency, and a latency summary ends the result. Mode "incremental" (the
default) passes every frame through the trunk once, carrying the TSCM state, and runs only the
head per hop; "recompute" re-runs the whole window every hop (each frame passes the trunk
window / hop times), for comparison. With `onnx`, the incremental mode runs the streaming pair
that `crkd export` wrote beside that file.

    p = predict(PredictConfig(run="runs/crkd", video="clip.mp4"), on_gloss=print)
    print(p.text)

`predict` returns data (`Prediction`); `on_open` and `on_gloss` see the input and each gloss as
they come, so a live camera's glosses can be shown before the stream ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import meta_view, meta_vocab
from ..data.transforms import ViewSpec
from ..data.vocab import Vocab
from ..decode import GlossSpan
from ..errors import ConfigError, DataError
from ..models.network import NetConfig
from .runtime import load_recognizer, load_stream_engines
from .sources import FrameSource, model_input, open_source
from .spans import decode_spans, min_frames, step_timing
from .streaming import (
    Emission,
    IncrementalStreamingRecognizer,
    StreamConfig,
    StreamingRecognizer,
)

DEFAULT_FPS = 25.0  # PHOENIX-2014's rate, used when neither the input nor `fps` gives one
DECODERS = ("greedy", "beam")
STREAM_MODES = ("incremental", "recompute")


@dataclass(frozen=True)
class PredictConfig:
    """The options of `crkd predict` (its flags, `-` written `_`): one of video, frames, camera."""

    run: Path
    video: Path | None = None
    frames: Path | None = None
    camera: int | None = None
    onnx: Path | None = None  # an export of the run (model.onnx) to run instead of PyTorch
    decoder: str = "greedy"
    beam_width: int = 10
    fps: float | None = None  # default: the input's own rate
    max_frames: int | None = None
    threads: int | None = None
    stream: bool = False
    window: int = 64  # stream: frames per window
    hop: int = 8  # stream: frames between windows
    margin: int = 12  # stream: tail margin, frames
    mode: str = "incremental"
    # incremental stream: frames per trunk call; None: the hop (a window runs only every hop
    # frames, so batching the hop's frames into one trunk call adds no latency)
    chunk: int | None = None

    def __post_init__(self) -> None:
        for name in ("run", "video", "frames", "onnx"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        if self.decoder not in DECODERS:
            raise ConfigError(
                f"--decoder must be one of {', '.join(DECODERS)}, not {self.decoder!r}"
            )
        if self.mode not in STREAM_MODES:
            raise ConfigError(f"--mode must be one of {', '.join(STREAM_MODES)}, not {self.mode!r}")
        for name in ("beam_width", "max_frames", "threads", "chunk"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"--{name.replace('_', '-')} must be an int, got {value!r}")
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be > 0, got {value!r}")
        self.stream_config()  # window, hop and margin: checked before any work

    def stream_config(self) -> StreamConfig | None:
        """Window, hop and margin when streaming (checked), else None."""
        return StreamConfig(self.window, self.hop, self.margin) if self.stream else None


@dataclass(frozen=True)
class InputInfo:
    """What runs on what: the input, the model, its engine and how it is decoded."""

    source: str
    role: str
    input_size: int
    fps: float
    fps_known: bool  # False: the input gave no rate and DEFAULT_FPS is assumed
    engine: str  # "PyTorch" | "onnxruntime"
    stream_mode: str | None  # "incremental" | "recompute"; None offline
    decoder: str

    def __str__(self) -> str:
        note = "" if self.fps_known else f" (unknown; assumed {DEFAULT_FPS:g}, set --fps)"
        mode = f", {self.stream_mode} streaming" if self.stream_mode else ""
        return (
            f"{self.source}: {self.role} {self.input_size} px, {self.fps:g} fps{note}, "
            f"{self.engine}{mode}, {self.decoder} decoding"
        )


@dataclass(frozen=True)
class TimedGloss:
    """One recognised gloss: its frames (`span`), its time in seconds and, streaming, when it
    was emitted (`emission`: at which frame, after what latency, by which rule)."""

    gloss: str
    start_s: float
    end_s: float
    span: GlossSpan  # label, input frames [start, end), mean probability
    emission: Emission | None = None

    def __str__(self) -> str:
        line = f"{self.start_s:8.2f} - {self.end_s:6.2f} s  {self.gloss}  "
        line += f"(p={self.span.confidence:.2f})"
        if self.emission is None:
            return line
        e = self.emission
        return f"{line}  emitted at frame {e.emitted_at} (+{e.latency_frames} frames, {e.rule})"


def timed_gloss(
    span: GlossSpan,
    vocab: Vocab,
    fps: float,
    source: FrameSource | None = None,
    emission: Emission | None = None,
) -> TimedGloss:
    """A span with its gloss and time: from the source's frame timestamps (variable-rate
    video), else frame / fps."""
    if source is None:
        start, end = span.start / fps, span.end / fps
    else:
        start, end = source.seconds(span.start, fps), source.seconds(span.end, fps)
    return TimedGloss(vocab.tokens[span.label], start, end, span, emission)


def format_span(
    span: GlossSpan, vocab: Vocab, fps: float, source: FrameSource | None = None
) -> str:
    """One gloss and its time, as `crkd predict` prints it."""
    return str(timed_gloss(span, vocab, fps, source))


@dataclass(frozen=True)
class StreamSummary:
    """A stream's settings and its latency report (`LatencyReport.summary()`)."""

    config: StreamConfig
    latency: dict

    def __str__(self) -> str:
        cfg, s = self.config, self.latency
        lines = [
            f"stream: window {cfg.window}, hop {cfg.hop}, margin {cfg.margin} frames; "
            f"{s['windows']} windows"
        ]
        if "latency_frames_median" in s:
            lines.append(
                f"added latency: median {s['latency_frames_median']:g} frames "
                f"({s['latency_s_median']:.3f} s), max {s['latency_frames_max']} "
                f"frames ({s['latency_s_max']:.3f} s), incl. compute"
            )
        if "window_compute_s_mean" in s:
            lines.append(
                f"compute: {1000 * s['window_compute_s_mean']:.1f} ms per window, "
                f"real-time factor {s['real_time_factor']:.2f} (< 1 keeps up)"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class Prediction:
    """The glosses recognised in one input, in order, and (streaming) the latency summary."""

    input: InputInfo
    glosses: list[TimedGloss] = field(default_factory=list)
    stream: StreamSummary | None = None

    @property
    def labels(self) -> list[int]:
        return [g.span.label for g in self.glosses]

    @property
    def text(self) -> str:
        """The glosses, space-separated (blank never among them)."""
        return " ".join(g.gloss for g in self.glosses if g.span.label != 0)

    def __str__(self) -> str:
        return f"{len(self.glosses)} glosses: {self.text}"


@dataclass
class _Setup:
    """What every prediction mode needs: the engine(s), the network, view, vocabulary, source."""

    cfg: PredictConfig
    net: NetConfig
    spec: ViewSpec
    source: FrameSource
    vocab: Vocab
    fps: float
    rec: object | None = None  # a Recognizer; None in incremental streaming, which runs `engines`
    engines: tuple | None = None  # (trunk engine, head engine) for incremental streaming

    def prep(self, frames: np.ndarray) -> torch.Tensor:
        """(T, pre, pre, 3) uint8 -> (T, 3, S, S): the training-time test view."""
        return model_input(frames, self.spec, self.net.role, self.net.input_size)

    def timed(self, span: GlossSpan, emission: Emission | None = None) -> TimedGloss:
        return timed_gloss(span, self.vocab, self.fps, self.source, emission)


def predict(
    cfg: PredictConfig,
    on_open: Callable[[InputInfo], None] | None = None,
    on_gloss: Callable[[TimedGloss], None] | None = None,
) -> Prediction:
    """Recognise the glosses of the input `cfg` names with the run's model.

    Args:
        cfg: the run, the input and how to run and decode it.
        on_open: called with the input's `InputInfo` once model and input are open, before any
            frame is read.
        on_gloss: called with each gloss as it is recognised (offline: all at the end;
            streaming: as each becomes stable).

    Raises:
        DataError: the input is unreadable, or shorter than the model's shortest clip.
        CheckpointError: the run (or its ONNX export) is missing or does not match.
    """
    stream_cfg = cfg.stream_config()
    setup = _open(cfg)
    info = InputInfo(
        source=setup.source.name,
        role=setup.net.role,
        input_size=setup.net.input_size,
        fps=setup.fps,
        fps_known=bool(setup.source.fps),
        engine="onnxruntime" if cfg.onnx else "PyTorch",
        stream_mode=cfg.mode if cfg.stream else None,
        decoder=cfg.decoder,
    )
    if on_open:
        on_open(info)
    frames = _frames(setup.source, cfg.max_frames)
    stream = _make_stream(setup, stream_cfg) if stream_cfg else None
    glosses = []
    for gloss in _stream(setup, stream, frames) if stream else _offline(setup, frames):
        glosses.append(gloss)
        if on_gloss:
            on_gloss(gloss)
    summary = StreamSummary(stream_cfg, stream.report.summary()) if stream else None
    return Prediction(info, glosses, summary)


def _open(cfg: PredictConfig) -> _Setup:
    """Load the engine(s) the mode needs, then open the input with the run's view."""
    rec, engines = None, None
    if cfg.stream and cfg.mode == "incremental":
        *engines, meta = load_stream_engines(cfg.run, cfg.onnx, cfg.threads)
    else:
        rec, meta = load_recognizer(cfg.run, cfg.onnx, cfg.threads)
    net, spec = NetConfig.from_dict(meta["net"]), meta_view(meta)
    source = open_source(spec.pre_size, cfg.video, cfg.frames, cfg.camera, cfg.fps)
    vocab = meta_vocab(meta, cfg.run / "checkpoint.json")
    fps = source.fps or DEFAULT_FPS
    return _Setup(
        cfg=cfg,
        net=net,
        spec=spec,
        source=source,
        vocab=vocab,
        fps=fps,
        rec=rec,
        engines=engines and tuple(engines),
    )


def _frames(source: FrameSource, limit: int | None) -> Iterator[np.ndarray]:
    """The source's frames, up to `limit`; Ctrl-C ends a camera input instead of the program."""
    try:
        for i, frame in enumerate(source.frames):
            if limit is not None and i >= limit:
                return
            yield frame
    except KeyboardInterrupt:
        return


def _offline(setup: _Setup, frames) -> Iterator[TimedGloss]:
    frames = list(frames)
    need = min_frames(setup.net.head)
    if len(frames) < need:
        cause = f"{len(frames)} frames read; the model needs at least {need}"
        raise DataError(setup.source.name, cause)
    clip = setup.prep(np.stack(frames))  # (T, 3, S, S)
    out = setup.rec(clip[None], torch.tensor([len(clip)]))
    lp = out.logits[0, : int(out.lengths[0])].float().log_softmax(-1)
    timing = step_timing(setup.net.head)
    for s in decode_spans(lp, setup.cfg.decoder, setup.cfg.beam_width):
        yield setup.timed(timing.frames(s, len(clip)))


def _make_stream(setup: _Setup, cfg: StreamConfig):
    """The streaming recogniser of the chosen mode."""
    head = setup.net.head
    options = {
        "timing": step_timing(head),
        "config": cfg,
        "fps": setup.fps,
        "min_frames": min_frames(head),
        "decoder": setup.cfg.decoder,
        "beam_width": setup.cfg.beam_width,
    }
    if setup.engines is not None:
        trunk, head_engine = setup.engines
        chunk = setup.cfg.chunk or setup.cfg.hop
        return IncrementalStreamingRecognizer(trunk, head_engine, chunk=chunk, **options)
    return StreamingRecognizer(setup.rec, **options)


def _stream(setup: _Setup, stream, frames) -> Iterator[TimedGloss]:
    """Each gloss as it becomes stable (`stream`: a recogniser from `_make_stream`)."""
    for frame in frames:
        for e in stream.push(setup.prep(frame[None])[0]):
            yield setup.timed(e.span, e)
    for e in stream.flush():
        yield setup.timed(e.span, e)
    if stream.seen < stream.min_frames:
        cause = f"{stream.seen} frames read; the model needs at least {stream.min_frames}"
        raise DataError(setup.source.name, cause)
