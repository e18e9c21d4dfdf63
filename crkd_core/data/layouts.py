"""Layouts of the other public CSLR releases, and a custom CSV format for new sign languages.

`phoenix2014t`: RWTH-PHOENIX-Weather 2014 T. `csl-daily`: CSL-Daily (Chinese). `custom`: one CSV
per split, for any sign language. PHOENIX-2014 itself (`phoenix2014`) lives in `corpus.py`.
Importing `crkd_core.data` registers them all. docs/datasets.md says where each root is.
"""

from __future__ import annotations

import csv
import io
import pickle
import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..errors import DataError
from .corpus import (
    DATASETS,
    BrokenVideoWarning,
    CorpusEntry,
    DatasetLayout,
    check_printable,
    check_unique_ids,
    delimiter_hint,
    find_feature_dir,
    frames_of,
    inside,
    path_kind,
    read_table,
)
from .video import VIDEO_SUFFIXES, probe_video


@DATASETS.register("phoenix2014t")
class Phoenix2014T(DatasetLayout):
    """RWTH-PHOENIX-Weather 2014 T, the release layout.

    `annotations/manual/PHOENIX-2014-T.{split}.corpus.csv` with header
    `name|video|start|end|speaker|orth|translation`; frames under
    `features/fullFrame-210x260px/{split}/<name>/*.png`. The CSV's `video` column says
    `<name>/1/*.png`, but the release has no `1/` folder: a `1/` folder is used when it exists,
    else its parent. The German `translation` is kept on each entry. The root may be given as
    `PHOENIX-2014-T-release-v3/` or the folder above it.
    """

    name = "phoenix2014t"
    header = ["name", "video", "start", "end", "speaker", "orth", "translation"]
    marker = "annotations/manual/PHOENIX-2014-T.train.corpus.csv"
    release_dirs = ("", "PHOENIX-2014-T", "PHOENIX-2014-T-release-v3/PHOENIX-2014-T")

    def corpus_file(self, split: str) -> Path:
        return self.root / "annotations" / "manual" / f"PHOENIX-2014-T.{split}.corpus.csv"

    def read_split(self, split: str) -> list[CorpusEntry]:
        self.check_split_name(split)
        path = self.corpus_file(split)
        rows = read_table(path, self.header)
        check_unique_ids(path, [(n, r["name"]) for n, r in rows])
        feat = find_feature_dir(self.root) / split

        def folder_of(r: dict, lineno: int) -> Path:
            inside(feat, r["video"].replace("*.png", "").rstrip("/"), path, lineno, "video")
            return frame_folder(feat, r["video"])

        todo = self.frame_rows(
            split, path, rows, id_key="name", gloss_key="orth", folder_of=folder_of
        )
        return [
            CorpusEntry(
                r["name"],
                r["speaker"],
                glosses,
                frames_of(folder, path, lineno),
                source=str(path),
                row=lineno,
                translation=r["translation"],
            )
            for lineno, r, folder, glosses in todo
        ]


def frame_folder(feat: Path, video: str) -> Path:
    """The frame folder of a PHOENIX-2014-T `video` cell (`<name>/1/*.png`), `1/` or not."""
    folder = feat / video.replace("*.png", "").rstrip("/")
    if folder.name == "1" and not folder.is_dir():
        return folder.parent  # the release has no 1/ level, whatever the CSV says
    return folder


@dataclass(frozen=True)
class _Label:
    """One annotated CSL-Daily video, before its split and frames are known."""

    glosses: tuple[str, ...]
    signer: str
    text: str
    source: Path
    row: int | None  # a line of video_map.txt; None for the pickle
    where: int | str  # for errors: the line, or `info[i]` of the pickle


