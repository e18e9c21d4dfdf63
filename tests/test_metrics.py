"""Corpus WER and sclite-style alignment: table-driven cases, like jiwer's tests."""

from __future__ import annotations

import math
import random

import pytest

from crkd_core.metrics import (
    WERResult,
    align,
    counts,
    per_utterance,
    top_confusions,
    wer,
)

# (ref, hyp, (S, D, I))
CASES = [
    ("A B C", "A B C", (0, 0, 0)),
    ("", "", (0, 0, 0)),
    ("A B C", "", (0, 3, 0)),
    ("", "A B", (0, 0, 2)),
    ("A B C", "A X C", (1, 0, 0)),
    ("A B C", "A C", (0, 1, 0)),
    ("A C", "A B C", (0, 0, 1)),
    ("A B", "B A", (0, 1, 1)),  # D + I costs 6, two substitutions 8
    ("A B C", "B X Y", (1, 1, 1)),  # what sclite reports for this pair
    ("A B", "X", (1, 1, 0)),
    ("__ON__ A B __OFF__", "A B", (0, 2, 0)),
]


def _split(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("ref, hyp, expected", CASES)
def test_counts_table(ref, hyp, expected):
    result = wer([_split(ref)], [_split(hyp)])
    assert (result.sub, result.dele, result.ins) == expected
    assert result.n_ref == len(_split(ref))
    assert result.n_hyp == len(_split(hyp))


# (ref, hyp, ops): the exact path, including sclite's choice among equal-cost paths
ALIGNMENTS = [
    ("A B", "X", "DS"),  # sclite: REF "A B" / HYP "* X"
    ("A B C", "B X Y", "DCIS"),  # sclite: REF "A B * C" / HYP "* B X Y"
    ("A B", "B A", "DCI"),
    ("", "A", "I"),
    ("A", "", "D"),
]


@pytest.mark.parametrize("ref, hyp, ops", ALIGNMENTS)
def test_alignment_paths(ref, hyp, ops):
    path = align(_split(ref), _split(hyp))
    assert "".join(op for op, _, _ in path) == ops
    assert [r for _, r, _ in path if r is not None] == _split(ref)
    assert [h for _, _, h in path if h is not None] == _split(hyp)


def test_alignment_tokens():
    assert align(["A", "B"], ["A", "X"]) == [("C", "A", "A"), ("S", "B", "X")]


def test_corpus_wer_sums_counts_not_utterance_rates():
    refs = [["A"], ["A", "B", "C", "D"]]
    hyps = [["X"], ["A", "B", "C", "D"]]
    assert wer(refs, hyps).wer == pytest.approx(20.0)  # a mean of rates would give 50


def test_long_sequences_do_not_overflow():
    # a uint8 DP overflows here: 300 deletions cost 900
    ref = [f"G{i}" for i in range(300)]
    assert wer([ref], [[]]).dele == 300
    hyp = list(ref)
    for i in range(0, 150, 10):
        hyp[i] = f"X{i}"  # 15 substitutions
    del hyp[200:205]  # 5 deletions
    result = wer([ref], [hyp])
    assert (result.sub, result.dele, result.ins) == (15, 5, 0)
    assert result.wer == pytest.approx(100 * 20 / 300)


def _min_cost(ref, hyp):
    """Independent cost-only Levenshtein DP with sclite's costs."""
    prev = [3 * j for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [3 * i]
        for j in range(1, len(hyp) + 1):
            sub = 0 if ref[i - 1] == hyp[j - 1] else 4
            cur.append(min(prev[j - 1] + sub, prev[j] + 3, cur[j - 1] + 3))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize("seed", range(20))
def test_alignment_is_minimal(seed):
    rng = random.Random(seed)
    ref = rng.choices("ABCD", k=rng.randint(0, 12))
    hyp = rng.choices("ABCDE", k=rng.randint(0, 12))
    r = counts(align(ref, hyp))
    assert 4 * r.sub + 3 * (r.dele + r.ins) == _min_cost(ref, hyp)


def test_ignore_case_folds_ascii_only():
    assert wer([["loc-NORD"]], [["LOC-nord"]], ignore_case=True).errors == 0
    assert wer([["loc-NORD"]], [["LOC-nord"]]).sub == 1


def test_empty_reference_rates():
    assert wer([[]], [[]]).wer == 0.0
    assert math.isinf(wer([[]], [["A"]]).wer)


def test_result_dict_and_sum():
    a = WERResult.from_counts(1, 2, 3, 10, 12)
    assert a.to_dict() == {"wer": 60.0, "sub": 1, "del": 2, "ins": 3, "n_ref": 10}
    b = a + WERResult.from_counts(0, 0, 0, 10, 10)
    assert b.wer == pytest.approx(30.0) and b.n_hyp == 22
    assert a.corr == 7 and a.errors == 6
    assert "WER 60.00 %" in str(a)


@pytest.mark.parametrize(
    "refs, hyps, error",
    [
        ([["A"]], [], ValueError),
        (["A B"], ["A B"], TypeError),
    ],
)
def test_bad_inputs(refs, hyps, error):
    with pytest.raises(error):
        wer(refs, hyps)


def test_per_utterance_rows():
    rows = per_utterance([["A", "B"], ["C"]], [["A"], ["C"]], ids=["u1", "u2"])
    assert [r.id for r in rows] == ["u1", "u2"]
    assert rows[0].result.dele == 1 and rows[1].result.errors == 0
    assert rows[0].to_dict()["ref"] == "A B"
    with pytest.raises(ValueError):
        per_utterance([["A"]], [["A"]], ids=["u1", "u2"])


def test_top_confusions():
    refs = [["A", "B"], ["A", "C"], ["B"]]
    hyps = [["X", "B"], ["X", "Y"], ["Y"]]
    top = top_confusions(refs, hyps, k=2)
    assert [(c.ref, c.hyp, c.count) for c in top] == [("A", "X", 2), ("B", "Y", 1)]
