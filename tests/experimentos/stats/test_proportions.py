"""Conversion-rate statistics (SPEC §2.3, §2.2, §2.6) against independent implementations.

References: statsmodels (Wald and Newcombe intervals, Wald test, Poisson rates, chi-square of a
table), scipy (Fisher's exact test, chi-square goodness of fit and independence), gbstats 0.8
(GrowthBook's frequentist t-test and Bayesian effect test) and spotify-confidence 4.1 (ZTest).
Where a peer library defines the statistic differently, the test names the difference and asserts
the exact relationship between the two numbers instead of equality.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats import rates as sm_rates
from statsmodels.stats.contingency_tables import Table

from experimentos.model import ProportionStats
from experimentos.stats.proportions import (
    chi_square_independence,
    compare_proportions,
    compare_rates,
    srm_chi_square,
)

Z975 = stats.norm.ppf(0.975)
SETTINGS = settings(max_examples=150, deadline=None)


def _uses_wald(control: ProportionStats, treatment: ProportionStats) -> bool:
    """Every arm has at least 30 conversions and 30 non-conversions (the score-test rule)."""
    return all(
        min(arm.conversions, arm.users - arm.conversions) >= 30 for arm in (control, treatment)
    )


@st.composite
def arms(draw, *, min_users: int = 1, max_users: int = 1_000_000):
    """An arm: users, and conversions anywhere from none to all."""
    users = draw(st.integers(min_users, max_users))
    share = draw(st.floats(0, 1))
    conversions = draw(st.one_of(st.integers(0, users), st.just(round(users * share))))
    return ProportionStats(users, conversions)


@st.composite
def wald_pairs(draw):
    """(control, treatment) with ≥ 10 events and non-events per arm: the Wald path."""
    control, treatment = draw(arms(min_users=20)), draw(arms(min_users=20))
    assume(_uses_wald(control, treatment))
    return control, treatment


@st.composite
def small_pairs(draw, *, min_users: int = 1):
    """(control, treatment) with an arm of fewer than 30 events or non-events: the score path."""
    control = draw(arms(min_users=min_users, max_users=400))
    treatment = draw(arms(min_users=min_users, max_users=400))
    assume(not _uses_wald(control, treatment))
    return control, treatment


# --------------------------------------------------------------------------- Wald (statsmodels)


@SETTINGS
@given(wald_pairs(), st.sampled_from([0.01, 0.05, 0.1]))
def test_wald_matches_statsmodels_unpooled_test_and_interval(pair, alpha):
    """statsmodels' ``method='wald'`` is the unpooled z-test (its sample 1 is the treatment)."""
    control, treatment = pair
    ours = compare_proportions(control, treatment, alpha=alpha)
    assert ours.method == "wald-unpooled z-test"
    counts = (treatment.conversions, treatment.users, control.conversions, control.users)
    reference = sm_proportion.test_proportions_2indep(*counts, method="wald", compare="diff")
    low, high = sm_proportion.confint_proportions_2indep(
        *counts, method="wald", compare="diff", alpha=alpha
    )
    assert ours.statistic == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15)
    assert ours.abs_lift == pytest.approx(treatment.rate - control.rate, abs=1e-15)
    assert ours.abs_ci == pytest.approx((low, high), rel=1e-9, abs=1e-15)


@SETTINGS
@given(wald_pairs(), st.sampled_from([0.01, 0.05, 0.1]))
def test_wald_interval_excludes_zero_exactly_when_significant(pair, alpha):
    """SPEC §2.3: the CI comes from the test's standard error, so the two never disagree."""
    ours = compare_proportions(*pair, alpha=alpha)
    z_crit = stats.norm.ppf(1 - alpha / 2)
    assume(abs(abs(ours.statistic) - z_crit) > 1e-9)  # a tie is decided by rounding either way
    low, high = ours.abs_ci
    assert (low > 0 or high < 0) == (ours.p_value < alpha)


