"""Gloss cleaning of the official PHOENIX evaluation scripts, rule by rule.

Sources: `evaluatePhoenix2014.sh` (RWTH-PHOENIX-Weather 2014 release, `evaluation/`) and
`evaluatePHOENIX-2014-T-signrecognition.sh` (PHOENIX-2014-T release), summarised in
shared/reference/phoenix-evaluation.md. Both scripts run sed/perl/awk over text files:

- The hypothesis is a CTM file, one gloss per line. Every hypothesis rule therefore sees one
  gloss at a time. For PHOENIX-2014 this means that the multi-gloss rules 4 (`WIE AUSSEHEN`),
  6 (fingerspelling) and 9 (repeats) never fire in the official script; `clean_phoenix2014_hyp`
  reproduces that by default, and applies them across glosses with `as_sentence=True`.
- The PHOENIX-2014-T reference is an STM file, one utterance per line, so its rules see the
  whole sentence. We run them on the sentence the same way, spaces included.

Rule 11 (`[EMPTY]`) is part of the hypothesis cleaning: an utterance left with no gloss scores
as the single word `[EMPTY]`; `prepare_corpus` in `scoring/__init__.py` gives the same to
reference ids missing from the hypotheses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

EMPTY = "[EMPTY]"

PREFIXES_2014 = ("loc-", "cl-", "qu-", "poss-", "lh-")
DELETED_2014 = ("__EMOTION__", "__PU__", "__LEFTHAND__")
DROPPED = ("__LEFTHAND__", "__EPENTHESIS__", "__EMOTION__")

_A = re.ASCII  # sed and perl in the C locale: \w and \b are ASCII only
_RAUM_2014 = re.compile(r"([A-Z][A-Z])RAUM", _A)
_RAUM_2014T_GLOSS = re.compile(r"\b([A-Z][A-Z]*)RAUM$", _A)
_SPECIAL_TOKEN = re.compile(r"__[^_ ]*__")
# One step of the official fingerspelling join, in the order the script runs them.
_FINGERSPELLING = [
    (re.compile(r"^([A-Z]) ([A-Z][+ ])", _A), r"\1+\2"),
    (re.compile(r"[ +]([A-Z]) ([A-Z]) ", _A), r" \1+\2 "),
    (re.compile(r"([ +][A-Z]) ([A-Z][ +])", _A), r"\1+\2"),
    (re.compile(r"([ +][A-Z]) ([A-Z][ +])", _A), r"\1+\2"),
    (re.compile(r"([ +][A-Z]) ([A-Z][ +])", _A), r"\1+\2"),
    (re.compile(r"([ +]SCH) ([A-Z][ +])", _A), r"\1+\2"),
    (re.compile(r"([ +]NN) ([A-Z][ +])", _A), r"\1+\2"),
    (re.compile(r"([ +][A-Z]) (NN[ +])", _A), r"\1+\2"),
    (re.compile(r"([ +][A-Z]) ([A-Z])$", _A), r"\1+\2"),
]
# `X X` -> `X` for plain uppercase words; the official script runs it four times.
_REPEAT = re.compile(r"(?<![\w-])(\b[A-Z]+(?![\w-])) \1(?![\w-])", _A)
_REF_2014T_EDITS = [
    (re.compile(r"\b__[^_ ]*__\b", _A), ""),
    (re.compile(r"\bloc-([^ ]*)\b", _A), r"\1"),
    (re.compile(r"\bcl-([^ ]*)\b", _A), r"\1"),
    (re.compile(r"\b([^ ]*)-PLUSPLUS\b", _A), r"\1"),
    (re.compile(r"\b([A-Z][A-Z]*)RAUM\b", _A), r"\1"),
]


# --- sentence-level helpers (a line of glosses joined by single spaces) -------------------


def join_fingerspelling(line: str) -> str:
    """Rule 6: `A B C` -> `A+B+C`, with the official script's exact sequence of edits."""
    for pattern, repl in _FINGERSPELLING:
        line = pattern.sub(repl, line)
    return line


def collapse_plain_repeats(line: str) -> str:
    """Rule 9: `X X` -> `X` for plain uppercase glosses; `A-B A-B` is kept."""
    for _ in range(4):
        line = _REPEAT.sub(r"\1", line)
    return line


def _on_line(glosses: Sequence[str], edit: Callable[[str], str]) -> list[str]:
    # A leading space stands for the STM fields before the words: a `^` rule never matches
    # the first gloss there, while a `[ +]` rule does.
    return edit(" " + " ".join(glosses)).split()


# --- PHOENIX-2014 hypothesis ---------------------------------------------------------------


def strip_prefixes(gloss: str) -> str:
    """Rule 1: delete `loc-`, `cl-`, `qu-`, `poss-`, `lh-` (anywhere, as sed does)."""
    for prefix in PREFIXES_2014:
        gloss = gloss.replace(prefix, "")
    return gloss


def fix_spellings(gloss: str) -> str:
    """Rule 2: `S0NNE` -> `SONNE`, `HABEN2` -> `HABEN`."""
    return gloss.replace("S0NNE", "SONNE").replace("HABEN2", "HABEN")


def delete_markers(gloss: str) -> str:
    """Rule 3: delete `__EMOTION__`, `__PU__`, `__LEFTHAND__` (an emptied gloss is dropped)."""
    for marker in DELETED_2014:
        gloss = gloss.replace(marker, "")
    return gloss


