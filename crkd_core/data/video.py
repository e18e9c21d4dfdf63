"""Decoding video files (custom datasets) into uint8 frame arrays.

PyAV (`pip install av`, part of the `deploy` extra) decodes; OpenCV is a fallback, used only when
PyAV is not installed and OpenCV is. Frames are resized exactly as image frames are in
`frames.read_image` (PIL, bilinear), so a video and its frames exported as PNG give the same
arrays up to codec loss. Every failure names the video file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError, ToolMissingError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".mpg", ".mpeg")


def video_backend() -> str:
    """'av' (PyAV) when installed, else 'cv2' (OpenCV); ToolMissingError when neither is."""
    for name in ("av", "cv2"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise ToolMissingError("reading video files needs PyAV (pip install av) or OpenCV")


def read_video(path: str | Path, size: int) -> np.ndarray:
    """All frames of a video file, resized to (size, size).

    Args:
        path: the video file.
        size: the side of the square output frames, in pixels.

    Returns:
        (T, size, size, 3) uint8 RGB frames, T >= 1.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file is missing")
    decode = _decode_av if video_backend() == "av" else _decode_cv2
    frames = decode(path, size)
    if not frames:
        raise DataError(path, "video has no frames")
    return np.stack(frames)


def probe_video(path: str | Path) -> None:
    """Open a video file and check that it has a video stream, without decoding frames."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "video file is missing")
    if video_backend() == "av":
        _probe_av(path)
    else:
        _open_cv2(path).release()


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray(rgb).resize((size, size), Image.BILINEAR, reducing_gap=None)
    return np.asarray(img, dtype=np.uint8)


def _probe_av(path: Path) -> None:
    import av

    try:
        with av.open(str(path)) as container:
            has_video = bool(container.streams.video)
    except av.error.FFmpegError as exc:
        raise DataError(path, f"cannot open video: {exc}") from exc
    if not has_video:
        raise DataError(path, "file holds no video stream")


def _decode_av(path: Path, size: int) -> list[np.ndarray]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(path, "file holds no video stream")
            stream = container.streams.video[0]
            return [_resize(f.to_ndarray(format="rgb24"), size) for f in container.decode(stream)]
    except av.error.FFmpegError as exc:
        raise DataError(path, f"cannot decode video: {exc}") from exc


def _open_cv2(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(path, "cannot open video (OpenCV)")
    return cap


def _decode_cv2(path: Path, size: int) -> list[np.ndarray]:
    cap = _open_cv2(path)
    frames = []
    try:
        ok, bgr = cap.read()
        while ok:
            frames.append(_resize(np.ascontiguousarray(bgr[:, :, ::-1]), size))  # BGR -> RGB
            ok, bgr = cap.read()
    finally:
        cap.release()
    return frames
