"""Percentile metrics: the median and p90 of a continuous metric per arm, and a confidence
interval for their difference between arms, from a few order statistics.

The method is the asymptotic order-statistic interval of Woodruff (1952), "Confidence intervals
for medians and other position measures", JASA 47(260): 635–646. The number of a sample's n
values below the true q-quantile is Binomial(n, q), so the order statistics at the ranks
n·q ∓ z·√(n·q(1−q)) — rank fractions q ∓ z·√(q(1−q)/n) — bracket the quantile with coverage
≈ 1 − α; the quantile's standard error is that interval's width over 2z. Independent arms give
the difference t − c the standard error √(SE_t² + SE_c²), and a normal interval and p-value.
This is how Statsig and GrowthBook test percentile metrics (gbstats' ``QuantileStatistic``:
variance from ``(quantile_upper − quantile_lower) / (2z)``). The relative difference t/c − 1
takes its interval from the delta method, as the means do.

The order statistics are read at the rank fractions with linear interpolation between
neighbours, position (n − 1)·f — the same rule as the estimate and as numpy's default
``quantile``: for a CSV by an exact windowed scan (``ingest.userlevel_breakdowns``), for a
warehouse by ``percentile_cont``. A rank fraction outside [0, 1] (an arm too small for the p90, say)
leaves the quantile without an interval: reported, not tested.
"""

from __future__ import annotations

import math

from experimentos.model import (
    ArmSummary,
    Comparison,
    ExperimentData,
    MetricResult,
    QuantileStats,
    Thresholds,
)
from experimentos.stats.distributions import norm_isf, norm_sf
from experimentos.stats.proportions import relative_lift

LEVELS = (0.5, 0.9)
"""The quantiles reported for every continuous metric: the median and the 90th percentile."""
METHOD = "Woodruff order-statistic z-test"
_NAMES = {0.5: "p50", 0.9: "p90"}


def level_name(q: float) -> str:
    return _NAMES.get(q) or f"p{q * 100:g}"


def rank_fractions(n: int, q: float, alpha: float) -> tuple[float, float]:
    """The fractions q ∓ z·√(q(1−q)/n) of the order statistics that bracket the q-quantile (the
    binomial ranks n·q ∓ z·√(n·q(1−q)) over n); they may fall outside [0, 1] for a small n."""
    z = float(norm_isf(alpha / 2))
    half = z * math.sqrt(q * (1 - q) / n) if n > 0 else math.inf
    return q - half, q + half


def bracketed(stats: QuantileStats) -> bool:
    """Both ranks of the interval fall within the sample: the standard error is defined."""
    if stats.n < 2:
        return False
    lower, upper = rank_fractions(stats.n, stats.q, stats.alpha)
    return lower >= 0 and upper <= 1


def standard_error(stats: QuantileStats) -> float:
    """Woodruff: the bracketing interval's width over 2z (NaN when it is not bracketed)."""
    if not bracketed(stats):
        return math.nan
    z = float(norm_isf(stats.alpha / 2))
    return (stats.upper - stats.lower) / (2 * z)


def quantile_comparison(
    control: QuantileStats, treatment: QuantileStats
) -> tuple[Comparison, str | None]:
    """Treatment − control on one quantile, and a note when there is no test."""
    alpha = control.alpha
    z = float(norm_isf(alpha / 2))
    diff = treatment.estimate - control.estimate
    se_c, se_t = standard_error(control), standard_error(treatment)
    se = math.hypot(se_c, se_t)
    name = f"{control.metric} {level_name(control.q)}"
    note = None
    if not math.isfinite(se):
        note = (
            f"No test for {name}: an arm has too few users with a value for an interval of its "
            f"{level_name(control.q)} (the order-statistic ranks fall outside the sample)."
        )
    elif se == 0:
        note = (
            f"No test for {name}: in both arms every user around the {level_name(control.q)} "
            "has the same value, so its order-statistic interval has no width."
        )
    if note is not None:
        nan = math.nan
        rel = treatment.estimate / control.estimate - 1 if control.estimate else nan
        comparison = Comparison(
            diff, (nan, nan), rel, (nan, nan), nan, nan, METHOD, "woodruff", nan
        )
        return comparison, note
    statistic = diff / se
    rel, rel_ci = relative_lift(
        treatment.estimate, se_t * se_t, control.estimate, se_c * se_c, z_crit=z
    )
    comparison = Comparison(
        abs_lift=diff,
        abs_ci=(diff - z * se, diff + z * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=float(2 * norm_sf(abs(statistic))),
        statistic=statistic,
        method=METHOD,
        ci_method="woodruff",
        standard_error=se,
    )
    return comparison, None


def percentile_results(data: ExperimentData, thresholds: Thresholds) -> tuple[MetricResult, ...]:
    """Each treatment against control on each quantile the file carries: reported with its own
    p-value, uncorrected, never part of the verdict (as the other secondary metrics)."""
    if not data.quantiles or data.control is None:
        return ()
    by_key = {(s.arm, s.metric, s.q): s for s in data.quantiles}
    metrics = list(dict.fromkeys(s.metric for s in data.quantiles))
    results = []
    for arm in data.treatments:
        for metric in metrics:
            for q in LEVELS:
                c = by_key.get((data.control, metric, q))
                t = by_key.get((arm.arm, metric, q))
                if c is None or t is None or not (c.n and t.n):
                    continue
                comparison, note = quantile_comparison(c, t)
                results.append(
                    MetricResult(
                        name=f"{metric} {level_name(q)}",
                        kind="percentile",
                        role="secondary",
                        control=ArmSummary(c.arm, c.n, c.estimate),
                        treatment=ArmSummary(t.arm, t.n, t.estimate),
                        comparison=comparison,
                        p_value_adjusted=comparison.p_value,
                        significant=bool(comparison.p_value < thresholds.alpha),
                        notes=(note,) if note else (),
                    )
                )
    return tuple(results)
