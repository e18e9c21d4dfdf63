"""Decoding video files (custom datasets) into uint8 frame arrays.

PyAV (`pip install av`, part of the `deploy` extra) decodes; OpenCV is a fallback, used only when
PyAV is not installed and OpenCV is. Frames are resized exactly as image frames are in
`frames.read_image` (PIL, bilinear), so a video and its frames exported as PNG give the same
arrays up to codec loss. Every failure names the video file.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError, ToolMissingError
from .corpus import path_kind

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
        raise DataError(path, f"video file {_kind(path)}")
    decode = _decode_av if video_backend() == "av" else _decode_cv2
    frames, declared = decode(path, size)
    if not frames:
        raise DataError(path, "video has no frames")
    check_complete(path, len(frames), declared)
    return np.stack(frames)


@dataclass(frozen=True)
class Declared:
    """How many frames a container says its video stream holds, and how it says so."""

    frames: int
    exact: bool  # a frame count in the header (mp4), not an estimate from duration x rate
    how: str


def check_complete(path: Path, decoded: int, declared: Declared | None) -> None:
    """Refuse a video that decodes to fewer frames than its container declares (truncated).

    A declared frame count may differ by one frame (an edit list); a duration estimate by
    2 frames or 5 %, whichever is more (variable frame rate).
    """
    if declared is None or declared.frames <= 0:
        return
    slack = 1 if declared.exact else max(2, round(0.05 * declared.frames))
    if decoded < declared.frames - slack:
        raise DataError(
            path,
            f"video decodes to {decoded} frames but its container declares {declared.frames} "
            f"({declared.how}): the file is truncated or damaged",
        )


def _declared_av(container, stream) -> Declared | None:
    if stream.frames:
        return Declared(frames=int(stream.frames), exact=True, how="its frame count")
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / 1_000_000  # av.time_base
    else:
        return None
    if not rate or seconds <= 0:
        return None
    how = f"its duration {seconds:.2f} s at {float(rate):.3g} frames/s"
    return Declared(frames=round(seconds * float(rate)), exact=False, how=how)


def probe_video(path: str | Path) -> None:
    """Open a video file and check that it has a video stream, without decoding frames."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, f"video file {_kind(path)}")
    if video_backend() == "av":
        _probe_av(path)
    else:
        _open_cv2(path).release()


def _kind(path: Path) -> str:
    kind = path_kind(path)
    return "is missing" if kind == "does not exist" else f"{kind}, not a video file"


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


def _decode_av(path: Path, size: int) -> tuple[list[np.ndarray], Declared | None]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(path, "file holds no video stream")
            stream = container.streams.video[0]
            declared = _declared_av(container, stream)
            frames = [_resize(f.to_ndarray(format="rgb24"), size) for f in container.decode(stream)]
            return frames, declared
    except av.error.FFmpegError as exc:
        raise DataError(path, f"cannot decode video (truncated or damaged?): {exc}") from exc


def _open_cv2(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(path, "cannot open video (OpenCV)")
    return cap


def _decode_cv2(path: Path, size: int) -> tuple[list[np.ndarray], Declared | None]:
    import cv2

    cap = _open_cv2(path)
    frames = []
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # from the header; 0 when unknown
    declared = (
        Declared(frames=count, exact=True, how="its frame count (OpenCV)") if count > 0 else None
    )
    try:
        ok, bgr = cap.read()
        while ok:
            frames.append(_resize(np.ascontiguousarray(bgr[:, :, ::-1]), size))  # BGR -> RGB
            ok, bgr = cap.read()
    finally:
        cap.release()
    return frames, declared
