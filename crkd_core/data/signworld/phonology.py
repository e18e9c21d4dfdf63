"""SignWorld phonology: handshapes, locations, movements, orientations, and the gloss table.

SignWorld is this project's invention, not a public corpus. Each gloss is a bundle of the
phonological parameters of sign languages. Location, movement, hands and orientation are COARSE
(visible at any resolution). Handshape is FINE: finger strokes about 4.8 px wide in a 96 px frame
(see `hand`), so about 3.6 px in the teacher's 64 px view and under 1 px in the student's 16 px
view.

Glosses that share (location, movement, hands, orientation) form a *group* and differ only in
handshape. The handshapes of a group come from one *family*: the same number of extended fingers,
so that the blurred hand has the same area and brightness; they differ in which fingers are
extended and how they are spread.

Units: "reference pixels" of a 96 px frame; the renderer scales them to the frame size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Handshape:
    """Which of the four fingers are extended, and the tilt of each (degrees, + = pinky side).

    The thumb is always folded across the palm, so it carries no information.
    """

    name: str
    family: str
    extended: tuple[int, int, int, int]
    tilt: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def fingers(self) -> np.ndarray:
        """(4, 2) array of (extension in [0, 1], tilt in degrees), the form the renderer blends."""
        return np.array([self.extended, self.tilt], dtype=np.float64).T


def _hs(name: str, family: str, ext: str, tilt=(0.0, 0.0, 0.0, 0.0)) -> Handshape:
    return Handshape(name, family, tuple(int(c) for c in ext), tuple(float(t) for t in tilt))


# Families: members extend the same number of fingers, and their strokes cover about the same
# part of the hand, so that the difference is finer than a student pixel (about 5 px here).
HANDSHAPES: dict[str, Handshape] = {
    h.name: h
    for h in (
        _hs("fist", "rest", "0000"),
        # one finger, tilted so that every stroke crosses the middle of the hand
        _hs("one-middle-in", "one", "0100", (0, 15, 0, 0)),
        _hs("one-ring-in", "one", "0010", (0, 0, -15, 0)),
        _hs("one-index-across", "one", "1000", (35, 0, 0, 0)),
        _hs("one-pinky-across", "one", "0001", (0, 0, 0, -40)),
        # two fingers
        _hs("two-closed", "two", "0110"),
        _hs("two-v", "two", "0110", (0, -30, 30, 0)),
        _hs("two-crossed", "two", "0110", (0, 28, -28, 0)),
        _hs("two-horns-in", "two", "1001", (24, 0, 0, -28)),
        # three fingers
        _hs("three-imr", "three", "1110", (-10, 0, 10, 0)),
        _hs("three-mrp", "three", "0111", (0, -10, 0, 10)),
        _hs("three-imp-in", "three", "1101", (8, 0, 0, -12)),
        _hs("three-irp-in", "three", "1011", (10, 0, 0, -10)),
        # four fingers
        _hs("four-flat", "four", "1111"),
        _hs("four-spread", "four", "1111", (-30, -10, 10, 30)),
        _hs("four-split", "four", "1111", (-22, -22, 22, 22)),
        _hs("four-converge", "four", "1111", (22, 8, -8, -22)),
    )
}
REST_HANDSHAPE = "fist"

# Palm-centre offsets (dx, dy) from the signer's chin, for the dominant hand (image left).
# Two-handed locations mirror dx for the other hand, so they keep the hands apart.
LOCATIONS: dict[str, tuple[float, float]] = {
    "forehead": (-4.0, -13.0),
    "temple": (-17.0, -10.0),
    "chin": (-3.0, 1.0),
    "chest": (-6.0, 17.0),
    "shoulder": (-13.0, 11.0),
    "neutral": (-17.0, 27.0),
    "stomach": (-3.0, 30.0),
    "face-wide": (-16.0, -4.0),
    "chest-wide": (-16.0, 19.0),
    "low-wide": (-17.0, 30.0),
}
REST_LOCATION = (-15.0, 52.0)

# Hand-axis angle in degrees: 0 = fingers up, + = fingers toward the body's midline.
ORIENTATIONS: dict[str, float] = {"up": 0.0, "in": 50.0, "out": -35.0}
REST_ANGLE = 70.0

Movement = Callable[[float, float], tuple[float, float, float, float]]  # (u, amp) -> dx dy dang ds


def _hold(u: float, a: float):
    return 0.6 * math.sin(2 * math.pi * u), 0.0, 0.0, 0.0


def _up_down(u: float, a: float):
    return 0.0, -a * math.sin(2 * math.pi * u), 0.0, 0.0


def _side(u: float, a: float):
    return a * math.sin(2 * math.pi * u), 0.0, 0.0, 0.0


def _circle(u: float, a: float):
    t = 2 * math.pi * u
    return 0.6 * a * math.sin(t), -0.6 * a * math.cos(t), 0.0, 0.0


def _tap(u: float, a: float):
    return 0.0, 0.35 * a * (1 - math.cos(4 * math.pi * u)), 0.0, 0.0


def _diagonal(u: float, a: float):
    s = 2 * u - 1
    return 0.6 * a * s, -0.6 * a * s, 0.0, 0.0


def _twist(u: float, a: float):
    return 0.0, 0.0, 40.0 * math.sin(2 * math.pi * u), 0.0


def _toward(u: float, a: float):
    return 0.0, 0.0, 0.0, 0.28 * math.sin(math.pi * u)


MOVEMENTS: dict[str, Movement] = {
    "hold": _hold,
    "up-down": _up_down,
    "side": _side,
    "circle": _circle,
    "tap": _tap,
    "diagonal": _diagonal,
    "twist": _twist,
    "toward": _toward,
}


@dataclass(frozen=True)
class GlossSpec:
    """One gloss of the SignWorld lexicon: its grammatical role and its phonological parameters."""

    gloss: str
    role: str
    group: int
    handshape: str
    location: str
    movement: str
    hands: int
    orientation: str

    @property
    def coarse(self) -> tuple[str, str, int, str]:
        """What a handshape-blind reader sees: (location, movement, hands, orientation)."""
        return (self.location, self.movement, self.hands, self.orientation)

    def to_dict(self) -> dict:
        return asdict(self)


# (role, location, movement, hands, orientation, family, glosses). Each row is one group.
_GROUPS = (
    ("time", "forehead", "side", 1, "up", "two", "TODAY TOMORROW YESTERDAY MORNING"),
    ("time", "temple", "circle", 1, "in", "one", "EVENING WEEK NIGHT"),
    ("subject", "chest", "tap", 1, "in", "one", "I YOU HE SHE"),
    ("subject", "low-wide", "hold", 2, "up", "four", "WE THEY FRIEND TEACHER"),
    ("object", "chin", "up-down", 1, "up", "three", "FOOD WATER TEA"),
    ("object", "chest-wide", "circle", 2, "in", "two", "HOUSE CAR BOOK BALL"),
    ("object", "shoulder", "diagonal", 1, "out", "four", "RAIN SUN SNOW WIND"),
    ("modifier", "neutral", "twist", 1, "up", "three", "BIG SMALL GOOD BAD"),
    ("modal", "chin", "toward", 1, "in", "two", "WANT CAN MUST"),
    ("verb", "neutral", "side", 1, "in", "two", "GO COME SEE BUY"),
    ("verb", "face-wide", "up-down", 2, "out", "three", "MAKE HELP LEARN KNOW"),
    ("negation", "stomach", "side", 1, "up", "one", "NOT NEVER NOTHING"),
)


def family_members(family: str) -> list[str]:
    return [h.name for h in HANDSHAPES.values() if h.family == family]


def build_gloss_table() -> tuple[GlossSpec, ...]:
    """The fixed SignWorld lexicon (independent of the seed, so the vocabulary never changes)."""
    table = []
    for group, (role, loc, mov, hands, orient, family, words) in enumerate(_GROUPS):
        shapes = family_members(family)
        for word, shape in zip(words.split(), shapes, strict=False):
            table.append(
                GlossSpec(
                    gloss=word,
                    role=role,
                    group=group,
                    handshape=shape,
                    location=loc,
                    movement=mov,
                    hands=hands,
                    orientation=orient,
                )
            )
    check_gloss_table(table)
    return tuple(table)


def check_gloss_table(table: list[GlossSpec]) -> None:
    """Groups must be exactly the glosses that share the coarse parameters."""
    by_coarse: dict[tuple, set[int]] = {}
    for g in table:
        by_coarse.setdefault(g.coarse, set()).add(g.group)
    bad = [k for k, groups in by_coarse.items() if len(groups) != 1]
    if bad or len({g.gloss for g in table}) != len(table):
        raise ValueError(f"gloss table: groups do not match coarse parameters: {bad}")
    seen = {(g.group, g.handshape) for g in table}
    if len(seen) != len(table):
        raise ValueError("gloss table: two glosses of a group share a handshape")
