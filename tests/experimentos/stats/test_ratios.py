"""Ratio metrics by the delta method, checked against implementations that are not ours:

- gbstats' ``RatioStatistic`` (the same Deng et al. 2018 estimator) through ``TwoSidedTTest``;
- the linearisation x − R·y computed with numpy on raw per-user data;
- a seeded Monte Carlo of whole experiments with a known true difference (CI coverage);
- hypothesis properties: pooling, the CI containing its estimate, swapping the arms.

No expected figure here was produced by the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gbstats.frequentist.tests import FrequentistConfig, TwoSidedTTest
from gbstats.models.statistics import RatioStatistic, SampleMeanStatistic
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from experimentos.model import RatioStats
from experimentos.stats.ratios import ratio_comparison

Z975 = stats.norm.ppf(0.975)
SETTINGS = settings(max_examples=120, deadline=None)


def _stats(x: np.ndarray, y: np.ndarray) -> RatioStats:
    """The sufficient statistics an exporting query would compute from per-user rows."""
    return RatioStats(
        n=len(x),
        num_total=float(x.sum()),
        num_total_sq=float((x * x).sum()),
        den_total=float(y.sum()),
        den_total_sq=float((y * y).sum()),
        cross_total=float((x * y).sum()),
    )


def _gb(x: np.ndarray, y: np.ndarray) -> RatioStatistic:
    n = len(x)
    return RatioStatistic(
        n=n,
        m_statistic=SampleMeanStatistic(n=n, sum=float(x.sum()), sum_squares=float((x * x).sum())),
        d_statistic=SampleMeanStatistic(n=n, sum=float(y.sum()), sum_squares=float((y * y).sum())),
        m_d_sum_of_products=float((x * y).sum()),
    )


def _orders_and_revenue(
    rng: np.random.Generator, n: int, *, order_value: float, buy_rate: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Per user: orders y (0 for most users) and revenue x, the sum of y Gamma order values.

    E[x | y] = y·order_value, so the true revenue per order E[x] / E[y] is ``order_value``.
    """
    orders = np.where(rng.random(n) < buy_rate, 1 + rng.poisson(0.8, n), 0).astype(float)
    shape = 3.0
    revenue = np.zeros(n)
    buyers = orders > 0
    revenue[buyers] = rng.gamma(shape * orders[buyers], order_value / shape)
    return revenue, orders


def _sessions_and_clicks(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clicks per session with a weakly negative per-session click rate in heavy users."""
    sessions = 1 + rng.poisson(3.0, n).astype(float)
    rate = np.clip(0.4 - 0.02 * sessions + rng.normal(0, 0.05, n), 0.01, 1)
    return rng.binomial(sessions.astype(int), rate).astype(float), sessions


SCENARIOS = {
    "revenue per order, 5,000 users": lambda rng: (
        _orders_and_revenue(rng, 5000, order_value=40.0),
        _orders_and_revenue(rng, 5000, order_value=41.0),
    ),
    "clicks per session, 20,000 users": lambda rng: (
        _sessions_and_clicks(rng, 20_000),
        _sessions_and_clicks(rng, 20_000),
    ),
    "revenue per order, 40 vs 60 users": lambda rng: (
        _orders_and_revenue(rng, 40, order_value=40.0, buy_rate=0.6),
        _orders_and_revenue(rng, 60, order_value=45.0, buy_rate=0.6),
    ),
}


def _gb_dof(c: RatioStatistic, t: RatioStatistic) -> float:
    """gbstats' TTest.dof: Welch–Satterthwaite on the per-user (unscaled) delta variances."""
    vc, vt = c.variance / c.n, t.variance / t.n
    return (vc + vt) ** 2 / (vt**2 / (t.n - 1) + vc**2 / (c.n - 1))


# --------------------------------------------------------------------------- gbstats


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_gbstats_absolute_same_estimate_and_se_but_t_distribution(scenario, seed):
    """gbstats' RatioStatistic is the same delta-method variance (Deng et al. 2018), so the
    estimate R_t − R_c and its standard error agree to rounding. gbstats then refers the
    statistic to Student's t with Welch–Satterthwaite df where we use the normal (the delta
    method is an asymptotic, large-n result; a t quantile adds no exactness), so its p-value is
    the larger 2·t.sf(|z|, df): identical to that formula, and close to ours — within 0.002
    with thousands of users (df in the thousands), within 0.02 with 40 and 60 (df ≈ 90)."""
    (xc, yc), (xt, yt) = SCENARIOS[scenario](np.random.default_rng(seed))
    ours = ratio_comparison(_stats(xc, yc), _stats(xt, yt)).comparison
    gb_c, gb_t = _gb(xc, yc), _gb(xt, yt)
    result = TwoSidedTTest(
        gb_c, gb_t, FrequentistConfig(difference_type="absolute")
    ).compute_result()
    assert result.expected == pytest.approx(ours.abs_lift, rel=1e-12, abs=1e-12)
    assert result.uplift.stddev == pytest.approx(ours.standard_error, rel=1e-9)
    dof = _gb_dof(gb_c, gb_t)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(ours.statistic), dof), rel=1e-6)
    assert ours.p_value <= result.p_value + 1e-12
    assert ours.p_value == pytest.approx(result.p_value, abs=0.002 if dof > 1000 else 0.02)
    half_ours = (ours.abs_ci[1] - ours.abs_ci[0]) / 2
    half_gb = (result.ci[1] - result.ci[0]) / 2
    assert half_gb / half_ours == pytest.approx(stats.t.ppf(0.975, dof) / Z975, rel=1e-9)


