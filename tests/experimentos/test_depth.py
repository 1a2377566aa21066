"""Segments, CUPED and guardrail margins, checked against independent implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import RegressionAdjustedStatistic, SampleMeanStatistic
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from experimentos.analysis.assemble import analyze
from experimentos.model import CovariateStats, Options
from experimentos.stats.cuped import cuped_comparison
from experimentos.stats.segments import cochran_q, simpsons_paradox


def _covariate_arm(
    rng: np.random.Generator, n: int, effect: float
) -> tuple[CovariateStats, np.ndarray, np.ndarray]:
    pre = rng.gamma(2.0, 5.0, n)
    post = 0.7 * pre + rng.normal(0.0, 2.0, n) + effect
    stats_ = CovariateStats(
        n, post.sum(), (post**2).sum(), pre.sum(), (pre**2).sum(), (pre * post).sum()
    )
    return stats_, pre, post


def _gbstats(arm: CovariateStats) -> RegressionAdjustedStatistic:
    return RegressionAdjustedStatistic(
        n=arm.n,
        post_statistic=SampleMeanStatistic(n=arm.n, sum=arm.total, sum_squares=arm.total_sq),
        pre_statistic=SampleMeanStatistic(n=arm.n, sum=arm.pre_total, sum_squares=arm.pre_total_sq),
        post_pre_sum_of_products=arm.cross_total,
        theta=0,
    )


def test_cuped_matches_gbstats_absolute() -> None:
    """gbstats' regression adjustment (pooled θ, Welch t) is the same estimator: exact match."""
    rng = np.random.default_rng(7)
    control, _, _ = _covariate_arm(rng, 6000, 0.0)
    treatment, _, _ = _covariate_arm(rng, 6000, 0.12)
    ours = cuped_comparison(control, treatment)
    theirs = TwoSidedTTest(
        _gbstats(control), _gbstats(treatment), FrequentistConfig(difference_type="absolute")
    ).compute_result()
    assert ours.comparison.abs_lift == pytest.approx(theirs.expected, rel=1e-12)
    assert ours.comparison.abs_ci == pytest.approx(tuple(theirs.ci), rel=1e-9)
    assert ours.comparison.p_value == pytest.approx(theirs.p_value, rel=1e-6)


def test_cuped_relative_lift_close_to_gbstats() -> None:
    """Relative lift: same point estimate and the same delta-method formula on both arms'
    adjusted variances, so the CI widths agree closely (asserted within 1%)."""
    rng = np.random.default_rng(8)
    control, _, _ = _covariate_arm(rng, 6000, 0.0)
    treatment, _, _ = _covariate_arm(rng, 6000, 0.12)
    ours = cuped_comparison(control, treatment).comparison
    theirs = TwoSidedTTest(
        _gbstats(control), _gbstats(treatment), FrequentistConfig(difference_type="relative")
    ).compute_result()
    assert ours.rel_lift == pytest.approx(theirs.expected, rel=1e-9)
    ours_width = ours.rel_ci[1] - ours.rel_ci[0]
    theirs_width = theirs.ci[1] - theirs.ci[0]
    assert ours_width == pytest.approx(theirs_width, rel=0.01)


def test_cuped_theta_is_the_pooled_regression_slope() -> None:
    rng = np.random.default_rng(9)
    control, pre_c, post_c = _covariate_arm(rng, 3000, 0.0)
    treatment, pre_t, post_t = _covariate_arm(rng, 3000, 0.5)
    result = cuped_comparison(control, treatment)
    pre, post = np.concatenate([pre_c, pre_t]), np.concatenate([post_c, post_t])
    slope = np.cov(pre, post, ddof=1)[0, 1] / np.var(pre, ddof=1)
    assert result.theta == pytest.approx(slope, rel=1e-9)
    assert 0.5 < result.variance_reduction < 1.0


