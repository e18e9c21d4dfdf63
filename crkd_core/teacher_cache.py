"""The frozen teacher's outputs, kept on disk per clip and found again by the clip's content.

Every student of one teacher sees the same teacher views: the crop, flip and temporal rescale are
drawn per sample from `[augment seed, epoch, index]`, the augment seed is the teacher's seed
unless a run names another (`--augment-seed`), and the student's own resize comes after. So the
frozen teacher would compute the same output for a clip in every student run. With a
`TeacherCache`, the first student of a teacher pays for the teacher's forward pass, once per
clip and epoch, and the others read it back, whatever their seed, batch order or KD terms:

    cache = TeacherCache(Path("runs/study/teacher-cache"), teacher)
    out = cache(batch.video, batch.video_lengths)  # an SLROutput, as teacher(...) gives

An entry holds one clip's outputs; its key is a hash of the teacher's weights, the device and
autocast state, and the bytes of the clip's frames, so a changed teacher or view can never read
another's outputs: at worst it misses and computes. Clips that miss are computed together, as a
batch of their own. The teacher runs in eval mode on packed frames and masks each clip's padding,
so a clip's output does not depend on its batch, except for float rounding: a clip read back was
computed beside other clips than the reader's, and can differ from a fresh computation in the last
bits (README, "What is bit-exact"). Entries are written to a temporary file and renamed, so
parallel students may share a folder; an entry that cannot be read, or whose outputs are not
finite or do not fit the clip, is computed again, with a warning.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .models.network import SLROutput

FORMAT = "teacher-cache-v2"  # v2: one entry per clip
SUFFIX = ".safetensors"  # no pickle, and read without a copy
# SLROutput features by layout: packed frames (N, ...) or batched steps (B, T', ...)
PACKED = ("frame_map", "frame_vec")
TIMED = ("temporal",)


def module_digest(module: nn.Module) -> str:
    """A hash of a module's parameters and buffers (names, shapes, dtypes and values)."""
    h = hashlib.sha256(FORMAT.encode())
    for name, t in module.state_dict().items():
        h.update(name.encode() + b"|")
        _hash_tensor(h, t)
    return h.hexdigest()


def _hash_tensor(h, t: torch.Tensor) -> None:
    """Feed a tensor's shape, dtype and bytes to the hash `h` (the bytes without a copy)."""
    t = t.detach().cpu().contiguous()
    h.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy())