@pytest.mark.parametrize("seed", [4, 5, 6])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_gbstats_relative_same_delta_method_se(scenario, seed):
    """gbstats' default (relative) test: lift R_t/R_c − 1 with the delta-method variance
    Var(R_t)/R_c² + R_t²·Var(R_c)/R_c⁴, as ours. Its CI uses the t quantile at the Welch df of
    the absolute test (ours the normal, as for every other metric's relative CI), so its
    half-width is ours × t.ppf(0.975, df) / 1.95996."""
    (xc, yc), (xt, yt) = SCENARIOS[scenario](np.random.default_rng(seed))
    ours = ratio_comparison(_stats(xc, yc), _stats(xt, yt)).comparison
    gb_c, gb_t = _gb(xc, yc), _gb(xt, yt)
    result = TwoSidedTTest(gb_c, gb_t, FrequentistConfig()).compute_result()
    se_ours = (ours.rel_ci[1] - ours.rel_ci[0]) / (2 * Z975)
    assert result.expected == pytest.approx(ours.rel_lift, rel=1e-9, abs=1e-12)
    # 1e-7: both factor the same quantities in a different order; the sums of squares lose
    # about 8 digits to cancellation (σ² is Σx²/n − x̄², each ~10⁶ times σ² here).
    assert result.uplift.stddev == pytest.approx(se_ours, rel=1e-7)
    half_gb = (result.ci[1] - result.ci[0]) / 2
    dof = _gb_dof(gb_c, gb_t)
    assert half_gb == pytest.approx(stats.t.ppf(0.975, dof) * se_ours, rel=1e-7)


# --------------------------------------------------------------------------- raw data


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_se_equals_the_linearisation_on_raw_data(scenario, seed):
    """The delta method for a ratio of means is the SE of the linearised metric
    x − R·y: SE(R) = std(x − R·y) / (ȳ·√n), computed here with numpy on the raw arrays,
    never through the sufficient statistics."""
    (xc, yc), (xt, yt) = SCENARIOS[scenario](np.random.default_rng(seed))

    def linearised_se(x: np.ndarray, y: np.ndarray) -> float:
        ratio = x.sum() / y.sum()
        return float(np.std(x - ratio * y, ddof=1) / (y.mean() * math.sqrt(len(x))))

    se_c, se_t = linearised_se(xc, yc), linearised_se(xt, yt)
    assert math.sqrt(_stats(xc, yc).variance) == pytest.approx(se_c, rel=1e-7)
    assert math.sqrt(_stats(xt, yt).variance) == pytest.approx(se_t, rel=1e-7)
    ours = ratio_comparison(_stats(xc, yc), _stats(xt, yt)).comparison
    difference = xt.sum() / yt.sum() - xc.sum() / yc.sum()
    assert ours.abs_lift == pytest.approx(difference, rel=1e-12)
    assert ours.standard_error == pytest.approx(math.hypot(se_c, se_t), rel=1e-7)
    z = difference / math.hypot(se_c, se_t)
    assert ours.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-6)


