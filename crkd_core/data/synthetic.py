"""SignWorld datasets on disk: the `signworld` layout and the handshape-blind floor.

SignWorld is this project's invention: a procedural CSLR dataset written in the PHOENIX-2014
release layout plus `signworld.json` (see docs/DESIGN.md). The generator lives in
`crkd_core.data.signworld` (numpy + PIL); this module stays light (standard library only), so that
registering the layout costs nothing at import time.

The handshape-blind floor is the WER (percent) of an oracle that reads everything but the
handshape. Glosses that share (location, movement, hands, orientation) form a group; for each
reference token the oracle outputs the group's most frequent gloss in train (ties: the smallest
name). Its errors are substitutions only, so floor = 100 * substituted tokens / reference tokens.
A model that cannot see handshapes cannot do better than this (the grammar does not help, since
the choice inside a role is context-free).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..io import read_json
from .corpus import DATASETS, SPLITS, CorpusEntry, Phoenix2014, find_feature_dir, read_table

METADATA_FILE = "signworld.json"
TIMINGS_FOLDER = "timings"  # <root>/timings/<split>.json: {id: [[gloss, start, end], ...]}
UNSEEN_SPLIT = "test_unseen"
ALL_SPLITS = (*SPLITS, UNSEEN_SPLIT)
COARSE_KEYS = ("location", "movement", "hands", "orientation")


def read_metadata(root_or_file: str | Path) -> dict[str, Any]:
    """`signworld.json` of a dataset root (or the file itself), checked for the needed keys."""
    path = Path(root_or_file)
    if path.is_dir():
        path = path / METADATA_FILE
    if not path.is_file():
        raise DataError(path, "SignWorld metadata file is missing")
    meta = read_json(path, lambda cause: DataError(path, cause))
    missing = [k for k in ("format", "glosses", "splits") if k not in meta]
    if missing or meta.get("format") != "signworld":
        raise DataError(path, f"not a SignWorld metadata file (missing {missing or 'format'})")
    return meta


def read_timings(root: str | Path, split: str) -> dict[str, list[tuple[str, int, int]]]:
    """Where each gloss of each video of `split` is signed, frames [start, end), as drawn.

    Datasets drawn before the generator wrote timings have none: that is a DataError.
    """
    path = Path(root) / TIMINGS_FOLDER / f"{split}.json"
    if not path.is_file():
        raise DataError(path, "no gloss timings (drawn by an older SignWorld); draw it again")
    raw = read_json(path, lambda cause: DataError(path, cause))
    try:
        timings = {vid: [(g, a, b) for g, a, b in segs] for vid, segs in raw.items()}
    except (AttributeError, TypeError, ValueError):
        raise DataError(path, "gloss timings must map ids to [gloss, start, end] lists") from None
    for vid, segs in timings.items():
        for g, a, b in segs:
            whole = all(isinstance(x, int) and not isinstance(x, bool) for x in (a, b))
            if not (isinstance(g, str) and g.isprintable() and whole and 0 <= a < b):
                raise DataError(
                    path,
                    f"video {vid!r}: gloss timing {[g, a, b]!r} is not [gloss, start, end] "
                    "with whole frames 0 <= start < end",
                )
    return timings


@DATASETS.register("signworld")
class SignWorld(Phoenix2014):
    """SignWorld (this project's synthetic dataset): PHOENIX-2014 layout + `signworld.json`.

    The splits are train, dev, test, and `test_unseen` (signers never seen in train) when the
    dataset was drawn with `--unseen-signers`.
    """

    name = "signworld"
    # Handshapes differ in *which* fingers are extended; a mirror image swaps finger order
    # (index+middle looks like ring+pinky), so flip would contradict the labels.
    mirror_safe = False
    marker = METADATA_FILE
    release_dirs = ("",)
    known_broken = {}

    def __init__(self, root: str | Path, strict: bool = False):
        super().__init__(root, strict)
        self.metadata = read_metadata(self.root)
        self.splits = tuple(s for s in ALL_SPLITS if s in self.metadata["splits"])

    def read_split(self, split: str) -> list[CorpusEntry]:
        """The split's rows, checked against the frame count that `signworld.json` records.

        A frame gone from the middle of a clip is caught by its folder's numbering (naming the
        row); this catches the last frame of a clip, or a whole frame added.
        """
        entries = super().read_split(split)
        recorded = self.metadata.get("frames", {}).get(split)
        found = sum(e.num_frames for e in entries)
        if isinstance(recorded, int) and found != recorded:
            raise DataError(
                self.root / METADATA_FILE,
                f"split {split!r} has {found} frames on disk but {recorded} were drawn: frame "
                "files were removed or added since (draw the dataset again)",
            )
        return entries

    def feature_dir(self) -> Path:
        """`features/fullFrame-<W>x<H>px` of the `frame_size` that signworld.json declares."""
        size = self.metadata.get("frame_size")
        if size is None:  # drawn before frame_size was recorded: the single folder, if one
            return super().feature_dir()
        if not (
            isinstance(size, list)
            and len(size) == 2
            and all(
                isinstance(v, int) and not isinstance(v, bool) and 0 < v < 100_000 for v in size
            )
        ):
            raise DataError(
                self.root / METADATA_FILE, f"frame_size {size!r} is not [width, height] in pixels"
            )
        return find_feature_dir(self.root, declared=f"fullFrame-{size[0]}x{size[1]}px")

    def check_rows(self, split: str, path: Path, rows: list) -> None:
        """The corpus has as many rows as signworld.json says were drawn (checked first, so a
        corpus grown by a million rows fails at once)."""
        recorded = self.metadata["splits"].get(split)
        if isinstance(recorded, int) and not isinstance(recorded, bool) and len(rows) != recorded:
            raise DataError(
                path,
                f"{len(rows)} rows, but {self.root / METADATA_FILE} records {recorded} videos "
                f"drawn for {split!r}: rows were added or removed since (draw the dataset again)",
            )

    def declared_glosses(self) -> list[str]:
        """Every gloss of the gloss table: the vocabulary covers glosses unseen in train."""
        return [g["gloss"] for g in self.metadata["glosses"]]

    def handshape_blind_floor(self, split: str = "test") -> float:
        self.check_split_name(split)
        return handshape_blind_floor(self.root, split)


def handshape_blind_floor(source: str | Path | Mapping[str, Any], split: str = "test") -> float:
    """WER (percent) on `split` of the oracle that sees everything except the handshape.

    Args:
        source: a SignWorld root (the tokens are counted from its corpus files), its
            `signworld.json`, or an already loaded metadata dict (uses its `gloss_counts`).
        split: the split to score; the gloss frequencies always come from train.
    """
    if isinstance(source, Mapping):
        meta, root = source, None
    else:
        root = Path(source) if Path(source).is_dir() else Path(source).parent
        meta = read_metadata(root)
    counts = _split_counts(meta, root, split)
    return blind_floor(meta["glosses"], _split_counts(meta, root, "train"), counts)


def blind_floor(
    table: Iterable[Mapping[str, Any]],
    train_counts: Mapping[str, int],
    ref_counts: Mapping[str, int],
) -> float:
    """Floor from a gloss table (rows with `gloss` and the coarse keys) and token counts."""
    group_of = {row["gloss"]: tuple(row[k] for k in COARSE_KEYS) for row in table}
    members: dict[tuple, list[str]] = {}
    for gloss, key in group_of.items():
        members.setdefault(key, []).append(gloss)
    best = {key: min(gs, key=lambda g: (-train_counts.get(g, 0), g)) for key, gs in members.items()}
    unknown = sorted(set(ref_counts) - set(group_of))
    if unknown:
        raise DataError("<gloss table>", f"glosses not in the table: {', '.join(unknown[:5])}")
    total = sum(ref_counts.values())
    if total == 0:
        raise DataError("<gloss table>", "no reference tokens to score")
    wrong = sum(n for g, n in ref_counts.items() if best[group_of[g]] != g)
    return 100.0 * wrong / total


def _split_counts(meta: Mapping[str, Any], root: Path | None, split: str) -> Counter:
    if root is None:
        counts = meta.get("gloss_counts", {})
        if split not in counts:
            raise DataError(METADATA_FILE, f"no gloss counts for split {split!r}")
        return Counter(counts[split])
    path = root / "annotations" / "manual" / f"{split}.corpus.csv"
    rows = read_table(path, Phoenix2014.header)
    return Counter(g for _, r in rows for g in r["annotation"].split())
