"""SignWorld renderer: draws a signer and her hands, frame by frame (numpy + PIL).

SignWorld is this project's invention. Anti-aliasing: each frame is drawn at `SUPERSAMPLE` times
the frame size and reduced by box averaging. Geometry is given in reference pixels of a 96 px
frame and scaled to the frame size, so a larger frame shows the same scene in more detail.

Hands are drawn large (see `hand`): fingers stay visible in front of the face or the clothing.
The static part of the scene (background, torso, head) is drawn once per video;
only the arms and hands are drawn per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .hand import FINGER_W, OUTLINE, SHOULDER, draw_arm, draw_hand, hand_geometry, scaled
from .motion import FramePose, HandPose
from .signer import Signer

SUPERSAMPLE = 3
REF_SIZE = 96.0
MARGIN = 2.0  # reference px of canvas around the frame, room for camera jitter
CHIN_Y = 43.0  # nominal chin height, reference px from the top


@dataclass
class Scene:
    """The static part of one video and the mapping from body coordinates to canvas pixels."""

    size: int
    canvas: Image.Image  # background + body, SUPERSAMPLE x (size + 2 margins)
    cx: float  # midline, reference px
    chin_y: float
    body: float  # body scale
    hand: float  # hand scale (times the body scale)
    colours: dict[str, tuple[int, int, int]]
    gain: np.ndarray  # (size, size, 1) lighting
    noise: float
    jitter: float

    @property
    def px(self) -> float:
        """Canvas pixels per reference pixel."""
        return SUPERSAMPLE * self.size / REF_SIZE

    @property
    def margin_px(self) -> int:
        return int(round(MARGIN * self.px))

    def to_canvas_array(self, pts: np.ndarray, mirror: bool = False) -> np.ndarray:
        """Body coordinates (..., 2), from the chin in reference px, to canvas pixels (..., 2)."""
        sign = np.array([-1.0 if mirror else 1.0, 1.0])
        origin = np.array([self.cx, self.chin_y])
        return (origin + self.body * sign * pts) * self.px + self.margin_px

    def to_canvas(self, pts: np.ndarray, mirror: bool = False) -> list[float]:
        """Body coordinates (N, 2) to the flat [x0, y0, x1, y1, ...] list that PIL draws."""
        return self.to_canvas_array(pts, mirror).ravel().tolist()


def make_scene(signer: Signer, size: int, rng: np.random.Generator) -> Scene:
    """Draw the static scene of one video: this signer, varied a little for this video."""
    colours = _colours(signer, rng)
    scene = Scene(
        size=size,
        canvas=Image.new("RGB", (1, 1)),
        cx=REF_SIZE / 2 + signer.body_dx + rng.normal(0, 1.0),
        chin_y=CHIN_Y + signer.body_dy + rng.normal(0, 0.8),
        body=signer.body_scale * rng.uniform(0.98, 1.02),
        hand=signer.hand_scale,
        colours=colours,
        gain=_lighting(size, signer.brightness * rng.uniform(0.93, 1.07), signer.light_slope),
        noise=signer.noise,
        jitter=signer.jitter,
    )
    scene.canvas = _background(scene, signer)
    _draw_body(ImageDraw.Draw(scene.canvas), scene)
    return scene


def render_frame(
    scene: Scene,
    pose: FramePose,
    offset: tuple[int, int] = (0, 0),
    noise_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One frame, (size, size, 3) uint8. `offset` shifts the camera, in canvas pixels."""
    img = scene.canvas.copy()
    draw = ImageDraw.Draw(img)
    for hand, mirror in ((pose.other, True), (pose.dominant, False)):
        draw_arm(draw, scene, hand, mirror)
        draw_hand(draw, scene, hand, mirror)
    m, side = scene.margin_px, scene.size * SUPERSAMPLE
    x0, y0 = m + offset[0], m + offset[1]
    img = img.crop((x0, y0, x0 + side, y0 + side)).reduce(SUPERSAMPLE)  # box average
    frame = np.asarray(img, dtype=np.float32) * scene.gain
    if noise_rng is not None:
        frame += noise_rng.standard_normal(frame.shape, dtype=np.float32) * scene.noise
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def render_video(
    scene: Scene, poses: list[FramePose], rng: np.random.Generator
) -> list[np.ndarray]:
    """All frames of a video, with camera shake (a damped random walk) and pixel noise."""
    limit = scene.margin_px
    shake = np.zeros(2)
    frames = []
    for pose in poses:
        shake = 0.6 * shake + rng.normal(0, scene.jitter, 2)
        off = np.clip(np.round(shake * scene.px), -limit, limit).astype(int)
        frames.append(render_frame(scene, pose, (int(off[0]), int(off[1])), rng))
    return frames


