"""Continuous metrics from sufficient statistics: Welch's t-test."""

from __future__ import annotations

import math

from experimentos.model import Comparison, MeanStats
from experimentos.stats.distributions import norm_ppf, t_ppf, t_sf
from experimentos.stats.proportions import relative_lift


def welch_comparison(
    control: MeanStats, treatment: MeanStats, *, alpha: float = 0.05
) -> Comparison:
    """Welch's unequal-variance t-test and CI of the difference in means (Welch 1947).

    Degrees of freedom by the Welch–Satterthwaite equation; the relative lift's CI by the
    delta method with the normal quantile.
    """
    var_t = treatment.variance / treatment.n
    var_c = control.variance / control.n
    se = math.sqrt(var_t + var_c)
    diff = treatment.mean - control.mean
    if not se > 0:
        nan_pair = (math.nan, math.nan)
        return Comparison(
            abs_lift=diff,
            abs_ci=nan_pair,
            rel_lift=math.nan,
            rel_ci=nan_pair,
            p_value=math.nan,
            statistic=math.nan,
            method="welch t-test",
            ci_method="welch",
            standard_error=se,
        )
    share_t, share_c = var_t / (var_t + var_c), var_c / (var_t + var_c)  # scale-free
    dof = 1 / (share_t**2 / (treatment.n - 1) + share_c**2 / (control.n - 1))
    t_stat = diff / se
    t_crit = t_ppf(1 - alpha / 2, dof)
    rel, rel_ci = relative_lift(
        treatment.mean, var_t, control.mean, var_c, z_crit=norm_ppf(1 - alpha / 2)
    )
    return Comparison(
        abs_lift=diff,
        abs_ci=(diff - t_crit * se, diff + t_crit * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=float(2 * t_sf(abs(t_stat), dof)),
        statistic=t_stat,
        method="welch t-test",
        ci_method="welch",
        standard_error=se,
    )
