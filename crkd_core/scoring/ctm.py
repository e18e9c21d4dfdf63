"""CTM hypotheses and STM references, in the forms sclite reads (NIST SCTK `sclite` manual).

CTM, one word per line:   <file> <channel> <begin> <duration> <word> [<confidence>]
STM, one segment a line:  <file> <channel> <speaker> <begin> <end> [<label>] <word> ...

Lines starting with `;;` are comments. We write fake times, as the PHOENIX scripts do: each gloss
of a hypothesis lasts 0.01 s, and each reference is one segment from 0 to 1.79769e+308 s, so that
every word of an utterance falls into its single segment. Ids are sorted, in both files alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

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
    """Yield (line number, fields) of the non-comment, non-blank lines of a text file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields and not fields[0].startswith(";;"):
            yield number, fields


def _time(path: str | Path, number: int, value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataError(path, f"{what} {value!r} is not a number", number) from None


def read_ctm(path: str | Path) -> dict[str, list[str]]:
    """Read a CTM file into {id: glosses}, each utterance ordered by begin time.

    Raises:
        DataError: naming the file and line, for a line with too few or too many fields or a
            time that is not a number.
    """
    words: dict[str, list[tuple[float, int, str]]] = {}
    for number, fields in _data_lines(path):
        if len(fields) not in (5, 6):
            raise DataError(
                path,
                f"expected '<id> <channel> <begin> <dur> <word> [<conf>]', got "
                f"{len(fields)} fields",
                number,
            )
        begin = _time(path, number, fields[2], "begin time")
        _time(path, number, fields[3], "duration")
        words.setdefault(fields[0], []).append((begin, number, fields[4]))
    return {uid: [w for _, _, w in sorted(items)] for uid, items in words.items()}


def _stm_words(fields: list[str]) -> list[str]:
    words = fields[5:]
    if words and _is_label(words[0]):
        words = words[1:]  # the optional <label> field: one only, as sclite reads it
    return words


def read_stm(path: str | Path) -> dict[str, list[str]]:
    """Read an STM file into {id: glosses}; several segments of one id join in time order.

    Raises:
        DataError: naming the file and line, for a line with fewer than five fields or a time
            that is not a number.
    """
    segments: dict[str, list[tuple[float, int, list[str]]]] = {}
    for number, fields in _data_lines(path):
        if len(fields) < 5:
            raise DataError(
                path,
                f"expected '<id> <channel> <speaker> <begin> <end> <words>...', got "
                f"{len(fields)} fields",
                number,
            )
        begin = _time(path, number, fields[3], "begin time")
        _time(path, number, fields[4], "end time")
        segments.setdefault(fields[0], []).append((begin, number, _stm_words(fields)))
    return {uid: [w for _, _, ws in sorted(segs) for w in ws] for uid, segs in segments.items()}