@DATASETS.register("csl-daily")
class CSLDaily(DatasetLayout):
    """CSL-Daily, the release layout (what we relied on is below; no copy was at hand).

    - `sentence_label/split_1.txt`: header `name|split`, one video a row, split `train`, `dev`
      or `test` (18401 / 1077 / 1176 videos).
    - `sentence_label/video_map.txt`: header `index|name|length|gloss|char|word|postag`, glosses
      separated by spaces, `char` the Chinese sentence. It is read in preference to
    - `sentence_label/csl2020ct_v2.pkl`: a dict whose `info` list holds one dict per video
      (`name`, `label_gloss` list, `label_char` list, `signer`, `length`). It is unpickled
      with every class and function refused (plain dicts, lists, str and numbers only).
    - frames: `sentence/frames_512x512/<name>/*.jpg` (or, as some unpack it,
      `sentence_frames-512x512/frames_512x512/<name>/`).

    A split holds the annotated videos that split_1.txt puts in it, in split_1.txt's order;
    names without annotation are skipped with one warning (a DataError when strict), as peers
    do by joining the two files. Train video `S000005_P0004_T00` has no frames in the release:
    it is skipped with a warning unless strict (some peers silently train on `S000007_P0003_T00`
    in its place; we do not). The signer is the pickle's `signer`, or, from video_map.txt,
    the `P<nnnn>` part of the name.
    """

    name = "csl-daily"
    marker = "sentence_label/split_1.txt"
    release_dirs = ("", "CSL-Daily", "csl-daily", "CSL_Daily")
    split_header = ["name", "split"]
    map_header = ["index", "name", "length", "gloss", "char", "word", "postag"]
    frame_dirs = ("sentence/frames_512x512", "sentence_frames-512x512/frames_512x512")
    known_broken = {"train": frozenset({"S000005_P0004_T00"})}

    @property
    def split_file(self) -> Path:
        return self.root / self.marker

    def read_split(self, split: str) -> list[CorpusEntry]:
        self.check_split_name(split)
        names = self._split_names(split)
        frames_root = self._frames_root()
        entries, unannotated = [], []
        for lineno, vid in names:
            folder = Path(inside(frames_root, vid, self.split_file, lineno, "video name"))
            if self.skip_known_broken(split, vid, folder, self.split_file, lineno):
                continue
            label = self._labels.get(vid)
            if label is None:
                unannotated.append((lineno, vid))
                continue
            entries.append(self._entry(vid, label, folder))
        self._report_unannotated(split, unannotated)
        return entries

    def _split_names(self, split: str) -> list[tuple[int, str]]:
        rows = read_table(self.split_file, self.split_header)
        check_unique_ids(self.split_file, [(n, r["name"]) for n, r in rows])
        names = [(n, r["name"]) for n, r in rows if r["split"] == split]
        if not names:
            raise DataError(self.split_file, f"no video is in split {split!r}")
        return names

    def _frames_root(self) -> Path:
        for sub in self.frame_dirs:
            if (self.root / sub).is_dir():
                return self.root / sub
        raise DataError(
            self.root / self.frame_dirs[0],
            f"frame folder is missing (also looked for {', '.join(self.frame_dirs[1:])})",
        )

    @cached_property
    def _labels(self) -> dict[str, _Label]:
        label_dir = self.root / "sentence_label"
        if (label_dir / "video_map.txt").is_file() or not (label_dir / PICKLE).is_file():
            return read_video_map(label_dir / "video_map.txt", self.map_header)
        return read_csl_pickle(label_dir / PICKLE)

    def _entry(self, vid: str, label: _Label, folder: Path) -> CorpusEntry:
        if not label.glosses:
            raise DataError(label.source, f"video {vid!r} has an empty annotation", label.where)
        return CorpusEntry(
            vid,
            label.signer,
            label.glosses,
            frames_of(folder, label.source, label.where),
            source=str(label.source),
            row=label.row,
            translation=label.text,
        )

    def _report_unannotated(self, split: str, rows: list[tuple[int, str]]) -> None:
        if not rows:
            return
        lineno, vid = rows[0]
        cause = f"video {vid!r} of {split} has no annotation in {self.root / 'sentence_label'}"
        if self.strict:
            raise DataError(self.split_file, cause, lineno)
        warnings.warn(
            f"{self.split_file}, row {lineno}: {cause}; skipped it and "
            f"{len(rows) - 1} more unannotated {split} videos",
            BrokenVideoWarning,
            stacklevel=3,
        )
        self.skipped.update((split, v) for _, v in rows)