def test_ci_coverage_in_simulated_experiments():
    """2,000 seeded experiments, 1,500 users per arm, true revenue per order 40 vs 42 (a
    difference of 2 and a relative lift of 5%). The 95% CIs of the difference and of the
    relative lift must cover the truth in 95% ± 1.5% of them (3 binomial standard errors
    of 0.49% at 2,000 draws); the delta-method SE must match the spread of the estimates
    across experiments within 5% (the SD of 2,000 draws is itself uncertain by ~1.6%).
    Runs in about a second."""
    rng = np.random.default_rng(20240611)
    runs, n = 2000, 1500
    true_c, true_t = 40.0, 42.0
    covered_abs = covered_rel = 0
    estimates, ses = [], []
    for _ in range(runs):
        control = _stats(*_orders_and_revenue(rng, n, order_value=true_c))
        treatment = _stats(*_orders_and_revenue(rng, n, order_value=true_t))
        c = ratio_comparison(control, treatment).comparison
        covered_abs += c.abs_ci[0] <= true_t - true_c <= c.abs_ci[1]
        covered_rel += c.rel_ci[0] <= true_t / true_c - 1 <= c.rel_ci[1]
        estimates.append(c.abs_lift)
        ses.append(c.standard_error)
    assert covered_abs / runs == pytest.approx(0.95, abs=0.015)
    assert covered_rel / runs == pytest.approx(0.95, abs=0.015)
    assert float(np.mean(ses)) == pytest.approx(float(np.std(estimates, ddof=1)), rel=0.05)


# --------------------------------------------------------------------------- properties

values = st.floats(0, 1_000, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def user_arrays(draw, min_size: int = 3):
    """Per-user (x, y) with y ≥ 0 and Σy > 0, as counts of orders or sessions are."""
    n = draw(st.integers(min_size, 200))
    y = draw(hnp.arrays(np.float64, n, elements=st.integers(0, 20).map(float)))
    x = draw(hnp.arrays(np.float64, n, elements=values))
    assume(y.sum() > 0)
    return x, y


def _spread(x: np.ndarray, y: np.ndarray) -> bool:
    """Enough variance in x − R·y that it is not lost to rounding in the sufficient statistics."""
    ratio = x.sum() / y.sum()
    return float(np.std(x - ratio * y)) > 1e-3 * (1 + float(np.abs(x).mean()))


@SETTINGS
@given(user_arrays(min_size=2), st.data())
def test_pooling_two_halves_equals_the_whole(arrays, data):
    x, y = arrays
    cut = data.draw(st.integers(1, len(x) - 1))
    pooled = _stats(x[:cut], y[:cut]) + _stats(x[cut:], y[cut:])
    whole = _stats(x, y)
    assert pooled.n == whole.n
    for field in ("num_total", "num_total_sq", "den_total", "den_total_sq", "cross_total"):
        assert getattr(pooled, field) == pytest.approx(getattr(whole, field), rel=1e-9, abs=1e-6)
    assert pooled.value == pytest.approx(x.sum() / y.sum(), rel=1e-9)
    if math.isfinite(whole.variance) and whole.variance > 1e-9:
        assert pooled.variance == pytest.approx(whole.variance, rel=1e-6)


@SETTINGS
@given(user_arrays(), user_arrays(), st.sampled_from([0.01, 0.05, 0.1]))
def test_ci_contains_the_estimate_and_p_is_a_probability(control, treatment, alpha):
    result = ratio_comparison(_stats(*control), _stats(*treatment), alpha=alpha)
    c = result.comparison
    if math.isnan(c.p_value):
        assert result.note
        return
    assert 0 <= c.p_value <= 1
    assert c.abs_ci[0] <= c.abs_lift <= c.abs_ci[1]
    if math.isfinite(c.rel_lift):
        assert c.rel_ci[0] <= c.rel_lift <= c.rel_ci[1]
    assert (c.p_value < alpha) == (c.abs_ci[0] > 0 or c.abs_ci[1] < 0) or math.isclose(
        c.p_value, alpha, rel_tol=1e-6
    )


@SETTINGS
@given(user_arrays(), user_arrays())
def test_swapping_arms_negates_the_absolute_lift(control, treatment):
    assume(_spread(*control) and _spread(*treatment))
    forward = ratio_comparison(_stats(*control), _stats(*treatment)).comparison
    backward = ratio_comparison(_stats(*treatment), _stats(*control)).comparison
    assert backward.abs_lift == pytest.approx(-forward.abs_lift, rel=1e-12, abs=1e-12)
    assert backward.abs_ci[0] == pytest.approx(-forward.abs_ci[1], rel=1e-9, abs=1e-9)
    assert backward.abs_ci[1] == pytest.approx(-forward.abs_ci[0], rel=1e-9, abs=1e-9)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-9, abs=1e-15)