def join_wie_aussehen(line: str) -> str:
    """Rule 4: `WIE AUSSEHEN` -> `WIE-AUSSEHEN`."""
    return line.replace("WIE AUSSEHEN", "WIE-AUSSEHEN")


def zeigen_bildschirm(line: str) -> str:
    """Rule 5: `ZEIGEN` -> `ZEIGEN-BILDSCHIRM` before a space and at the end."""
    line = line.replace("ZEIGEN ", "ZEIGEN-BILDSCHIRM ")
    return line + "-BILDSCHIRM" if line.endswith("ZEIGEN") else line


def strip_raum(gloss: str) -> str:
    """Rule 7: `RAUM` after two capitals is deleted (`NORDRAUM` -> `NORD`, `RAUM` stays)."""
    return _RAUM_2014.sub(r"\1", gloss)


def strip_plusplus(gloss: str) -> str:
    """Rule 8: delete `-PLUSPLUS`."""
    return gloss.replace("-PLUSPLUS", "")


def drop_markers(glosses: Sequence[str]) -> list[str]:
    """Rule 10: drop glosses containing `__LEFTHAND__`, `__EPENTHESIS__` or `__EMOTION__`."""
    return [g for g in glosses if not any(m in g for m in DROPPED)]


def fill_empty(glosses: Sequence[str]) -> list[str]:
    """Rule 11: drop emptied glosses; an utterance left empty becomes `[EMPTY]`."""
    kept = [g for g in glosses if g.strip()]
    return kept or [EMPTY]


def clean_phoenix2014_hyp(glosses: Sequence[str], as_sentence: bool = False) -> list[str]:
    """PHOENIX-2014 hypothesis cleaning, rules 1-11 in order (`__ON__`, `__OFF__` kept).

    Args:
        glosses: the recognised glosses of one utterance.
        as_sentence: apply rules 4, 6 and 9 across glosses. The official script applies every
            rule to one CTM line (one gloss) at a time, where these three never match, so the
            default (False) reproduces the published numbers.
    """
    glosses = [delete_markers(fix_spellings(strip_prefixes(g))) for g in glosses]  # rules 1-3
    glosses = [g for g in glosses if g]
    if as_sentence:
        glosses = _on_line(glosses, _rules_4_to_6)
    else:
        glosses = [zeigen_bildschirm(g) for g in glosses]  # 4 and 6 need two glosses
    glosses = [strip_plusplus(strip_raum(g)) for g in glosses]  # rules 7-8
    if as_sentence:
        glosses = _on_line(glosses, collapse_plain_repeats)  # rule 9
    return fill_empty(drop_markers(glosses))  # rules 10-11


def _rules_4_to_6(line: str) -> str:
    return join_fingerspelling(zeigen_bildschirm(join_wie_aussehen(line)))


# --- PHOENIX-2014-T ------------------------------------------------------------------------


def _clean_2014t_gloss(gloss: str) -> str:
    """Per-gloss edits of the 2014-T hypothesis: `loc-`, `-PLUSPLUS`, `cl-`, trailing RAUM."""
    if gloss.startswith("loc-"):
        gloss = gloss[len("loc-") :]
    if gloss.endswith("-PLUSPLUS"):
        gloss = gloss[: -len("-PLUSPLUS")]
    if gloss.startswith("cl-"):
        gloss = gloss[len("cl-") :]
    return _RAUM_2014T_GLOSS.sub(r"\1", gloss)


def collapse_repeats(glosses: Sequence[str]) -> list[str]:
    """`X X` -> `X` for any gloss (the 2014-T hypothesis rule)."""
    return [g for i, g in enumerate(glosses) if i == 0 or g != glosses[i - 1]]


def clean_phoenix2014t_hyp(glosses: Sequence[str]) -> list[str]:
    """PHOENIX-2014-T hypothesis cleaning.

    Drops `__LEFTHAND__`, `__EPENTHESIS__`, `__EMOTION__` and every `__X__` token, strips
    `loc-` and `cl-`, deletes `-PLUSPLUS` and a trailing `RAUM`, fills an empty utterance with
    `[EMPTY]`, then collapses consecutive repeats.
    """
    kept = [g for g in drop_markers(glosses) if not _SPECIAL_TOKEN.fullmatch(g)]
    return collapse_repeats(fill_empty([_clean_2014t_gloss(g) for g in kept]))


def clean_phoenix2014t_ref(glosses: Sequence[str]) -> list[str]:
    """PHOENIX-2014-T reference cleaning, run on the sentence as the official script does.

    The hypothesis edits (on whole words), then `WIE AUSSEHEN` -> `WIE-AUSSEHEN`, the
    fingerspelling join and the collapse of plain uppercase repeats. No `[EMPTY]` here.
    """
    glosses = [g for g in glosses if g not in DROPPED]

    def edit(line: str) -> str:
        for pattern, repl in _REF_2014T_EDITS:
            line = pattern.sub(repl, line)
        return collapse_plain_repeats(join_fingerspelling(join_wie_aussehen(line)))

    return _on_line(glosses, edit)


def no_cleaning(glosses: Sequence[str]) -> list[str]:
    """Identity: score the glosses as they are."""
    return list(glosses)


Cleaning = Callable[[Sequence[str]], list[str]]

# name -> (hypothesis cleaning, reference cleaning)
CLEANINGS: dict[str, tuple[Cleaning, Cleaning]] = {
    "phoenix2014": (clean_phoenix2014_hyp, no_cleaning),
    "phoenix2014t": (clean_phoenix2014t_hyp, clean_phoenix2014t_ref),
    "none": (no_cleaning, no_cleaning),
}
