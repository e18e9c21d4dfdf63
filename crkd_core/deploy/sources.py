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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.corpus import check_frame_file, numbering_gap, path_kind, scan_frames
from ..data.frames import read_image
from ..data.transforms import ViewSpec, make_views
from ..errors import ConfigError, DataError, ToolMissingError


@dataclass
class FrameSource:
    """Frames of one input, each (pre_size, pre_size, 3) uint8, and their rate if known."""

    frames: Iterator[np.ndarray]
    fps: float | None
    name: str
    # Start time (s) of each frame read so far, where the input has timestamps (a video's
    # pts * time_base); filled as `frames` is consumed. `end_time` is when the last one ends.
    times: list[float] = field(default_factory=list)
    end_time: float | None = None
    untimed: bool = False  # a frame had no timestamp: times are frame / fps
    origin: float = 0.0  # the first frame's timestamp, subtracted from all

    def seconds(self, frame: int, fps: float) -> float:
        """When frame `frame` starts (frame = frames read: when the last one ends).

        From the timestamps where the input has them (a variable-rate video's frames are not
        evenly spaced), else frame / fps.
        """
        if not self.untimed and frame < len(self.times):
            return self.times[frame]
        if not self.untimed and frame == len(self.times) and self.end_time is not None:
            return self.end_time
        return frame / fps


def resize_like_cache(img: Image.Image, size: int) -> np.ndarray:
    """An RGB PIL image -> (size, size, 3) uint8, with the resize of the frame cache."""
    if img.mode != "RGB":
        img = img.convert("RGB")  # video decoders and cameras give YUV/BGR; RGB is the contract
    return np.asarray(img.resize((size, size), Image.BILINEAR, reducing_gap=None), np.uint8)


def folder_source(folder: Path, size: int, fps: float | None = None) -> FrameSource:
    """Image files of a folder in natural order (PHOENIX-style frame folders)."""
    if not folder.is_dir():
        raise DataError(folder, f"frame folder {path_kind(folder)}")
    paths, odd = scan_frames(folder)
    if not paths:
        raise DataError(folder, "frame folder holds no image files")
    check_frame_file(odd, folder, None)  # the checks of training's frames_of and read_entry
    gap = numbering_gap(paths)
    if gap is not None:
        raise DataError(folder, gap)
    return FrameSource(_read_folder(paths, size), fps, str(folder))


def _read_folder(paths: tuple[Path, ...], size: int) -> Iterator[np.ndarray]:
    """Frames of a folder; a frame of another size than the first is refused, as in training."""
    first = None
    for p in paths:
        frame, got = read_image(p, size)
        first = first or got
        if got != first:
            raise DataError(
                p, f"frame is {got[0]}x{got[1]}, the folder's first frame is {first[0]}x{first[1]}"
            )
        yield frame


def video_source(path: Path, size: int) -> FrameSource:
    """Frames of a video file, decoded with PyAV; the rate is the stream's average rate."""
    try:
        import av
    except ImportError as exc:
        raise ToolMissingError("PyAV (`pip install av`) is needed to read video files") from exc
    if not path.is_file():
        kind = path_kind(path)
        raise DataError(
            path, f"video file {kind}" + ("" if kind == "does not exist" else ", not a video")
        )
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise DataError(path, f"cannot open as a video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise DataError(path, "file holds no video stream (audio or data only?)")
    stream = container.streams.video[0]
    rate = stream.average_rate
    src = FrameSource(iter(()), float(rate) if rate else None, str(path))
    src.frames = _decode(container, stream, size, path, src)
    return src


def _decode(container, stream, size: int, path: Path, src: FrameSource) -> Iterator[np.ndarray]:
    """Decoded frames; records each frame's time (pts * time_base) on `src` as it goes."""
    import av

    try:
        for frame in container.decode(stream):
            _record_time(src, frame)
            yield resize_like_cache(frame.to_image(), size)
    except av.error.FFmpegError as exc:
        raise DataError(path, f"video decoding failed: {exc}") from exc
    finally:
        container.close()


def _record_time(src: FrameSource, frame) -> None:
    """Append the frame's time (pts * time_base, from the first frame's); a frame without one,
    or out of order, makes the whole clip fall back to frame / fps."""
    if src.untimed:
        return
    if frame.pts is None or frame.time_base is None:
        src.untimed, src.end_time = True, None
        src.times.clear()
        return
    t = float(frame.pts * frame.time_base)
    if src.times and t <= src.times[-1] + src.origin:
        src.untimed, src.end_time = True, None
        src.times.clear()
        return
    if not src.times:
        src.origin = t  # a stream may start past 0 (an edit list): the clip starts at 0.00 s
    src.times.append(t - src.origin)
    duration = float(frame.duration * frame.time_base) if frame.duration else 0.0
    src.end_time = t - src.origin + (duration or (1 / src.fps if src.fps else 0.0))


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
        if not fps > 0 or fps == float("inf"):
            raise ConfigError(f"--fps must be a positive number, got {fps}")
        src.fps = fps
        src.untimed = True  # an explicit rate overrides the input's own timestamps
    return src


def read_clip(path: Path, spec: ViewSpec, role: str, input_size: int) -> torch.Tensor:
    """A whole video file or frame folder as model input (T, 3, S, S)."""
    kind = {"frames": path} if path.is_dir() else {"video": path}
    frames = list(open_source(spec.pre_size, **kind).frames)
    if not frames:
        raise DataError(path, "no frames could be read")
    return model_input(np.stack(frames), spec, role, input_size)