PICKLE = "csl2020ct_v2.pkl"


def signer_of(name: str) -> str:
    """The `P<nnnn>` part of a CSL-Daily name (`S000005_P0004_T00` -> `P0004`), else ''."""
    m = re.search(r"_(P\d+)_", name)
    return m.group(1) if m else ""


def read_video_map(path: Path, header: list[str]) -> dict[str, _Label]:
    """CSL-Daily's `video_map.txt`: name -> label."""
    rows = read_table(path, header)
    check_unique_ids(path, [(n, r["name"]) for n, r in rows])
    return {
        r["name"]: _Label(
            glosses=tuple(r["gloss"].split()),
            signer=signer_of(r["name"]),
            text=r["char"].replace(" ", ""),
            source=path,
            row=n,
            where=n,
        )
        for n, r in rows
    }


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: a pickle that names any class or function is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"it refers to {module}.{name}; only plain data is read")


def read_csl_pickle(path: Path) -> dict[str, _Label]:
    """CSL-Daily's `csl2020ct_v2.pkl` (`info`: a list of dicts): name -> label."""
    try:
        with open(path, "rb") as fh:
            data = _PlainUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as exc:
        raise DataError(path, f"cannot read the annotation pickle: {exc}") from exc
    info = data.get("info") if isinstance(data, dict) else None
    if not isinstance(info, list):
        raise DataError(path, "expected a dict with an 'info' list")
    labels = {}
    for i, item in enumerate(info):
        name, glosses = _pickle_item(path, i, item)
        if name in labels:
            raise DataError(path, f"duplicate name {name!r}", f"info[{i}]")
        text = "".join(str(c) for c in item.get("label_char", ()))
        if not text.isprintable():
            raise DataError(path, f"label_char {text!r} is not printable text", f"info[{i}]")
        labels[name] = _Label(
            glosses=glosses,
            signer=str(item.get("signer", signer_of(name))),
            text=text,
            source=path,
            row=None,
            where=f"info[{i}]",
        )
    return labels


def _pickle_item(path: Path, i: int, item) -> tuple[str, tuple[str, ...]]:
    name = item.get("name") if isinstance(item, dict) else None
    glosses = item.get("label_gloss") if isinstance(item, dict) else None
    if (
        not isinstance(name, str)
        or not isinstance(glosses, (list, tuple))
        or not all(isinstance(g, str) for g in glosses)
    ):
        raise DataError(
            path, "expected a dict with a str 'name' and a 'label_gloss' list of str", f"info[{i}]"
        )
    glosses = tuple(g for g in glosses if g.strip())
    bad = next((g for g in (name, *glosses) if not g.isprintable() or " " in g), None)
    if bad is not None:  # names and glosses go into CTM/STM fields, separated by spaces
        raise DataError(
            path, f"name or gloss {bad!r} holds whitespace or is not printable", f"info[{i}]"
        )
    return name, glosses


