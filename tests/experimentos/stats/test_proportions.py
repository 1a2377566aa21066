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
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import ProportionStatistic
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats.contingency import expected_freq
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats import rates as sm_rates
from statsmodels.stats.contingency_tables import Table

from experimentos.model import ProportionStats
from experimentos.stats.proportions import (
    chi_square_independence,
    compare_proportions,
    compare_rates,
    fisher_exact_p,
    srm_chi_square,
)

Z975 = stats.norm.ppf(0.975)
SETTINGS = settings(max_examples=150, deadline=None)


def _uses_wald(control: ProportionStats, treatment: ProportionStats) -> bool:
    """Every expected cell of the 2×2 table ≥ 5 (scipy's expected_freq, not the project's code)."""
    table = [
        [treatment.conversions, treatment.users - treatment.conversions],
        [control.conversions, control.users - control.conversions],
    ]
    return bool(expected_freq(np.array(table, dtype=float)).min() >= 5)


@st.composite
def arms(draw, *, min_users: int = 1, max_users: int = 1_000_000):
    """An arm: users, and conversions anywhere from none to all."""
    users = draw(st.integers(min_users, max_users))
    share = draw(st.floats(0, 1))
    conversions = draw(st.one_of(st.integers(0, users), st.just(round(users * share))))
    return ProportionStats(users, conversions)


@st.composite
def wald_pairs(draw):
    """(control, treatment) with every expected cell ≥ 5: the large-sample Wald path."""
    control, treatment = draw(arms(min_users=20)), draw(arms(min_users=20))
    assume(_uses_wald(control, treatment))
    return control, treatment


@st.composite
def small_pairs(draw):
    """(control, treatment) with an expected cell < 5: the Fisher and Newcombe path."""
    control, treatment = draw(arms(max_users=400)), draw(arms(max_users=400))
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
    """The unpooled standard error is 0 here and every expected cell is ≥ 5, so the Wald test
    applies with z = ±∞: statsmodels reports z = inf, p = 0. Before the fix we reported z = 0,
    p = 1 beside a CI of (1, 1): "no evidence" for the largest possible lift (and "CI excludes 0"
    without "p < α"). Now p = 0, consistent with the degenerate interval."""
    control, treatment = ProportionStats(users, 0), ProportionStats(users, users)
    reference = sm_proportion.test_proportions_2indep(
        users, users, 0, users, method="wald", compare="diff"
    )
    assert (reference.statistic, reference.pvalue) == (math.inf, 0.0)
    ours = compare_proportions(control, treatment)
    assert ours.method == "wald-unpooled z-test"
    assert (ours.statistic, ours.p_value, ours.abs_ci) == (math.inf, 0.0, (1.0, 1.0))
    backward = compare_proportions(treatment, control)
    assert (backward.statistic, backward.p_value) == (-math.inf, 0.0)


def test_both_arms_at_zero_or_all_converting_have_no_evidence():
    for users, conversions in ((5_000, 0), (5_000, 5_000)):
        arm = ProportionStats(users, conversions)
        result = compare_proportions(arm, arm)
        assert result.p_value == 1.0
        assert result.abs_lift == 0.0


# --------------------------------------------------------------------------- Fisher and Newcombe


@pytest.mark.parametrize(
    ("control", "treatment", "method"),
    [
        # expected conversions 100 · 10 / 200 = 5.0 in both arms: not below 5, so Wald
        (ProportionStats(100, 5), ProportionStats(100, 5), "wald-unpooled z-test"),
        # 100 · 9 / 200 = 4.5 < 5: Fisher
        (ProportionStats(100, 4), ProportionStats(100, 5), "fisher exact test"),
        # non-conversions are cells too: 100 · 9 / 200 = 4.5 non-converting expected
        (ProportionStats(100, 96), ProportionStats(100, 95), "fisher exact test"),
        # unequal arms: expected 20 · 30 / 1020 = 0.59 in the small arm
        (ProportionStats(1_000, 29), ProportionStats(20, 1), "fisher exact test"),
        (ProportionStats(10_000, 400), ProportionStats(10_000, 420), "wald-unpooled z-test"),
    ],
)
def test_fisher_switch_at_an_expected_cell_below_5(control, treatment, method):
    assert _uses_wald(control, treatment) == method.startswith("wald")
    result = compare_proportions(control, treatment)
    assert result.method == method
    assert result.ci_method == ("wald" if method.startswith("wald") else "newcombe hybrid score")


