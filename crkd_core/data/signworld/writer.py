"""Write SignWorld to disk in the PHOENIX-2014 release layout, atomically.

SignWorld is this project's invention. Everything is drawn into a hidden folder beside the target
and renamed into place at the end, so a crash never leaves a half dataset that looks complete.
Each video draws from its own random stream, seeded by (seed, split, index): the same seed gives
byte-identical corpus files and identical pixels, whatever the order of generation.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache, partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import ConfigError, DataError
from ...io import owning_run
from ..synthetic import METADATA_FILE, TIMINGS_FOLDER, UNSEEN_SPLIT, handshape_blind_floor
from .grammar import Grammar
from .motion import build_timeline, gloss_segments, sample_instances
from .phonology import HANDSHAPES, build_gloss_table
from .render import make_scene, render_video
from .signer import Signer, sample_signer
from .sizes import DATA_SIZES, DataSize
from .staging import OLD, PARTIAL, recover_leftovers, target_lock

SPLIT_CODES = {"train": 1, "dev": 2, "test": 3, UNSEEN_SPLIT: 4}
SIGNER_STREAM = 99
HEADER = "id|folder|signer|annotation"


@dataclass
class SynthResult:
    """What `generate_signworld` wrote."""

    root: Path
    videos: dict[str, int] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    glosses: int = 0
    floor: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        splits = ", ".join(f"{s} {n}" for s, n in self.videos.items())
        floors = ", ".join(f"{s} {v:.1f}%" for s, v in self.floor.items() if s != "train")
        return (
            f"SignWorld -> {self.root}\n"
            f"  videos: {sum(self.videos.values())} ({splits}); "
            f"frames: {sum(self.frames.values())}; glosses: {self.glosses}\n"
            f"  handshape-blind floor (WER): {floors}\n"
            f"  drawn in {self.seconds:.1f} s"
        )


def generate_signworld(
    out: str | Path,
    profile: str | DataSize = "default",
    seed: int = 0,
    unseen_signers: bool = False,
    force: bool = False,
    size: int | None = None,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> SynthResult:
    """Draw SignWorld into `out` (PHOENIX-2014 layout + signworld.json) and return a summary.

    Args:
        out: the dataset root to create. It must not exist, or be empty, unless `force`.
        profile: a profile name (smoke, default, full) or a `DataSize`.
        seed: the seed of everything (signers, sentences, timing, pixels).
        unseen_signers: also write `test_unseen`, signed by signers absent from train.
        force: replace an `out` that holds a SignWorld dataset (`signworld.json`), only once
            the new dataset is complete; any other non-empty folder is refused.
        size: frame size in px, overriding the profile's.
        progress: called with one line per finished split.
        jobs: processes that draw videos at once (the dataset is the same for any number).
    """
    start = time.perf_counter()
    if seed < 0:
        raise ConfigError(f"the seed must be >= 0, got {seed}")
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    prof = (DATA_SIZES.get(profile) if isinstance(profile, str) else profile).with_size(size)
    shown, out = Path(out), Path(os.path.abspath(out))  # abspath: `--out .` has a name too
    if (run := owning_run(out)) is not None:  # before the lock file is made beside `out`
        raise DataError(out, f"lies inside the run folder {run}; choose a folder outside it")
    with target_lock(out):  # a second run into the same folder fails here, at once
        recover_leftovers(out, progress or (lambda line: None))
        _check_target(out, force)
        tmp = out.parent / f".{out.name}{PARTIAL}{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            result = _write_all(
                root=tmp, prof=prof, seed=seed, unseen=unseen_signers, progress=progress, jobs=jobs
            )
            result.seconds = time.perf_counter() - start
            _publish(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    result.root = shown
    return result


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(out, "output path exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not force:
        raise DataError(out, "output folder is not empty; pass --force to replace it")
    cwd = Path.cwd().resolve()
    if cwd == out.resolve() or cwd.is_relative_to(out.resolve()):
        raise DataError(out, "--force would replace the current folder (or one holding it)")
    if not (out / METADATA_FILE).is_file():
        raise DataError(
            out,
            f"--force replaces only a SignWorld dataset (a folder holding {METADATA_FILE}) or "
            "an empty folder, and this folder holds neither; remove it yourself or choose "
            "another --out",
        )


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished dataset into place; an old one is removed only after the swap."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}{OLD}{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old)


def _write_all(
    root: Path,
    prof: DataSize,
    seed: int,
    unseen: bool,
    progress: Callable[[str], None] | None,
    jobs: int,
) -> SynthResult:
    table = build_gloss_table()
    grammar = Grammar(table)
    signers = [
        sample_signer(np.random.default_rng([seed, SIGNER_STREAM, i]), i)
        for i in range(1, prof.signers + prof.unseen_signers + 1)
    ]
    seen, new = signers[: prof.signers], signers[prof.signers :]
    plan = {"train": (prof.train, seen), "dev": (prof.dev, seen), "test": (prof.test, seen)}
    if unseen:
        plan[UNSEEN_SPLIT] = (prof.test_unseen, new)
    result = SynthResult(root, glosses=len(table))
    counts: dict[str, Counter] = {}
    # one pool of drawing processes for every split (None: draw in this process)
    workers = ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) if jobs > 1 else None
    with workers or nullcontext():
        for split, (n, pool) in plan.items():
            rows, counts[split], frames = _write_split(
                root=root,
                prof=prof,
                seed=seed,
                split=split,
                n=n,
                pool=pool,
                grammar=grammar,
                workers=workers,
            )
            _write_corpus(root, split, rows)
            result.videos[split], result.frames[split] = n, frames
            if progress:
                progress(f"{split}: {n} videos, {frames} frames")
    meta = _metadata(
        prof=prof, seed=seed, table=table, signers=signers, seen=seen, result=result, counts=counts
    )
    result.floor = {s: handshape_blind_floor(meta, s) for s in plan}
    meta["handshape_blind_floor"] = result.floor
    # Written last; the whole folder is renamed into place only after this.
    text = json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    (root / METADATA_FILE).write_text(text, encoding="utf-8")
    return result


def _write_split(
    root: Path,
    prof: DataSize,
    seed: int,
    split: str,
    n: int,
    pool: list[Signer],
    grammar: Grammar,
    workers: ProcessPoolExecutor | None,
) -> tuple[list[str], Counter, int]:
    """Draw and write the videos of one split; returns corpus rows, gloss counts and frames.

    Every video has its own generator (`[seed, split, index]`), so `workers` draw the same
    bytes as this process."""
    feat = root / "features" / f"fullFrame-{prof.size}x{prof.size}px" / split
    draw = partial(_write_video, feat, prof, seed, split, pool, grammar)
    if workers is None:
        videos = [draw(index) for index in range(n)]
    else:
        videos = list(workers.map(draw, range(n), chunksize=4))  # few hand-offs, even shares
    rows, counts, total, timings = [], Counter(), 0, {}
    for vid, row, sentence, segments, frames in videos:
        timings[vid] = segments
        rows.append(row)
        counts.update(sentence)
        total += frames
    _write_timings(root, split, timings)
    return rows, counts, total


def _write_video(
    feat: Path,
    prof: DataSize,
    seed: int,
    split: str,
    pool: list[Signer],
    grammar: Grammar,
    index: int,
) -> tuple[str, str, list[str], list[list], int]:
    """Draw and write one video; returns its id, corpus row, glosses, timings and length."""
    spec = _gloss_specs()
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    signer = pool[int(rng.integers(len(pool)))]
    sentence = grammar.sample(rng)
    signs = sample_instances([spec[g] for g in sentence], rng, signer.speed, prof.sign_frames)
    scene = make_scene(signer, prof.size, rng)
    poses = build_timeline(signs, rng)
    frames = render_video(scene, poses, rng)
    vid = f"{split}_{index:05d}"
    _write_frames(feat / vid / "1", vid, frames)
    row = f"{vid}|{vid}/1/*.png|{signer.id}|{' '.join(sentence)}"
    return vid, row, list(sentence), [list(seg) for seg in gloss_segments(poses)], len(frames)


@cache
def _gloss_specs() -> dict:
    return {g.gloss: g for g in build_gloss_table()}


def _write_frames(folder: Path, vid: str, frames: list[np.ndarray]) -> None:
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{vid}_fn{t:06d}-0.png", compress_level=1)


def _write_timings(root: Path, split: str, timings: dict[str, list]) -> None:
    """Where each gloss of each video is signed: `{id: [[gloss, start, end), ...]}`."""
    path = root / TIMINGS_FOLDER / f"{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(timings, separators=(",", ":")) + "\n", encoding="utf-8")


def _write_corpus(root: Path, split: str, rows: list[str]) -> None:
    path = root / "annotations" / "manual" / f"{split}.corpus.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def _metadata(
    prof: DataSize,
    seed: int,
    table,
    signers: list[Signer],
    seen: list[Signer],
    result: SynthResult,
    counts: dict[str, Counter],
) -> dict:
    return {
        "format": "signworld",
        "version": 1,
        "generator": "crkd_core.data.signworld (this project's synthetic dataset)",
        "profile": prof.to_dict(),
        "seed": seed,
        "frame_size": [prof.size, prof.size],
        "glosses": [g.to_dict() for g in table],
        "handshapes": {
            h.name: {"family": h.family, "extended": list(h.extended), "tilt_deg": list(h.tilt)}
            for h in HANDSHAPES.values()
        },
        "signers": [dict(s.to_dict(), seen=s in seen) for s in signers],
        "splits": dict(result.videos),
        "frames": dict(result.frames),
        "gloss_counts": {s: dict(sorted(c.items())) for s, c in counts.items()},
    }
