"""Statistics of WERs over seeds and test sentences: summaries, paired bootstrap, verdicts.

Two sources of noise are measured separately:

- **Training seeds.** `summarize_seeds` gives the mean, the sample std (ddof=1) and a Student-t
  95 % interval of the mean over seeds. With one seed there is no spread to measure: the std and
  the interval are NaN and the text says that they are undefined.
- **Test sentences.** `paired_bootstrap` compares two systems on the same test sentences. Each
  system's WER pools all of its seeds: the error counts of its seeds are summed per sentence, so
  its corpus WER is the mean of its seeds' corpus WERs (every seed scores the same references).
  The pairing is by sentence: each resample draws sentences with replacement and scores both
  systems on that same draw, so sentence difficulty, shared by both, cancels out.

Seeds are pooled, not paired: A's seed k has no special relation to B's seed k (they are
different trainings), and pooling gives the same observed difference as pairing seeds by index
or averaging over all seed pairs, while it also allows systems with different seed counts (a
teacher with one seed). The bootstrap interval is therefore conditional on the trained models:
it says how much the difference could move on another test set of the same kind; the spread
between trainings is what `summarize_seeds` reports.

The resampling is scipy's (`scipy.stats.bootstrap`, paired, vectorised; 95 % percentile
interval by default). The two-sided p-value inverts that interval: twice the smaller share of
resampled differences on either side of zero (with the usual +1 correction), so p < 0.05
exactly when the 95 % percentile interval leaves out zero, up to that correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from .errors import CRKDError
from .metrics import per_utterance

CONFIDENCE = 0.95
N_RESAMPLES = 10_000
BOOTSTRAP_METHODS = ("percentile", "BCa")


class StatsError(CRKDError, ValueError):
    """The numbers given to a statistic cannot give a meaningful answer (empty, NaN, unaligned)."""


@dataclass(frozen=True)
class SeedSummary:
    """A WER over training seeds: mean, sample std and a t interval of the mean.

    `std`, `ci_low` and `ci_high` are NaN when there is a single seed.
    """

    values: tuple[float, ...]
    mean: float
    std: float
    ci_low: float
    ci_high: float
    confidence: float = CONFIDENCE

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def has_interval(self) -> bool:
        return self.n >= 2

    def to_dict(self) -> dict:
        nan_to_none = {k: (None if math.isnan(v) else v) for k, v in self._numbers().items()}
        return {"values": list(self.values), "n": self.n, **nan_to_none}

    def _numbers(self) -> dict:
        return {
            "mean": self.mean,
            "std": self.std,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "confidence": self.confidence,
        }

    def __str__(self) -> str:
        if not self.has_interval:
            return f"{self.mean:.1f} (1 seed: std and interval undefined)"
        pct = round(100 * self.confidence)
        return (
            f"{self.mean:.1f} ± {self.std:.1f} ({pct} % CI {self.ci_low:.1f} to "
            f"{self.ci_high:.1f}, {self.n} seeds)"
        )


def _finite_array(values: Sequence[float], what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise StatsError(f"{what}: need a non-empty list of numbers, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise StatsError(f"{what}: values must be finite, got {arr.tolist()}")
    return arr


def summarize_seeds(values: Sequence[float], confidence: float = CONFIDENCE) -> SeedSummary:
    """Mean, std (ddof=1) and the Student-t interval of the mean of one WER over seeds.

    Args:
        values: the WER (percent) of each seed.
        confidence: of the interval, in (0, 1).

    Raises:
        StatsError: no values, a NaN or an infinite WER (a run with an empty reference).
    """
    if not 0 < confidence < 1:
        raise StatsError(f"confidence must be in (0, 1), got {confidence}")
    arr = _finite_array(values, "WER over seeds")
    mean = float(arr.mean())
    if arr.size == 1:
        nan = float("nan")
        return SeedSummary(
            values=(mean,), mean=mean, std=nan, ci_low=nan, ci_high=nan, confidence=confidence
        )
    std = float(arr.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, arr.size - 1)) * std / math.sqrt(arr.size)
    return SeedSummary(
        values=tuple(arr.tolist()),
        mean=mean,
        std=std,
        ci_low=mean - half,
        ci_high=mean + half,
        confidence=confidence,
    )


def sentence_errors(
    hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], *, ignore_case: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sentence errors (S + D + I) and reference lengths, with `metrics`' sclite alignment.

    Args:
        hyps: one hypothesis token sequence per sentence (note: hypotheses first).
        refs: the references, in the same order.
        ignore_case: fold ASCII case as sclite does.

    Returns:
        (errors, n_ref), two int64 arrays of one entry per sentence.
    """
    rows = per_utterance(refs, hyps, ignore_case=ignore_case)
    errors = np.array([r.result.errors for r in rows], dtype=np.int64)
    return errors, np.array([r.result.n_ref for r in rows], dtype=np.int64)


