"""Run NIST sclite (Debian package `sctk`) on a CTM/STM pair and read its counts.

    sclite -h hyp.ctm ctm -r ref.stm stm -f 0 -o dtl stdout

The `dtl` report gives the counts we need (`Percent Substitution = 22.2% (2)`, ...,
`Ref. words = (9)`). WER = 100 * (S + D + I) / N is computed from the counts, not read from the
rounded percentage. A missing sclite raises ToolMissingError: never a 100 % WER.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

from ..errors import DataError, ToolMissingError
from ..metrics import WERResult

DEBIAN_PATH = "/usr/lib/sctk/bin/sclite"

# WERResult field -> the line of the dtl report that holds its count in parentheses
_COUNT_LINES = {
    "sub": "Percent Substitution",
    "dele": "Percent Deletions",
    "ins": "Percent Insertions",
    "n_ref": "Ref. words",
    "n_hyp": "Hyp. words",
}


def find_sclite() -> list[str] | None:
    """The command that runs sclite, or None.

    Looks at `$SCLITE`, then /usr/lib/sctk/bin/sclite, then `sclite` and `sctk sclite` on PATH.

    Raises:
        ToolMissingError: `$SCLITE` is set but names no executable file.
    """
    env = os.environ.get("SCLITE")
    if env:
        resolved = shutil.which(env)  # a path, or a name looked up on PATH
        if resolved is None:
            raise ToolMissingError(f"$SCLITE={env!r} is not an executable file")
        return [resolved]
    if os.access(DEBIAN_PATH, os.X_OK):
        return [DEBIAN_PATH]
    if found := shutil.which("sclite"):
        return [found]
    if found := shutil.which("sctk"):
        return [found, "sclite"]
    return None


def require_sclite() -> list[str]:
    """Like `find_sclite`, but a missing sclite raises ToolMissingError."""
    command = find_sclite()
    if command is None:
        raise ToolMissingError(
            "sclite not found: install Debian's `sctk` package, or set $SCLITE to the binary"
        )
    return command


def parse_dtl(text: str) -> WERResult:
    """Read S, D, I, N (and the hypothesis word count) from sclite's `dtl` report.

    Raises:
        ValueError: a count is missing from the text.
    """
    found = {}
    for key, label in _COUNT_LINES.items():
        match = re.search(re.escape(label) + r"\s*=[^(\n]*\(\s*(\d+)\)", text)
        if match is None:
            raise ValueError(f"no {label!r} count in the sclite output")
        found[key] = int(match.group(1))
    return WERResult.from_counts(**found)


def _run(hyp_ctm: str | Path, ref_stm: str | Path, report: str, timeout: float) -> str:
    command = [*require_sclite(), "-h", str(hyp_ctm), "ctm", "-r", str(ref_stm), "stm",
               "-f", "0", "-o", report, "stdout"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or "Alignment failed" in proc.stdout + proc.stderr:
        _fail(hyp_ctm, proc, "sclite reported an error")
    return proc.stdout


def _fail(hyp_ctm: str | Path, proc: subprocess.CompletedProcess, cause: str) -> NoReturn:
    tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
    raise DataError(hyp_ctm, f"{cause} (sclite exit {proc.returncode}): {tail}")


def run_sclite(hyp_ctm: str | Path, ref_stm: str | Path, timeout: float = 600) -> WERResult:
    """Score a CTM against an STM with sclite (case-insensitive, as sclite is by default).

    Raises:
        ToolMissingError: sclite is not installed.
        DataError: sclite failed or printed no counts (its last lines are quoted).
    """
    text = _run(hyp_ctm, ref_stm, "dtl", timeout)
    try:
        return parse_dtl(text)
    except ValueError as exc:
        raise DataError(hyp_ctm, f"cannot read the sclite report: {exc}") from None


_PRALIGN = re.compile(
    r"^File: (\S+)$.*?^Scores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)", re.M | re.S
)


def sclite_per_utterance(
    hyp_ctm: str | Path, ref_stm: str | Path, timeout: float = 600
) -> dict[str, WERResult]:
    """{id: counts} of each utterance, from sclite's `pralign` report (for checks and debugging).

    Raises:
        ToolMissingError: sclite is not installed.
        DataError: sclite failed.
    """
    scores = {}
    for match in _PRALIGN.finditer(_run(hyp_ctm, ref_stm, "pralign", timeout)):
        corr, sub, dele, ins = (int(x) for x in match.groups()[1:])
        scores[match.group(1)] = WERResult.from_counts(
            sub, dele, ins, corr + sub + dele, corr + sub + ins
        )
    return scores
