"""Our Python WER against NIST sclite on generated corpora.

The corpora hold empty hypotheses, sentences of 100+ glosses, repeats, every special token,
mixed case, and reference ids missing from the hypotheses. The small vocabulary makes alignments
of equal cost frequent, so the tie-breaking is exercised too. We require identical S, D, I and N
and a WER within 0.01 points.

sclite comes from Debian's `sctk`. Without it this test skips, except when $CI is set: then it
fails, so that a CI machine without sclite cannot pass silently.
"""

from __future__ import annotations

import math
import os
import random

import pytest

from crkd_core.metrics import align, counts
from crkd_core.scoring import prepare_corpus, score_corpus, score_files, write_ctm, write_stm
from crkd_core.scoring.sclite import find_sclite, sclite_per_utterance

GLOSSES = [
    "REGEN", "SONNE", "NORD", "WIND", "WIE", "AUSSEHEN", "ZEIGEN", "A", "B", "C", "SCH", "NN",
    "NORDRAUM", "REGEN-PLUSPLUS", "loc-NORD", "cl-KOMMEN", "qu-WAS", "poss-EUER", "lh-HAND",
    "S0NNE", "HABEN2", "A-B", "neg-HABEN", "IX", "regen", "Sonne",
]  # fmt: skip
SPECIAL = ["__ON__", "__OFF__", "__EMOTION__", "__PU__", "__LEFTHAND__", "__EPENTHESIS__",
           "__NDH__", "[EMPTY]"]  # fmt: skip


@pytest.fixture(scope="module")
def sclite() -> list[str]:
    command = find_sclite()
    if command is None:
        if "CI" in os.environ:
            pytest.fail("sclite is missing but $CI is set: install Debian's `sctk` package")
        pytest.skip("sclite is not installed (Debian package `sctk`)")
    return command


def _sentence(rng: random.Random, long: bool = False) -> list[str]:
    n = rng.randint(100, 130) if long else rng.choice([0, 1, 2, 3, 5, 8, 12, 20])
    words = rng.choices(GLOSSES + SPECIAL, k=n)
    if words and rng.random() < 0.3:  # a run of repeats
        k = rng.randrange(len(words))
        words[k:k] = [words[k]] * rng.randint(1, 3)
    return words


def _noisy(ref: list[str], rng: random.Random) -> list[str]:
    """A hypothesis: the reference with random substitutions, deletions and insertions."""
    hyp = []
    for word in ref:
        r = rng.random()
        if r < 0.15:
            continue
        hyp.append(rng.choice(GLOSSES + SPECIAL) if r < 0.35 else word)
        if rng.random() < 0.1:
            hyp.append(rng.choice(GLOSSES))
    return hyp


def make_corpus(seed: int, size: int = 50) -> tuple[dict, dict]:
    """{id: hypothesis}, {id: reference}; the first two references are 100+ glosses long."""
    rng = random.Random(seed)
    refs = {f"{seed:02d}utt{i:03d}": _sentence(rng, long=i < 2) for i in range(size)}
    hyps = {}
    for uid, ref in refs.items():
        kind = rng.random()
        if kind < 0.08:
            continue  # id missing from the hypotheses
        if kind < 0.15:
            hyps[uid] = []
        elif kind < 0.25:
            hyps[uid] = _sentence(rng)
        else:
            hyps[uid] = _noisy(ref, rng)
    return hyps, refs


def assert_same(ours, theirs):
    assert (ours.sub, ours.dele, ours.ins, ours.n_ref, ours.n_hyp) == (
        theirs.sub, theirs.dele, theirs.ins, theirs.n_ref, theirs.n_hyp)  # fmt: skip
    assert math.isclose(ours.wer, theirs.wer, abs_tol=0.01)  # inf == inf for an empty reference


@pytest.mark.parametrize("cleaning", ["none", "phoenix2014", "phoenix2014t"])
@pytest.mark.parametrize("seed", range(3))
def test_python_wer_matches_sclite(sclite, cleaning, seed):
    hyps, refs = make_corpus(seed)
    assert any(len(ref) > 100 for ref in refs.values())
    corpus = prepare_corpus(hyps, refs, cleaning=cleaning)
    assert_same(score_corpus(corpus, "python"), score_corpus(corpus, "sclite"))


def test_score_files_engines_agree(sclite, tmp_path):
    hyps, refs = make_corpus(7)
    write_ctm(tmp_path / "hyp.ctm", hyps)
    write_stm(tmp_path / "ref.stm", refs)
    ours = score_files(tmp_path / "hyp.ctm", tmp_path / "ref.stm", engine="python")
    assert_same(ours, score_files(tmp_path / "hyp.ctm", tmp_path / "ref.stm", engine="sclite"))


@pytest.mark.parametrize(
    "ref, hyp",
    [
        ("A B C", "B X Y"),  # equal-cost paths with different error counts
        ("A B", "X"),
        ("A B C D", "D C B A"),
        ("", "A B"),
        ("A A A B", "A B B B"),
    ],
)
def test_tie_breaking_matches_sclite(sclite, ref, hyp):
    corpus = prepare_corpus({"u": hyp.split()}, {"u": ref.split()}, cleaning="none")
    assert_same(score_corpus(corpus, "python"), score_corpus(corpus, "sclite"))


def test_per_utterance_counts_match_sclite(sclite, tmp_path):
    # a 3-word vocabulary makes equal-cost alignments the rule, not the exception
    rng = random.Random(5)
    refs = {f"u{i:03d}": rng.choices("ABC", k=rng.randint(0, 15)) for i in range(300)}
    hyps = {uid: rng.choices("ABCD", k=rng.randint(0, 15)) for uid in refs}
    write_ctm(tmp_path / "hyp.ctm", hyps)
    write_stm(tmp_path / "ref.stm", refs)
    theirs = sclite_per_utterance(tmp_path / "hyp.ctm", tmp_path / "ref.stm")
    assert set(theirs) == set(refs)
    for uid, ref in refs.items():
        assert_same(counts(align(ref, hyps[uid])), theirs[uid])