# Hand-picked cases that pin the quantile of the interval: each is computed here from first
# principles (diff ± Φ⁻¹(1 − α/2)·√(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c), scipy's norm.ppf) and
# from statsmodels' ``confint_proportions_2indep(method="wald")``, to 1e-9. The first has
# z ≈ 1.75, between 1.645 and 1.96: a 90 % quantile in a 95 % interval would exclude 0 there.
PINNED_WALD = [
    (ProportionStats(10_000, 1_000), ProportionStats(10_000, 1_075), 0.05),
    (ProportionStats(20_000, 2_000), ProportionStats(20_000, 2_200), 0.05),  # examples/launch.csv
    (ProportionStats(5_000, 500), ProportionStats(5_000, 510), 0.05),
    (ProportionStats(1_200, 600), ProportionStats(1_500, 790), 0.01),
    (ProportionStats(300_000, 3_000), ProportionStats(310_000, 3_400), 0.10),
]


@pytest.mark.parametrize(("control", "treatment", "alpha"), PINNED_WALD)
def test_wald_interval_pinned_to_the_normal_quantile(control, treatment, alpha):
    ours = compare_proportions(control, treatment, alpha=alpha)
    assert ours.method == "wald-unpooled z-test"
    p_c, p_t = control.conversions / control.users, treatment.conversions / treatment.users
    se = math.sqrt(p_t * (1 - p_t) / treatment.users + p_c * (1 - p_c) / control.users)
    half = stats.norm.ppf(1 - alpha / 2) * se
    by_hand = (p_t - p_c - half, p_t - p_c + half)
    by_statsmodels = sm_proportion.confint_proportions_2indep(
        treatment.conversions,
        treatment.users,
        control.conversions,
        control.users,
        method="wald",
        compare="diff",
        alpha=alpha,
    )
    assert ours.abs_ci == pytest.approx(by_hand, abs=1e-9)
    assert ours.abs_ci == pytest.approx(by_statsmodels, abs=1e-9)
    # relative lift: the delta-method standard error Var(t)/c² + t²·Var(c)/c⁴, same quantile
    var_c, var_t = p_c * (1 - p_c) / control.users, p_t * (1 - p_t) / treatment.users
    rel_se = math.sqrt(var_t / p_c**2 + p_t**2 * var_c / p_c**4)
    rel_half = stats.norm.ppf(1 - alpha / 2) * rel_se
    assert ours.rel_ci == pytest.approx(
        (p_t / p_c - 1 - rel_half, p_t / p_c - 1 + rel_half), abs=1e-9
    )
    # the test and the interval agree: p < α exactly when the interval excludes 0
    z = (p_t - p_c) / se
    assert ours.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert (ours.abs_ci[0] > 0) == (ours.p_value < alpha)


def test_pinned_case_between_the_90_and_95_percent_quantiles_is_not_significant():
    control, treatment, _ = PINNED_WALD[0]
    ours = compare_proportions(control, treatment)
    assert stats.norm.ppf(0.95) < ours.statistic < stats.norm.ppf(0.975)
    assert ours.abs_ci[0] < 0 < ours.abs_ci[1] and ours.p_value > 0.05


@pytest.mark.parametrize(
    ("control", "treatment", "alpha"),
    [
        (ProportionStats(20_000, 200), ProportionStats(20_000, 240), 0.05),
        (ProportionStats(5_000, 900), ProportionStats(4_000, 800), 0.10),
    ],
)
def test_poisson_rate_interval_pinned_to_the_normal_quantile(control, treatment, alpha):
    """Events per user: diff ± Φ⁻¹(1 − α/2)·√(e_t/n_t² + e_c/n_c²), and statsmodels' Wald."""
    ours = compare_rates(control, treatment, alpha=alpha)
    r_c, r_t = control.conversions / control.users, treatment.conversions / treatment.users
    se = math.sqrt(
        treatment.conversions / treatment.users**2 + control.conversions / control.users**2
    )
    half = stats.norm.ppf(1 - alpha / 2) * se
    assert ours.abs_ci == pytest.approx((r_t - r_c - half, r_t - r_c + half), abs=1e-9)
    reference = sm_rates.confint_poisson_2indep(
        treatment.conversions,
        treatment.users,
        control.conversions,
        control.users,
        method="wald",
        compare="diff",
        alpha=alpha,
    )
    assert ours.abs_ci == pytest.approx(reference, abs=1e-9)


