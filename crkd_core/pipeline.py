"""Shared steps of the training and evaluation commands: data, loaders, checks, final metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .data.corpus import DatasetLayout, open_dataset
from .data.dataset import SLRDataset, collate
from .data.frames import StreamingFrames, cache_bytes, load_store
from .data.sampler import BucketBatchSampler
from .data.transforms import ViewSpec
from .data.vocab import Vocab
from .distributed import DistEnv
from .errors import ConfigError, DataError
from .losses.ctc import ctc_min_length


def default_cache_dir(root: Path) -> Path:
    """`$CRKD_CACHE_DIR`, else `<data>/.crkd-cache` when writable, else ~/.cache/crkd/<name>."""
    if os.environ.get("CRKD_CACHE_DIR"):
        return Path(os.environ["CRKD_CACHE_DIR"])
    if os.access(root, os.W_OK):
        return root / ".crkd-cache"
    return Path.home() / ".cache" / "crkd" / root.resolve().name


@dataclass
class DataConfig:
    root: Path
    dataset: str | None = None  # layout name; None = auto-detect
    cache_dir: Path | None = None
    allow_oov: bool = False  # score eval glosses missing from the vocabulary as errors
    num_workers: int = 0
    frame_cache: str = "auto"  # auto | disk | none (decode frames on demand, every epoch)


def use_cache(mode: str, entries, size: int) -> bool:
    """'auto' caches decoded frames unless the cache would exceed $CRKD_CACHE_MAX_GB (16)."""
    if mode not in ("auto", "disk", "none"):
        raise ConfigError(f"--frame-cache must be auto, disk or none, not {mode!r}")
    if mode != "auto":
        return mode == "disk"
    return cache_bytes(entries, size) <= cache_max_gb() * 2**30


def cache_max_gb() -> float:
    """$CRKD_CACHE_MAX_GB (default 16): a finite number of GB > 0, else a ConfigError."""
    text = os.environ.get("CRKD_CACHE_MAX_GB", "16")
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(
            f"environment variable CRKD_CACHE_MAX_GB={text!r}: must be a number of GB, "
            "finite and > 0 (the frame cache's size limit for --frame-cache auto)"
        )
    return value


def open_layout(cfg: DataConfig) -> DatasetLayout:
    return open_dataset(cfg.root, cfg.dataset)


def build_vocab(layout: DatasetLayout, convention: str = "train") -> Vocab:
    """The gloss vocabulary of a dataset.

    A dataset that declares its gloss inventory (SignWorld) gets exactly that. Otherwise
    'train': glosses of the train split (clean); 'all': train+dev+test (the peers' convention,
    which gives their class counts).
    """
    declared = layout.declared_glosses()
    if declared:
        return Vocab.from_glosses(declared)
    splits = ["train"] if convention == "train" else ["train", "dev", "test"]
    return Vocab.from_glosses(g for s in splits for e in layout.read_split(s) for g in e.glosses)


def load_split(
    layout: DatasetLayout,
    cfg: DataConfig,
    split: str,
    vocab: Vocab,
    spec: ViewSpec,
    train: bool,
    seed: int,
    show_progress: bool = True,
) -> SLRDataset:
    entries = layout.read_split(split)
    cache = cfg.cache_dir or default_cache_dir(layout.root)
    show_progress = show_progress and not os.environ.get("CRKD_NO_PROGRESS")
    bar = (
        (lambda it: tqdm(it, desc=f"decoding {split} frames", leave=False, mininterval=2))
        if show_progress
        else None
    )
    if use_cache(cfg.frame_cache, entries, spec.pre_size):
        store = load_store(entries, spec.pre_size, cache, f"{layout.name}-{split}", bar)
    else:
        store = StreamingFrames(entries, spec.pre_size)
    return SLRDataset(
        entries=entries,
        vocab=vocab,
        store=store,
        spec=spec,
        train=train,
        seed=seed,
        allow_oov=not train and cfg.allow_oov,
    )


def make_loader(
    ds: SLRDataset, batch_size: int, train: bool, seed: int, env: DistEnv, num_workers: int = 0
) -> DataLoader:
    rank, world = (env.rank, env.world_size) if train else (0, 1)
    sampler = BucketBatchSampler(
        ds.lengths(), batch_size, shuffle=train, seed=seed, rank=rank, world_size=world
    )
    return DataLoader(
        ds,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=env.device.type == "cuda",
    )


def check_ctc_lengths(ds: SLRDataset, output_lengths, min_scale: float = 1.0) -> None:
    """Every clip must give CTC enough output frames for its label, even when sped up."""
    lengths = torch.tensor([max(1, int(round(n * min_scale))) for n in ds.lengths()])
    out = output_lengths(lengths)
    for e, tgt, n_out, n_in in zip(ds.entries, ds.targets, out.tolist(), ds.lengths(), strict=True):
        need = ctc_min_length(tgt)
        if n_out < need:
            why = f"{n_in} frames give {n_out} output steps"
            if min_scale < 1:
                why += f" when played at {min_scale:.0%} length (temporal augmentation)"
            raise DataError(
                e.source or e.id,
                f"video {e.id!r} is too short for its label under "
                f"CTC: {why}, but its {len(tgt)} glosses need {need}",
                e.row,
            )
