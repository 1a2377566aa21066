"""Ratio metrics Σx / Σy per arm (revenue per order, clicks per session) by the delta method.

The unit of randomisation is the user, so the numerator x and denominator y of one user are
correlated and the denominator's units (orders, sessions) are not independent: a ratio of sums
is a ratio of means x̄ / ȳ whose variance comes from the first-order Taylor expansion (Deng,
Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics", KDD; the same estimator as
gbstats' ``RatioStatistic``):

    Var(R) ≈ (1/n)·(σx²/μy² − 2·μx·σxy/μy³ + μx²·σy²/μy⁴)      (:attr:`RatioStats.variance`)

The arms are independent, so the difference R_t − R_c has variance Var(R_t) + Var(R_c); it is
tested with a two-sided z-test and its CI built from the same standard error. The relative lift
R_t / R_c − 1 has, by the delta method again, Var ≈ Var(R_t)/R_c² + R_t²·Var(R_c)/R_c⁴
(``proportions.relative_lift``, shared with the other metrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experimentos.model import Comparison, Interval, RatioStats
from experimentos.stats.distributions import norm_ppf, norm_sf
from experimentos.stats.proportions import relative_lift

METHOD = "delta-method z-test"
CI_METHOD = "delta-method"

_NAN_PAIR: Interval = (math.nan, math.nan)


@dataclass(frozen=True, slots=True)
class RatioComparison:
    comparison: Comparison
    note: str | None = None
    """Why the figures are NaN, when the data cannot support a test."""


def ratio_comparison(
    control: RatioStats, treatment: RatioStats, *, alpha: float = 0.05
) -> RatioComparison:
    """Treatment minus control on a ratio metric: delta-method z-test, CI and relative lift.

    Degenerate data (a zero denominator total, fewer than 2 users, no variance in either arm)
    gives NaN figures and a note saying why, never an exception.
    """
    note = _degenerate(control, treatment)
    diff = treatment.value - control.value
    if note is not None:
        return RatioComparison(_undefined(diff if math.isfinite(diff) else math.nan), note)
    var_c, var_t = control.variance, treatment.variance
    se = math.sqrt(var_c + var_t)
    if not se > 0:
        return RatioComparison(
            _undefined(diff), "No variance in either arm: the ratio metric cannot be tested."
        )
    z_crit = float(norm_ppf(1 - alpha / 2))
    z = diff / se
    rel, rel_ci = relative_lift(treatment.value, var_t, control.value, var_c, z_crit=z_crit)
    comparison = Comparison(
        abs_lift=diff,
        abs_ci=(diff - z_crit * se, diff + z_crit * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=float(2 * norm_sf(abs(z))),
        statistic=z,
        method=METHOD,
        ci_method=CI_METHOD,
        standard_error=se,
    )
    return RatioComparison(comparison)


def _degenerate(control: RatioStats, treatment: RatioStats) -> str | None:
    for label, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            return f"Fewer than 2 users in the {label} arm: the ratio's variance is undefined."
        if arm.den_total == 0:
            return f"The denominator sums to 0 in the {label} arm: the ratio is undefined."
        if not math.isfinite(arm.variance):
            return f"The {label} arm's moments are not finite: the ratio cannot be tested."
    return None


def _undefined(diff: float) -> Comparison:
    return Comparison(
        abs_lift=diff,
        abs_ci=_NAN_PAIR,
        rel_lift=math.nan,
        rel_ci=_NAN_PAIR,
        p_value=math.nan,
        statistic=math.nan,
        method=METHOD,
        ci_method=CI_METHOD,
        standard_error=math.nan,
    )
