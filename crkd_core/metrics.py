"""Word error rate over a corpus, with sclite's alignment costs and tie-breaking.

    WER = 100 * (S + D + I) / N

where S, D and I are the substitutions, deletions and insertions of a minimum-cost alignment of
each hypothesis to its reference, summed over the corpus, and N is the number of reference words.
The costs are sclite's (NIST SCTK, `sclite`): match 0, insertion 3, deletion 3, substitution 4.
Where several alignments cost the same, we keep the one sclite keeps (its `net_dp.c`): in each
cell a diagonal step (match or substitution) wins ties, then a deletion beats an insertion only if
it is strictly cheaper. This matters: two alignments of equal cost can differ in S + D + I.

The DP runs on Python ints, so it cannot overflow (a `uint8` cost matrix overflows past ~85 words).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

MATCH, SUB, DEL, INS = "C", "S", "D", "I"
COST_SUB, COST_DEL, COST_INS = 4, 3, 3

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class WERResult:
    """Error counts of a corpus (or one utterance) and the WER they give, in percent.

    `wer` is 0.0 when there is nothing to count, and `inf` when the reference is empty but the
    hypothesis is not (sclite prints `UNDEF` there).
    """

    wer: float
    sub: int
    dele: int
    ins: int
    n_ref: int
    n_hyp: int

    @classmethod
    def from_counts(cls, sub: int, dele: int, ins: int, n_ref: int, n_hyp: int) -> WERResult:
        """Build a result, computing `wer` from the counts."""
        wer = error_rate(sub + dele + ins, n_ref)
        return cls(wer=wer, sub=sub, dele=dele, ins=ins, n_ref=n_ref, n_hyp=n_hyp)

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def corr(self) -> int:
        """Reference words matched exactly."""
        return self.n_ref - self.sub - self.dele

    def __add__(self, other: WERResult) -> WERResult:
        return WERResult.from_counts(
            self.sub + other.sub,
            self.dele + other.dele,
            self.ins + other.ins,
            self.n_ref + other.n_ref,
            self.n_hyp + other.n_hyp,
        )

    def to_dict(self) -> dict:
        """The summary for JSON files: keys `wer, sub, del, ins, n_ref`."""
        return {
            "wer": self.wer,
            "sub": self.sub,
            "del": self.dele,
            "ins": self.ins,
            "n_ref": self.n_ref,
        }

    def __str__(self) -> str:
        return f"WER {self.wer:.2f} % (S={self.sub}, D={self.dele}, I={self.ins}, N={self.n_ref})"


EMPTY_RESULT = WERResult(wer=0.0, sub=0, dele=0, ins=0, n_ref=0, n_hyp=0)


def error_rate(errors: int, n_ref: int) -> float:
    """100 * errors / n_ref, with 0/0 = 0 and x/0 = inf."""
    if n_ref == 0:
        return 0.0 if errors == 0 else float("inf")
    return 100.0 * errors / n_ref


def _fold(tokens: Sequence[str], ignore_case: bool) -> list[str]:
    # sclite folds ASCII case only (its default 8-bit mode), so we do the same.
    return [t.translate(_ASCII_LOWER) for t in tokens] if ignore_case else list(tokens)


def _cost_table(ref: list[str], hyp: list[str]) -> list[list[str]]:
    """Fill the DP and return, for every cell, the step that reached it (sclite's tie rules)."""
    prev = [j * COST_INS for j in range(len(hyp) + 1)]
    back = [[INS] * (len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [i * COST_DEL] + [0] * len(hyp)
        steps = [DEL] + [MATCH] * len(hyp)
        for j in range(1, len(hyp) + 1):
            same = ref[i - 1] == hyp[j - 1]
            diag = prev[j - 1] + (0 if same else COST_SUB)
            dele = prev[j] + COST_DEL
            ins = cur[j - 1] + COST_INS
            if diag <= dele and diag <= ins:
                cur[j], steps[j] = diag, MATCH if same else SUB
            elif dele < ins:
                cur[j], steps[j] = dele, DEL
            else:
                cur[j], steps[j] = ins, INS
        prev = cur
        back.append(steps)
    return back


def align(
    ref: Sequence[str], hyp: Sequence[str], ignore_case: bool = False
) -> list[tuple[str, str | None, str | None]]:
    """Minimum-cost alignment of `hyp` to `ref`.

    Args:
        ref: reference tokens.
        hyp: hypothesis tokens.
        ignore_case: compare tokens with ASCII case folded, as sclite does by default.

    Returns:
        `(op, ref_token, hyp_token)` triples in order; op is one of C, S, D, I, and the missing
        side of a deletion or insertion is None.
    """
    back = _cost_table(_fold(ref, ignore_case), _fold(hyp, ignore_case))
    i, j, path = len(ref), len(hyp), []
    while i > 0 or j > 0:
        op = back[i][j]
        if op == DEL:
            i -= 1
            path.append((op, ref[i], None))
        elif op == INS:
            j -= 1
            path.append((op, None, hyp[j]))
        else:
            i, j = i - 1, j - 1
            path.append((op, ref[i], hyp[j]))
    return path[::-1]


def counts(alignment: Sequence[tuple[str, str | None, str | None]]) -> WERResult:
    """Error counts of one alignment from `align`."""
    ops = Counter(op for op, _, _ in alignment)
    n_ref = ops[MATCH] + ops[SUB] + ops[DEL]
    n_hyp = ops[MATCH] + ops[SUB] + ops[INS]
    return WERResult.from_counts(ops[SUB], ops[DEL], ops[INS], n_ref, n_hyp)


def _check_pairs(refs: Sequence, hyps: Sequence) -> None:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    for seq in (*refs, *hyps):
        if isinstance(seq, str):
            raise TypeError("each reference and hypothesis must be a sequence of tokens, not a str")


def wer(
    refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]], ignore_case: bool = False
) -> WERResult:
    """Corpus WER: counts summed over utterances, then divided once (not a mean of WERs).

    Args:
        refs: one token sequence per utterance.
        hyps: the hypotheses, in the same order.
        ignore_case: fold ASCII case before comparing, as sclite does.
    """
    _check_pairs(refs, hyps)
    total = EMPTY_RESULT
    for ref, hyp in zip(refs, hyps, strict=True):
        total = total + counts(align(ref, hyp, ignore_case))
    return total


@dataclass(frozen=True)
class UtteranceScore:
    """One row of a per-utterance table."""

    id: str
    ref: tuple[str, ...]
    hyp: tuple[str, ...]
    alignment: tuple[tuple[str, str | None, str | None], ...]
    result: WERResult

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "ref": " ".join(self.ref),
            "hyp": " ".join(self.hyp),
            **self.result.to_dict(),
            "n_hyp": self.result.n_hyp,
        }


