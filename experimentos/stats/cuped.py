"""CUPED: variance reduction with a pre-period covariate (Deng, Xu, Kohavi & Walker 2013).

θ = cov(x, y) / var(x) on the data of both arms pooled (as gbstats' ``compute_theta``); each
arm's adjusted mean is ȳ − θ·x̄ with variance (var y + θ² var x − 2θ cov(x, y)) / n, and the
arms are compared with Welch's t-test on the adjusted means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experimentos.model import Comparison, CovariateStats
from experimentos.stats.distributions import norm_ppf, t_ppf, t_sf
from experimentos.stats.proportions import relative_lift


@dataclass(frozen=True, slots=True)
class CupedComparison:
    comparison: Comparison
    theta: float
    variance_reduction: float
    """1 − Var(adjusted difference) / Var(unadjusted difference)."""


def pooled_theta(control: CovariateStats, treatment: CovariateStats) -> float:
    joint = control + treatment
    var_pre = joint.pre.variance
    if not var_pre > 0:
        return 0.0
    return joint.covariance / var_pre


def cuped_comparison(
    control: CovariateStats, treatment: CovariateStats, *, alpha: float = 0.05
) -> CupedComparison:
    theta = pooled_theta(control, treatment)
    mean_c, var_c = _adjusted(control, theta)
    mean_t, var_t = _adjusted(treatment, theta)
    raw_var = control.post.variance / control.n + treatment.post.variance / treatment.n
    se = math.sqrt(var_t + var_c)
    diff = mean_t - mean_c
    if se > 0 and min(control.n, treatment.n) >= 2:  # Welch–Satterthwaite, scale-free
        share_t, share_c = var_t / (var_t + var_c), var_c / (var_t + var_c)
        dof = 1 / (share_t**2 / (treatment.n - 1) + share_c**2 / (control.n - 1))
    else:
        dof = math.nan
    t_stat = diff / se if se > 0 else 0.0
    t_crit = float(t_ppf(1 - alpha / 2, dof)) if se > 0 else math.nan
    # Relative lift against the control's unadjusted mean, D / ȳ_c, by the delta method with the
    # adjusted variances of both arms (as gbstats): never negative, however strong the covariate.
    rel, rel_ci = relative_lift(
        control.post.mean + diff,
        var_t,
        control.post.mean,
        var_c,
        z_crit=float(norm_ppf(1 - alpha / 2)),
    )
    comparison = Comparison(
        abs_lift=diff,
        abs_ci=(diff - t_crit * se, diff + t_crit * se),
        rel_lift=rel,
        rel_ci=rel_ci,
        p_value=float(2 * t_sf(abs(t_stat), dof)) if se > 0 else 1.0,
        statistic=t_stat,
        method="cuped welch t-test",
        ci_method="welch",
        standard_error=se,
    )
    reduction = 1 - (var_t + var_c) / raw_var if raw_var > 0 else 0.0
    return CupedComparison(comparison=comparison, theta=theta, variance_reduction=reduction)


def _adjusted(arm: CovariateStats, theta: float) -> tuple[float, float]:
    """Adjusted mean and the variance of that mean."""
    mean = arm.post.mean - theta * arm.pre.mean
    variance = arm.post.variance + theta**2 * arm.pre.variance - 2 * theta * arm.covariance
    return mean, max(variance, 0.0) / arm.n