@SETTINGS
@given(small_pairs())
def test_fisher_p_and_newcombe_interval_match_scipy_and_statsmodels(pair):
    control, treatment = pair
    ours = compare_proportions(control, treatment)
    assert ours.method == "fisher exact test"
    table = [
        [treatment.conversions, treatment.users - treatment.conversions],
        [control.conversions, control.users - control.conversions],
    ]
    assert ours.p_value == pytest.approx(stats.fisher_exact(table)[1], rel=1e-9, abs=1e-300)
    low, high = sm_proportion.confint_proportions_2indep(
        treatment.conversions,
        treatment.users,
        control.conversions,
        control.users,
        method="newcomb",
        compare="diff",
    )
    assert ours.abs_ci == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    assert ours.abs_ci[0] <= ours.abs_lift <= ours.abs_ci[1]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(0, 300),
)
def test_fisher_exact_p_matches_scipy_including_ties_and_empty_margins(a, b, c, d):
    """Our term-ratio implementation against scipy's (which is linear in the number of users).

    scipy treats tables within a relative 1e-14 of the observed probability as ties, we (like R's
    fisher.test) within 1e-7; no table here falls between the two.
    """
    table = [[a, b], [c, d]]
    assert fisher_exact_p(table) == pytest.approx(stats.fisher_exact(table)[1], rel=1e-9)


def test_fisher_exact_p_is_exact_and_fast_at_a_billion_users():
    # One-sided tail by hand: 13 events in one arm, none in the other, equal arms of n users.
    # P(X = 13 | 13 events) = C(n, 13) / C(2n, 13) ≈ 2^-13; two-sided: 2 · 2^-13 = 2^-12.
    n = 10**9
    p = fisher_exact_p([[13, n - 13], [0, n]])
    assert p == pytest.approx(2.0**-12, rel=1e-7)
    assert fisher_exact_p([[0, n], [0, n]]) == 1.0


# --------------------------------------------------------------------------- gbstats


def _gb(stat: ProportionStats) -> ProportionStatistic:
    return ProportionStatistic(n=stat.users, sum=stat.conversions)


def _gb_welch_dof(control: ProportionStats, treatment: ProportionStats) -> float:
    """gbstats' TTest.dof: Welch–Satterthwaite with the per-user variance p(1 − p)."""
    v_c, v_t = control.rate * (1 - control.rate), treatment.rate * (1 - treatment.rate)
    n_c, n_t = control.users, treatment.users
    return (v_t / n_t + v_c / n_c) ** 2 / (
        v_t**2 / (n_t**2 * (n_t - 1)) + v_c**2 / (n_c**2 * (n_c - 1))
    )


@st.composite
def interior_pairs(draw):
    """Wald pairs with both rates strictly inside (0, 1): gbstats returns a default otherwise."""
    control, treatment = draw(wald_pairs())
    assume(0 < control.rate < 1 and 0 < treatment.rate < 1)
    return control, treatment


