"""A continuous primary (``--primary revenue``) and a ratio primary (``--ratio aov=…``): Welch's
test from the sums of a user-level or an aggregated file, against statsmodels on the raw rows and
gbstats on the sufficient statistics; CUPED against gbstats' regression adjustment; the verdict,
the correction over arms and the renderers in the metric's units."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import (
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from experimentos import analyze, render_markdown
from experimentos.model import Options, RatioSpec
from experimentos.report.text import render as render_text

Z975 = float(stats.norm.ppf(0.975))


def users(seed: int, *, lift: float = 2.0, n: int = 4000, arms: int = 2) -> pd.DataFrame:
    """Per user: revenue ≈ 0.8·pre_revenue + noise (+ ``lift`` × arm index), 1–4 orders."""
    rng = np.random.default_rng(seed)
    names = ["control", "treatment", "t2", "t3"][:arms]
    arm = rng.integers(0, arms, n)
    pre = rng.gamma(2.0, 10.0, n)
    revenue = 0.8 * pre + rng.gamma(2.0, 6.0, n) + lift * arm
    return pd.DataFrame(
        {
            "user_id": np.arange(1, n + 1),
            "variant": np.array(names)[arm],
            "converted": rng.integers(0, 2, n),
            "revenue": np.round(revenue, 2),
            "pre_revenue": np.round(pre, 2),
            "orders": rng.integers(1, 5, n),
        }
    )


def csv(frame: pd.DataFrame) -> bytes:
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return out.getvalue().encode()


def run(frame: pd.DataFrame, name: str = "rev.csv", **options: object):
    return analyze(csv(frame), file_name=name, options=Options(**options))  # type: ignore[arg-type]


def gb_mean(values: pd.Series) -> SampleMeanStatistic:
    x = values.to_numpy(float)
    return SampleMeanStatistic(n=len(x), sum=float(x.sum()), sum_squares=float((x**2).sum()))


def test_mean_primary_is_welch_on_the_raw_rows_statsmodels():
    frame = users(1).drop(columns="pre_revenue")
    a = run(frame, primary="revenue")
    (m,) = a.primary
    assert (m.kind, m.role, m.comparison.method) == ("mean", "primary", "welch t-test")
    c = frame.loc[frame.variant == "control", "revenue"].to_numpy(float)
    t = frame.loc[frame.variant == "treatment", "revenue"].to_numpy(float)
    cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
    stat, p, _ = cm.ttest_ind(usevar="unequal")
    low, high = cm.tconfint_diff(alpha=0.05, usevar="unequal")
    assert m.comparison.abs_lift == pytest.approx(t.mean() - c.mean(), rel=1e-9)
    assert m.comparison.p_value == pytest.approx(p, rel=1e-6)
    assert m.comparison.statistic == pytest.approx(stat, rel=1e-6)
    assert m.comparison.abs_ci == pytest.approx((low, high), rel=1e-6)
    assert (m.control.value, m.treatment.value) == pytest.approx((c.mean(), t.mean()), rel=1e-9)


def test_mean_primary_relative_lift_and_its_delta_method_se_match_gbstats():
    """gbstats' relative TwoSidedTTest: same lift and delta-method SE to 1e-6 (its CI takes the
    t quantile at the Welch df, ours the normal one, so the SE is compared, not the bounds)."""
    frame = users(2).drop(columns="pre_revenue")
    (m,) = run(frame, primary="revenue").primary
    gb = TwoSidedTTest(
        gb_mean(frame.revenue[frame.variant == "control"]),
        gb_mean(frame.revenue[frame.variant == "treatment"]),
        FrequentistConfig(difference_type="relative"),
    ).compute_result()
    assert m.comparison.rel_lift == pytest.approx(gb.expected, rel=1e-6)
    ours_se = (m.comparison.rel_ci[1] - m.comparison.rel_ci[0]) / (2 * Z975)
    assert ours_se == pytest.approx(gb.uplift.stddev, rel=1e-6)


def test_aggregated_sums_give_the_same_primary_as_the_rows():
    frame = users(3).drop(columns="pre_revenue")
    rows = run(frame, primary="revenue").primary[0]
    g = frame.groupby("variant", sort=False).revenue
    agg = pd.DataFrame(
        {
            "variant": list(g.groups),
            "users": g.size().to_numpy(),
            "revenue_sum": g.sum().to_numpy(),
            "revenue_sum_sq": g.apply(lambda x: float((x**2).sum())).to_numpy(),
        }
    )
    a = run(agg, name="agg.csv", primary="revenue")
    (m,) = a.primary
    assert a.experiment.input_format == "aggregated"
    assert m.kind == "mean"
    assert m.comparison.p_value == pytest.approx(rows.comparison.p_value, rel=1e-6)
    assert m.comparison.abs_ci == pytest.approx(rows.comparison.abs_ci, rel=1e-6)


def test_cuped_primary_matches_gbstats_regression_adjustment():
    frame = users(4)
    (m,) = run(frame, primary="revenue").primary
    assert m.comparison.method == "cuped welch t-test" and m.theta is not None

    def gb(arm: str) -> RegressionAdjustedStatistic:
        rows = frame[frame.variant == arm]
        return RegressionAdjustedStatistic(
            n=len(rows),
            post_statistic=gb_mean(rows.revenue),
            pre_statistic=gb_mean(rows.pre_revenue),
            post_pre_sum_of_products=float((rows.revenue * rows.pre_revenue).sum()),
            theta=m.theta,  # gbstats' compute_theta pools both arms, as ours
        )

    result = TwoSidedTTest(
        gb("control"), gb("treatment"), FrequentistConfig(difference_type="absolute")
    ).compute_result()
    assert m.comparison.abs_lift == pytest.approx(result.expected, rel=1e-6)
    assert m.comparison.p_value == pytest.approx(result.p_value, rel=1e-5, abs=1e-12)
    assert m.comparison.abs_ci == pytest.approx(result.ci, rel=1e-6)
    # θ against a direct regression of revenue on pre_revenue over both arms pooled
    pooled = np.cov(frame.pre_revenue, frame.revenue)
    assert m.theta == pytest.approx(pooled[0, 1] / pooled[0, 0], rel=1e-9)


def test_ratio_primary_matches_gbstats_ratio_statistic():
    frame = users(5)
    a = run(frame, primary="aov", ratios=(RatioSpec("aov", "revenue", "orders"),))
    (m,) = a.primary
    assert (m.kind, m.role) == ("ratio", "primary")
    assert "aov" not in {s.name for s in a.secondary}

    def gb(arm: str) -> RatioStatistic:
        rows = frame[frame.variant == arm]
        return RatioStatistic(
            n=len(rows),
            m_statistic=gb_mean(rows.revenue),
            d_statistic=gb_mean(rows.orders),
            m_d_sum_of_products=float((rows.revenue * rows.orders).sum()),
        )

    absolute = TwoSidedTTest(
        gb("control"), gb("treatment"), FrequentistConfig(difference_type="absolute")
    ).compute_result()
    assert m.comparison.abs_lift == pytest.approx(absolute.expected, rel=1e-9)
    se = (m.comparison.abs_ci[1] - m.comparison.abs_ci[0]) / (2 * Z975)
    assert se == pytest.approx(absolute.uplift.stddev, rel=1e-6)


def test_significant_rise_launches_and_drop_rolls_back():
    up = run(users(6, lift=3.0), primary="revenue")
    assert (up.verdict.kind, up.verdict.rule) == ("launch", 6)
    assert "pp" not in up.verdict.reason
    down = run(users(6, lift=-3.0), primary="revenue")
    assert (down.verdict.kind, down.verdict.rule) == ("rollback", 3)


def test_hold_sizes_the_sample_from_the_metric_variance():
    frame = users(7, lift=0.05, n=1000).drop(columns="pre_revenue")
    a = run(frame, primary="revenue", mde=1.0)
    assert a.verdict.kind == "hold" and a.verdict.rule == 7
    # 2σ²(z₀.₉₇₅ + z₀.₈)²/Δ², σ² the per-user variance behind the comparison's SE
    (m,) = a.primary
    variance = m.comparison.standard_error**2 / (1 / m.control.n + 1 / m.treatment.n)
    expected = 2 * variance * (Z975 + stats.norm.ppf(0.8)) ** 2 / 1.0**2
    assert a.verdict.sample_needed_per_arm == pytest.approx(expected, rel=0.01)
    assert "pp" not in " ".join(a.verdict.next_actions)


def test_multi_arm_mean_primary_takes_the_correction():
    frame = users(8, lift=0.8, arms=3).drop(columns="pre_revenue")
    a = run(frame, primary="revenue", correction="holm")
    raw = [m.comparison.p_value for m in a.primary]
    expected = multipletests(raw, method="holm")[1]
    assert [m.p_value_adjusted for m in a.primary] == pytest.approx(list(expected), rel=1e-12)
    assert a.overall is None and a.bayes is None  # chi-square and Beta views are for 0/1 only
    for m in a.primary:
        c = frame.revenue[frame.variant == "control"]
        t = frame.revenue[frame.variant == m.arm]
        p = stats.ttest_ind(t, c, equal_var=False).pvalue
        assert m.comparison.p_value == pytest.approx(p, rel=1e-6)


def test_always_valid_mean_primary():
    frame = users(9).drop(columns="pre_revenue")
    fixed = run(frame, primary="revenue").primary[0]
    a = run(frame, primary="revenue", method="always-valid")
    (m,) = a.primary
    assert m.comparison.method.startswith("always-valid")
    assert m.comparison.abs_lift == fixed.comparison.abs_lift
    width, fixed_width = (
        (m.comparison.abs_ci[1] - m.comparison.abs_ci[0]),
        (fixed.comparison.abs_ci[1] - fixed.comparison.abs_ci[0]),
    )
    assert width > fixed_width
    assert m.comparison.p_value >= fixed.comparison.p_value


def test_group_sequential_look_on_a_mean_primary():
    a = run(users(10).drop(columns="pre_revenue"), primary="revenue", look=1, of_looks=4)
    assert a.sequential is not None and a.sequential.look == 1


def test_renderers_show_a_mean_primary_in_its_units():
    a = run(users(11), primary="revenue")
    text = render_text(a)
    primary_line = next(line for line in text.splitlines() if line.startswith("Primary "))
    assert "pp" not in primary_line and "%" in primary_line  # relative lift stays in %
    memo = render_markdown(a)
    section = memo.split("### Primary metric", 1)[1].split("###", 1)[0]
    assert "pp" not in section
    assert "Primary metric (mean, Δ in its own units)" in memo
    assert "overall chi-square" not in memo and "Beta(1,1)" not in memo


def test_a_text_primary_is_blocked_with_a_clear_message():
    frame = users(12)
    frame["note"] = "x"
    a = run(frame, primary="note")
    assert a.health.blocked
    assert any("must be 0/1, TRUE/FALSE or a number" in f.message for f in a.health.findings)


def test_an_unknown_primary_names_the_numeric_candidates():
    a = run(users(13), primary="gross_sales")
    (finding,) = [f for f in a.health.findings if f.code == "missing_primary"]
    assert "revenue" in finding.message and "numeric column" in finding.message


def test_blank_values_of_a_mean_primary_are_said():
    frame = users(14).drop(columns="pre_revenue")
    frame["revenue"] = frame.revenue.astype(object)
    frame.loc[:9, "revenue"] = ""
    a = run(frame, primary="revenue")
    codes = {f.code: f for f in a.health.findings}
    assert a.health.status == "warning"
    assert "10 users have no revenue value" in codes["primary_blank"].message


def test_the_default_primary_never_turns_into_a_mean():
    """Only a primary the options name may be continuous: a default ``converted`` with a 2 in
    it is a blocked file, as before, and a named one says it is analysed as a mean."""
    frame = users(15).drop(columns="pre_revenue")
    frame.loc[0, "converted"] = 2
    assert run(frame).health.blocked
    named = run(frame, primary="converted")
    assert named.primary[0].kind == "mean"
    assert any(f.code == "continuous_primary" for f in named.health.findings)
