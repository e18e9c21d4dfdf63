"""The hierarchical (teachers, students, sentences) bootstrap on data with known answers."""

import numpy as np
import pytest

from crkd_core.stats import StatsError, floor_p, nested_bootstrap

N_REF = [4, 5, 3, 6, 2, 5, 4, 3, 5, 3]  # 40 reference glosses in 10 sentences


def same_errors(teachers: int, students: int, errors: list[int]) -> dict:
    return {f"t{k}": [errors] * students for k in range(teachers)}


def test_identical_systems_give_zero_and_a_point_interval():
    errors = [1, 0, 2, 1, 0, 1, 1, 0, 2, 1]
    c = nested_bootstrap(same_errors(3, 2, errors), same_errors(3, 3, errors), N_REF, resamples=500)
    assert (c.difference, c.ci_low, c.ci_high) == (0.0, 0.0, 0.0)
    assert c.p_value == 1.0 and c.is_tie and not c.p_at_floor
    assert (c.n_teachers, c.n_students, c.sentences) == (3, 15, 10)


def test_a_constant_shift_is_found_exactly_and_at_the_p_floor():
    """B makes one error more in every sentence: 10 errors more in 40 glosses, 25 points."""
    base = [1, 0, 2, 1, 0, 1, 1, 0, 2, 1]
    a, b = same_errors(3, 2, base), same_errors(3, 2, [e + 1 for e in base])
    c = nested_bootstrap(a, b, N_REF, resamples=1000)
    assert c.difference == pytest.approx(-25.0)
    # every resample keeps B one error a sentence worse: -100 * 10 / N of the drawn sentences
    assert -100 * 10 / (10 * 2) <= c.ci_low <= c.ci_high <= -100 * 10 / (10 * 6)
    assert c.p_at_floor and c.p_value == pytest.approx(floor_p(1000))
    assert c.p_text() == "p < 0.002"


def simulated(rng, teachers: int, shift: float, teacher_sd: float, sentences: int = 40):
    """A and B taught by the same teachers; A's WER differs by `shift` plus a teacher effect
    that differs from teacher to teacher (sd `teacher_sd`), in error rate per gloss."""
    n_ref = rng.integers(2, 8, sentences)
    a, b = {}, {}
    for k in range(teachers):
        rate_b = 0.3
        rate_a = rate_b + shift + rng.normal(0, teacher_sd)
        a[f"t{k}"] = [rng.binomial(n_ref, np.clip(rate_a, 0, 1)) for _ in range(3)]
        b[f"t{k}"] = [rng.binomial(n_ref, rate_b) for _ in range(3)]
    return a, b, n_ref


def test_teacher_spread_widens_the_interval():
    """The same sentences and students, with and without a teacher effect: the interval that
    holds the teachers' noise is wider (a sentence-only bootstrap would not see it)."""
    rng = np.random.default_rng(1)
    quiet = nested_bootstrap(*simulated(rng, 6, 0.0, 0.0, sentences=400), resamples=2000)
    rng = np.random.default_rng(1)
    noisy = nested_bootstrap(*simulated(rng, 6, 0.0, 0.15, sentences=400), resamples=2000)
    assert noisy.ci_high - noisy.ci_low > 3 * (quiet.ci_high - quiet.ci_low)


@pytest.mark.slow
def test_the_interval_covers_the_true_difference():
    """Known answer: A is 10 points worse in expectation, with teacher, student and sentence
    noise. Over 100 simulated studies of 8 teachers, the 95 % interval covered the truth in
    at least 85 of them (a percentile bootstrap over few teachers covers a little less than its
    nominal level); measured on this seed: 98."""
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(100):
        a, b, n_ref = simulated(rng, 8, 0.10, 0.05)
        c = nested_bootstrap(a, b, n_ref, resamples=1000, seed=int(rng.integers(1 << 30)))
        covered += c.ci_low <= 10.0 <= c.ci_high
    assert covered >= 85, covered


@pytest.mark.parametrize(
    "a,b,n_ref,match",
    [
        ({"t0": [[1, 2]]}, {"t1": [[1, 2]]}, [3, 3], "share their teachers"),
        ({"t0": [[1, 2]]}, {"t0": [[1]]}, [3, 3], r"teacher 't0'.*shape \(1, 1\)"),
        ({"t0": []}, {"t0": [[1, 2]]}, [3, 3], "students >= 1"),
        ({"t0": [[1, float("nan")]]}, {"t0": [[1, 2]]}, [3, 3], "finite"),
        ({"t0": [[1, 2]]}, {"t0": [[1, 2]]}, [0, 0], "N > 0"),
    ],
)
def test_bad_input_is_refused(a, b, n_ref, match):
    with pytest.raises(StatsError, match=match):
        nested_bootstrap(a, b, n_ref, resamples=100)