@SETTINGS
@given(interior_pairs())
def test_gbstats_absolute_ttest_same_estimate_and_se_but_t_distribution(pair):
    """gbstats ``TwoSidedTTest`` with ``difference_type='absolute'``.

    Same estimate (t − c) and the same unpooled standard error √(p_t(1−p_t)/n_t + p_c(1−p_c)/n_c)
    (its ProportionStatistic variance is p(1 − p)). It differs in the reference distribution:
    Student's t with Welch–Satterthwaite df instead of the normal, so its p-value is larger
    (p_gb = 2·t.sf(|z|, df)) and its CI wider (by t.ppf(0.975, df) / 1.95996).
    """
    control, treatment = pair
    ours = compare_proportions(control, treatment)
    config = FrequentistConfig(difference_type="absolute")
    result = TwoSidedTTest(_gb(control), _gb(treatment), config).compute_result()
    dof = _gb_welch_dof(control, treatment)
    assert result.expected == pytest.approx(ours.abs_lift, abs=1e-15)
    assert result.uplift.stddev == pytest.approx(ours.standard_error, rel=1e-9)
    assert result.p_value == pytest.approx(
        2 * stats.t.sf(abs(ours.statistic), dof), rel=1e-6, abs=1e-12
    )
    assert ours.p_value <= result.p_value + 1e-12
    half_ours = (ours.abs_ci[1] - ours.abs_ci[0]) / 2
    half_gb = (result.ci[1] - result.ci[0]) / 2
    assert half_gb / half_ours == pytest.approx(stats.t.ppf(0.975, dof) / Z975, rel=1e-9)


@SETTINGS
@given(interior_pairs())
def test_gbstats_relative_ttest_same_delta_method_se(pair):
    """gbstats' default (relative) test: lift t/c − 1 with the delta-method variance
    Var(t)/c² + t²·Var(c)/c⁴ — the formula of our ``relative_lift``. Its CI uses the t quantile
    (ours the normal), and its p-value tests the relative lift, which is not the same z as the
    absolute test we report (see test_relative_and_absolute_z_differ)."""
    control, treatment = pair
    ours = compare_proportions(control, treatment)
    result = TwoSidedTTest(_gb(control), _gb(treatment), FrequentistConfig()).compute_result()
    dof = _gb_welch_dof(control, treatment)
    se_ours = (ours.rel_ci[1] - ours.rel_ci[0]) / (2 * Z975)
    assert result.expected == pytest.approx(ours.rel_lift, rel=1e-9, abs=1e-15)
    assert result.uplift.stddev == pytest.approx(se_ours, rel=1e-9)
    half_gb = (result.ci[1] - result.ci[0]) / 2
    assert half_gb == pytest.approx(stats.t.ppf(0.975, dof) * se_ours, rel=1e-9)


def test_relative_and_absolute_z_differ():
    """The number behind the closing note: 1,000/10,000 vs 1,090/10,000.

    Ours (absolute, Wald): z = 2.0806, p = 0.03747 — statsmodels and spotify-confidence agree.
    gbstats absolute t-test: p = 0.03749 (t with df ≈ 19,970). gbstats relative t-test:
    z = 0.09 / 0.04517 = 1.9924, p = 0.04634. The delta-method z of a ratio is not the z of the
    difference, so the relative test crosses 0.05 later; the verdict uses the absolute test.
    """
    control, treatment = ProportionStats(10_000, 1_000), ProportionStats(10_000, 1_090)
    ours = compare_proportions(control, treatment)
    assert ours.p_value == pytest.approx(0.0374727, abs=1e-7)
    relative = TwoSidedTTest(_gb(control), _gb(treatment), FrequentistConfig()).compute_result()
    absolute = TwoSidedTTest(
        _gb(control), _gb(treatment), FrequentistConfig(difference_type="absolute")
    ).compute_result()
    assert absolute.p_value == pytest.approx(0.0374855, abs=1e-7)
    assert relative.p_value == pytest.approx(0.0463409, abs=1e-7)
    assert relative.uplift.mean / relative.uplift.stddev == pytest.approx(1.99240, abs=1e-5)


@SETTINGS
@given(interior_pairs())
def test_relative_ci_equals_gbstats_bayesian_credible_interval(pair):
    """gbstats' Bayesian effect test with its default improper prior is a normal posterior on the
    relative lift with the delta-method variance: its 95% credible interval is exactly our
    relative CI (both use the normal quantile)."""
    control, treatment = pair
    ours = compare_proportions(control, treatment)
    result = EffectBayesianABTest(
        _gb(control), _gb(treatment), EffectBayesianConfig()
    ).compute_result()
    assert result.ci == pytest.approx(list(ours.rel_ci), rel=1e-9, abs=1e-12)


# --------------------------------------------------------------------------- spotify-confidence


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