def per_utterance(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[Sequence[str]],
    ids: Sequence[str] | None = None,
    ignore_case: bool = False,
) -> list[UtteranceScore]:
    """Score each utterance on its own; ids default to "0", "1", ..."""
    _check_pairs(refs, hyps)
    ids = [str(i) for i in range(len(refs))] if ids is None else list(ids)
    if len(ids) != len(refs):
        raise ValueError(f"{len(ids)} ids for {len(refs)} utterances")
    rows = []
    for uid, ref, hyp in zip(ids, refs, hyps, strict=True):
        path = align(ref, hyp, ignore_case)
        rows.append(UtteranceScore(uid, tuple(ref), tuple(hyp), tuple(path), counts(path)))
    return rows


@dataclass(frozen=True)
class Confusion:
    """A reference token that the hypothesis replaced by another, and how often."""

    ref: str
    hyp: str
    count: int


def top_confusions(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[Sequence[str]],
    k: int = 20,
    ignore_case: bool = False,
) -> list[Confusion]:
    """The `k` most frequent substitution pairs over the corpus, most frequent first.

    Ties are broken by (ref, hyp) order so that the list is deterministic.
    """
    _check_pairs(refs, hyps)
    pairs: Counter = Counter()
    for ref, hyp in zip(refs, hyps, strict=True):
        pairs.update((r, h) for op, r, h in align(ref, hyp, ignore_case) if op == SUB)
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return [Confusion(r, h, n) for (r, h), n in ranked[:k]]
