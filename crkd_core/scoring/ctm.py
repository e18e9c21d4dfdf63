"""CTM hypotheses and STM references, in the forms sclite reads (NIST SCTK `sclite` manual).

CTM, one word per line:   <file> <channel> <begin> <duration> <word> [<confidence>]
STM, one segment a line:  <file> <channel> <speaker> <begin> <end> [<label>] <word> ...

Lines starting with `;;` are comments. We write fake times, as the PHOENIX scripts do: each gloss
of a hypothesis lasts 0.01 s, and each reference is one segment from 0 to 1.79769e+308 s, so that
every word of an utterance falls into its single segment. Ids are sorted, in both files alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.corpus import check_printable
from ..errors import DataError
from ..io import atomic_write_text

CHANNEL = "1"
STEP = 0.01
STM_END = "1.79769e+308"
STM_LABEL = "<o>"  # sclite's neutral label; written only where a gloss could pass for one


def _check_token(path: str | Path, uid: str, token: str, what: str) -> None:
    if not token or any(ch.isspace() for ch in token):
        raise DataError(path, f"{what} {token!r} of utterance {uid!r} is empty or has whitespace")


def _check_utterance(path: str | Path, uid: str, glosses: Sequence[str]) -> None:
    _check_token(path, uid, uid, "id")
    if uid.startswith(";;"):
        raise DataError(path, f"id {uid!r} starts with ';;', which CTM and STM read as a comment")
    if isinstance(glosses, str):
        raise DataError(path, f"utterance {uid!r}: glosses must be a list, not a str")
    for gloss in glosses:
        _check_token(path, uid, gloss, "gloss")


def format_ctm(hyps: Mapping[str, Sequence[str]], path: str | Path = "<ctm>") -> str:
    """CTM text of {id: glosses}, sorted by id; an empty hypothesis writes no line."""
    lines = []
    for uid in sorted(hyps):
        _check_utterance(path, uid, hyps[uid])
        for k, gloss in enumerate(hyps[uid]):
            lines.append(f"{uid} {CHANNEL} {k * STEP:.3f} {STEP:.3f} {gloss}")
    return "".join(line + "\n" for line in lines)


def _is_label(field: str) -> bool:
    """Whether an STM field after the times reads as the optional `<label>` (sclite's rule)."""
    return len(field) >= 2 and field.startswith("<") and field.endswith(">")


def format_stm(
    refs: Mapping[str, Sequence[str]], path: str | Path = "<stm>", speaker: str = "signer"
) -> str:
    """STM text of {id: glosses}, one segment per id, sorted by id.

    A reference whose first gloss is shaped like a label (`<script>`) gets an explicit label
    field first, `<o>`: a reader (ours, sclite) drops one label, so the gloss survives and N is
    the same. Other lines have no label, as in the PHOENIX releases.
    """
    lines = []
    for uid in sorted(refs):
        _check_utterance(path, uid, refs[uid])
        label = f" {STM_LABEL}" if refs[uid] and _is_label(refs[uid][0]) else ""
        words = "".join(" " + g for g in refs[uid])
        lines.append(f"{uid} {CHANNEL} {speaker} 0.0 {STM_END}{label}{words}")
    return "".join(line + "\n" for line in lines)


def write_ctm(path: str | Path, hyps: Mapping[str, Sequence[str]]) -> Path:
    """Write {id: glosses} as a CTM file with fake times, atomically."""
    return atomic_write_text(path, format_ctm(hyps, path))


def write_stm(path: str | Path, refs: Mapping[str, Sequence[str]], speaker: str = "signer") -> Path:
    """Write {id: glosses} as an STM file that sclite accepts, atomically."""
    return atomic_write_text(path, format_stm(refs, path, speaker))


def _data_lines(path: str | Path):
    """Yield (line number, fields) of the non-comment, non-blank lines of a text file.

    A leading UTF-8 BOM is dropped (it would glue itself to the first id, or hide a `;;`).
    Lines end at \\n (or \\r\\n) only: `str.splitlines` would also break at a form feed or
    U+2028. A control character or line separator elsewhere is refused, naming its line.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc}") from exc
    except UnicodeDecodeError as exc:
        line = Path(path).read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(path, f"cannot read: {exc}", line) from None
    lines = text.removeprefix("\ufeff").split("\n")
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        check_printable(path, line, number, what="line")
        fields = line.split()
        if fields and not fields[0].startswith(";;"):
            yield number, fields


def _number(path: str | Path, number: int, value: str, what: str, low: float = 0.0) -> float:
    """A finite number >= `low`, else a DataError naming the line."""
    try:
        x = float(value)
    except ValueError:
        raise DataError(path, f"{what} {value!r} is not a number", number) from None
    if not math.isfinite(x) or x < low:
        raise DataError(path, f"{what} {value!r} is not a finite number >= {low:g}", number)
    return x


@dataclass(frozen=True)
class CtmWord:
    """One CTM line: a word of `file` on `channel`, from `begin` for `duration` seconds."""

    file: str
    channel: str
    begin: float
    duration: float
    word: str
    row: int

    @property
    def middle(self) -> float:
        return self.begin + self.duration / 2


@dataclass(frozen=True)
class StmSegment:
    """One STM line: the reference words of `file` on `channel` between `begin` and `end`."""

    file: str
    channel: str
    begin: float
    end: float
    words: tuple[str, ...]
    row: int

    @property
    def ignored(self) -> bool:
        """A region sclite leaves out of scoring, with every hypothesis word inside it."""
        return bool(self.words) and self.words[0].upper() == IGNORE


IGNORE = "IGNORE_TIME_SEGMENT_IN_SCORING"


def read_ctm_words(path: str | Path) -> list[CtmWord]:
    """Every word of a CTM file, checked: 5 or 6 fields, begin and duration finite and >= 0,
    a confidence (when given) a number in [0, 1].

    Raises:
        DataError: naming the file and line.
    """
    words = []
    for number, fields in _data_lines(path):
        if len(fields) not in (5, 6):
            raise DataError(
                path,
                f"expected '<id> <channel> <begin> <dur> <word> [<conf>]', got "
                f"{len(fields)} fields",
                number,
            )
        begin = _number(path, number, fields[2], "begin time")
        duration = _number(path, number, fields[3], "duration")
        if len(fields) == 6 and _number(path, number, fields[5], "confidence") > 1:
            raise DataError(path, f"confidence {fields[5]!r} is not in [0, 1]", number)
        words.append(
            CtmWord(
                file=fields[0],
                channel=fields[1],
                begin=begin,
                duration=duration,
                word=fields[4],
                row=number,
            )
        )
    return words


def _stm_words(fields: list[str]) -> list[str]:
    words = fields[5:]
    if words and _is_label(words[0]):
        words = words[1:]  # the optional <label> field: one only, as sclite reads it
    return words


def read_stm_segments(path: str | Path) -> list[StmSegment]:
    """Every segment of an STM file, checked, sorted by (file, begin).

    Times are finite, 0 <= begin <= end; segments of one file do not overlap; one file is on
    one channel (sclite scores each (file, channel) pair apart; we key utterances by file).

    Raises:
        DataError: naming the file and line.
    """
    segments = []
    for number, fields in _data_lines(path):
        if len(fields) < 5:
            raise DataError(
                path,
                f"expected '<id> <channel> <speaker> <begin> <end> <words>...', got "
                f"{len(fields)} fields",
                number,
            )
        begin = _number(path, number, fields[3], "begin time")
        end = _number(path, number, fields[4], "end time")
        if end < begin:
            raise DataError(path, f"end time {fields[4]} is before begin time {fields[3]}", number)
        words = tuple(_stm_words(fields))
        segments.append(
            StmSegment(
                file=fields[0], channel=fields[1], begin=begin, end=end, words=words, row=number
            )
        )
    segments.sort(key=lambda g: (g.file, g.begin, g.row))
    _check_segments(path, segments)
    return segments


def _check_segments(path: str | Path, segments: list[StmSegment]) -> None:
    for prev, seg in zip(segments, segments[1:], strict=False):
        if prev.file != seg.file:
            continue
        if prev.channel.lower() != seg.channel.lower():
            raise DataError(
                path,
                f"id {seg.file!r} is on channel {seg.channel!r} here and on "
                f"{prev.channel!r} on row {prev.row}; one id must keep one channel",
                seg.row,
            )
        if seg.begin < prev.end:
            raise DataError(
                path,
                f"segment {seg.begin:g}-{seg.end:g} of {seg.file!r} overlaps the one on row "
                f"{prev.row} ({prev.begin:g}-{prev.end:g})",
                seg.row,
            )


def read_ctm(path: str | Path) -> dict[str, list[str]]:
    """Read a CTM file into {id: glosses}, each utterance ordered by begin time.

    Raises:
        DataError: naming the file and line, for a line with too few or too many fields, a
            time that is not a finite number >= 0, or a confidence outside [0, 1].
    """
    return _by_file(read_ctm_words(path))


def _by_file(words: list[CtmWord]) -> dict[str, list[str]]:
    grouped: dict[str, list[CtmWord]] = {}
    for w in words:
        grouped.setdefault(w.file, []).append(w)
    return {
        f: [w.word for w in sorted(ws, key=lambda w: (w.begin, w.row))] for f, ws in grouped.items()
    }


def read_stm(path: str | Path) -> dict[str, list[str]]:
    """Read an STM file into {id: glosses}; several segments of one id join in time order.

    `IGNORE_TIME_SEGMENT_IN_SCORING` segments hold no reference words (an id with only such
    segments has an empty reference).

    Raises:
        DataError: naming the file and line (see `read_stm_segments`).
    """
    refs: dict[str, list[str]] = {}
    for seg in read_stm_segments(path):
        refs.setdefault(seg.file, []).extend(() if seg.ignored else seg.words)
    return refs


def read_scored_pair(
    hyp_ctm: str | Path, ref_stm: str | Path
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """({key: hypothesis words}, {key: reference words}) as sclite pairs them.

    sclite pairs CTM words with STM segments by (file, channel): a word on a channel the
    reference does not have is refused (sclite fails on it). A word belongs to the first
    segment of its file that ends after the word's middle (the last one if none does); the
    words of an `IGNORE_TIME_SEGMENT_IN_SCORING` segment are not scored, and an id with only
    such segments is left out. sclite aligns each segment apart, so an id with several scored
    segments gives one key per segment, `<id>#<k>` (k = 1, 2, ...); otherwise the key is the id.

    Raises:
        DataError: naming the CTM file and line, or the STM file and line.
    """
    by_file: dict[str, list[StmSegment]] = {}
    for seg in read_stm_segments(ref_stm):
        by_file.setdefault(seg.file, []).append(seg)
    key_of: dict[int, str] = {}  # STM row of a scored segment -> its key
    refs: dict[str, list[str]] = {}
    for file, segs in by_file.items():
        scored = [g for g in segs if not g.ignored]
        for k, g in enumerate(scored, start=1):
            key_of[g.row] = file if len(scored) == 1 else f"{file}#{k}"
            refs[key_of[g.row]] = list(g.words)
    kept: dict[str, list[CtmWord]] = {}
    for w in read_ctm_words(hyp_ctm):
        segs = by_file.get(w.file)
        if segs is None:  # an id missing from the reference: prepare_corpus names them all
            kept.setdefault(w.file, []).append(w)
            continue
        if w.channel.lower() != segs[0].channel.lower():
            raise DataError(
                hyp_ctm,
                f"word {w.word!r} of {w.file!r} is on channel {w.channel!r}, but the reference "
                f"has {w.file!r} on channel {segs[0].channel!r} only (sclite pairs words and "
                "references by id and channel)",
                w.row,
            )
        seg = next((g for g in segs if g.end > w.middle), segs[-1])
        if not seg.ignored:
            kept.setdefault(key_of[seg.row], []).append(w)
    hyps = {
        k: [w.word for w in sorted(ws, key=lambda w: (w.begin, w.row))] for k, ws in kept.items()
    }
    return hyps, refs
