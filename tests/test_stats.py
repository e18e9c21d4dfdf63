import math

import numpy as np
import pytest

from crkd_core.stats import (
    StatsError,
    SystemErrors,
    paired_bootstrap,
    sentence_errors,
    summarize_seeds,
    verdict,
)

# t(0.975, df=2) = 4.302652729911275 (tables); 30, 32, 34: std 2, half-width 4.3027 * 2 / sqrt(3)
T975_DF2 = 4.302652729911275
HALF_302 = T975_DF2 * 2 / math.sqrt(3)


@pytest.mark.parametrize(
    "values,mean,std,low,high",
    [
        ([30.0, 32.0, 34.0], 32.0, 2.0, 32.0 - HALF_302, 32.0 + HALF_302),
        ([10.0, 10.0], 10.0, 0.0, 10.0, 10.0),
        # df=1: t(0.975, 1) = 12.706204736174698, std = sqrt(2), half = 12.706 * sqrt(2) / sqrt(2)
        ([1.0, 3.0], 2.0, math.sqrt(2), 2.0 - 12.706204736174698, 2.0 + 12.706204736174698),
    ],
)
def test_seed_summary_against_hand_computed_t_interval(values, mean, std, low, high):
    s = summarize_seeds(values)
    assert (s.n, s.mean, s.std) == (len(values), pytest.approx(mean), pytest.approx(std))
    assert (s.ci_low, s.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert s.has_interval and "CI" in str(s)


def test_one_seed_has_no_interval_and_says_so():
    s = summarize_seeds([33.1])
    assert s.mean == 33.1 and s.n == 1 and not s.has_interval
    assert math.isnan(s.std) and math.isnan(s.ci_low) and math.isnan(s.ci_high)
    assert "undefined" in str(s)
    assert s.to_dict()["std"] is None and s.to_dict()["ci_low"] is None


@pytest.mark.parametrize(
    "values,match",
    [([], "non-empty"), ([30.0, float("nan")], "finite"), ([float("inf")], "finite")],
)
def test_seed_summary_refuses_bad_values(values, match):
    with pytest.raises(StatsError, match=match):
        summarize_seeds(values)


@pytest.mark.parametrize(
    "hyp,ref,errors,n_ref",
    [
        ("a b c", "a b c", 0, 3),
        ("a x c", "a b c", 1, 3),  # one substitution
        ("", "a b", 2, 2),  # two deletions
        ("a b c d", "a b", 2, 2),  # two insertions
        ("b c", "a b c", 1, 3),  # one deletion at the start
    ],
)
def test_sentence_errors_table(hyp, ref, errors, n_ref):
    e, n = sentence_errors([hyp.split()], [ref.split()])
    assert e.tolist() == [errors] and n.tolist() == [n_ref]
    assert e.dtype == np.int64


def _system(name, errors, n_ref, ids=None):
    errors = np.asarray(errors)
    ids = ids or [f"s{i:03d}" for i in range(errors.shape[-1])]
    return SystemErrors(name, ids, errors, n_ref)


def _random_pair(seeds_a=3, seeds_b=3, sentences=100, pa=0.30, pb=0.36, seed=1):
    rng = np.random.default_rng(seed)
    n = rng.integers(3, 9, sentences)
    a = _system("A", rng.binomial(n, pa, (seeds_a, sentences)), n)
    b = _system("B", rng.binomial(n, pb, (seeds_b, sentences)), n)
    return a, b


def test_identical_systems_tie_with_zero_difference():
    a, _ = _random_pair()
    c = paired_bootstrap(a, a, n_resamples=2000)
    assert c.diff == 0.0 and c.ci_low == c.ci_high == 0.0
    assert c.is_tie and c.p_value == 1.0
    assert verdict(c).startswith("Tie")


@pytest.mark.parametrize("order,word", [("ab", "better"), ("ba", "worse")])
def test_a_system_always_better_is_significant(order, word):
    rng = np.random.default_rng(0)
    n = rng.integers(4, 8, 60)
    worse = rng.integers(1, 4, (3, 60))
    better = worse - 1  # one error fewer on every sentence and seed
    a, b = _system("better", better, n), _system("worse", worse, n)
    first, second = (a, b) if order == "ab" else (b, a)
    c = paired_bootstrap(first, second, n_resamples=2000)
    assert c.p_value <= 2 / 2001 + 1e-12 and not c.is_tie
    assert (c.ci_high < 0) if order == "ab" else (c.ci_low > 0)
    assert verdict(c).startswith(f"{first.name} is {word} than {second.name}")


def test_observed_difference_is_the_mean_over_seeds_and_allows_other_seed_counts():
    a, b = _random_pair(seeds_a=3, seeds_b=1)
    c = paired_bootstrap(a, b, n_resamples=500)
    assert c.diff == pytest.approx(np.mean(a.seed_wers) - np.mean(b.seed_wers))
    assert c.wer_a == pytest.approx(np.mean(a.seed_wers)) and (c.seeds_a, c.seeds_b) == (3, 1)


def _numpy_bootstrap(a, b, n_resamples, confidence, seed):
    """An independent plain-numpy paired percentile bootstrap of the pooled difference."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.n_ref.size, (n_resamples, a.n_ref.size))
    ea, eb, n = a.errors.sum(0)[idx], b.errors.sum(0)[idx], a.n_ref[idx]
    d = 100 * (ea.sum(1) / (a.seeds * n.sum(1)) - eb.sum(1) / (b.seeds * n.sum(1)))
    tail = 100 * (1 - confidence) / 2
    return np.percentile(d, [tail, 100 - tail])


@pytest.mark.parametrize("seeds_a,seeds_b,pb", [(3, 3, 0.36), (3, 3, 0.31), (2, 4, 0.33)])
def test_interval_agrees_with_an_independent_bootstrap(seeds_a, seeds_b, pb):
    a, b = _random_pair(seeds_a, seeds_b, pb=pb)
    c = paired_bootstrap(a, b, n_resamples=10_000, seed=3)
    low, high = _numpy_bootstrap(a, b, 20_000, 0.95, seed=4)
    # Monte Carlo error of a 2.5 % quantile here is ~0.05 points
    assert c.ci_low == pytest.approx(low, abs=0.25) and c.ci_high == pytest.approx(high, abs=0.25)
    assert c.ci_low < c.diff < c.ci_high
    # the p-value inverts the percentile interval (far from the boundary, they agree)
    if abs(c.ci_low) > 0.3 and abs(c.ci_high) > 0.3:
        assert (c.p_value < 0.05) == (not c.is_tie)


def test_bootstrap_is_reproducible_and_bca_runs():
    a, b = _random_pair()
    c1, c2 = paired_bootstrap(a, b, seed=7), paired_bootstrap(a, b, seed=7)
    assert (c1.ci_low, c1.ci_high, c1.p_value) == (c2.ci_low, c2.ci_high, c2.p_value)
    bca = paired_bootstrap(a, b, method="BCa", n_resamples=2000)
    assert bca.ci_low < bca.diff < bca.ci_high and bca.method == "BCa"


def test_sentences_are_matched_by_id_not_position():
    a, b = _random_pair(sentences=30)
    perm = np.random.default_rng(5).permutation(30)
    shuffled = SystemErrors("B", [b.ids[i] for i in perm], b.errors[:, perm], b.n_ref[perm])
    c1, c2 = paired_bootstrap(a, b, n_resamples=500), paired_bootstrap(a, shuffled, n_resamples=500)
    assert (c1.diff, c1.ci_low, c1.ci_high) == (c2.diff, c2.ci_low, c2.ci_high)


def _other_ids(b):
    return _system("B", b.errors, b.n_ref, [f"x{i}" for i in range(len(b.ids))])


def _other_refs(b):
    return _system("B", b.errors, b.n_ref + 1)


@pytest.mark.parametrize(
    "change,match", [(_other_ids, "different sentences"), (_other_refs, "different references")]
)
def test_unaligned_systems_are_refused(change, match):
    a, b = _random_pair(sentences=10)
    with pytest.raises(StatsError, match=match):
        paired_bootstrap(a, change(b), n_resamples=200)


@pytest.mark.parametrize(
    "errors,n_ref,ids,match",
    [
        ([[1, 2]], [3], ["a", "b"], "do not line up"),
        ([[1, 2]], [3, 0], ["a", "b"], "empty reference"),
        ([[1, -1]], [3, 3], ["a", "b"], "negative"),
        ([[1, 1]], [3, 3], ["a", "a"], "duplicate"),
    ],
)
def test_bad_system_errors_are_refused(errors, n_ref, ids, match):
    with pytest.raises(StatsError, match=match):
        SystemErrors("S", ids, np.array(errors), np.array(n_ref))


def test_from_runs_scores_each_seed_by_sentence_id():
    refs = {"u2": ["a", "b"], "u1": ["c", "d", "e"]}
    seed0 = {"u1": ["c", "d", "e"], "u2": ["a"]}  # 1 deletion in u2
    seed1 = {"u2": ["a", "b"], "u1": ["x", "d"]}  # 1 sub + 1 deletion in u1
    s = SystemErrors.from_runs("S", [(seed0, refs), (seed1, refs)])
    assert s.ids == ("u1", "u2") and s.n_ref.tolist() == [3, 2]
    assert s.errors.tolist() == [[0, 1], [2, 0]]
    assert s.seed_wers == pytest.approx([20.0, 40.0]) and s.wer == pytest.approx(30.0)
    with pytest.raises(StatsError, match="other sentences"):
        SystemErrors.from_runs("S", [(seed0, refs), ({"u1": ["c"]}, {"u1": ["c"]})])


@pytest.mark.parametrize("margin,shown", [(0.0, "is not"), (10.0, "is")])
def test_verdict_states_the_interval_and_an_optional_margin(margin, shown):
    a, b = _random_pair(pb=0.31)
    c = paired_bootstrap(a, b)
    text = verdict(c, margin=margin)
    assert f"{c.ci_low:+.1f} to {c.ci_high:+.1f}" in text and "p = " in text
    assert f"{shown} shown to be within" in text
    assert (c.ci_high <= margin) == (shown == "is")
