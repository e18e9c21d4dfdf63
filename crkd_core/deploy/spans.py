"""Where decoded glosses lie in time: output steps -> input frames -> seconds.

The temporal head (e.g. K5-P2-K5-P2) maps T input frames to T' output steps. Output step j
sees a receptive field of input frames whose centre is `stride * j + offset`; we give step j
the `stride` frames around that centre. A span of steps [a, b) thus covers input frames
[start(a), start(b - 1) + stride), clipped to the clip. This mapping is ours: CTC peaks are
not aligned to sign boundaries, so spans are approximate by nature (about one step).

Beam search returns labels without frames; `ctc_align` places them on the frames by the most
probable CTC path that emits exactly those labels (Viterbi), so beam output gets spans too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..decode import BLANK, GlossSpan, beam_search, greedy_spans
from ..errors import ConfigError
from ..models.layers import TemporalConv, parse_temporal_spec
from ..models.network import HeadConfig


@dataclass(frozen=True)
class StepTiming:
    """Output step j of the head is centred on input frame `stride * j + offset`."""

    stride: int
    offset: float

    def step_start(self, step: int) -> int:
        return math.ceil(self.stride * step + self.offset - self.stride / 2)

    def frames(self, span: GlossSpan, n_frames: int) -> GlossSpan:
        """A span of output steps -> the same span in input frames [start, end), clipped."""
        start = min(max(0, self.step_start(span.start)), n_frames - 1)
        end = min(max(start + 1, self.step_start(span.end - 1) + self.stride), n_frames)
        return GlossSpan(span.label, start, end, span.confidence)


def step_timing(head: HeadConfig) -> StepTiming:
    """The step -> frame mapping of a head, from its receptive field (see module docstring)."""
    lo, hi, stride = 0, 0, 1  # receptive field of output step 0, in the current layer's input
    for kind, size in reversed(parse_temporal_spec(head.spec)):
        if kind == "K":
            pad = size // 2 if head.same_padding else 0
            lo, hi = lo - pad, hi - pad + size - 1
        else:
            lo, hi, stride = lo * size, hi * size + size - 1, stride * size
    return StepTiming(stride, (lo + hi) / 2)


def min_frames(head: HeadConfig) -> int:
    """The shortest clip for which the head emits at least one output step."""
    conv = TemporalConv(1, 1, head.spec, head.same_padding)
    t = 1
    while int(conv.output_lengths(torch.tensor([t]))[0]) < 1:
        t += 1
    return t


def ctc_align(log_probs: np.ndarray, labels: list[int]) -> list[GlossSpan]:
    """Spans of `labels` on the most probable CTC path that emits exactly them.

    Args:
        log_probs: (T, V) log-probabilities.
        labels: a label sequence (no blanks), e.g. from beam search; needs a path that fits T.
    """
    if not labels:
        return []
    ext = [BLANK]
    for label in labels:
        ext += [label, BLANK]  # blank, l1, blank, l2, ..., blank
    back = _viterbi(log_probs, np.array(ext))
    return _path_to_spans(back, log_probs, ext)


def _viterbi(lp: np.ndarray, ext: np.ndarray) -> list[int]:
    """Best state sequence over the extended label sequence `ext` (the CTC topology)."""
    t_len, s_len = lp.shape[0], len(ext)
    score = np.full(s_len, -np.inf)
    score[:2] = lp[0, ext[:2]]
    # a state may come from itself, the one before, or skip a blank between distinct labels
    skip = np.zeros(s_len, bool)
    skip[2:] = (ext[2:] != BLANK) & (ext[2:] != ext[:-2])
    choice = np.zeros((t_len, s_len), np.int64)
    for t in range(1, t_len):
        cands = np.stack(
            [
                score,
                np.r_[-np.inf, score[:-1]],
                np.where(skip, np.r_[-np.inf, -np.inf, score[:-2]], -np.inf),
            ]
        )
        choice[t] = cands.argmax(0)
        score = cands.max(0) + lp[t, ext]
    state = s_len - 1 if score[-1] >= score[-2] else s_len - 2
    if not np.isfinite(score[state]):
        raise ConfigError(f"{len(ext) // 2} labels do not fit on {t_len} CTC steps")
    path = [state]
    for t in range(t_len - 1, 0, -1):
        state -= int(choice[t, state])
        path.append(state)
    return path[::-1]


def _path_to_spans(path: list[int], lp: np.ndarray, ext: list[int]) -> list[GlossSpan]:
    spans, t = [], 0
    while t < len(path):
        state, start = path[t], t
        while t < len(path) and path[t] == state:
            t += 1
        if ext[state] != BLANK:
            conf = float(np.exp(lp[start:t, ext[state]]).mean())
            spans.append(GlossSpan(ext[state], start, t, conf))
    return spans


def decode_spans(
    log_probs: torch.Tensor, method: str = "greedy", beam_width: int = 10
) -> list[GlossSpan]:
    """Glosses of one clip with their output-step spans.

    Args:
        log_probs: (T', V) log-probabilities of one clip.
        method: "greedy" (best path) or "beam" (prefix beam search, then `ctc_align`).
        beam_width: the beam for "beam".
    """
    lengths = torch.tensor([log_probs.shape[0]])
    if method == "greedy":
        return greedy_spans(log_probs[None], lengths)[0]
    if method == "beam":
        labels = beam_search(log_probs[None], lengths, beam_width=beam_width)[0]
        return ctc_align(log_probs.detach().double().numpy(), labels)
    raise ConfigError(f"unknown decoding method {method!r}: use 'greedy' or 'beam'")
