"""Decoding frames into uint8 arrays, checked, and a decoded-frame cache on disk.

Frames are decoded once, resized to the pre-crop size of the view transform (256 px for the
`paper` preset, as the peers do; smaller for `cpu`), and stored per split in one uint8 array
file. Epochs after the first, and later processes, read that file instead of PNGs.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..io import atomic_write, atomic_write_json
from .corpus import CorpusEntry, path_kind
from .video import read_video  # PyAV itself is imported only to decode a video


def read_image(path: Path, size: int, source: str = "", row=None) -> tuple[np.ndarray, tuple]:
    """One RGB frame resized to (size, size): ((size, size, 3) uint8, original (W, H)).

    Grey-scale and RGBA frames are refused: a real release is RGB, and a silent conversion
    would hide a broken export.
    """
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode != "RGB":
                raise DataError(path, f"frame is {img.mode}, expected RGB", row)
            arr = img.resize((size, size), Image.BILINEAR, reducing_gap=None)
            return np.asarray(arr, dtype=np.uint8), img.size
    except Image.DecompressionBombError as exc:
        where = f" (video of {source}, row {row})" if source else ""
        raise DataError(
            path, f"image too large, refused as a possible decompression bomb{where}: {exc}"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        where = f" (video of {source}, row {row})" if source else ""
        raise DataError(path, f"unreadable or truncated image{where}: {exc}") from exc


def read_entry(entry: CorpusEntry, size: int) -> np.ndarray:
    """All frames of one video; (T, size, size, 3) uint8. Frames must share one size."""
    if entry.video is not None:
        try:
            return read_video(entry.video, size)
        except DataError as exc:  # name the corpus row that lists the video, as frames do
            if exc.row is not None or not entry.source:
                raise
            raise DataError(exc.path, f"{exc.cause} (listed in {entry.source})", entry.row) from exc
    if not entry.frames:
        raise DataError(entry.source or entry.id, f"video {entry.id!r} has no frames", entry.row)
    first_size = None
    out = np.empty((len(entry.frames), size, size, 3), np.uint8)
    for i, p in enumerate(entry.frames):
        if not p.is_file():
            raise DataError(
                p,
                f"frame {path_kind(p)}, not an image file (video {entry.id!r} of {entry.source})",
                entry.row,
            )
        out[i], got = read_image(p, size, entry.source, entry.row)
        first_size = first_size or got
        if got != first_size:
            raise DataError(
                p,
                f"frame is {got[0]}x{got[1]}, the video's first frame is "
                f"{first_size[0]}x{first_size[1]}",
                entry.row,
            )
    return out


@dataclass
class FrameStore:
    """Decoded frames of one split: a flat (N_frames, S, S, 3) uint8 array plus offsets."""

    frames: np.ndarray
    index: dict[str, tuple[int, int]]  # id -> (start, length)

    def get(self, vid: str) -> np.ndarray:
        start, length = self.index[vid]
        return self.frames[start : start + length]

    def length(self, vid: str) -> int:
        return self.index[vid][1]


class StreamingFrames:
    """Frames decoded on demand, for corpora too large to cache (PHOENIX at 256 px: ~150 GB).

    Use DataLoader workers (`--num-workers`) to decode in parallel with training.
    """

    def __init__(self, entries: list[CorpusEntry], size: int):
        self.entries = {e.id: e for e in entries}
        self.size = size
        self._video_lengths: dict[str, int] = {}

    def get(self, vid: str) -> np.ndarray:
        return read_entry(self.entries[vid], self.size)

    def length(self, vid: str) -> int:
        e = self.entries[vid]
        if e.video is None:
            return e.num_frames
        if vid not in self._video_lengths:  # a video's length is known only once decoded
            self._video_lengths[vid] = len(self.get(vid))
        return self._video_lengths[vid]


def cache_bytes(entries: list[CorpusEntry], size: int) -> int:
    """Bytes a decoded cache of `entries` at `size` px would take."""
    return sum(e.num_frames for e in entries) * size * size * 3


def _fingerprint(entries: list[CorpusEntry], size: int) -> str:
    """A key that changes whenever any frame (or video) file of `entries` changes.

    It hashes every file's name, size, mtime and ctime. The ctime catches a rewrite that keeps
    size and mtime (`touch -r`, a same-size edit): the kernel sets it on every write and no user
    call can set it back. A copied or re-extracted dataset therefore gets a new key and is
    decoded once more; a stale cache is never read. One stat per frame costs a few microseconds,
    against the milliseconds of decoding one (benchmarks in the issue-15 note).
    """
    h = hashlib.sha1(f"v2|{size}".encode())
    for e in entries:
        h.update(f"\0{e.id}|{e.num_frames}|{e.video}".encode())
        for src in e.frames or ((e.video,) if e.video is not None else ()):
            try:
                st = os.stat(src)
            except FileNotFoundError:
                h.update(f"|{Path(src).name}:missing".encode())
                continue
            h.update(f"|{Path(src).name}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode())
    return h.hexdigest()[:16]


def build_store(entries: list[CorpusEntry], size: int, progress=None) -> FrameStore:
    videos = []
    it = progress(entries) if progress else entries
    for e in it:
        videos.append(read_entry(e, size))
    index, start = {}, 0
    for e, v in zip(entries, videos, strict=True):
        index[e.id] = (start, len(v))
        start += len(v)
    flat = np.concatenate(videos) if videos else np.zeros((0, size, size, 3), np.uint8)
    return FrameStore(flat, index)


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file handle: np.save would append ".npy" to a path
        np.save(fh, arr, allow_pickle=False)


def load_store(
    entries: list[CorpusEntry], size: int, cache_dir: Path | None, name: str, progress=None
) -> FrameStore:
    """Frames of `entries` at `size`, from the cache when it is valid, else decoded (and cached)."""
    if cache_dir is None:
        return build_store(entries, size, progress)
    key = _fingerprint(entries, size)
    npy, meta = cache_dir / f"{name}-{size}px-{key}.npy", cache_dir / f"{name}-{size}px-{key}.json"
    if npy.exists() and meta.exists():
        cached = _read_cache(npy, meta, entries, size)
        if cached is not None:
            return cached
    store = build_store(entries, size, progress)
    atomic_write(npy, lambda p: _save_npy(p, store.frames))
    atomic_write_json(meta, store.index)
    return store


def _spans_fit(index: dict, total: int) -> bool:
    """Each (start, length) of a cache index is a pair of ints inside the array, and the spans
    tile it end to end (a damaged index would otherwise slice out other clips' frames)."""
    spans = sorted(index.values())
    if not all(
        len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
        for v in spans
    ):
        return False
    end = 0
    for start, length in spans:
        if start != end or length < 1:
            return False
        end = start + length
    return end == total


def _read_cache(npy: Path, meta: Path, entries: list[CorpusEntry], size: int) -> FrameStore | None:
    """The cached store, or None (after a warning) when its files are damaged or do not fit.

    The cache is only a copy of the frames: a damaged one is decoded again, never trusted.
    """
    try:
        index = {k: tuple(v) for k, v in json.loads(meta.read_text("utf-8")).items()}
        frames = np.load(npy, mmap_mode="r")
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        warnings.warn(
            f"{npy}: frame cache is damaged ({exc}); decoding the frames again", stacklevel=3
        )
        return None
    expected = sum(e.num_frames for e in entries) if all(e.video is None for e in entries) else None
    if (
        set(index) != {e.id for e in entries}
        or frames.shape[1:] != (size, size, 3)
        or (expected is not None and frames.shape[0] != expected)
        or not _spans_fit(index, frames.shape[0])
    ):
        warnings.warn(
            f"{npy}: frame cache does not fit the corpus; decoding the frames again", stacklevel=3
        )
        return None
    return FrameStore(frames, index)
