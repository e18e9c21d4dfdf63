"""Sliding-window streaming recognition with stable gloss emission, and its added latency.

Frames arrive one by one. Every `hop` frames the recogniser decodes the last `window` frames
(fewer at the start). Two modes: *recompute* runs the whole network on the window's frames
(each frame passes the trunk window / hop times); *incremental* passes each frame through the
trunk once (incremental.py) and runs only the head on the window's cached frame features.
The window's glosses are placed on absolute frames (spans.py). A gloss is emitted once it is
*stable*, in order, never twice:

- "tail": its span ends at least `margin` frames before the window's end, so the frames that
  follow it (which the BiLSTM and the temporal convolutions read) are in the window; or
- "repeat": the previous window had the same gloss, with start and end within one output step,
  ending before that window's end (it was not cut off there).

A window's glosses whose centre lies before the end of the last emitted gloss are the ones
already emitted (seen again); glosses lying wholly in a later window's first `margin` frames
are ignored, as those frames lack left context there and were judged by earlier windows. At
the end of the stream every remaining gloss is emitted ("flush").

Added latency of a gloss = (index of the newest frame when it is emitted) - (its last frame),
in frames, and in seconds at the video's rate plus the compute time of the emitting window
(its frames had to be processed before the gloss could be shown). These rules are ours.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field

import torch

from ..decode import GlossSpan
from ..errors import ConfigError
from .incremental import IncrementalTrunk
from .runtime import Recognizer
from .spans import StepTiming, decode_spans


@dataclass(frozen=True)
class StreamConfig:
    window: int = 64  # frames per window
    hop: int = 8  # frames between two windows
    margin: int = 12  # tail margin (and ignored head), frames

    def __post_init__(self):
        # hop < window: a gloss cut off at a window's end is seen again by the next one;
        # 2 * margin <= window - hop: a window's ignored head lay outside the previous
        # window's tail margin, so no gloss is skipped by both
        if not 0 < self.hop < self.window or not 0 <= 2 * self.margin <= self.window - self.hop:
            raise ConfigError(
                f"need 0 < hop < window and 0 <= 2 * margin <= window - hop, got {self}"
            )


@dataclass(frozen=True)
class Emission:
    span: GlossSpan  # absolute input frames [start, end)
    emitted_at: int  # index of the newest frame when it was emitted
    rule: str  # "tail" | "repeat" | "flush"
    compute_s: float  # compute time of the window that emitted it

    @property
    def latency_frames(self) -> int:
        return self.emitted_at - (self.span.end - 1)


def _centre(s: GlossSpan) -> float:
    return (s.start + s.end) / 2


class Stabiliser:
    """Decides which glosses of successive windows are stable (rules in the module docstring)."""

    def __init__(self, margin: int, tolerance: int):
        self.margin, self.tolerance = margin, tolerance
        self.frontier = 0  # end frame of the last emitted gloss
        self.prev: list[GlossSpan] = []
        self.prev_end = 0

    def _is_new(self, s: GlossSpan, win_start: int) -> bool:
        in_head = win_start > 0 and s.end <= win_start + self.margin
        return not in_head and _centre(s) >= self.frontier

    def _repeats(self, s: GlossSpan) -> bool:
        tol = self.tolerance
        return any(
            p.label == s.label
            and abs(p.start - s.start) <= tol
            and abs(p.end - s.end) <= tol
            and p.end < self.prev_end
            for p in self.prev
        )

    def _rule(self, s: GlossSpan, win_end: int, final: bool) -> str | None:
        if final:
            return "flush"
        if s.end <= win_end - max(self.margin, 1):  # a gloss touching the end may go on
            return "tail"
        return "repeat" if self._repeats(s) else None

    def update(
        self, spans: list[GlossSpan], win_start: int, win_end: int, final: bool = False
    ) -> list[tuple[GlossSpan, str]]:
        """Spans (absolute frames, in order) of the window [win_start, win_end) -> emitted."""
        out = []
        for s in (s for s in spans if self._is_new(s, win_start)):
            rule = self._rule(s, win_end, final)
            if rule is None:
                break  # emit in order: nothing after an unstable gloss
            out.append((s, rule))
            self.frontier = s.end
        self.prev, self.prev_end = spans, win_end
        return out


@dataclass
class LatencyReport:
    """Added latency of the emitted glosses, and the compute cost of the windows."""

    fps: float
    frames: list[int] = field(default_factory=list)  # per gloss
    seconds: list[float] = field(default_factory=list)  # per gloss: frames / fps + compute
    window_compute_s: list[float] = field(default_factory=list)  # per window
    hop: int = 1

    def summary(self) -> dict:
        med = statistics.median
        comp = self.window_compute_s
        out = {"glosses": len(self.frames), "windows": len(comp), "fps": self.fps}
        if self.frames:
            out.update(
                latency_frames_median=med(self.frames),
                latency_frames_max=max(self.frames),
                latency_s_median=med(self.seconds),
                latency_s_max=max(self.seconds),
            )
        if comp:
            # < 1: the windows are computed faster than their hop of frames arrives
            out.update(
                window_compute_s_mean=statistics.fmean(comp),
                real_time_factor=statistics.fmean(comp) / (self.hop / self.fps),
            )
        return out


class _Emitter:
    """What both streaming modes share: window logits -> absolute spans -> stable emissions."""

    def __init__(self, timing, config, fps, min_frames, decoder, beam_width):
        self.timing, self.cfg = timing, config
        self.min_frames, self.decoder, self.beam_width = max(1, min_frames), decoder, beam_width
        self.seen = 0  # frames pushed
        self.stabiliser = Stabiliser(config.margin, timing.stride)
        self.report = LatencyReport(fps, hop=config.hop)

    def _spans(self, logits: torch.Tensor, start: int, n: int) -> list[GlossSpan]:
        """(T', V) logits of a window of `n` frames starting at frame `start` -> spans."""
        spans = decode_spans(logits.float().log_softmax(-1), self.decoder, self.beam_width)
        frames = [self.timing.frames(s, n) for s in spans]
        return [GlossSpan(s.label, s.start + start, s.end + start, s.confidence) for s in frames]

    def _emit(self, spans, win_start: int, win_end: int, final: bool, compute: float):
        self.report.window_compute_s.append(compute)
        emitted = self.stabiliser.update(spans, win_start, win_end, final)
        return self._emissions(emitted, compute)

    def _emissions(self, emitted: list[tuple[GlossSpan, str]], compute: float) -> list[Emission]:
        out = [Emission(s, self.seen - 1, rule, compute) for s, rule in emitted]
        for e in out:
            self.report.frames.append(e.latency_frames)
            self.report.seconds.append(e.latency_frames / self.report.fps + compute)
        return out


class StreamingRecognizer(_Emitter):
    """Recompute mode: every hop, the whole last window of frames runs through the network.

    Each frame thus passes the trunk window / hop times. Kept for comparison with
    `IncrementalStreamingRecognizer` (`crkd predict --stream --mode recompute`).

    Args:
        recognizer: called as `rec(video (1, T, 3, S, S), lengths (1,)) -> SLROutput`.
        timing: the head's output step -> input frame mapping.
        config: window, hop and margin, in frames.
        fps: the frame rate, for latencies in seconds.
        min_frames: the shortest window the network accepts.
        decoder, beam_width: as for offline decoding.
    """

    def __init__(
        self,
        recognizer: Recognizer,
        timing: StepTiming,
        config: StreamConfig,
        fps: float,
        min_frames: int = 1,
        decoder: str = "greedy",
        beam_width: int = 10,
    ):
        super().__init__(
            timing=timing,
            config=config,
            fps=fps,
            min_frames=min_frames,
            decoder=decoder,
            beam_width=beam_width,
        )
        self.rec = recognizer
        self.buffer: deque[torch.Tensor] = deque(maxlen=config.window)

    def push(self, frame: torch.Tensor) -> list[Emission]:
        """Add one preprocessed frame (3, S, S); returns the glosses that became stable."""
        self.buffer.append(frame)
        self.seen += 1
        if self.seen % self.cfg.hop or len(self.buffer) < self.min_frames:
            return []
        return self._run_window(final=False)

    def flush(self) -> list[Emission]:
        """End of stream: decode the last window (unless just done) and emit everything left."""
        if len(self.buffer) < self.min_frames:
            return []
        if self.stabiliser.prev_end == self.seen and self.report.window_compute_s:
            emitted = self.stabiliser.update(
                self.stabiliser.prev, self.seen - len(self.buffer), self.seen, final=True
            )
            return self._emissions(emitted, self.report.window_compute_s[-1])
        return self._run_window(final=True)

    def _run_window(self, final: bool) -> list[Emission]:
        t0 = time.perf_counter()
        video = torch.stack(list(self.buffer))[None]  # (1, T, 3, S, S)
        out = self.rec(video, torch.tensor([video.shape[1]]))
        win_start = self.seen - len(self.buffer)
        spans = self._spans(out.logits[0, : int(out.lengths[0])], win_start, len(self.buffer))
        return self._emit(spans, win_start, self.seen, final, time.perf_counter() - t0)


class IncrementalStreamingRecognizer(_Emitter):
    """Incremental mode: each frame passes the trunk once (incremental.py); every hop, the head
    and the decoder run on the last `window` cached frame features.

    A frame's features are final `delay` frames after it arrives (the TSCM blocks' look-ahead),
    so windows end `delay` frames behind the newest frame; latencies count from the newest.

    Args:
        trunk: a trunk engine (`TorchTrunkEngine` or `OnnxTrunkEngine`).
        head: a head engine: (T, C) features -> (T', V) logits.
        chunk: frames given to the trunk per call (1: each frame as it arrives; <= hop).
        timing, config, fps, min_frames, decoder, beam_width: as for `StreamingRecognizer`.
    """

    def __init__(
        self,
        trunk,
        head,
        timing: StepTiming,
        config: StreamConfig,
        fps: float,
        min_frames: int = 1,
        decoder: str = "greedy",
        beam_width: int = 10,
        chunk: int = 1,
    ):
        if not 1 <= chunk <= config.hop:
            raise ConfigError(f"the trunk chunk must be in 1..hop ({config.hop}), got {chunk}")
        super().__init__(
            timing=timing,
            config=config,
            fps=fps,
            min_frames=min_frames,
            decoder=decoder,
            beam_width=beam_width,
        )
        self.trunk, self.head, self.chunk = IncrementalTrunk(trunk), head, chunk
        self.features: deque[torch.Tensor] = deque(maxlen=config.window)
        self.pending: list[torch.Tensor] = []
        self.done = 0  # frames whose features are final
        self.trunk_s = 0.0  # trunk compute since the last window

    @property
    def delay(self) -> int:
        return self.trunk.engine.delay

    def push(self, frame: torch.Tensor) -> list[Emission]:
        """Add one preprocessed frame (3, S, S); returns the glosses that became stable."""
        self.pending.append(frame)
        self.seen += 1
        if len(self.pending) >= self.chunk:
            self._feed(lambda: self.trunk.push(torch.stack(self.pending)))
        if self.seen % self.cfg.hop or len(self.features) < self.min_frames:
            return []
        return self._run_window(final=False)

    def flush(self) -> list[Emission]:
        """End of stream: finish the last frames' features and emit everything left."""
        if self.pending:
            self._feed(lambda: self.trunk.push(torch.stack(self.pending)))
        self._feed(self.trunk.close)
        if len(self.features) < self.min_frames:
            return []
        return self._run_window(final=True)

    def _feed(self, step) -> None:
        t0 = time.perf_counter()
        feats = step()
        self.pending = []
        self.features.extend(feats.unbind(0))
        self.done += feats.shape[0]
        self.trunk_s += time.perf_counter() - t0

    def _run_window(self, final: bool) -> list[Emission]:
        t0 = time.perf_counter()
        feats = torch.stack(list(self.features))
        start = self.done - len(feats)
        spans = self._spans(self.head(feats), start, len(feats))
        compute, self.trunk_s = self.trunk_s + time.perf_counter() - t0, 0.0
        return self._emit(spans, start, self.done, final, compute)