@dataclass(frozen=True)
class SystemErrors:
    """One system's per-sentence errors on a test set, one row per training seed."""

    name: str
    ids: tuple[str, ...]
    errors: np.ndarray  # (seeds, sentences) int64
    n_ref: np.ndarray  # (sentences,) int64, the same references for every seed

    def __post_init__(self) -> None:
        errors = np.atleast_2d(np.asarray(self.errors, dtype=np.int64))
        n_ref = np.asarray(self.n_ref, dtype=np.int64)
        where = f"system {self.name!r}"
        if (
            errors.ndim != 2
            or n_ref.ndim != 1
            or not errors.shape[1] == n_ref.size == len(self.ids)
        ):
            raise StatsError(
                f"{where}: errors {errors.shape}, n_ref {n_ref.shape} and {len(self.ids)} ids "
                "do not line up (want (seeds, sentences), (sentences,), sentences)"
            )
        if n_ref.size == 0 or errors.shape[0] == 0:
            raise StatsError(f"{where}: no sentences or no seeds")
        if len(set(self.ids)) != len(self.ids):
            raise StatsError(f"{where}: duplicate sentence ids")
        if (errors < 0).any():
            raise StatsError(f"{where}: negative error counts")
        empty = [i for i, n in zip(self.ids, n_ref.tolist(), strict=True) if n <= 0]
        if empty:
            raise StatsError(f"{where}: sentences with an empty reference: {empty[:5]}")
        object.__setattr__(self, "ids", tuple(self.ids))
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "n_ref", n_ref)

    @property
    def seeds(self) -> int:
        return int(self.errors.shape[0])

    @property
    def seed_wers(self) -> list[float]:
        """Each seed's corpus WER, in percent."""
        return (100.0 * self.errors.sum(axis=1) / self.n_ref.sum()).tolist()

    @property
    def wer(self) -> float:
        """The pooled corpus WER (the mean of the seeds' corpus WERs), in percent."""
        return 100.0 * float(self.errors.sum()) / (self.seeds * float(self.n_ref.sum()))

    @classmethod
    def from_runs(
        cls,
        name: str,
        runs: Sequence[tuple[Mapping[str, Sequence[str]], Mapping[str, Sequence[str]]]],
        *,
        ignore_case: bool = False,
    ) -> SystemErrors:
        """Build from each seed's `(hyps, refs)`, both keyed by sentence id (as `EvalResult`).

        Raises:
            StatsError: no runs, seeds that scored different sentences or references, or a
                sentence with an empty reference (its WER is undefined).
        """
        if not runs:
            raise StatsError(f"system {name!r}: no runs")
        ids = tuple(sorted(runs[0][1]))
        rows, n_ref = [], None
        for k, (hyps, refs) in enumerate(runs):
            if tuple(sorted(refs)) != ids or set(hyps) != set(ids):
                raise StatsError(f"system {name!r}: run {k} scored other sentences than run 0")
            errs, n = sentence_errors(
                [hyps[i] for i in ids], [refs[i] for i in ids], ignore_case=ignore_case
            )
            if n_ref is not None and not np.array_equal(n, n_ref):
                raise StatsError(f"system {name!r}: run {k} has other references than run 0")
            rows.append(errs)
            n_ref = n
        return cls(name, ids, np.stack(rows), n_ref)


