"""Array helpers for attribution maps, in numpy only: figure code uses them without torch."""

from __future__ import annotations

import numpy as np


def _source_index(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output pixel: the two input pixels and the weight of the second, as torch's
    bilinear interpolation with `align_corners=False` picks them (half-pixel centres)."""
    scale = np.float32(size_in / size_out)
    src = (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    i0 = src.astype(np.int64)  # floor, as src >= 0
    i1 = np.minimum(i0 + 1, size_in - 1)
    return i0, i1, (src - i0).astype(np.float32)


def upsample(cam: np.ndarray, size: int) -> np.ndarray:
    """(T, h, w) -> (T, size, size), bilinear (as `F.interpolate(..., align_corners=False)`)."""
    x = np.ascontiguousarray(cam, dtype=np.float32)
    r0, r1, wr = _source_index(x.shape[1], size)
    c0, c1, wc = _source_index(x.shape[2], size)
    wr, wc = wr[:, None], wc[None, :]
    top = (1 - wc) * x[:, r0][:, :, c0] + wc * x[:, r0][:, :, c1]  # (T, size, size)
    bottom = (1 - wc) * x[:, r1][:, :, c0] + wc * x[:, r1][:, :, c1]
    return ((1 - wr) * top + wr * bottom).astype(np.float32)
