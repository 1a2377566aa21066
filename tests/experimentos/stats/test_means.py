"""Continuous metrics (SPEC §2.5): Welch's t-test from sufficient statistics, against scipy,
statsmodels and gbstats computed on the raw data whose Σx, Σx² and n we hand to the project."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import SampleMeanStatistic
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from experimentos.model import MeanStats
from experimentos.stats.means import welch_comparison

Z975 = stats.norm.ppf(0.975)
SETTINGS = settings(max_examples=120, deadline=None)

samples = hnp.arrays(
    np.float64,
    st.integers(2, 300),
    elements=st.floats(-1_000, 1_000, allow_nan=False, allow_infinity=False, width=32),
)


def _stats(values: np.ndarray) -> MeanStats:
    return MeanStats(len(values), float(values.sum()), float((values**2).sum()))


def _spread(values: np.ndarray) -> bool:
    """Enough variance that Σx² − (Σx)²/n is not lost to rounding (the sufficient statistics'
    own limit: they cannot carry a variance below ~1e-12 of the mean square)."""
    return values.std() > 1e-3 * (1 + abs(values.mean()))


@SETTINGS
@given(samples, samples, st.sampled_from([0.01, 0.05, 0.1]))
def test_welch_matches_scipy_and_statsmodels_on_the_raw_data(control, treatment, alpha):
    assume(_spread(control) and _spread(treatment))
    ours = welch_comparison(_stats(control), _stats(treatment), alpha=alpha)

    scipy_result = stats.ttest_ind_from_stats(
        treatment.mean(),
        treatment.std(ddof=1),
        len(treatment),
        control.mean(),
        control.std(ddof=1),
        len(control),
        equal_var=False,
    )
    assert ours.statistic == pytest.approx(scipy_result.statistic, rel=1e-6, abs=1e-9)
    assert ours.p_value == pytest.approx(scipy_result.pvalue, rel=1e-6, abs=1e-12)

    compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    t_stat, p_value, _ = compare.ttest_ind(usevar="unequal")
    low, high = compare.tconfint_diff(alpha=alpha, usevar="unequal")
    assert ours.statistic == pytest.approx(t_stat, rel=1e-6, abs=1e-9)
    assert ours.p_value == pytest.approx(p_value, rel=1e-6, abs=1e-12)
    assert ours.abs_lift == pytest.approx(treatment.mean() - control.mean(), rel=1e-9, abs=1e-9)
    assert ours.abs_ci == pytest.approx((low, high), rel=1e-6, abs=1e-9)
    assert ours.abs_ci[0] <= ours.abs_lift <= ours.abs_ci[1]


@SETTINGS
@given(samples, samples)
def test_gbstats_absolute_ttest_is_the_same_welch_test(control, treatment):
    """gbstats' TwoSidedTTest on SampleMeanStatistic (unbiased variance, Welch–Satterthwaite df,
    Student's t) with difference_type='absolute' is Welch's test: p, estimate and CI all agree."""
    assume(_spread(control) and _spread(treatment))
    ours = welch_comparison(_stats(control), _stats(treatment))
    result = TwoSidedTTest(
        _gb(control), _gb(treatment), FrequentistConfig(difference_type="absolute")
    ).compute_result()
    assert result.expected == pytest.approx(ours.abs_lift, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(ours.p_value, rel=1e-6, abs=1e-12)
    assert result.ci == pytest.approx(list(ours.abs_ci), rel=1e-6, abs=1e-9)


@SETTINGS
@given(samples, samples)
def test_gbstats_relative_lift_same_delta_method_but_t_quantile(control, treatment):
    """gbstats' default relative test: lift t/c − 1 and the delta-method variance
    s_t²/(n_t·c²) + t²·s_c²/(n_c·c⁴), as ours. gbstats builds the CI with the t quantile at the
    Welch df of the raw means; ours uses the normal quantile (SPEC: "CI of the relative lift by
    the delta method"), so gbstats' relative CI is wider by t.ppf(0.975, df) / 1.95996 —
    negligible at experiment sizes, 1.3% at df = 120, 14% at df = 10."""
    assume(_spread(control) and _spread(treatment))
    assume(abs(control.mean()) > 1e-3 * control.std())
    ours = welch_comparison(_stats(control), _stats(treatment))
    result = TwoSidedTTest(_gb(control), _gb(treatment), FrequentistConfig()).compute_result()
    se_ours = (ours.rel_ci[1] - ours.rel_ci[0]) / (2 * Z975)
    assert result.expected == pytest.approx(ours.rel_lift, rel=1e-6, abs=1e-9)
    assert result.uplift.stddev == pytest.approx(se_ours, rel=1e-6)
    var_t = treatment.var(ddof=1) / len(treatment)
    var_c = control.var(ddof=1) / len(control)
    dof = (var_t + var_c) ** 2 / (var_t**2 / (len(treatment) - 1) + var_c**2 / (len(control) - 1))
    half_gb = (result.ci[1] - result.ci[0]) / 2
    assert half_gb == pytest.approx(stats.t.ppf(0.975, dof) * se_ours, rel=1e-6)


def _gb(values: np.ndarray) -> SampleMeanStatistic:
    return SampleMeanStatistic(
        n=len(values), sum=float(values.sum()), sum_squares=float((values**2).sum())
    )


def test_large_experiment_reference_values():
    """A revenue-like metric, 40,000 users per arm, seeded: ours vs scipy on the raw data."""
    rng = np.random.default_rng(7)
    control = rng.gamma(2.0, 5.0, 40_000)
    treatment = rng.gamma(2.0, 5.1, 40_000)
    ours = welch_comparison(_stats(control), _stats(treatment))
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    low, high = reference.confidence_interval()
    assert ours.abs_ci == pytest.approx((low, high), rel=1e-9)


def test_zero_variance_in_both_arms_gives_no_test():
    same = MeanStats(10, 50.0, 250.0)  # ten users at exactly 5.0
    result = welch_comparison(same, same)
    assert math.isnan(result.p_value)
    assert result.abs_lift == 0.0


def test_tiny_values_do_not_underflow_the_welch_df():
    """Found by the ingest property test: variances ~1e-224 squared underflow to 0 and the
    Welch–Satterthwaite df divided 0 by 0 (ZeroDivisionError). The df is scale-free."""
    scale = 1e-112
    control = MeanStats(2, -6.3 * scale, 2.01e-223)
    treatment = MeanStats(3, 1.0 * scale, 3.0e-224)
    result = welch_comparison(control, treatment)
    assert 0 <= result.p_value <= 1
    reference = welch_comparison(
        MeanStats(2, -6.3, 2.01e-223 / scale**2), MeanStats(3, 1.0, 3.0e-224 / scale**2)
    )
    assert result.p_value == pytest.approx(reference.p_value, rel=1e-9)
