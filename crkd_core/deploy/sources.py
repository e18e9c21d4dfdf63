"""Frame sources for prediction (a PNG folder, a video file, a camera) and the model input.

Every source yields RGB frames resized to the view's `pre_size` square exactly as the training
frame cache does (`data.frames.read_image`: PIL bilinear, `reducing_gap=None`). `model_input`
then applies the training-time test view: `make_views(..., train=False)` centre-crops
`teacher_size` and, for LRINet, resizes that crop to `student_size`. Cropping a raw frame
without this resize first (as one peer script does) shows the model another field of view
than it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.corpus import list_frames
from ..data.frames import read_image
from ..data.transforms import ViewSpec, make_views
from ..errors import ConfigError, DataError, ToolMissingError


@dataclass
class FrameSource:
    """Frames of one input, each (pre_size, pre_size, 3) uint8, and their rate if known."""

    frames: Iterator[np.ndarray]
    fps: float | None
    name: str


def resize_like_cache(img: Image.Image, size: int) -> np.ndarray:
    """An RGB PIL image -> (size, size, 3) uint8, with the resize of the frame cache."""
    if img.mode != "RGB":
        img = img.convert("RGB")  # video decoders and cameras give YUV/BGR; RGB is the contract
    return np.asarray(img.resize((size, size), Image.BILINEAR, reducing_gap=None), np.uint8)


def folder_source(folder: Path, size: int, fps: float | None = None) -> FrameSource:
    """Image files of a folder in natural order (PHOENIX-style frame folders)."""
    if not folder.is_dir():
        raise DataError(folder, "frame folder does not exist")
    paths = list_frames(folder)
    if not paths:
        raise DataError(folder, "frame folder holds no image files")
    return FrameSource((read_image(p, size)[0] for p in paths), fps, str(folder))


def video_source(path: Path, size: int) -> FrameSource:
    """Frames of a video file, decoded with PyAV; the rate is the stream's average rate."""
    try:
        import av
    except ImportError as exc:
        raise ToolMissingError("PyAV (`pip install av`) is needed to read video files") from exc
    if not path.is_file():
        raise DataError(path, "video file does not exist")
    try:
        container = av.open(str(path))
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError) as exc:
        raise DataError(path, f"cannot open as a video: {exc}") from exc
    rate = stream.average_rate
    return FrameSource(
        _decode(container, stream, size, path), float(rate) if rate else None, str(path)
    )


def _decode(container, stream, size: int, path: Path) -> Iterator[np.ndarray]:
    import av

    try:
        for frame in container.decode(stream):
            yield resize_like_cache(frame.to_image(), size)
    except av.error.FFmpegError as exc:
        raise DataError(path, f"video decoding failed: {exc}") from exc
    finally:
        container.close()


def camera_source(index: int, size: int) -> FrameSource:
    """Frames of camera `index` through OpenCV (an optional dependency)."""
    try:
        import cv2
    except ImportError as exc:
        raise ToolMissingError(
            "--camera needs OpenCV, which is not installed: `pip install opencv-python-headless`"
        ) from exc
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise DataError(f"camera {index}", "cannot open the camera")
    rate = cap.get(cv2.CAP_PROP_FPS)
    return FrameSource(
        _capture(cap, size, cv2), rate if rate and rate > 0 else None, f"camera {index}"
    )


def _capture(cap, size: int, cv2) -> Iterator[np.ndarray]:
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield resize_like_cache(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), size)
    finally:
        cap.release()


def model_input(frames: np.ndarray, spec: ViewSpec, role: str, input_size: int) -> torch.Tensor:
    """(T, pre, pre, 3) uint8 -> (T, 3, S, S) float: the test view the model was trained on.

    Args:
        frames: frames from a `FrameSource`.
        spec: the run's view spec (checkpoint meta "view").
        role: "teacher" takes the crop, "student" the crop resized to `student_size`.
        input_size: the model's input size, checked against the view.
    """
    views = make_views(frames, spec, train=False)
    x = views.student if role == "student" else views.teacher
    if x is None or x.shape[-1] != input_size:
        got = None if x is None else x.shape[-1]
        raise ConfigError(
            f"the run's view gives {got} px for its {role}, the model takes {input_size} px"
        )
    return x


def open_source(
    size: int,
    video: Path | None = None,
    frames: Path | None = None,
    camera: int | None = None,
    fps: float | None = None,
) -> FrameSource:
    """The one source named (video file, frame folder or camera); `fps` overrides its rate."""
    if sum(x is not None for x in (video, frames, camera)) != 1:
        raise ConfigError("name exactly one of a video, a frame folder or a camera")
    if video is not None:
        src = video_source(Path(video), size)
    elif frames is not None:
        src = folder_source(Path(frames), size)
    else:
        src = camera_source(int(camera), size)
    if fps is not None:
        if fps <= 0:
            raise ConfigError(f"--fps must be positive, got {fps}")
        src.fps = fps
    return src


def read_clip(path: Path, spec: ViewSpec, role: str, input_size: int) -> torch.Tensor:
    """A whole video file or frame folder as model input (T, 3, S, S)."""
    kind = {"frames": path} if path.is_dir() else {"video": path}
    frames = list(open_source(spec.pre_size, **kind).frames)
    if not frames:
        raise DataError(path, "no frames could be read")
    return model_input(np.stack(frames), spec, role, input_size)