@pytest.mark.parametrize("users", [20, 50, 1_000, 10**9])
def test_one_arm_at_0pct_and_the_other_at_100pct_is_not_a_p_of_1(users):
    """The unpooled standard error is 0 here (Wald: z = ±∞). An arm with no conversions takes
    the score path, whose variance is taken at the pooled rate: p as statsmodels' score test,
    far below α, with an interval that excludes 0 on the same side."""
    control, treatment = ProportionStats(users, 0), ProportionStats(users, users)
    reference = sm_proportion.test_proportions_2indep(
        users, users, 0, users, method="score", compare="diff"
    )
    ours = compare_proportions(control, treatment)
    assert ours.method == "score"
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert ours.p_value < 1e-4
    assert ours.abs_ci[0] > 0 and ours.abs_ci[1] == 1.0
    backward = compare_proportions(treatment, control)
    assert backward.statistic == -ours.statistic and backward.abs_ci[1] < 0


def test_both_arms_at_zero_or_all_converting_have_no_evidence():
    for users, conversions in ((5_000, 0), (5_000, 5_000)):
        arm = ProportionStats(users, conversions)
        result = compare_proportions(arm, arm)
        assert result.p_value == 1.0
        assert result.abs_lift == 0.0


# --------------------------------------------------------------------------- score test


@pytest.mark.parametrize(
    ("control", "treatment", "method"),
    [
        (ProportionStats(300, 30), ProportionStats(300, 30), "wald-unpooled z-test"),
        (ProportionStats(300, 29), ProportionStats(300, 45), "score"),
        # non-conversions count too
        (ProportionStats(300, 271), ProportionStats(300, 240), "score"),
        (ProportionStats(1_000, 29), ProportionStats(20, 1), "score"),
        # the small holdout of an ad test: 5 conversions of 464
        (ProportionStats(464, 5), ProportionStats(12_000, 311), "score"),
        (ProportionStats(10_000, 400), ProportionStats(10_000, 420), "wald-unpooled z-test"),
    ],
)
def test_score_switch_below_30_events_or_non_events(control, treatment, method):
    assert _uses_wald(control, treatment) == method.startswith("wald")
    result = compare_proportions(control, treatment)
    assert result.method == method
    assert result.ci_method == ("wald" if method.startswith("wald") else "miettinen-nurminen score")


def _restricted_z(x_t: int, n_t: int, x_c: int, n_c: int, delta: float) -> float:
    """Miettinen–Nurminen z at H0: p_t − p_c = delta, the restricted MLE found numerically
    (scipy's bounded minimiser on the log-likelihood), not by the closed-form cubic."""

    def nll(q_c: float) -> float:
        q_t = q_c + delta
        terms = [(x_t, q_t), (n_t - x_t, 1 - q_t), (x_c, q_c), (n_c - x_c, 1 - q_c)]
        return -sum(k * math.log(q) for k, q in terms if k)

    low, high = max(0.0, -delta), min(1.0, 1 - delta)
    q_c = optimize.minimize_scalar(
        nll, bounds=(low, high), method="bounded", options={"xatol": 1e-13}
    ).x
    q_t = q_c + delta
    n = n_t + n_c
    var = (q_t * (1 - q_t) / n_t + q_c * (1 - q_c) / n_c) * n / (n - 1)
    return (x_t / n_t - x_c / n_c - delta) / math.sqrt(var)