@DATASETS.register("custom")
class CustomCSV(DatasetLayout):
    """A custom dataset: `{train,dev,test}.csv` in the root, for any sign language.

    Each file is a UTF-8 CSV (comma-separated, double quotes as needed) with the header
    `id,path,signer,glosses`. `path` is a folder of frames (.png/.jpg, in natural order) or a
    video file (.mp4, .avi, .mov, .webm, .mkv, ...), relative to the root or absolute; `signer`
    may be empty; `glosses` are separated by spaces. Ids are unique within a file. Video files
    are opened (not decoded) when the split is read, so that an undecodable file fails there,
    naming its row. docs/datasets.md has a worked example.
    """

    name = "custom"
    header = ["id", "path", "signer", "glosses"]
    marker = "train.csv"

    @classmethod
    def detect(cls, root: Path) -> bool:
        path = root / cls.marker
        if not path.is_file():
            return False
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
        return [h.strip() for h in first.split(",")] == cls.header

    @classmethod
    def near_miss(cls, root: Path) -> DataError | None:
        path = root / cls.marker
        if not path.is_file() or cls.detect(root):
            return None
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline().rstrip("\r\n")
        cause = (
            f"header {first!r} is not the custom layout's {','.join(cls.header)!r}"
            f"{delimiter_hint(first, cls.header, ',')}, so no known layout matches {root}"
        )
        return DataError(path, cause, 1)

    def read_split(self, split: str) -> list[CorpusEntry]:
        self.check_split_name(split)
        path = self.root / f"{split}.csv"
        rows = read_csv(path, self.header)
        check_unique_ids(path, [(n, r["id"]) for n, r in rows])
        return [self._entry(r, path, n) for n, r in rows]

    def _entry(self, r: dict[str, str], corpus: Path, lineno: int) -> CorpusEntry:
        vid, glosses = r["id"], tuple(r["glosses"].split())
        if not vid:
            raise DataError(corpus, "empty id", lineno)
        if not glosses:
            raise DataError(corpus, f"video {vid!r} has an empty annotation", lineno)
        if not r["path"]:
            raise DataError(corpus, f"video {vid!r} has an empty path", lineno)
        media = Path(r["path"])  # absolute, or inside the root
        media = (
            media
            if media.is_absolute()
            else Path(inside(self.root, r["path"], corpus, lineno, "path"))
        )
        common = {"signer": r["signer"], "glosses": glosses, "source": str(corpus), "row": lineno}
        if media.is_dir():
            return CorpusEntry(vid, frames=frames_of(media, corpus, lineno), **common)
        return CorpusEntry(vid, video=checked_video(media, corpus, lineno), **common)


def checked_video(media: Path, corpus: Path, lineno: int) -> Path:
    """`media` when it is an openable video file, else a DataError naming the corpus row."""
    if media.suffix.lower() not in VIDEO_SUFFIXES:
        what = "does not exist" if not media.exists() else "is not a folder of frames"
        raise DataError(
            corpus,
            f"path {media} {what}, and is not a video file ({', '.join(VIDEO_SUFFIXES)})",
            lineno,
        )
    if not media.is_file():
        raise DataError(corpus, f"video file {media} {path_kind(media)}", lineno)
    try:
        probe_video(media)
    except DataError as exc:
        raise DataError(corpus, f"video {media}: {exc.cause}", lineno) from exc
    return media


def read_csv(path: Path, header: list[str]) -> list[tuple[int, dict[str, str]]]:
    """A UTF-8 CSV with an exact header; returns (line number, row) pairs, blank lines skipped."""
    reader = csv.reader(io.StringIO(_read_utf8(path), newline=""))
    try:
        got = [h.strip() for h in next(reader, [])]
        if not any(got):
            raise DataError(path, "corpus file is empty (no header)")
        if got != header:
            hint = delimiter_hint(",".join(got), header, ",") if len(got) == 1 else ""
            raise DataError(
                path, f"wrong header {','.join(got)!r}; expected {','.join(header)!r}{hint}", 1
            )
        rows = [(reader.line_num, fields) for fields in reader if any(f.strip() for f in fields)]
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}", reader.line_num) from exc
    for lineno, fields in rows:
        check_printable(path, ",".join(fields), lineno)
        if len(fields) != len(header):
            raise DataError(
                path, f"expected {len(header)} comma-separated fields, found {len(fields)}", lineno
            )
    if not rows:
        raise DataError(path, "corpus file has a header but no rows")
    return [(n, dict(zip(header, (f.strip() for f in fs), strict=True))) for n, fs in rows]


def _read_utf8(path: Path) -> str:
    if not path.is_file():
        raise DataError(path, "corpus file is missing")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(path, f"not valid UTF-8 ({exc.reason})", line) from exc
