"""Samples, batches and the torch Dataset that serves both views of each clip."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from .corpus import CorpusEntry
from .frames import FrameStore
from .transforms import ViewSpec, make_views
from .vocab import Vocab


@dataclass
class Sample:
    id: str
    video: torch.Tensor  # (T, 3, S, S) teacher view, float in [-1, 1]
    student_video: torch.Tensor | None  # (T, 3, s, s) student view of the same crop
    targets: list[int]
    glosses: tuple[str, ...]


@dataclass
class Batch:
    """A padded batch, batch-first. `video` is the teacher's view, `student_video` the student's."""

    video: torch.Tensor  # (B, T, 3, S, S)
    video_lengths: torch.Tensor  # (B,) int64
    targets: torch.Tensor  # (B, L) int64, padded with 0 (blank) past target_lengths
    target_lengths: torch.Tensor  # (B,) int64
    ids: list[str]
    student_video: torch.Tensor | None = None  # (B, T, 3, s, s)
    glosses: list[tuple[str, ...]] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Batch:
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(
            video=move(self.video),
            video_lengths=move(self.video_lengths),
            targets=move(self.targets),
            target_lengths=move(self.target_lengths),
            ids=self.ids,
            student_video=move(self.student_video),
            glosses=self.glosses,
        )

    def __len__(self) -> int:
        return len(self.ids)


def _pad_stack(clips: list[torch.Tensor]) -> torch.Tensor:
    """List of (T_i, ...) -> (B, max T, ...) zero-padded."""
    out = clips[0].new_zeros((len(clips), max(c.shape[0] for c in clips), *clips[0].shape[1:]))
    for i, c in enumerate(clips):
        out[i, : c.shape[0]] = c
    return out


def collate(samples: list[Sample]) -> Batch:
    """Pad samples into a Batch. Knows nothing of the model."""
    lengths = torch.tensor([s.video.shape[0] for s in samples], dtype=torch.long)
    tlens = torch.tensor([len(s.targets) for s in samples], dtype=torch.long)
    targets = torch.zeros((len(samples), max(1, int(tlens.max()))), dtype=torch.long)
    for i, s in enumerate(samples):
        targets[i, : len(s.targets)] = torch.tensor(s.targets, dtype=torch.long)
    student = None
    if samples[0].student_video is not None:
        student = _pad_stack([s.student_video for s in samples])
    return Batch(
        video=_pad_stack([s.video for s in samples]),
        video_lengths=lengths,
        targets=targets,
        target_lengths=tlens,
        ids=[s.id for s in samples],
        student_video=student,
        glosses=[s.glosses for s in samples],
    )


class SLRDataset(Dataset):
    """Clips of one split, served as two views with per-epoch reproducible augmentation."""

    def __init__(
        self,
        entries: list[CorpusEntry],
        vocab: Vocab,
        store: FrameStore,
        spec: ViewSpec,
        train: bool,
        seed: int = 0,
        allow_oov: bool = False,
    ):
        self.entries = entries
        self.spec = spec
        self.store = store
        self.train = train
        self.seed = seed
        self.epoch = 0
        # allow_oov (evaluation only): references keep unknown glosses, scored as errors;
        # the targets (used by no loss at evaluation) leave them out.
        self.targets = [
            vocab.encode(
                [g for g in e.glosses if g in vocab] if allow_oov else e.glosses, e.source, e.row
            )
            for e in entries
        ]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> Sample:
        e = self.entries[i]
        rng = np.random.default_rng([self.seed, self.epoch, i]) if self.train else None
        views = make_views(np.asarray(self.store.get(e.id)), self.spec, self.train, rng)
        return Sample(e.id, views.teacher, views.student, self.targets[i], e.glosses)

    def lengths(self) -> list[int]:
        return [self.store.length(e.id) for e in self.entries]