any_stats = st.builds(
    RatioStats,
    st.integers(-2, 5),
    *[st.floats(allow_nan=True, allow_infinity=True) for _ in range(5)],
)


@settings(max_examples=300, deadline=None)
@given(any_stats, any_stats)
def test_any_statistics_give_a_result_never_an_exception(control, treatment):
    """Even moments no data could have (ingest rejects those) must not raise."""
    result = ratio_comparison(control, treatment)
    p = result.comparison.p_value
    assert math.isnan(p) or 0 <= p <= 1
    if math.isnan(p):
        assert result.note


# --------------------------------------------------------------------------- degenerate


def _arm(n: int, x: list[float], y: list[float]) -> RatioStats:
    return (
        _stats(np.array(x, dtype=float), np.array(y, dtype=float))
        if n
        else RatioStats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    )


@pytest.mark.parametrize(
    ("control", "treatment", "words"),
    [
        (_arm(3, [0, 0, 0], [0, 0, 0]), _arm(3, [1, 2, 3], [1, 1, 2]), "denominator sums to 0"),
        (_arm(1, [5], [2]), _arm(3, [1, 2, 3], [1, 1, 2]), "Fewer than 2 users"),
        (_arm(0, [], []), _arm(3, [1, 2, 3], [1, 1, 2]), "Fewer than 2 users"),
        (_arm(3, [2, 2, 2], [1, 1, 1]), _arm(2, [4, 4], [2, 2]), "No variance"),
    ],
)
def test_degenerate_inputs_give_nan_and_a_note(control, treatment, words):
    result = ratio_comparison(control, treatment)
    c = result.comparison
    assert result.note is not None and words in result.note
    assert math.isnan(c.p_value) and math.isnan(c.rel_lift)
    assert all(math.isnan(v) for v in (*c.abs_ci, *c.rel_ci))
    assert c.method == "delta-method z-test"


def test_zero_variance_in_one_arm_is_still_a_test():
    """x = 2y exactly in control (the ratio has no spread) but not in treatment: the SE is the
    treatment's alone, as the linearisation on the raw data says."""
    xt, yt = np.array([1.0, 5.0, 2.0, 7.0]), np.array([1.0, 2.0, 1.0, 3.0])
    control = _stats(np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0]))
    result = ratio_comparison(control, _stats(xt, yt))
    ratio = xt.sum() / yt.sum()
    se_t = np.std(xt - ratio * yt, ddof=1) / (yt.mean() * 2)
    assert result.note is None
    assert result.comparison.standard_error == pytest.approx(se_t, rel=1e-9)
