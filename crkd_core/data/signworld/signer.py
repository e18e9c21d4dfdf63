"""SignWorld signers: body, colours, background, light, noise, camera and signing speed.

SignWorld is this project's invention. A signer is drawn once from the seed; every video of that
signer shares these traits, and each video varies them a little (see `render.make_scene`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SKIN_TONES = np.array(
    [[241, 204, 178], [224, 172, 138], [198, 140, 104], [160, 106, 72], [118, 78, 52]],
    dtype=np.float64,
)
TEXTURES = ("plain", "stripes", "blotches", "gradient")


@dataclass(frozen=True)
class Signer:
    """Traits of one signer. Colours are RGB in [0, 255]; lengths in reference pixels (96 px)."""

    id: str
    skin: tuple[float, float, float]
    clothing: tuple[float, float, float]
    background: tuple[float, float, float]
    texture: str
    texture_seed: int
    body_scale: float  # head and torso size
    hand_scale: float  # hand size relative to the body (large: fingers must show at 64 px)
    body_dx: float  # horizontal position of the midline, from the frame centre
    body_dy: float  # vertical position of the chin, from its nominal place
    speed: float  # > 1 signs more slowly (more frames per sign)
    brightness: float
    light_slope: float  # left-to-right lighting gradient
    noise: float  # pixel noise sigma, in grey levels
    jitter: float  # camera shake amplitude, in reference pixels

    def to_dict(self) -> dict:
        return asdict(self)


def sample_signer(rng: np.random.Generator, index: int) -> Signer:
    """Draw signer number `index` (1-based, as PHOENIX's Signer01..Signer09)."""
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.94, 1.06, 3)
    clothing = _dark_colour(rng)
    return Signer(
        id=f"Signer{index:02d}",
        skin=_rgb(skin),
        clothing=_rgb(clothing),
        background=_rgb(_background_colour(rng, clothing, skin)),
        texture=TEXTURES[rng.integers(len(TEXTURES))],
        texture_seed=int(rng.integers(2**31)),
        body_scale=float(rng.uniform(0.94, 1.06)),
        hand_scale=float(rng.uniform(1.32, 1.5)),
        body_dx=float(rng.uniform(-4, 4)),
        body_dy=float(rng.uniform(-2.5, 2.5)),
        speed=float(rng.uniform(0.8, 1.2)),
        brightness=float(rng.uniform(0.8, 1.15)),
        light_slope=float(rng.uniform(-0.15, 0.15)),
        noise=float(rng.uniform(1.5, 5.0)),
        jitter=float(rng.uniform(0.2, 0.9)),
    )


def _dark_colour(rng: np.random.Generator) -> np.ndarray:
    """Clothing: dark and fairly saturated, as the PHOENIX presenters wear."""
    hue = rng.dirichlet([1.0, 1.0, 1.0])
    return 25 + 90 * hue + rng.uniform(0, 25)


def _background_colour(rng: np.random.Generator, clothing: np.ndarray, skin: np.ndarray):
    """A mid-bright background that stays clearly apart from the clothing and the skin."""
    while True:
        bg = rng.uniform(60, 210, 3)
        if np.abs(bg - clothing).sum() > 120 and np.abs(bg - skin).sum() > 150:
            return bg


def _rgb(c: np.ndarray) -> tuple[float, float, float]:
    c = np.clip(c, 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))
