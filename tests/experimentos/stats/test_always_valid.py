"""Asymptotic confidence sequences, checked against an implementation that is not ours:
gbstats 0.8's ``SequentialTwoSidedTTest`` (absolute and relative differences, tuning parameter
5,000) on proportions, means, ratios and CUPED-adjusted means, plus properties that hold by
construction of a confidence sequence (it contains its estimate, it is wider than the
fixed-horizon interval, p < α exactly when it excludes 0).

No expected figure here was produced by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    compute_theta,
)
from scipy import stats

from experimentos.model import CovariateStats, MeanStats, ProportionStats, RatioStats
from experimentos.stats.always_valid import (
    METHOD,
    always_valid_comparison,
    always_valid_p,
    confidence_sequence,
    means_sequence,
    proportions_sequence,
    tuning_rho,
    width_factor,
)
from experimentos.stats.cuped import cuped_comparison
from experimentos.stats.means import welch_comparison
from experimentos.stats.proportions import compare_proportions
from experimentos.stats.ratios import ratio_comparison

TOL = 1e-6


def _gbstats(a, b, *, relative: bool = False, alpha: float = 0.05, tuning: float = 5000):
    config = SequentialConfig(
        alpha=alpha,
        difference_type="relative" if relative else "absolute",
        sequential_tuning_parameter=tuning,
    )
    return SequentialTwoSidedTTest(a, b, config)


PROPORTION_CASES = [
    # (control users, conversions), (treatment users, conversions)
    ((10, 2), (12, 5)),
    ((50, 9), (48, 15)),
    ((1000, 100), (1000, 112)),
    ((2500, 250), (2500, 250)),
    ((10_000, 1000), (10_050, 1090)),
    ((120_000, 3600), (119_500, 3810)),
    ((5_000_000, 510_000), (5_000_000, 511_500)),
]


@pytest.mark.parametrize(("control", "treatment"), PROPORTION_CASES)
def test_proportion_sequence_equals_gbstats_sequential_absolute(control, treatment):
    ours = proportions_sequence(ProportionStats(*control), ProportionStats(*treatment))
    theirs = _gbstats(
        ProportionStatistic(n=control[0], sum=control[1]),
        ProportionStatistic(n=treatment[0], sum=treatment[1]),
    )
    estimate, (lo, hi), p_value = ours
    assert estimate == pytest.approx(theirs.point_estimate, abs=TOL)
    assert lo == pytest.approx(theirs.confidence_interval[0], abs=TOL)
    assert hi == pytest.approx(theirs.confidence_interval[1], abs=TOL)
    assert p_value == pytest.approx(theirs.p_value, abs=TOL)


def _mean_stats(rng: np.random.Generator, n: int, loc: float, scale: float) -> MeanStats:
    x = rng.lognormal(loc, scale, size=n)
    return MeanStats(n, float(x.sum()), float((x * x).sum()))


MEAN_CASES = [(5, 6), (30, 25), (400, 410), (5000, 5000), (60_000, 59_000), (1_000_000, 999_000)]


@pytest.mark.parametrize(("n_c", "n_t"), MEAN_CASES)
def test_mean_sequence_equals_gbstats_sequential_absolute(n_c, n_t):
    rng = np.random.default_rng(n_c + n_t)
    control = _mean_stats(rng, n_c, 1.0, 0.8)
    treatment = _mean_stats(rng, n_t, 1.03, 0.8)
    estimate, (lo, hi), p_value = means_sequence(control, treatment)
    theirs = _gbstats(
        SampleMeanStatistic(n=n_c, sum=control.total, sum_squares=control.total_sq),
        SampleMeanStatistic(n=n_t, sum=treatment.total, sum_squares=treatment.total_sq),
    )
    assert estimate == pytest.approx(theirs.point_estimate, abs=TOL)
    assert lo == pytest.approx(theirs.confidence_interval[0], abs=TOL)
    assert hi == pytest.approx(theirs.confidence_interval[1], abs=TOL)
    assert p_value == pytest.approx(theirs.p_value, abs=TOL)


@pytest.mark.parametrize("alpha", [0.01, 0.1])
@pytest.mark.parametrize("tuning", [500, 20_000])
def test_other_alpha_and_planned_size_equal_gbstats(alpha, tuning):
    control, treatment = ProportionStats(4000, 400), ProportionStats(4100, 455)
    _, (lo, hi), p_value = proportions_sequence(
        control, treatment, alpha=alpha, planned_users=tuning
    )
    theirs = _gbstats(
        ProportionStatistic(n=4000, sum=400),
        ProportionStatistic(n=4100, sum=455),
        alpha=alpha,
        tuning=tuning,
    )
    assert (lo, hi) == pytest.approx(tuple(theirs.confidence_interval), abs=TOL)
    assert p_value == pytest.approx(theirs.p_value, abs=TOL)
    assert tuning_rho(tuning, alpha=alpha) == pytest.approx(theirs.rho, rel=1e-12)


@pytest.mark.parametrize(("control", "treatment"), PROPORTION_CASES[2:])
def test_comparison_of_proportions_equals_gbstats_absolute_and_relative(control, treatment):
    fixed = compare_proportions(ProportionStats(*control), ProportionStats(*treatment))
    users = control[0] + treatment[0]
    ours = always_valid_comparison(fixed, users)
    a = ProportionStatistic(n=control[0], sum=control[1])
    b = ProportionStatistic(n=treatment[0], sum=treatment[1])
    absolute, relative = _gbstats(a, b), _gbstats(a, b, relative=True)
    assert ours.abs_ci == pytest.approx(tuple(absolute.confidence_interval), abs=TOL)
    assert ours.p_value == pytest.approx(absolute.p_value, abs=TOL)
    assert ours.rel_lift == pytest.approx(relative.point_estimate, abs=TOL)
    assert ours.rel_ci == pytest.approx(tuple(relative.confidence_interval), abs=TOL)
    assert ours.method == METHOD == "always-valid (asymptotic CS)"


def _ratio(rng: np.random.Generator, n: int, rate: float) -> tuple[RatioStats, RatioStatistic]:
    orders = rng.poisson(2.0, size=n) + 1
    revenue = orders * rng.gamma(2.0, rate, size=n)
    ours = RatioStats(
        n=n,
        num_total=float(revenue.sum()),
        num_total_sq=float((revenue**2).sum()),
        den_total=float(orders.sum()),
        den_total_sq=float((orders**2).sum()),
        cross_total=float((revenue * orders).sum()),
    )
    theirs = RatioStatistic(
        n=n,
        m_statistic=SampleMeanStatistic(n=n, sum=ours.num_total, sum_squares=ours.num_total_sq),
        d_statistic=SampleMeanStatistic(n=n, sum=ours.den_total, sum_squares=ours.den_total_sq),
        m_d_sum_of_products=ours.cross_total,
    )
    return ours, theirs


@pytest.mark.parametrize("n", [40, 3000, 200_000])
def test_ratio_metric_sequence_equals_gbstats(n):
    """The delta-method variance of a ratio enters the same formula (gbstats does the same)."""
    rng = np.random.default_rng(n)
    ours_c, theirs_c = _ratio(rng, n, 10.0)
    ours_t, theirs_t = _ratio(rng, n + 7, 10.4)
    fixed = ratio_comparison(ours_c, ours_t).comparison
    ours = always_valid_comparison(fixed, ours_c.n + ours_t.n)
    absolute = _gbstats(theirs_c, theirs_t)
    relative = _gbstats(theirs_c, theirs_t, relative=True)
    assert ours.abs_ci == pytest.approx(tuple(absolute.confidence_interval), abs=TOL)
    assert ours.p_value == pytest.approx(absolute.p_value, abs=TOL)
    assert ours.rel_ci == pytest.approx(tuple(relative.confidence_interval), abs=TOL)


@pytest.mark.parametrize("n", [50, 5000, 100_000])
def test_cuped_metric_sequence_equals_gbstats_regression_adjusted(n):
    """CUPED's adjusted difference and its variance enter the same formula (gbstats: the
    RegressionAdjustedStatistic with the pooled θ of ``compute_theta``)."""
    rng = np.random.default_rng(7 * n)
    arms_ours, arms_theirs = [], []
    for lift in (0.0, 0.4):
        pre = rng.gamma(2.0, 5.0, size=n)
        post = 0.8 * pre + rng.normal(lift, 4.0, size=n)
        arm = CovariateStats(
            n,
            float(post.sum()),
            float((post**2).sum()),
            float(pre.sum()),
            float((pre**2).sum()),
            float((post * pre).sum()),
        )
        arms_ours.append(arm)
        arms_theirs.append(
            RegressionAdjustedStatistic(
                n=n,
                post_statistic=SampleMeanStatistic(n=n, sum=arm.total, sum_squares=arm.total_sq),
                pre_statistic=SampleMeanStatistic(
                    n=n, sum=arm.pre_total, sum_squares=arm.pre_total_sq
                ),
                post_pre_sum_of_products=arm.cross_total,
                theta=0,
            )
        )
    theta = compute_theta(*arms_theirs)
    a, b = (s.__class__(**{**s.__dict__, "theta": theta}) for s in arms_theirs)
    fixed = cuped_comparison(*arms_ours).comparison
    ours = always_valid_comparison(fixed, 2 * n)
    theirs = _gbstats(a, b)
    assert ours.abs_lift == pytest.approx(theirs.point_estimate, abs=TOL)
    assert ours.abs_ci == pytest.approx(tuple(theirs.confidence_interval), abs=TOL)
    assert ours.p_value == pytest.approx(theirs.p_value, abs=TOL)


@pytest.mark.parametrize(("control", "treatment"), PROPORTION_CASES)
def test_sequence_contains_the_estimate_and_is_wider_than_the_fixed_interval(control, treatment):
    c, t = ProportionStats(*control), ProportionStats(*treatment)
    estimate, (lo, hi), _ = proportions_sequence(c, t)
    se = math.sqrt(c.rate * (1 - c.rate) / c.users + t.rate * (1 - t.rate) / t.users)
    z = stats.norm.ppf(0.975)
    assert lo <= estimate <= hi
    assert hi - lo > 2 * z * se


@pytest.mark.parametrize(("n_c", "n_t"), MEAN_CASES)
def test_mean_sequence_is_wider_than_welch(n_c, n_t):
    rng = np.random.default_rng(n_c)
    control, treatment = _mean_stats(rng, n_c, 0.0, 1.0), _mean_stats(rng, n_t, 0.1, 1.0)
    estimate, (lo, hi), _ = means_sequence(control, treatment)
    welch = welch_comparison(control, treatment)
    assert lo < welch.abs_ci[0] <= estimate <= welch.abs_ci[1] < hi


def test_the_factor_exceeds_the_normal_quantile_at_every_sample_size():
    z = stats.norm.ppf(0.975)
    for users in np.unique(np.logspace(0, 10, 400).astype(int)):
        assert width_factor(float(users)) > z


def test_p_below_alpha_exactly_when_the_sequence_excludes_zero_on_a_grid():
    for alpha in (0.01, 0.05, 0.2):
        for users in (10, 500, 5000, 80_000, 10**7):
            for z in np.linspace(-8, 8, 321):
                p_value = always_valid_p(z, 1.0, users, alpha=alpha)
                lo, hi = confidence_sequence(z, 1.0, users, alpha=alpha)
                assert 0.0 <= p_value <= 1.0
                excludes = lo > 0 or hi < 0
                if not math.isclose(abs(z), hi - z, rel_tol=1e-9):  # not on the boundary
                    assert (p_value < alpha) == excludes, (alpha, users, z, p_value, lo, hi)


def test_p_is_the_smallest_alpha_whose_sequence_excludes_zero():
    """With ρ tuned at the nominal α, bisecting on the level α' of the sequence recovers p."""
    rho_alpha, users, estimate = 0.05, 20_000, 2.9
    rho = tuning_rho(5000, alpha=rho_alpha)
    x = users * rho**2

    def excludes(level: float) -> bool:
        half = math.sqrt(2 * (x + 1) / x * math.log(math.sqrt(x + 1) / level))
        return half < estimate

    lo, hi = 1e-12, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if excludes(mid) else (mid, hi)
    assert always_valid_p(estimate, 1.0, users, alpha=rho_alpha) == pytest.approx(hi, rel=1e-9)


def test_degenerate_and_bad_input():
    assert always_valid_p(0.1, 0.0, 100) == 0.0
    assert always_valid_p(0.0, 0.0, 100) == 1.0
    assert math.isnan(always_valid_p(0.1, math.nan, 100))
    assert always_valid_p(1e6, 1.0, 10**9) == 0.0  # underflows to 0, no overflow error
    _, interval, p_value = means_sequence(MeanStats(1, 3.0, 9.0), MeanStats(3, 3.0, 5.0))
    assert all(math.isnan(v) for v in interval) and math.isnan(p_value)
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        tuning_rho(5000, alpha=1.5)
    with pytest.raises(ValueError, match="planned number of users must be positive"):
        tuning_rho(0)
    with pytest.raises(ValueError, match="at least 1 user"):
        proportions_sequence(ProportionStats(0, 0), ProportionStats(10, 1))
    with pytest.raises(ValueError, match="at least 1"):
        width_factor(0)