def hand_box(
    scene: Scene, hand: HandPose, mirror: bool = False
) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of a hand, in frame pixels (no camera shake)."""
    pts = hand_geometry(scaled(hand, scene.hand)).points()
    x = (scene.to_canvas_array(pts, mirror) - scene.margin_px) / SUPERSAMPLE
    pad = (FINGER_W / 2 + OUTLINE + 1) * scene.size / REF_SIZE
    return (x[:, 0].min() - pad, x[:, 1].min() - pad, x[:, 0].max() + pad, x[:, 1].max() + pad)


# --- static scene -----------------------------------------------------------------------------


def _colours(signer: Signer, rng: np.random.Generator) -> dict[str, tuple[int, int, int]]:
    skin = np.array(signer.skin) * rng.uniform(0.97, 1.03)
    cloth = np.array(signer.clothing)
    table = {
        "skin": skin,
        "palm": skin * 0.86,
        "finger": skin * 1.2 + 40,
        "outline": skin * 0.3,
        "hair": np.array([40.0, 30.0, 25.0]) + rng.uniform(0, 60) * np.array([1.0, 0.8, 0.5]),
        "cloth": cloth,
        "sleeve": cloth * 1.15 + 8,
        "outline_cloth": cloth * 0.55,
        "feature": skin * 0.35,
    }
    return {k: tuple(int(c) for c in np.clip(v, 0, 255)) for k, v in table.items()}


def _background(scene: Scene, signer: Signer) -> Image.Image:
    """Background colour with the signer's texture, at canvas size."""
    n = scene.size + 2 * int(math.ceil(MARGIN * scene.size / REF_SIZE))
    rng = np.random.default_rng(signer.texture_seed)
    yy, xx = np.mgrid[0:n, 0:n] / n
    if signer.texture == "stripes":
        tex = 14 * np.sin(2 * np.pi * (xx * rng.uniform(5, 9) + rng.uniform()))
    elif signer.texture == "blotches":
        coarse = rng.normal(0, 18, (6, 6))
        tex = np.asarray(Image.fromarray(coarse.astype(np.float32)).resize((n, n), Image.BICUBIC))
    elif signer.texture == "gradient":
        tex = 50 * (yy - 0.5) * rng.choice([-1, 1])
    else:
        tex = np.zeros((n, n))
    rgb = np.clip(np.array(signer.background)[None, None] + tex[..., None], 0, 255)
    side = scene.size * SUPERSAMPLE + 2 * scene.margin_px
    return Image.fromarray(rgb.astype(np.uint8)).resize((side, side), Image.BILINEAR)


def _draw_body(draw: ImageDraw.ImageDraw, scene: Scene) -> None:
    """Torso, neck, hair, head and face, in body coordinates."""
    col = scene.colours
    sx, sy = SHOULDER

    def poly(points, fill, mirror=False):
        draw.polygon(scene.to_canvas(np.array(points, dtype=float), mirror), fill=fill)

    def ellipse(x, y, rx, ry, fill):
        draw.ellipse(scene.to_canvas(np.array([[x - rx, y - ry], [x + rx, y + ry]])), fill=fill)

    poly([(sx - 3, sy - 3), (-sx + 3, sy - 3), (-sx + 9, 80), (sx - 9, 80)], col["cloth"])
    ellipse(sx + 1, sy + 2, 6, 6, col["cloth"])
    ellipse(-sx - 1, sy + 2, 6, 6, col["cloth"])
    poly([(-4, -3), (4, -3), (4.5, 7), (-4.5, 7)], col["palm"])  # neck
    poly([(-4.5, 6), (4.5, 6), (0, 10)], col["skin"])  # collar opening
    ellipse(0, -13.5, 10.5, 13, col["hair"])
    ellipse(0, -11.5, 9.5, 12, col["skin"])
    for ex in (-3.6, 3.6):
        ellipse(ex, -13, 1.2, 0.9, col["feature"])
    poly([(-2.5, -4), (2.5, -4), (2, -3.2), (-2, -3.2)], col["feature"])  # mouth


def _lighting(size: int, brightness: float, slope: float) -> np.ndarray:
    x = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    return (brightness * (1 + slope * 2 * x))[None, :, None].repeat(size, 0)