@dataclass(frozen=True)
class Comparison:
    """System A against B: the pooled WER difference A - B (points), its interval and p-value.

    A negative difference means that A makes fewer errors (WER: lower is better).
    """

    a: str
    b: str
    wer_a: float
    wer_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    sentences: int
    seeds_a: int
    seeds_b: int
    n_resamples: int
    confidence: float
    method: str
    seed: int

    @property
    def width(self) -> float:
        """Width of the interval, in WER points."""
        return self.ci_high - self.ci_low

    @property
    def is_tie(self) -> bool:
        """The interval contains zero: the difference is inside the test set's noise."""
        return self.ci_low <= 0.0 <= self.ci_high

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"width": self.width}


def _aligned(a: SystemErrors, b: SystemErrors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A's and B's errors summed over seeds, and n_ref, in A's sentence order."""
    if set(a.ids) != set(b.ids):
        only = sorted(set(a.ids) ^ set(b.ids))[:5]
        raise StatsError(f"{a.name!r} and {b.name!r} scored different sentences, e.g. {only}")
    order = {sid: k for k, sid in enumerate(b.ids)}
    idx = np.array([order[sid] for sid in a.ids])
    if not np.array_equal(a.n_ref, b.n_ref[idx]):
        raise StatsError(f"{a.name!r} and {b.name!r} have different references")
    return a.errors.sum(axis=0), b.errors.sum(axis=0)[idx], a.n_ref


def paired_bootstrap(
    a: SystemErrors,
    b: SystemErrors,
    *,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    method: str = "percentile",
    seed: int = 0,
) -> Comparison:
    """Paired bootstrap over test sentences of the pooled corpus WER difference A - B.

    Each resample draws the test sentences with replacement (the same draw for A and B) and
    computes 100 * (sum errors_A / (seeds_A * sum n_ref) - sum errors_B / (seeds_B * sum n_ref)).

    Args:
        a, b: the systems, scored on the same sentences (matched by id) and references.
        n_resamples: bootstrap resamples.
        confidence: of the interval.
        method: "percentile" or "BCa" (scipy's; BCa is undefined when A and B never differ).
        seed: of the resampling RNG, so that a report is reproducible.
    """
    if method not in BOOTSTRAP_METHODS:
        raise StatsError(f"unknown bootstrap method {method!r}; use one of {BOOTSTRAP_METHODS}")
    if n_resamples < 100:
        raise StatsError(f"n_resamples must be at least 100, got {n_resamples}")
    ea, eb, n_ref = _aligned(a, b)
    sa, sb = a.seeds, b.seeds

    def diff(err_a, err_b, n, axis=-1):
        total = n.sum(axis=axis)
        return 100.0 * (err_a.sum(axis=axis) / (sa * total) - err_b.sum(axis=axis) / (sb * total))

    res = sps.bootstrap(
        (ea, eb, n_ref),
        diff,
        n_resamples=n_resamples,
        paired=True,
        vectorized=True,
        confidence_level=confidence,
        method=method,
        rng=np.random.default_rng(seed),
    )
    dist = res.bootstrap_distribution
    p = two_sided_p(dist)
    ci = res.confidence_interval
    return Comparison(
        a=a.name,
        b=b.name,
        wer_a=a.wer,
        wer_b=b.wer,
        diff=float(diff(ea, eb, n_ref)),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        p_value=p,
        sentences=int(n_ref.size),
        seeds_a=sa,
        seeds_b=sb,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
        seed=seed,
    )


def two_sided_p(resampled: np.ndarray) -> float:
    """Twice the smaller share of resampled differences on either side of zero, with the +1
    correction: at least `floor_p(len(resampled))`."""
    below, above = int((resampled <= 0).sum()), int((resampled >= 0).sum())
    return min(1.0, 2 * (1 + min(below, above)) / (resampled.size + 1))


def verdict(c: Comparison, margin: float | None = None) -> str:
    """One sentence that answers "is A better than B?", with the interval and p-value.

    Args:
        c: the comparison.
        margin: when given (WER points), also say whether A is shown to be within `margin` of
            B: the upper end of the interval is at most `margin` (a non-inferiority claim).
    """
    pct = round(100 * c.confidence)
    numbers = (
        f"{c.wer_a:.1f} % against {c.wer_b:.1f} % WER, difference {c.diff:+.1f} points "
        f"({pct} % CI {c.ci_low:+.1f} to {c.ci_high:+.1f}, {p_text(c.p_value, c.n_resamples)}, "
        f"{c.sentences} sentences, {c.seeds_a} and {c.seeds_b} seeds)"
    )
    if c.is_tie:
        head = f"Tie: {c.a} and {c.b} do not differ beyond the noise"
    elif c.ci_high < 0:
        head = f"{c.a} is better than {c.b}"
    else:
        head = f"{c.a} is worse than {c.b}"
    tail = ""
    if margin is not None:
        shown = "is" if c.ci_high <= margin else "is not"
        tail = f"; {c.a} {shown} shown to be within {margin:+.1f} points of {c.b}"
    return f"{head}: {numbers}{tail}."


# --- every source of noise at once: teachers, students within teachers, sentences -------------


@dataclass(frozen=True)
class NestedComparison:
    """System A against B, with an interval that holds every source of noise: which teachers
    were trained, which students each taught, and which test sentences were drawn.

    `difference` is A - B in WER points: the mean over teachers of the mean over a teacher's
    students of their corpus WER, for A minus the same for B. `p_at_floor` says that no
    resample crossed zero, so the p-value is the smallest that `resamples` can give.
    """

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_teachers: int
    n_students: int  # students of both systems together
    sentences: int
    resamples: int
    confidence: float
    seed: int

    @property
    def is_tie(self) -> bool:
        return self.ci_low <= 0.0 <= self.ci_high

    @property
    def p_at_floor(self) -> bool:
        """No resample crossed zero: the p-value is the smallest that `resamples` can give."""
        return math.isclose(self.p_value, floor_p(self.resamples))

    def p_text(self) -> str:
        return p_text(self.p_value, self.resamples)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "p_at_floor": self.p_at_floor
        }