@SETTINGS
@given(small_pairs(min_users=10), st.sampled_from([0.01, 0.05, 0.1]))
@example(
    pair=(ProportionStats(users=194, conversions=193), ProportionStats(users=10, conversions=1)),
    alpha=0.01,
)
def test_score_p_and_intervals_match_statsmodels(pair, alpha):
    """p-value: statsmodels ``test_proportions_2indep(method="score")`` (its sample 1 is the
    treatment). Relative lift: ``confint_proportions_2indep(method="score", compare="ratio")``
    − 1 (Koopman/Nam's closed form). Difference: statsmodels' score interval for a difference
    uses a wrong coefficient in its restricted MLE when the hypothesised difference is not 0
    (statsmodels issue #10269), so each bound is checked instead to be where the score z,
    its restricted MLE found numerically (to the minimiser's 1e-5 in z), equals ∓Φ⁻¹(1 − α/2)."""
    control, treatment = pair
    # At 0 % or 100 % in an arm the restricted MLE sits on the boundary, where neither
    # reference is reliable (statsmodels' Koopman roots, a bounded minimiser): interior only.
    assume(0 < control.rate < 1 and 0 < treatment.rate < 1)
    ours = compare_proportions(control, treatment, alpha=alpha)
    assert ours.method == "score"
    counts = (treatment.conversions, treatment.users, control.conversions, control.users)
    pooled = treatment.conversions + control.conversions
    if pooled in (0, treatment.users + control.users):  # statsmodels: 0/0 = nan
        assert ours.p_value == 1.0
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = sm_proportion.test_proportions_2indep(*counts, method="score")
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)
    z_crit = stats.norm.ppf(1 - alpha / 2)
    low, high = ours.abs_ci
    if low > -1:
        assert _restricted_z(*counts, low) == pytest.approx(z_crit, abs=1e-5)
    if high < 1:
        assert _restricted_z(*counts, high) == pytest.approx(-z_crit, abs=1e-5)
    assert low <= ours.abs_lift <= high
    if control.conversions and treatment.conversions:
        # Each bound of the relative lift is where statsmodels' own score test of that ratio
        # gives ∓Φ⁻¹(1 − α/2). Its closed-form interval solves the same equation through a
        # cubic's roots and loses digits at extreme rates (at 1/10 against 193/194, α = 0.01,
        # its lower bound sits 2.4e-6 off in z, 1.5e-6 relative), so it is checked more loosely.
        for bound, target in zip(ours.rel_ci, (z_crit, -z_crit), strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                at_bound = sm_proportion.test_proportions_2indep(
                    *counts, method="score", compare="ratio", value=bound + 1
                )
            assert at_bound.statistic == pytest.approx(target, abs=1e-7)
        ratio = sm_proportion.confint_proportions_2indep(
            *counts, method="score", compare="ratio", alpha=alpha
        )
        assert np.array(ours.rel_ci) + 1 == pytest.approx(ratio, rel=1e-4, abs=1e-9)


@SETTINGS
@given(small_pairs(), st.sampled_from([0.01, 0.05, 0.1]))
def test_score_intervals_agree_with_the_p_value(pair, alpha):
    """The difference and relative-lift intervals exclude 0 exactly when p < α."""
    ours = compare_proportions(*pair, alpha=alpha)
    assume(abs(ours.p_value - alpha) > 1e-9 and math.isfinite(ours.rel_lift))
    significant = ours.p_value < alpha
    assert (ours.abs_ci[0] > 0 or ours.abs_ci[1] < 0) == significant
    assert (ours.rel_ci[0] > 0 or ours.rel_ci[1] < 0) == significant


def test_small_holdout_wald_versus_score_fisher_and_boschloo():
    """5 of 464 vs 311 of 12,000. Wald: p = 0.0025 with a relative interval crossing 0 — the
    disagreement the score path removes. Score 0.0418 (statsmodels), Fisher 0.0480 (scipy)."""
    control, treatment = ProportionStats(464, 5), ProportionStats(12_000, 311)
    wald = compare_proportions(control, treatment, score_min_events=0)
    assert wald.p_value == pytest.approx(0.0025, abs=1e-4)
    assert wald.rel_ci[0] < 0
    ours = compare_proportions(control, treatment)
    reference = sm_proportion.test_proportions_2indep(311, 12_000, 5, 464, method="score")
    assert ours.p_value == pytest.approx(reference.pvalue, abs=1e-6)
    fisher = stats.fisher_exact([[311, 11_689], [5, 459]]).pvalue
    assert ours.p_value < fisher < 0.05
    assert ours.abs_ci[0] > 0 and ours.rel_ci[0] > 0


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        (ProportionStats(10_000, 1_000), ProportionStats(10_000, 1_090)),
        (ProportionStats(50_000, 2_500), ProportionStats(49_000, 2_300)),
        (ProportionStats(1_200, 600), ProportionStats(1_500, 790)),
        (ProportionStats(300_000, 3_000), ProportionStats(310_000, 3_400)),
    ],
)
def test_spotify_confidence_ztest_is_the_same_unpooled_test(control, treatment):
    """spotify-confidence ZTest: with numerator_sum_squares = conversions (0/1 data) the variance
    per arm is Σx²/n − p² = p(1 − p) and the standard error √(v₁/n₁ + v₂/n₂): unpooled, as ours.
    ``difference(level_1=control, level_2=treatment)`` is treatment − control."""
    import spotify_confidence

    frame = pd.DataFrame(
        {
            "group": ["control", "treatment"],
            "conversions": [control.conversions, treatment.conversions],
            "users": [control.users, treatment.users],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = spotify_confidence.ZTest(frame, "conversions", "conversions", "users", "group")
        row = test.difference(level_1="control", level_2="treatment").iloc[0]
    ours = compare_proportions(control, treatment)
    assert row["difference"] == pytest.approx(ours.abs_lift, abs=1e-15)
    assert row["p-value"] == pytest.approx(ours.p_value, rel=1e-9)
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(ours.abs_ci, rel=1e-9)


# --------------------------------------------------------------------------- events per user


@SETTINGS
@given(st.integers(1, 10**6), st.integers(1, 10**6), st.integers(1, 10**7), st.integers(1, 10**7))
def test_poisson_rates_match_statsmodels_wald(users_c, users_t, events_c, events_t):
    """Multi-count guardrails: statsmodels' Poisson ``method='wald'``, ``compare='diff'``."""
    control, treatment = ProportionStats(users_c, events_c), ProportionStats(users_t, events_t)
    ours = compare_rates(control, treatment)
    reference = sm_rates.test_poisson_2indep(
        events_t, users_t, events_c, users_c, method="wald", compare="diff"
    )
    low, high = sm_rates.confint_poisson_2indep(
        events_t, users_t, events_c, users_c, method="wald", compare="diff"
    )
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15)
    assert ours.abs_ci == pytest.approx((low, high), rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- chi-square tests


@SETTINGS
@given(
    st.lists(st.integers(1, 10**7), min_size=2, max_size=6).flatmap(
        lambda users: st.tuples(
            st.just(users),
            st.lists(st.floats(0.05, 20), min_size=len(users), max_size=len(users)),
        )
    )
)
def test_srm_chi_square_matches_scipy_chisquare(users_and_shares):
    users, shares = users_and_shares
    chi2, p_value = srm_chi_square(users, shares)
    expected = np.array(shares) / sum(shares) * sum(users)
    reference = stats.chisquare(users, f_exp=expected)
    assert chi2 == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-300)
    assert 0 <= p_value <= 1


@SETTINGS
@given(st.lists(arms(min_users=1, max_users=100_000), min_size=2, max_size=6))
def test_chi_square_independence_matches_scipy_and_statsmodels(arm_list):
    chi2, dof, p_value = chi_square_independence(arm_list)
    table = np.array([[a.conversions, a.users - a.conversions] for a in arm_list], dtype=float)
    if (table.sum(axis=0) == 0).any():
        # Nobody (or everybody) converted: scipy would divide by a zero expected count; we report
        # "no evidence" (chi² = 0, p = 1) instead of NaN.
        assert (chi2, dof, p_value) == (0.0, len(arm_list) - 1, 1.0)
        return
    reference = stats.chi2_contingency(table, correction=False)
    assert chi2 == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert dof == reference.dof == len(arm_list) - 1
    assert p_value == pytest.approx(reference.pvalue, rel=1e-7, abs=1e-300)
    # statsmodels computes p as 1 − cdf (and its chi² from fitted values), exact only absolutely
    # 9.1273433e-11 where the survival function gives 9.1273418e-11), so compare absolutely.
    association = Table(table, shift_zeros=False).test_nominal_association()
    assert chi2 == pytest.approx(association.statistic, rel=1e-9, abs=1e-12)
    assert p_value == pytest.approx(association.pvalue, abs=1e-9)