class TeacherCache:
    """Calls the frozen `teacher` at most once per distinct clip, across runs and processes.

    `teacher` is an SLRNet, or a module with its `forward(video, lengths)` and
    `output_lengths(lengths)`.
    """

    def __init__(self, folder: Path, teacher: nn.Module):
        self.folder = Path(folder)
        self.teacher = teacher
        self.digest = module_digest(teacher)
        self.hits = 0  # clips read back
        self.misses = 0  # clips computed

    def key(self, clip: torch.Tensor) -> str:
        """The key of one clip's valid frames, (n, 3, H, W)."""
        autocast = torch.is_autocast_enabled(clip.device.type)
        dtype = torch.get_autocast_dtype(clip.device.type) if autocast else None
        h = hashlib.blake2b(f"{self.digest}|{clip.device.type}|{dtype}|".encode(), digest_size=20)
        _hash_tensor(h, clip)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{SUFFIX}"

    def entry_paths(self, video: torch.Tensor, lengths: torch.Tensor) -> list[Path]:
        """The entry of each clip of a (B, T, 3, H, W) batch."""
        return [self.path(self.key(video[i, :n])) for i, n in enumerate(lengths.tolist())]

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput:
        paths = self.entry_paths(video, lengths)
        frames = lengths.tolist()
        clips = [
            self._read(p, n, video.device) if p.is_file() else None
            for p, n in zip(paths, frames, strict=True)
        ]
        missing = [i for i, c in enumerate(clips) if c is None]
        self.hits += len(clips) - len(missing)
        self.misses += len(missing)
        if len(missing) == len(clips):  # the batch as it is: exactly what the teacher gives
            out = self.teacher(video, lengths)
            for i, clip in enumerate(split_clips(out, lengths)):
                self._write(paths[i], clip)
            return out
        if missing:
            idx = torch.tensor(missing, device=lengths.device)
            sub = lengths[idx]
            out = self.teacher(video[idx, : int(sub.max())], sub)
            for i, clip in zip(missing, split_clips(out, sub), strict=True):
                self._write(paths[i], clip)
                clips[i] = clip
        steps = int(self._out_lengths(torch.tensor([video.shape[1]]))[0])
        return join_clips(clips, lengths, steps)

    def _out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.teacher.output_lengths(lengths)  # an SLRNet's, or its wrapper's

    def _read(self, path: Path, frames: int, device) -> dict[str, torch.Tensor] | None:
        try:
            clip = load_file(path, device=str(device))
            self._check(clip, frames)
            return clip
        except (OSError, RuntimeError, KeyError, ValueError, SafetensorError) as e:
            msg = f"{path}: unreadable teacher-cache entry ({e}); computing it again"
            warnings.warn(msg, stacklevel=3)
            return None

    def _check(self, clip: dict[str, torch.Tensor], frames: int) -> None:
        """Raise ValueError unless the entry fits a clip of `frames` frames: (T', V) finite
        logits with the teacher's T', packed features of `frames` rows, finite features."""
        logits = clip["logits"]
        if logits.dim() != 2 or not logits.is_floating_point():
            raise ValueError(f"logits of shape {tuple(logits.shape)}, not (steps, classes)")
        steps = int(self._out_lengths(torch.tensor([frames]))[0])
        if len(logits) != steps:
            raise ValueError(f"{len(logits)} steps of logits, the teacher's are {steps}")
        for name, t in clip.items():
            if not t.is_floating_point():
                raise ValueError(f"{name} is not a float tensor")
            rows = {**dict.fromkeys(PACKED, frames), **dict.fromkeys(TIMED, steps)}
            want = rows.get(name.removeprefix("features."), len(t))
            if len(t) != want:
                raise ValueError(f"{name} has {len(t)} rows, the clip needs {want}")
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name} holds NaN or Inf")

    def _write(self, path: Path, clip: dict[str, torch.Tensor]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in clip.items()}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
        os.close(fd)
        try:
            save_file(tensors, tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


def split_clips(out: SLROutput, lengths: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """A batch's outputs as one entry per clip: logits and timed features cut to the clip's
    output steps, packed features to its frames."""
    frames = lengths.tolist()
    starts = [sum(frames[:i]) for i in range(len(frames))]
    clips = []
    for i, (n, steps) in enumerate(zip(frames, out.lengths.tolist(), strict=True)):
        clip = {"logits": out.logits[i, :steps]}
        for name in PACKED:
            if name in out.features:
                clip[f"features.{name}"] = out.features[name][starts[i] : starts[i] + n]
        for name in TIMED:
            if name in out.features:
                clip[f"features.{name}"] = out.features[name][i, :steps]
        clips.append(clip)
    return clips


def join_clips(clips: list[dict], lengths: torch.Tensor, steps: int) -> SLROutput:
    """Entries back into a batch's SLROutput: packed features concatenated, logits and timed
    features padded with zeros to `steps` (what the KD terms mask out)."""

    def padded(name: str) -> torch.Tensor:
        rows = [c[name] for c in clips]
        out = rows[0].new_zeros((len(rows), steps, *rows[0].shape[1:]))
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    out_lengths = torch.tensor([len(c["logits"]) for c in clips], device=lengths.device)
    feats = {
        n: torch.cat([c[f"features.{n}"] for c in clips])
        for n in PACKED
        if f"features.{n}" in clips[0]
    }
    feats |= {n: padded(f"features.{n}") for n in TIMED if f"features.{n}" in clips[0]}
    return SLROutput(padded("logits"), out_lengths, feats)
