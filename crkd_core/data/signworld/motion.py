"""SignWorld motion: a sentence becomes one pose per frame, with co-articulation.

SignWorld is this project's invention. A video is: rest frames, a transition to the first sign,
the signs (each moving along its own trajectory) joined by transitions, a transition back, and rest
frames. During a transition the hands travel from where one sign ended to where the next one
starts, and the handshape blends finger by finger (extension and tilt are interpolated), as real
signers co-articulate.

Poses are in body coordinates: reference pixels (96 px frame) from the signer's chin, before the
body scale. Both hands are stored as if they were the dominant hand; the renderer mirrors the
other one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .phonology import (
    HANDSHAPES,
    LOCATIONS,
    MOVEMENTS,
    ORIENTATIONS,
    REST_ANGLE,
    REST_HANDSHAPE,
    REST_LOCATION,
    GlossSpec,
)

MOVEMENT_AMPLITUDE = 7.0  # reference px


@dataclass(frozen=True)
class HandPose:
    """One hand in one frame. `fingers` is (4, 2): extension in [0, 1] and tilt in degrees."""

    x: float
    y: float
    angle: float
    scale: float
    fingers: np.ndarray

    def lerp(self, other: HandPose, w: float) -> HandPose:
        a = 1.0 - w
        return HandPose(
            a * self.x + w * other.x,
            a * self.y + w * other.y,
            a * self.angle + w * other.angle,
            a * self.scale + w * other.scale,
            a * self.fingers + w * other.fingers,
        )


@dataclass(frozen=True)
class FramePose:
    """Both hands in one frame, and the gloss being signed ("" in rest and transition frames)."""

    dominant: HandPose
    other: HandPose
    gloss: str = ""


@dataclass(frozen=True)
class SignInstance:
    """One occurrence of a gloss in a video: its spec, duration and small personal variation."""

    spec: GlossSpec
    frames: int
    dx: float = 0.0
    dy: float = 0.0
    amplitude: float = 1.0
    tilt: float = 0.0

    def pose(self, u: float) -> FramePose:
        """The pose at normalised time `u` in [0, 1] of the sign."""
        lx, ly = LOCATIONS[self.spec.location]
        mx, my, mang, ms = MOVEMENTS[self.spec.movement](u, MOVEMENT_AMPLITUDE * self.amplitude)
        hand = HandPose(
            lx + self.dx + mx,
            ly + self.dy + my,
            ORIENTATIONS[self.spec.orientation] + self.tilt + mang,
            1.0 + ms,
            HANDSHAPES[self.spec.handshape].fingers(),
        )
        other = hand if self.spec.hands == 2 else rest_pose(u)
        return FramePose(hand, other, self.spec.gloss)


def rest_pose(phase: float = 0.0) -> HandPose:
    """Hands down in front of the stomach, in a fist, with a slight idle sway."""
    x, y = REST_LOCATION
    return HandPose(
        x + 0.5 * np.sin(2 * np.pi * phase),
        y,
        REST_ANGLE,
        1.0,
        HANDSHAPES[REST_HANDSHAPE].fingers(),
    )


def sample_instances(
    specs: Sequence[GlossSpec], rng: np.random.Generator, speed: float, sign_frames: tuple[int, int]
) -> list[SignInstance]:
    """Durations (per signer speed and per sign) and small variations of each sign."""
    lo, hi = sign_frames
    out = []
    for spec in specs:
        n = int(np.clip(round(rng.uniform(lo, hi) * speed), lo - 1, hi + 1))
        out.append(
            SignInstance(
                spec,
                n,
                dx=rng.normal(0, 1.0),
                dy=rng.normal(0, 1.0),
                amplitude=rng.uniform(0.85, 1.15),
                tilt=rng.normal(0, 4.0),
            )
        )
    return out


def build_timeline(signs: Sequence[SignInstance], rng: np.random.Generator) -> list[FramePose]:
    """Rest, transition, sign, transition, ..., sign, transition, rest: one FramePose per frame."""
    frames = _rest(int(rng.integers(2, 4)), 0.0)
    for sign in signs:
        frames += _transition(frames[-1], sign.pose(0.0), int(rng.integers(1, 4)))
        frames += [sign.pose((i + 0.5) / sign.frames) for i in range(sign.frames)]
    rest_out = _rest(int(rng.integers(2, 4)), 0.5)
    frames += _transition(frames[-1], rest_out[0], int(rng.integers(1, 4)))
    return frames + rest_out


def gloss_segments(poses: Sequence[FramePose]) -> list[tuple[str, int, int]]:
    """(gloss, start, end) for each run of frames [start, end) in which one gloss is signed."""
    segments: list[tuple[str, int, int]] = []
    for t, pose in enumerate(poses):
        if pose.gloss and segments and segments[-1][0] == pose.gloss and segments[-1][2] == t:
            segments[-1] = (pose.gloss, segments[-1][1], t + 1)
        elif pose.gloss:
            segments.append((pose.gloss, t, t + 1))
    return segments


def _rest(n: int, phase: float) -> list[FramePose]:
    poses = [rest_pose(phase + i / 8) for i in range(n)]
    return [FramePose(p, p) for p in poses]


def _transition(a: FramePose, b: FramePose, n: int) -> list[FramePose]:
    """`n` in-between frames; smoothstep easing, so the hands accelerate and brake."""
    out = []
    for i in range(1, n + 1):
        w = _smoothstep(i / (n + 1))
        out.append(FramePose(a.dominant.lerp(b.dominant, w), a.other.lerp(b.other, w)))
    return out


def _smoothstep(t: float) -> float:
    return t * t * (3 - 2 * t)
