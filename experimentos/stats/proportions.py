"""Two-proportion comparisons, goodness of fit and independence tests for conversion metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special

from experimentos.model import Comparison, ProportionStats
from experimentos.stats.distributions import chi2_sf
from experimentos.stats.score_test import SCORE_MIN_EVENTS, few_events, score_comparison

# The normal cdf and quantile are special.ndtr and special.ndtri, the functions stats.norm calls
# underneath, without its 50 µs of argument checking per call.


def compare_proportions(
    control: ProportionStats,
    treatment: ProportionStats,
    *,
    alpha: float = 0.05,
    score_min_events: int = SCORE_MIN_EVENTS,
) -> Comparison:
    """Treatment minus control on a 0/1 metric.

    Large samples: the unpooled (Wald) z-test, with the CI of the difference from the same
    standard error, so "CI excludes 0" holds exactly when "p < alpha".
    When any arm has fewer than ``score_min_events`` events or non-events, where the Wald
    test's type-I error exceeds α (benchmarks/small_counts_mc.py): the Miettinen–Nurminen
    score test with the score intervals of the difference and of the relative lift
    (:func:`experimentos.stats.score_test.score_comparison`), which agree with its p-value.
    """
    if few_events(control, treatment, min_events=score_min_events):
        return score_comparison(control, treatment, alpha=alpha)
    return _wald(control, treatment, alpha=alpha)


def _wald(control: ProportionStats, treatment: ProportionStats, *, alpha: float) -> Comparison:
    p_c, p_t = control.rate, treatment.rate
    var_c = p_c * (1 - p_c) / control.users
    var_t = p_t * (1 - p_t) / treatment.users
    se = math.sqrt(var_c + var_t)
    diff = p_t - p_c
    z_crit = float(special.ndtri(1 - alpha / 2))
    if se > 0:
        z = diff / se
        p_value = float(2 * special.ndtr(-abs(z)))
    elif diff:  # one arm at 0%, the other at 100%: the limit z = ±∞ (as statsmodels reports)
        z, p_value = math.copysign(math.inf, diff), 0.0
    else:  # both arms at 0% or 100%: no evidence of a difference
        z, p_value = 0.0, 1.0
    rel, rel_ci = relative_lift(p_t, var_t, p_c, var_c, z_crit=z_crit)
    return Comparison(
        abs_lift=diff,
        abs_ci=(diff - z_crit * se, diff + z_crit * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=p_value,
        statistic=z,
        method="wald-unpooled z-test",
        ci_method="wald",
        standard_error=se,
    )


_FISHER_TIE = 1 + 1e-7
"""Tables this close in probability to the observed one count as equally likely (R's fisher.test)."""


def fisher_exact_p(table: Sequence[Sequence[int]]) -> float:
    """Two-sided p-value of Fisher's exact test for the 2×2 table [[a, b], [c, d]] (Fisher 1935).

    The probability, margins fixed, of every table no more likely than the observed one. The
    hypergeometric terms come from the ratio of consecutive ones,
      P(x + 1) / P(x) = (r₁ − x)(c₁ − x) / ((x + 1)(r₂ − c₁ + x + 1)),
    over the support only (its size is the smallest margin + 1), so the cost does not grow with
    the number of users as scipy's ``fisher_exact`` does (2 s at 10⁹ users per arm).
    """
    (a, b), (c, d) = table
    r1, r2, c1 = a + b, c + d, a + c
    low, high = max(0, c1 - r2), min(r1, c1)
    if low == high:
        return 1.0
    # Differences of whole numbers in int64 (exact to 9.2e18), then floats: with margins near
    # 2⁵³, x itself is not exact as a float and neither would be r₁ − x.
    x = np.arange(low, high, dtype=np.int64)
    ratio = ((r1 - x) / (x + 1)) * ((c1 - x) / (r2 - c1 + x + 1))
    log_terms = np.concatenate([[0.0], np.cumsum(np.log(ratio))])
    terms = np.exp(log_terms - log_terms.max())
    observed = terms[a - low]
    return float(min(terms[terms <= observed * _FISHER_TIE].sum() / terms.sum(), 1.0))


def relative_lift(
    mean_t: float, var_t: float, mean_c: float, var_c: float, *, z_crit: float
) -> tuple[float, tuple[float, float]]:
    """Relative lift t/c − 1 and its CI by the delta method.

    Var(t/c) ≈ Var(t)/c² + t²·Var(c)/c⁴ (first-order Taylor expansion, independent arms),
    computed as (Var(t) + (t/c)²·Var(c)) / c², which cannot underflow to 0 for tiny c.
    """
    if mean_c == 0 or not math.isfinite(mean_c):
        return math.nan, (math.nan, math.nan)
    ratio = mean_t / mean_c
    se = math.sqrt(var_t + ratio * ratio * var_c) / abs(mean_c)
    return ratio - 1, (ratio - 1 - z_crit * se, ratio - 1 + z_crit * se)


def srm_chi_square(observed: Sequence[int], shares: Sequence[float]) -> tuple[float, float]:
    """Chi-square goodness of fit of users per arm against the expected shares: (chi², p)."""
    counts = np.asarray(observed, dtype=float)
    weights = np.asarray(shares, dtype=float)
    expected = counts.sum() * weights / weights.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    return chi2, float(chi2_sf(chi2, len(counts) - 1))


def chi_square_independence(arms: Sequence[ProportionStats]) -> tuple[float, int, float]:
    """Pearson chi-square test of independence of arm and conversion: (chi², dof, p)."""
    table = np.array([[a.conversions, a.users - a.conversions] for a in arms], dtype=float)
    if (table.sum(axis=0) == 0).any():  # nobody or everybody converted: nothing to test
        return 0.0, len(arms) - 1, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty arm: 0/0 adds nothing
        cells = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    chi2, dof = float(cells.sum()), len(arms) - 1
    return chi2, dof, float(chi2_sf(chi2, dof))


def compare_rates(
    control: ProportionStats, treatment: ProportionStats, *, alpha: float = 0.05
) -> Comparison:
    """Events per user when counts may exceed users: Poisson-rate Wald z-test.

    Var(k/n) = k/n² under a Poisson model of the event count (Rothman & Greenland, ch. 14).
    """
    r_c, r_t = control.rate, treatment.rate
    var_c = control.conversions / control.users**2
    var_t = treatment.conversions / treatment.users**2
    se = math.sqrt(var_c + var_t)
    diff = r_t - r_c
    z_crit = float(special.ndtri(1 - alpha / 2))
    z = diff / se if se > 0 else 0.0
    rel, rel_ci = relative_lift(r_t, var_t, r_c, var_c, z_crit=z_crit)
    return Comparison(
        abs_lift=diff,
        abs_ci=(diff - z_crit * se, diff + z_crit * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=float(2 * special.ndtr(-abs(z))) if se > 0 else 1.0,
        statistic=z,
        method="poisson rate z-test",
        ci_method="wald",
        standard_error=se,
    )


def non_inferiority_p(
    comparison: Comparison, *, margin_rel: float, higher_is_better: bool, alpha: float = 0.05
) -> float:
    """One-sided p-value that the relative change is no worse than ``margin_rel``.

    H0: the harm is at least the margin (rel ≤ −m when a drop hurts, rel ≥ m when a rise hurts);
    z = (rel + m) / se or (m − rel) / se, with se the delta-method standard error of the
    relative lift (recovered from its CI). Small p: within the margin.
    """
    low, high = comparison.rel_ci
    se = (high - low) / (2 * float(special.ndtri(1 - alpha / 2)))
    if not se > 0 or not math.isfinite(comparison.rel_lift):
        return math.nan
    distance = (
        comparison.rel_lift + margin_rel if higher_is_better else margin_rel - comparison.rel_lift
    )
    return float(special.ndtr(-distance / se))