_CHUNK = 1000  # resamples drawn at a time


def floor_p(resamples: int) -> float:
    """The smallest two-sided p-value of `resamples` resamples (with the +1 correction)."""
    return 2 / (resamples + 1)


def p_text(p: float, resamples: int) -> str:
    """ "p = 0.013"; at the floor of the resamples, where no resample crossed zero, "p < 0.0002":
    the floor is a bound, not a value."""
    if math.isclose(p, floor_p(resamples)):  # no resample crossed zero
        return f"p < {floor_p(resamples):.2g}"
    return f"p = {p:.3g}"


def _nested(system: Mapping[str, Sequence[Sequence[float]]], name: str, n: int) -> list:
    """{teacher: [per-sentence errors of each student]} -> one (students, n) array a teacher."""
    out = []
    for teacher, students in system.items():
        arr = np.asarray(students, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] != n:
            raise StatsError(
                f"system {name!r}, teacher {teacher!r}: need (students >= 1) x {n} sentence "
                f"errors, got shape {arr.shape}"
            )
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise StatsError(f"system {name!r}, teacher {teacher!r}: errors must be finite, >= 0")
        out.append(arr)
    return out


def nested_bootstrap(
    a: Mapping[str, Sequence[Sequence[float]]],
    b: Mapping[str, Sequence[Sequence[float]]],
    n_ref: Sequence[int],
    *,
    resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> NestedComparison:
    """Hierarchical bootstrap of the WER difference A - B over teachers, students, sentences.

    Each system maps a teacher's name to its students' per-sentence error counts (S + D + I of
    each test sentence, in the order of `n_ref`). A and B are taught by the same teachers (a
    teacher arm, such as the teachers themselves, has one "student" a teacher). Each resample:

    1. draws the teachers with replacement, the same draw for A and B (paired by teacher);
    2. within each drawn teacher, draws A's students and B's students with replacement,
       separately (A's seed k has no relation to B's seed k);
    3. draws the test sentences with replacement, the same draw for everything (paired by
       sentence, so sentence difficulty cancels);

    and computes the difference of the two systems' mean WERs on that draw. The interval is the
    percentile interval of the resampled differences; the two-sided p-value is twice the smaller
    share on either side of zero, with the +1 correction.
    """
    n_ref = np.asarray(n_ref, dtype=np.float64)
    if n_ref.ndim != 1 or n_ref.size == 0 or n_ref.sum() <= 0 or (n_ref < 0).any():
        raise StatsError("n_ref must hold each test sentence's reference length, with N > 0")
    if set(a) != set(b) or not a:
        raise StatsError(f"A and B must share their teachers, got {sorted(a)} and {sorted(b)}")
    if resamples < 100:
        raise StatsError(f"resamples must be at least 100, got {resamples}")
    if not 0 < confidence < 1:
        raise StatsError(f"confidence must lie in (0, 1), got {confidence}")
    teachers = sorted(a)
    ea = _nested({t: a[t] for t in teachers}, "A", n_ref.size)
    eb = _nested({t: b[t] for t in teachers}, "B", n_ref.size)
    rng = np.random.default_rng(seed)
    k, s = len(teachers), n_ref.size

    def mean_errors(system: list, picks: np.ndarray) -> np.ndarray:
        """(r, sentences): per sentence, the mean over the drawn teachers of the mean over each
        drawn teacher's students, themselves drawn (step 2)."""
        r = len(picks)
        per_teacher = np.stack(
            [e[rng.integers(0, len(e), (r, len(e)))].mean(axis=1) for e in system], axis=1
        )  # (r, teachers, sentences)
        return np.take_along_axis(per_teacher, picks[:, :, None], axis=1).mean(axis=1)

    diffs = []
    for start in range(0, resamples, _CHUNK):  # bounded memory: r x teachers x sentences
        r = min(_CHUNK, resamples - start)
        picks = rng.integers(0, k, (r, k))  # step 1
        weights = rng.multinomial(s, np.full(s, 1 / s), r).astype(np.float64)  # step 3
        gap = mean_errors(ea, picks) - mean_errors(eb, picks)
        diffs.append(100 * (gap * weights).sum(1) / (weights @ n_ref))
    diffs = np.concatenate(diffs)
    observed = (
        100
        * (np.mean([e.mean(0) for e in ea], 0) - np.mean([e.mean(0) for e in eb], 0)).sum()
        / n_ref.sum()
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    p = two_sided_p(diffs)
    return NestedComparison(
        difference=float(observed),
        ci_low=float(low),
        ci_high=float(high),
        p_value=p,
        n_teachers=k,
        n_students=sum(len(e) for e in ea) + sum(len(e) for e in eb),
        sentences=int(s),
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


def nested_verdict(c: NestedComparison, a: str, b: str) -> str:
    """`verdict`'s sentence for a `NestedComparison` of systems named `a` and `b`."""
    if c.is_tie:
        head = f"Tie: {a} and {b} do not differ beyond the noise"
    else:
        head = f"{a} is {'better' if c.ci_high < 0 else 'worse'} than {b}"
    note = "; one teacher: the teachers' spread is not in the interval" if c.n_teachers == 1 else ""
    return (
        f"{head}: difference {c.difference:+.1f} points ({round(100 * c.confidence)} % interval "
        f"{c.ci_low:+.1f} to {c.ci_high:+.1f} over {c.n_teachers} teacher(s), {c.n_students} "
        f"runs and {c.sentences} sentences, {c.p_text()}){note}."
    )
