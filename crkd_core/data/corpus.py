"""Corpus entries and dataset layouts (PHOENIX-2014 release layout and friends).

A layout turns a dataset root into `CorpusEntry` rows for a split. It checks every row as it
reads it, so that bad input fails here, naming the file, the row and the cause, long before a
training step. Layouts register under a name; `open_dataset(root, name=None)` auto-detects.

A public release may hold a video that is known to be broken (PHOENIX-2014 and CSL-Daily each
have one in train). A layout lists such ids in `known_broken`; unless it is opened with
`strict=True`, a known-broken row is skipped with a `BrokenVideoWarning` naming the id, the
corpus file and the row. Any other bad row is a DataError, strict or not. The other layouts
(PHOENIX-2014-T, CSL-Daily, a custom CSV) live in `layouts.py`.
"""

from __future__ import annotations

import errno
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..registry import Registry

SPLITS = ("train", "dev", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class CorpusEntry:
    """One video of a corpus: its id, signer, gloss sequence, and where its frames are."""

    id: str
    signer: str
    glosses: tuple[str, ...]
    frames: tuple[Path, ...] = ()  # image files, in temporal order
    video: Path | None = None  # or one video file (custom datasets)
    source: str = ""  # the corpus file the row came from
    row: int | None = None  # 1-based line in that file (header = 1)
    translation: str = ""  # the spoken-language sentence, where the corpus has one

    @property
    def num_frames(self) -> int:
        return len(self.frames)


class BrokenVideoWarning(UserWarning):
    """A video known to be broken in a public release was skipped."""


class DatasetLayout:
    """Base class: a dataset root with corpus files for the splits `train`, `dev`, `test`.

    Args:
        root: the dataset root, or a folder that `locate` resolves to it.
        strict: read known-broken videos like any other row (a DataError if their frames are
            missing) instead of skipping them with a warning.
    """

    name = "base"
    splits: tuple[str, ...] = SPLITS
    marker = ""  # a file, relative to the dataset root, that identifies this layout
    release_dirs: tuple[str, ...] = ("",)  # where a release may nest the root below a folder
    known_broken: dict[str, frozenset[str]] = {}  # split -> ids broken in the public release
    # Whether a mirrored clip shows the same glosses, so that horizontal flip is a valid
    # augmentation (true of real signing: a left-handed signer mirrors a right-handed one).
    mirror_safe: bool = True

    def __init__(self, root: str | Path, strict: bool = False):
        if not Path(root).is_dir():
            raise DataError(root, "dataset root is not a folder")
        self.root = self.locate(Path(root))
        self.strict = strict
        self.skipped: set[tuple[str, str]] = set()  # (split, id) of every skipped row

    @classmethod
    def locate(cls, root: Path) -> Path:
        """The dataset root that `root` names: the first `root/release_dirs[i]` with `marker`."""
        found = find_release_root(root, cls.release_dirs, cls.marker) if cls.marker else None
        return found or root

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether `root`, or a folder of `release_dirs` below it, holds this layout's marker."""
        found = find_release_root(root, cls.release_dirs, cls.marker) if cls.marker else None
        return found is not None

    def skip_known_broken(
        self, split: str, vid: str, folder: Path | str, corpus: Path, lineno: int
    ) -> bool:
        """True, after a warning, when row `lineno` of `corpus` is a known-broken video."""
        if self.strict or vid not in self.known_broken.get(split, frozenset()):
            return False
        warnings.warn(
            f"{corpus}, row {lineno}: skipped video {vid!r} of {split}: it is known to "
            f"be broken in the {self.name} release (its frame folder {folder} "
            f"{folder_state(Path(folder))}); open the dataset with strict=True to read it",
            BrokenVideoWarning,
            stacklevel=3,
        )
        self.skipped.add((split, vid))
        return True

    def frame_rows(
        self, split: str, corpus: Path, rows: list, *, id_key: str, gloss_key: str, folder_of
    ) -> list[tuple[int, dict, Path | str, tuple[str, ...]]]:
        """(row number, row, frame folder, glosses) of each row to read, the known-broken ones
        left out. Every row's text first, then one stat per row (before any folder is listed):
        a bad row of a huge corpus fails in seconds, naming the corpus and the row.

        `folder_of(row, lineno)` is the row's frame folder, checked to stay inside its root.
        """
        todo = []
        for lineno, r in rows:
            folder = folder_of(r, lineno)  # a str where it can be: see `inside`
            if self.skip_known_broken(split, r[id_key], folder, corpus, lineno):
                continue
            glosses = tuple(r[gloss_key].split())
            if not glosses:
                raise DataError(corpus, f"video {r[id_key]!r} has an empty annotation", lineno)
            todo.append((lineno, r, folder, glosses))
        check_folders_exist([(n, folder) for n, _, folder, _ in todo], corpus)
        return todo

    @classmethod
    def near_miss(cls, root: Path) -> DataError | None:
        """The error to report when `root` holds this layout's marker but `detect` refused it."""
        return None

    def read_split(self, split: str) -> list[CorpusEntry]:
        raise NotImplementedError

    def declared_glosses(self) -> list[str] | None:
        """The full gloss inventory when the dataset declares one (SignWorld does), else None."""
        return None

    def check_split_name(self, split: str) -> None:
        if split not in self.splits:
            raise DataError(self.root, f"unknown split {split!r}; this dataset has {self.splits}")


DATASETS: Registry[type[DatasetLayout]] = Registry("dataset")


def open_dataset(root: str | Path, name: str | None = None) -> DatasetLayout:
    """Open a dataset root with the named layout, or the single layout that recognises it."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "dataset root does not exist or is not a folder")
    if name:
        return DATASETS.get(name)(root)
    found = [n for n in DATASETS.names() if DATASETS.get(n).detect(root)]
    # A more specific layout (signworld) also matches its parent layout (phoenix2014).
    specific = [
        n
        for n in found
        if not any(n != m and issubclass(DATASETS.get(m), DATASETS.get(n)) for m in found)
    ]
    if not specific:
        for n in DATASETS.names():  # a near miss (a marker file that did not parse) says more
            miss = DATASETS.get(n).near_miss(root)
            if miss is not None:
                raise miss
    if len(specific) != 1:
        what = "no known layout" if not specific else f"several layouts ({', '.join(specific)})"
        raise DataError(
            root,
            f"{what} matches this folder; pass --dataset NAME "
            f"(one of {', '.join(DATASETS.names())})",
        )
    return DATASETS.get(specific[0])(root)


def find_release_root(root: Path, subdirs: tuple[str, ...], marker: str) -> Path | None:
    """The first of `root / subdir` that holds the file `marker`, or None."""
    for sub in subdirs:
        cand = root / sub if sub else root
        if (cand / marker).is_file():
            return cand
    return None


def folder_state(folder: Path) -> str:
    """How a frame folder looks, in words, for warnings."""
    if not folder.is_dir():
        return "is missing"
    n = len(list_frames(folder))
    return f"holds {n} frames" if n else "holds no image files"


def list_frames(folder: Path) -> tuple[Path, ...]:
    """Image files of a frame folder, in natural order (fn9 before fn10)."""
    return scan_frames(folder)[0]


def scan_frames(folder: Path) -> tuple[tuple[Path, ...], Path | None]:
    """(image names of a folder in natural order, the first that is not a regular file).

    One directory read: the entry types come with it, so no file is stat-ed (but symlinks).
    """
    files, odd = [], None
    with os.scandir(folder) as it:
        for entry in it:
            if os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                files.append(Path(entry.path))
                if odd is None and not _regular(entry):
                    odd = files[-1]
    return tuple(sorted(files, key=_natural_key)), odd


def path_kind(path: Path) -> str:
    """What `path` is, in words, when it is not the regular file (or folder) that was expected."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop"
        if os.path.islink(path):
            return f"is a broken symlink (to {os.readlink(path)})"
        return "does not exist"
    if os.path.isdir(path):
        return "is a folder"
    return (
        "is a regular file"
        if os.path.isfile(path)
        else f"is not a regular file (mode {st.st_mode:o})"
    )


def _regular(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a symlink loop (ELOOP); path_kind says which
        return False


def check_frame_file(odd: Path | None, corpus: Path | str, row) -> None:
    """Refuse an image name that is not a regular file (a folder, a symlink loop)."""
    if odd is not None:
        raise DataError(corpus, f"frame {odd} {path_kind(odd)}, not an image file", row)


def check_same_sizes(sizes: list[tuple[int, int]], frames, where: Path | str, row=None) -> None:
    """Refuse frames of one video whose sizes differ from its first frame's."""
    for p, got in zip(frames, sizes, strict=True):
        if got != sizes[0]:
            raise DataError(
                p,
                f"frame is {got[0]}x{got[1]}, the video's first frame is "
                f"{sizes[0][0]}x{sizes[0][1]} ({where})",
                row,
            )


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def read_table(path: Path, header: list[str], sep: str = "|") -> list[tuple[int, dict[str, str]]]:
    """Read a `sep`-separated UTF-8 table with an exact header; returns (line number, row) pairs."""
    if not path.is_file():
        raise DataError(path, "corpus file is missing")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 ({exc.reason})", line) from exc
    lines = split_lines(text)
    if not lines or not lines[0].strip():
        raise DataError(path, "corpus file is empty (no header)")
    got = [h.strip() for h in lines[0].split(sep)]
    if got != header:
        raise DataError(
            path,
            f"wrong header {sep.join(got)!r}; expected {sep.join(header)!r}"
            f"{delimiter_hint(lines[0], header, sep)}",
            1,
        )
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        check_printable(path, line, lineno)
        fields = line.split(sep)
        if len(fields) != len(header):
            raise DataError(
                path,
                f"expected {len(header)} fields separated by {sep!r}, found {len(fields)}",
                lineno,
            )
        rows.append((lineno, dict(zip(header, [f.strip() for f in fields], strict=True))))
    if not rows:
        raise DataError(path, "corpus file has a header but no rows")
    return rows


def split_lines(text: str) -> list[str]:
    """Lines split on \\n (and \\r\\n) only: `str.splitlines` also splits on a form feed, U+0085
    and U+2028, which would break one row in two and shift every later row number."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# Characters refused anywhere in a row: controls (but tab, which the id check names) and the
# line/paragraph separators, which other tools read as line breaks.
_BREAKING = ("Cc", "Zl", "Zp", "Cs")


def check_printable(path: Path, text: str, lineno: int | str | None, what: str = "row") -> None:
    """Refuse a control character or line separator in `text`, naming it and the row."""
    if text.isprintable():  # the common case, at C speed
        return
    for i, ch in enumerate(text):
        if ch != "\t" and unicodedata.category(ch) in _BREAKING:
            name = unicodedata.name(ch, "") or CONTROL_NAMES.get(ch, "a control character")
            raise DataError(
                path,
                f"{what} holds the non-printable character U+{ord(ch):04X} ({name.lower()}) "
                f"at column {i + 1}; text fields must be printable",
                lineno,
            )


CONTROL_NAMES = {"\f": "form feed", "\v": "vertical tab", "\r": "carriage return",
                 "\x00": "NUL", "\x85": "next line (NEL)", "\x1b": "escape"}  # fmt: skip


DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}


def delimiter_hint(line: str, header: list[str], sep: str) -> str:
    """', separated by <X>: use <sep>' when `line` is `header` joined by another delimiter."""
    for other, name in DELIMITERS.items():
        if other != sep and [h.strip() for h in line.split(other)] == header:
            return f" (this header is separated by {name}; the fields must be separated by {sep!r})"
    return ""


def check_unique_ids(path: Path, rows: list[tuple[int, str]]) -> None:
    """Ids are unique, and hold no whitespace: CTM and STM files separate fields by spaces."""
    seen: dict[str, int] = {}
    for lineno, vid in rows:
        if vid.isprintable() and vid and " " not in vid and not vid.startswith(";;"):
            pass  # the common case, at C speed (printable excludes all whitespace but " ")
        elif not vid or any(ch.isspace() for ch in vid):
            raise DataError(
                path,
                f"id {vid!r} is empty or holds whitespace; ids are written into "
                "CTM/STM files, whose fields are separated by spaces",
                lineno,
            )
        elif vid.startswith(";;") or not vid.isprintable():
            why = (
                "starts with ';;', which CTM and STM files read as a comment"
                if vid.startswith(";;")
                else "holds a non-printable character"
            )
            raise DataError(
                path, f"id {vid!r} {why}, so it cannot be written to a CTM/STM file", lineno
            )
        if vid in seen:
            raise DataError(path, f"duplicate id {vid!r} (first on row {seen[vid]})", lineno)
        seen[vid] = lineno


def frames_of(folder: Path, corpus: Path, lineno: int) -> tuple[Path, ...]:
    """The frames of one row's folder, or a DataError naming the corpus row."""
    if not folder.is_dir():
        raise DataError(corpus, f"frame folder {folder} {path_kind(folder)}", lineno)
    frames, odd = scan_frames(folder)
    if not frames:
        raise DataError(corpus, f"frame folder {folder} holds no image files", lineno)
    check_frame_file(odd, corpus, lineno)
    gap = numbering_gap(frames)
    if gap is not None:
        raise DataError(corpus, f"frame folder {folder}: {gap}", lineno)
    return frames


def inside(base: Path, cell: str, corpus: Path, lineno: int, what: str = "folder") -> str:
    """`base/cell` (a str: a Path per row of a huge corpus costs seconds), refused, naming the
    row, when `cell` is empty, absolute or climbs out of `base` with `..`."""
    norm = os.path.normpath(cell) if cell else ""
    if not norm or norm == "." or os.path.isabs(norm) or norm.split(os.sep)[0] == "..":
        raise DataError(
            corpus, f"{what} {cell!r} is empty or leaves {base} (absolute, or '..')", lineno
        )
    return f"{base}{os.sep}{norm}"


def check_folders_exist(folders: list[tuple[int, str | Path]], corpus: Path) -> None:
    """One cheap stat per row, before any folder is listed: a bad row fails at once.

    Two rows that name one folder are refused too: each video has its own frames.
    """
    seen: dict[str | Path, int] = {}
    for lineno, folder in folders:
        if folder in seen:
            raise DataError(
                corpus, f"frame folder {folder} is also the folder of row {seen[folder]}", lineno
            )
        seen[folder] = lineno
    for lineno, folder in folders:
        if not os.path.isdir(folder):
            raise DataError(corpus, f"frame folder {folder} {path_kind(folder)}", lineno)


def numbering_gap(frames: tuple[Path, ...]) -> str | None:
    """Why the frame numbers of a folder are not evenly spaced (a frame gone), or None.

    The frame number is the one number in the file names that varies (`fn000012`); names with
    no such single number are not checked. Evenly spaced numbers with any step (a clip
    subsampled to every 2nd frame) are accepted: the step is the smallest difference.
    """
    keys = [_natural_key(p) for p in frames]
    if len(frames) < 3 or len({len(k) for k in keys}) != 1:
        return None
    varying = [i for i in range(len(keys[0])) if len({k[i] for k in keys}) > 1]
    if len(varying) != 1 or not all(isinstance(k[varying[0]], int) for k in keys):
        return None
    nums = [k[varying[0]] for k in keys]
    steps = [b - a for a, b in zip(nums, nums[1:], strict=False)]
    if 0 in steps:
        i = steps.index(0)
        return f"frames {frames[i].name} and {frames[i + 1].name} share one frame number"
    step = min(steps)
    i = next((i for i, d in enumerate(steps) if d != step), None)
    if i is None:
        return None
    gone = steps[i] // step - 1
    return (
        f"{gone or 'a'} frame(s) missing between {frames[i].name} and {frames[i + 1].name} "
        f"(numbers step by {step} elsewhere; the folder holds {len(frames)} frames)"
    )


def find_feature_dir(root: Path, pattern: str = "fullFrame-*px", declared: str = "") -> Path:
    """The `features/fullFrame-<W>x<H>px` folder of a release: the `declared` one, else the
    single one (several are refused, naming them: which one is meant cannot be guessed)."""
    features = root / "features"
    if declared:
        if not (features / declared).is_dir():
            raise DataError(
                features / declared, f"declared frame folder {path_kind(features / declared)}"
            )
        return features / declared
    cands = sorted(p for p in features.glob(pattern) if p.is_dir()) if features.is_dir() else []
    if not cands:
        raise DataError(features, f"no {pattern} folder with frames")
    if len(cands) > 1:
        names = ", ".join(p.name for p in cands)
        raise DataError(
            features,
            f"{len(cands)} {pattern} folders ({names}); the frames must be in exactly one: "
            "remove or move the others",
        )
    return cands[0]


@DATASETS.register("phoenix2014")
class Phoenix2014(DatasetLayout):
    """RWTH-PHOENIX-Weather 2014 multi-signer release layout (also written by `crkd synth`).

    `annotations/manual/{split}.corpus.csv` with header `id|folder|signer|annotation`;
    frames under `features/fullFrame-<W>x<H>px/{split}/<folder>` where `folder` ends in `*.png`.
    The root may also be given as `phoenix2014-release/` or the folder above it: it resolves to
    `phoenix2014-release/phoenix-2014-multisigner/`.

    One train video of the release is known to be broken; peers drop it from train. It is
    skipped with a warning, whatever its folder holds, unless `strict=True`. That leaves 5671
    train videos of the corpus file's 5672.
    """

    name = "phoenix2014"
    header = ["id", "folder", "signer", "annotation"]
    marker = "annotations/manual/train.corpus.csv"
    release_dirs = ("", "phoenix-2014-multisigner", "phoenix2014-release/phoenix-2014-multisigner")
    known_broken = {"train": frozenset({"13April_2011_Wednesday_tagesschau_default-14"})}

    def corpus_file(self, split: str) -> Path:
        return self.root / "annotations" / "manual" / f"{split}.corpus.csv"

    def read_split(self, split: str) -> list[CorpusEntry]:
        self.check_split_name(split)
        path = self.corpus_file(split)
        rows = read_table(path, self.header)
        check_unique_ids(path, [(n, r["id"]) for n, r in rows])
        self.check_rows(split, path, rows)
        feat = self.feature_dir() / split

        def folder_of(r: dict, lineno: int) -> str:
            return inside(feat, r["folder"].replace("*.png", "").rstrip("/"), path, lineno)

        todo = self.frame_rows(
            split, path, rows, id_key="id", gloss_key="annotation", folder_of=folder_of
        )
        return [
            CorpusEntry(
                r["id"],
                r["signer"],
                glosses,
                frames_of(Path(folder), path, n),
                source=str(path),
                row=n,
            )
            for n, r, folder, glosses in todo
        ]

    def feature_dir(self) -> Path:
        """The release's single `features/fullFrame-*px` folder."""
        return find_feature_dir(self.root)

    def check_rows(self, split: str, path: Path, rows: list) -> None:
        """Checks of the rows as a whole, before any frame folder is touched (none here)."""