def test_cuped_from_aggregated_columns_reduces_variance() -> None:
    rng = np.random.default_rng(10)
    rows = [
        "variant,users,conversions,revenue_sum,revenue_sum_sq,revenue_pre_sum,"
        "revenue_pre_sum_sq,revenue_cross_sum"
    ]
    for arm, effect in (("control", 0.0), ("treatment", 0.15)):
        s, _, _ = _covariate_arm(rng, 8000, effect)
        rows.append(
            f"{arm},{s.n},800,{s.total},{s.total_sq},{s.pre_total},{s.pre_total_sq},{s.cross_total}"
        )
    analysis = analyze("\n".join(rows).encode(), file_name="cuped.csv")
    (revenue,) = analysis.secondary
    assert revenue.comparison.method == "cuped welch t-test"
    assert revenue.variance_reduction is not None and revenue.variance_reduction > 0.5
    assert "CUPED" in revenue.notes[0]


def test_cochran_q_matches_statsmodels() -> None:
    lifts = np.array([0.010, 0.020, 0.005, -0.004])
    ses = np.array([0.004, 0.006, 0.005, 0.007])
    q, dof, p_value, i2 = cochran_q(lifts, ses)
    reference = combine_effects(lifts, ses**2)
    assert q == pytest.approx(reference.q, rel=1e-12)
    assert dof == reference.df_resid
    assert i2 == pytest.approx(reference.i2, rel=1e-9)
    assert p_value == pytest.approx(stats.chi2.sf(reference.q, reference.df_resid))


@pytest.mark.parametrize(
    ("pooled", "segments", "expected"),
    [
        (0.02, [-0.01, -0.01], True),
        (0.02, [0.01, -0.01], False),
        (-0.02, [0.01, 0.03], True),
        (0.02, [0.01, 0.03], False),
        (0.02, [-0.01], False),
    ],
)
def test_simpsons_paradox_rule(pooled: float, segments: list[float], expected: bool) -> None:
    assert simpsons_paradox(pooled, segments) is expected


SIMPSON_CSV = b"""variant,segment,users,conversions
control,mobile,8000,800
treatment,mobile,2000,180
control,desktop,2000,600
treatment,desktop,8000,2320
"""


def test_simpsons_paradox_and_segment_srm_hold_the_verdict() -> None:
    analysis = analyze(SIMPSON_CSV, file_name="simpson.csv")
    codes = {f.code for f in analysis.health.findings}
    assert {"simpsons_paradox", "srm_segment"} <= codes
    assert any("Simpson's paradox" in f.message for f in analysis.health.findings)
    assert analysis.primary[0].comparison.abs_lift > 0
    assert all(r.metric.comparison.abs_lift < 0 for r in analysis.segments)
    assert (analysis.verdict.kind, analysis.verdict.rule) == ("hold", 2)


def test_segments_pool_to_the_whole() -> None:
    analysis = analyze(SIMPSON_CSV, file_name="simpson.csv")
    control = analysis.primary[0].control
    assert control.n == 10000 and control.conversions == 1400
    assert len(analysis.segments) == 2
    (het,) = analysis.heterogeneity
    assert het.simpsons_paradox and het.dof == 1


def _margin_csv(treatment_conversions: int) -> bytes:
    return (
        "variant,users,conversions,guardrail_checkout\n"
        f"control,2000000,220000,200000\n"
        f"treatment,2000000,221000,{treatment_conversions}\n"
    ).encode()


@pytest.mark.parametrize(("checkout", "within"), [(201000, True), (197000, False)])
def test_guardrail_margin_one_sided(checkout: int, within: bool) -> None:
    """ "Checkout rate may not drop more than 1%": one-sided test of rel ≥ −1% by delta method."""
    options = Options(
        higher_is_better=frozenset({"guardrail_checkout"}), margins=(("guardrail_checkout", 0.01),)
    )
    analysis = analyze(_margin_csv(checkout), file_name="margin.csv", options=options)
    (guardrail,) = analysis.guardrails
    p_c, p_t, n = 0.1, checkout / 2000000, 2000000
    ratio = p_t / p_c
    se = math.sqrt(p_t * (1 - p_t) / n / p_c**2 + p_t**2 * p_c * (1 - p_c) / n / p_c**4)
    expected_p = stats.norm.sf((ratio - 1 + 0.01) / se)
    assert guardrail.margin_p_value == pytest.approx(expected_p, rel=1e-6)
    assert guardrail.within_margin is within
    assert guardrail.status == ("ok" if within else "worsened")
