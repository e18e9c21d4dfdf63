"""Score hypotheses against references as the official PHOENIX scripts do.

The pipeline of `evaluatePhoenix2014.sh` and its 2014-T sibling: clean the hypotheses (and, for
2014-T, the references) with `CLEANINGS[name]`, give every reference id that has no hypothesis
the single word `[EMPTY]`, then count S, D, I over the corpus: WER = 100 * (S + D + I) / N.
The "python" engine aligns with `crkd_core.metrics` (sclite's costs, ties and case folding);
the "sclite" engine runs NIST sclite on the cleaned CTM/STM pair.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from ..metrics import WERResult, wer
from .cleaning import CLEANINGS, EMPTY
from .ctm import read_ctm, read_scored_pair, read_stm, write_ctm, write_stm
from .sclite import run_sclite

ENGINES = ("python", "sclite")

__all__ = [
    "CLEANINGS",
    "ENGINES",
    "EMPTY",
    "Corpus",
    "prepare_corpus",
    "score_corpus",
    "score_files",
    "read_ctm",
    "read_scored_pair",
    "read_stm",
    "write_ctm",
    "write_stm",
]


@dataclass(frozen=True)
class Corpus:
    """Cleaned references and hypotheses, aligned by id (sorted)."""

    ids: tuple[str, ...]
    refs: tuple[tuple[str, ...], ...]
    hyps: tuple[tuple[str, ...], ...]


def _cleaning(name: str):
    if name not in CLEANINGS:
        raise ConfigError(f"unknown cleaning {name!r}: choose from {sorted(CLEANINGS)}")
    return CLEANINGS[name]


def prepare_corpus(
    hyps: Mapping[str, Sequence[str]],
    refs: Mapping[str, Sequence[str]],
    cleaning: str = "phoenix2014",
    source: str = "<hypotheses>",
) -> Corpus:
    """Clean both sides; a reference id with no hypothesis is scored as an empty one.

    With the PHOENIX cleanings an empty hypothesis becomes `[EMPTY]` (rule 11).

    Raises:
        DataError: a hypothesis id is not in the references (sclite refuses those too).
        ConfigError: unknown cleaning name.
    """
    hyp_fn, ref_fn = _cleaning(cleaning)
    extra = sorted(set(hyps) - set(refs))
    if extra:
        shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
        raise DataError(source, f"{len(extra)} hypothesis ids are not in the reference: {shown}")
    ids = tuple(sorted(refs))
    return Corpus(
        ids,
        tuple(tuple(ref_fn(refs[i])) for i in ids),
        tuple(tuple(hyp_fn(hyps.get(i, []))) for i in ids),
    )


def _sclite_on(corpus: Corpus) -> WERResult:
    with tempfile.TemporaryDirectory(prefix="crkd-sclite-") as tmp:
        hyp_ctm = write_ctm(Path(tmp) / "hyp.ctm", dict(zip(corpus.ids, corpus.hyps, strict=True)))
        ref_stm = write_stm(Path(tmp) / "ref.stm", dict(zip(corpus.ids, corpus.refs, strict=True)))
        return run_sclite(hyp_ctm, ref_stm)


def score_corpus(corpus: Corpus, engine: str = "python") -> WERResult:
    """Corpus WER of already cleaned data, with either engine (both fold ASCII case)."""
    if engine == "python":
        return wer(corpus.refs, corpus.hyps, ignore_case=True)
    if engine == "sclite":
        return _sclite_on(corpus)
    raise ConfigError(f"unknown scoring engine {engine!r}: choose from {list(ENGINES)}")


def score_files(
    hyp_ctm: str | Path,
    ref_stm: str | Path,
    cleaning: str = "phoenix2014",
    engine: str = "python",
) -> WERResult:
    """Score a CTM hypothesis file against an STM reference file.

    Args:
        hyp_ctm: hypotheses, one gloss per line.
        ref_stm: references, e.g. the release's `phoenix2014-groundtruth-dev.stm`.
        cleaning: "phoenix2014", "phoenix2014t" or "none".
        engine: "python" (no external tool) or "sclite".

    Raises:
        DataError: a malformed file, or hypothesis ids missing from the reference.
        ToolMissingError: engine "sclite" and sclite is not installed.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown scoring engine {engine!r}: choose from {list(ENGINES)}")
    hyps, refs = read_scored_pair(hyp_ctm, ref_stm)
    if not refs:
        raise DataError(
            ref_stm, "holds no reference utterance (empty, or comments only): nothing to score"
        )
    corpus = prepare_corpus(hyps, refs, cleaning, source=str(hyp_ctm))
    if not any(corpus.refs):
        raise DataError(
            ref_stm,
            f"its {len(refs)} utterances hold no reference word (after cleaning {cleaning!r}): "
            "WER is undefined when N = 0",
        )
    return score_corpus(corpus, engine)
