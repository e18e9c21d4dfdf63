"""The two views: one crop of each clip, at the teacher's size and at the student's.

This is the only place where input resolution is decided. The student's view is the teacher's
crop resized down (antialiased), as a low-resolution camera would see the same scene.
Augmentation follows the peers' CSLR pipeline: resize (done once, in the frame cache), random
crop (centre crop at test), clip-level horizontal flip and +-20 % temporal rescale in training,
pixels scaled to [-1, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError


@dataclass(frozen=True)
class ViewSpec:
    """Sizes of the views and the pre-crop resize; saved in every checkpoint."""

    pre_size: int  # frames are resized to pre_size x pre_size before cropping
    teacher_size: int  # crop size: the teacher's input
    student_size: int | None = None  # the same crop resized to this; None = no student view
    flip: bool = True  # clip-level horizontal flip in training
    temporal_rescale: float = 0.2  # +-20 % frame-rate change in training
    normalisation: str = "minus_one_one"  # x / 127.5 - 1

    def __post_init__(self):
        if self.teacher_size > self.pre_size:
            raise ConfigError(
                f"crop {self.teacher_size} px is larger than the resize {self.pre_size} px"
            )
        if self.student_size is not None and not 4 <= self.student_size <= self.teacher_size:
            raise ConfigError(
                f"student size {self.student_size} px must be in 4..{self.teacher_size}"
            )
        if self.normalisation != "minus_one_one":
            raise ConfigError(f"unknown normalisation {self.normalisation!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Views:
    teacher: torch.Tensor  # (T, 3, S, S) float in [-1, 1]
    student: torch.Tensor | None  # (T, 3, s, s) float in [-1, 1]


def temporal_indices(length: int, scale: float) -> np.ndarray:
    """Frame indices resampling a clip of `length` frames to round(length * scale) frames."""
    new_len = max(1, int(round(length * scale)))
    return np.minimum((np.arange(new_len) + 0.5) * length / new_len, length - 1).astype(np.int64)


def normalise(frames_uint8: torch.Tensor) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float in [-1, 1]."""
    return frames_uint8.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def resize_view(x: torch.Tensor, size: int) -> torch.Tensor:
    """(T, 3, S, S) -> (T, 3, size, size), antialiased like a lower-resolution sensor."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def make_views(
    frames: np.ndarray, spec: ViewSpec, train: bool, rng: np.random.Generator | None = None
) -> Views:
    """Both views of one clip from the same crop.

    Args:
        frames: (T, pre_size, pre_size, 3) uint8, as stored in the frame cache.
        train: random crop, flip and temporal rescale when True; centre crop otherwise.
        rng: the generator for the random choices (seeded per sample for reproducibility).
    """
    t, h, w, _ = frames.shape
    if h != spec.pre_size or w != spec.pre_size:
        raise ConfigError(f"frames are {w}x{h}, the view spec expects {spec.pre_size} px")
    crop = spec.teacher_size
    if train:
        rng = rng or np.random.default_rng()
        y0, x0 = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
        scale = 1.0 + rng.uniform(-spec.temporal_rescale, spec.temporal_rescale)
        idx = temporal_indices(t, scale)
        flip = spec.flip and rng.random() < 0.5
    else:
        y0, x0, idx, flip = (h - crop) // 2, (w - crop) // 2, np.arange(t), False
    clip = frames[idx, y0 : y0 + crop, x0 : x0 + crop]
    if flip:
        clip = clip[:, :, ::-1]
    teacher = normalise(torch.from_numpy(np.ascontiguousarray(clip)))
    student = resize_view(teacher, spec.student_size) if spec.student_size else None
    return Views(teacher, student)
