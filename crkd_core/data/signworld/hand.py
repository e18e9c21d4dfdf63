"""SignWorld hands: the geometry of a hand pose, and how it is drawn.

SignWorld is this project's invention. A hand is a palm (a rounded rectangle), a folded thumb
across it (the same in every handshape), and four finger strokes. A stroke is FINGER_W = 2.4
reference px wide plus a dark outline: 3.4 px in all at hand scale 1. Signers draw their hands at
scale 1.32 to 1.5 (see `signer`), so a stroke is about 4.8 reference px: about 3.6 px in the
teacher's 64 px view (resize 96 -> 72, crop 64) and 0.9 px in the student's 16 px view. Extended
fingers are much lighter than the palm, with dark outlines; folded ones show as palm-coloured
knuckles. The whole hand spans about 31 reference px, a third of the frame.

`benchmarks/handshape_probe.py` measures how well a trunk reads handshapes from single frames.

Coordinates: "local" is (u across the palm toward the thumb, v along the fingers), in reference
px at hand scale 1; "body" is reference px from the signer's chin (see `motion`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import ImageDraw

from .motion import HandPose

PALM_W, PALM_H = 13.0, 10.0
FINGER_W, OUTLINE = 2.4, 0.5
FINGER_SLOTS = np.array([5.1, 1.7, -1.7, -5.1])  # index..pinky, across the palm
FINGER_LEN = np.array([10.0, 11.0, 10.0, 8.5])
STUB_LEN = 2.5  # a folded finger shows as a knuckle
FINGER_BASE_V = PALM_H / 2 - 1.5
SHOULDER = (-19.0, 12.0)
ARM_W = 7.0

_W, _H, _C = PALM_W / 2, PALM_H / 2, 2.5
PALM = np.array(
    [
        (_W - _C, _H),
        (_W, _H - _C),
        (_W, -_H + _C),
        (_W - _C, -_H),
        (-_W + _C, -_H),
        (-_W, -_H + _C),
        (-_W, _H - _C),
        (-_W + _C, _H),
    ]
)
THUMB = np.array([(6.5, -2.5), (0.5, -0.5)])
HALF_WIDTHS = np.array([FINGER_W / 2 + OUTLINE, FINGER_W / 2])  # outline stroke, fill stroke


class CanvasMap(Protocol):
    """What the hand needs from a scene: the body -> canvas mapping and the colours."""

    hand: float
    body: float
    px: float
    colours: dict[str, tuple[int, int, int]]

    def to_canvas_array(self, pts: np.ndarray, mirror: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class HandGeometry:
    """A hand in body coordinates; `quads` is (finger, outline|fill, corner, xy)."""

    palm: np.ndarray  # (8, 2)
    thumb: np.ndarray  # (2, 2)
    quads: np.ndarray  # (4, 2, 4, 2)
    tips: np.ndarray  # (4, 2)
    radii: np.ndarray  # (2,) half widths of the outline and fill strokes
    extension: np.ndarray  # (4,)

    def points(self) -> np.ndarray:
        """Every outline point, (N, 2), for bounding boxes."""
        return np.concatenate([self.palm, self.quads.reshape(-1, 2)])


def hand_geometry(hand: HandPose) -> HandGeometry:
    """Place the palm, thumb and finger strokes of one hand pose (vectorised over fingers)."""
    ext, tilt = hand.fingers[:, 0], np.radians(hand.fingers[:, 1])
    d = np.stack([-np.sin(tilt), np.cos(tilt)], 1)  # (4, 2) local direction; + tilt -> pinky
    n = np.stack([np.cos(tilt), np.sin(tilt)], 1)  # (4, 2) normal
    base = np.stack([FINGER_SLOTS, np.full(4, FINGER_BASE_V)], 1)
    tip = base + d * (STUB_LEN + ext * (FINGER_LEN - STUB_LEN))[:, None]
    side = n[:, None, :] * HALF_WIDTHS[None, :, None]  # (4, 2, 2)
    b, t = base[:, None, :], tip[:, None, :]
    quads = np.stack([b + side, t + side, t - side, b - side], 2)  # (4, 2, 4, 2)
    ang = math.radians(hand.angle)
    axes = hand.scale * np.array([[math.cos(ang), math.sin(ang)], [math.sin(ang), -math.cos(ang)]])
    centre = np.array([hand.x, hand.y])
    return HandGeometry(
        palm=centre + PALM @ axes,
        thumb=centre + THUMB @ axes,
        quads=centre + quads @ axes,
        tips=centre + tip @ axes,
        radii=HALF_WIDTHS * hand.scale,
        extension=ext,
    )


def scaled(hand: HandPose, k: float) -> HandPose:
    return HandPose(hand.x, hand.y, hand.angle, hand.scale * k, hand.fingers)


def draw_hand(draw: ImageDraw.ImageDraw, scene: CanvasMap, hand: HandPose, mirror: bool) -> None:
    """Palm, thumb, then fingers (extended ones last, so no knuckle covers them)."""
    geo = hand_geometry(scaled(hand, scene.hand))
    col = scene.colours
    pts = scene.to_canvas_array(np.concatenate([geo.palm, geo.thumb, geo.tips]), mirror)
    quads = scene.to_canvas_array(geo.quads, mirror)
    palm, thumb, tips = pts[:8], pts[8:10], pts[10:]
    radii = geo.radii * scene.body * scene.px
    draw.polygon(
        palm.ravel().tolist(),
        fill=col["palm"],
        outline=col["outline"],
        width=max(1, round(OUTLINE * scene.px)),
    )
    for k, colour in ((0, col["outline"]), (1, col["finger"])):
        draw.line(thumb.ravel().tolist(), fill=colour, width=round(2 * radii[k]))
    for i in np.argsort(geo.extension, kind="stable"):
        fill = col["finger"] if geo.extension[i] > 0.5 else col["palm"]
        for k, colour in ((0, col["outline"]), (1, fill)):
            draw.polygon(quads[i, k].ravel().tolist(), fill=colour)
            (x, y), r = tips[i], radii[k]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def draw_arm(draw: ImageDraw.ImageDraw, scene: CanvasMap, hand: HandPose, mirror: bool) -> None:
    """Upper arm and forearm, shoulder -> elbow -> wrist, in the sleeve colour."""
    ang = math.radians(hand.angle)
    along = np.array([math.sin(ang), -math.cos(ang)])
    wrist = np.array([hand.x, hand.y]) - along * (PALM_H / 2 + 1) * hand.scale * scene.hand
    sx, sy = SHOULDER
    elbow = np.array([sx - 4 + 0.3 * (wrist[0] - sx), max(sy + 14, min(wrist[1] + 12, sy + 30))])
    pts = scene.to_canvas_array(np.array([SHOULDER, elbow, wrist]), mirror).ravel().tolist()
    w = ARM_W * scene.body * scene.px
    draw.line(
        pts, fill=scene.colours["outline_cloth"], width=round(w + 2 * scene.px), joint="curve"
    )
    draw.line(pts, fill=scene.colours["sleeve"], width=round(w), joint="curve")
