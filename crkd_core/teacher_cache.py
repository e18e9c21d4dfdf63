"""The frozen teacher's outputs, kept on disk and found again by the content of their input.

Students of one seed see the same teacher views (the crop, flip and temporal rescale are drawn
per sample from `[seed, epoch, index]`, and the student's own resize comes after), so their
frozen teacher computes the same outputs batch after batch. With a `TeacherCache`, the first
student of a seed pays for the teacher's forward pass and the others read it back:

    cache = TeacherCache(Path("runs/study/teacher-cache"), teacher)
    out = cache(batch.video, batch.video_lengths)  # an SLROutput, as teacher(...) gives

An entry's key is a hash of the teacher's weights, the device and autocast state, and the
bytes of the input, so a changed teacher, view or batch can never read another's outputs: at
worst it misses and computes. Entries are written to a temporary file and renamed, so parallel
students may share a folder; an entry that cannot be read, or whose outputs are not finite or do
not fit the batch, is computed again, with a warning.
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

FORMAT = "teacher-cache-v1"
SUFFIX = ".safetensors"  # no pickle, and read without a copy


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
    """Calls the frozen `teacher` at most once per distinct input, across runs and processes."""

    def __init__(self, folder: Path, teacher: nn.Module):
        self.folder = Path(folder)
        self.teacher = teacher
        self.digest = module_digest(teacher)
        self.hits = 0
        self.misses = 0

    def key(self, video: torch.Tensor, lengths: torch.Tensor) -> str:
        autocast = torch.is_autocast_enabled(video.device.type)
        dtype = torch.get_autocast_dtype(video.device.type) if autocast else None
        h = hashlib.blake2b(f"{self.digest}|{video.device.type}|{dtype}|".encode(), digest_size=20)
        _hash_tensor(h, lengths)
        _hash_tensor(h, video)
        return h.hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{SUFFIX}"

    @torch.no_grad()
    def __call__(self, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput:
        path = self.path(self.key(video, lengths))
        if path.is_file():
            out = self._read(path, video, lengths)
            if out is not None:
                self.hits += 1
                return out
        self.misses += 1
        out = self.teacher(video, lengths)
        self._write(path, out)
        return out

    def _read(self, path: Path, video: torch.Tensor, lengths: torch.Tensor) -> SLROutput | None:
        try:
            d = load_file(path, device=str(video.device))
            feats = {k.removeprefix("features."): v for k, v in d.items() if "." in k}
            out = SLROutput(d["logits"], d["lengths"], feats)
            self._check(out, video, lengths)
            return out
        except (OSError, RuntimeError, KeyError, ValueError, SafetensorError) as e:
            msg = f"{path}: unreadable teacher-cache entry ({e}); computing it again"
            warnings.warn(msg, stacklevel=3)
            return None

    def _check(self, out: SLROutput, video: torch.Tensor, lengths: torch.Tensor) -> None:
        """Raise ValueError unless the entry fits this batch: (B, T', V) finite logits, B
        lengths within T' (the teacher's own when it says), finite features."""
        logits, n = out.logits, out.lengths
        if logits.dim() != 3 or not logits.is_floating_point() or len(logits) != len(video):
            raise ValueError(f"logits of shape {tuple(logits.shape)} for a batch of {len(video)}")
        if n.shape != lengths.shape or bool((n < 1).any() | (n > logits.shape[1]).any()):
            raise ValueError(f"lengths {n.tolist()} do not fit logits of {logits.shape[1]} steps")
        own = getattr(self.teacher, "output_lengths", None)
        if own is not None and not torch.equal(n.cpu(), own(lengths).cpu()):
            raise ValueError(f"lengths {n.tolist()} are not the teacher's")
        for name, t in {"logits": logits, **out.features}.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name} holds NaN or Inf")

    def _write(self, path: Path, out: SLROutput) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"logits": out.logits, "lengths": out.lengths}
        tensors |= {f"features.{k}": v for k, v in out.features.items()}
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
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
