"""Always-valid inference: asymptotic confidence sequences for a difference between two arms.

Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory and
asymptotic confidence sequences" (arXiv:2103.06476; equation numbers of its v7, as GrowthBook's
``SequentialTwoSidedTTest`` cites them). For an estimate θ̂ₙ of a difference after N users in
total, whose per-user variance is σ̂² = N·Var(θ̂ₙ) (so σ̂ = √N·SE), the two-sided asymptotic
(1 − α) confidence sequence is, eq. (9),

    θ̂ₙ ± σ̂ · √( 2(Nρ² + 1) / (N²ρ²) · log( √(Nρ² + 1) / α ) )

and it covers the true difference at *every* N simultaneously with probability → 1 − α, however
often and whenever one looks. The tuning parameter ρ sets the sample size where the sequence is
tightest; the choice that minimises its width at a planned total sample size N* is, eq. (161),

    ρ² = ( −2·log α + log(−2·log α + 1) ) / N*

(N* = 5,000 when nothing is planned, GrowthBook's default ``sequential_tuning_parameter``).

The always-valid p-value is the smallest α' whose sequence (ρ held at the value chosen for the
nominal α) excludes 0. Solving "half-width(α') < |θ̂|" for α' gives, with z = θ̂ / SE, eq. (155):

    p = min(1, √(Nρ² + 1) · exp( −ρ²·N·z² / (2(Nρ² + 1)) ))

the reciprocal of the mixture e-value, so p < α exactly when the (1 − α) sequence excludes 0.

The half-width is SE × a factor of N alone, so the sequence applies to every metric whose
difference has an asymptotically normal estimate and a consistent variance: proportions and
means from their sufficient statistics, and ratio metrics (delta method) and CUPED-adjusted
means from the estimate and standard error their fixed-horizon comparison already computes
(:func:`always_valid_comparison`). The relative lift gets the same factor on its delta-method
standard error.
"""

from __future__ import annotations

import math
from dataclasses import replace

from experimentos.model import Comparison, Interval, MeanStats, ProportionStats
from experimentos.stats.distributions import norm_ppf

DEFAULT_PLANNED_USERS = 5000
"""Total users (both arms) where the sequence is tightest when no sample size is planned."""

METHOD = "always-valid (asymptotic CS)"
CI_METHOD = "asymptotic confidence sequence"


def tuning_rho(planned_users: float = DEFAULT_PLANNED_USERS, *, alpha: float = 0.05) -> float:
    """ρ that minimises the sequence's width at ``planned_users`` total users, eq. (161)."""
    _check(alpha=alpha, planned_users=planned_users)
    log_alpha = math.log(alpha)
    return math.sqrt((-2.0 * log_alpha + math.log(-2.0 * log_alpha + 1.0)) / planned_users)


def width_factor(
    users: float, *, alpha: float = 0.05, planned_users: float = DEFAULT_PLANNED_USERS
) -> float:
    """The half-width divided by the standard error of the difference, at ``users`` in total.

    σ̂·√(2(Nρ²+1)/(N²ρ²)·log(√(Nρ²+1)/α)) with σ̂ = √N·SE, i.e. SE·√(2(Nρ²+1)/(Nρ²)·log(…)).
    """
    if not users >= 1:
        raise ValueError(f"the number of users must be at least 1, got {users!r}")
    rho = tuning_rho(planned_users, alpha=alpha)
    x = users * rho * rho  # Nρ²
    return math.sqrt(2.0 * (x + 1.0) / x * (0.5 * math.log1p(x) - math.log(alpha)))


def confidence_sequence(
    estimate: float,
    standard_error: float,
    users: float,
    *,
    alpha: float = 0.05,
    planned_users: float = DEFAULT_PLANNED_USERS,
) -> Interval:
    """The (1 − α) always-valid interval of a difference from its estimate and standard error."""
    half = standard_error * width_factor(users, alpha=alpha, planned_users=planned_users)
    return estimate - half, estimate + half


def always_valid_p(
    estimate: float,
    standard_error: float,
    users: float,
    *,
    alpha: float = 0.05,
    planned_users: float = DEFAULT_PLANNED_USERS,
) -> float:
    """The smallest α' whose sequence (ρ tuned at ``alpha``) excludes 0, eq. (155).

    NaN when the standard error is NaN; with a zero standard error, 0 for a nonzero estimate
    and 1 for a zero one (the limits of the formula).
    """
    if not users >= 1:
        raise ValueError(f"the number of users must be at least 1, got {users!r}")
    rho = tuning_rho(planned_users, alpha=alpha)
    if math.isnan(estimate) or math.isnan(standard_error):
        return math.nan
    if standard_error == 0:
        return 0.0 if estimate != 0 else 1.0
    x = users * rho * rho  # Nρ²
    z2 = (estimate / standard_error) ** 2
    log_p = 0.5 * math.log1p(x) - x * z2 / (2.0 * (x + 1.0))
    return math.exp(min(log_p, 0.0))


def always_valid_comparison(
    fixed: Comparison,
    users: float,
    *,
    alpha: float = 0.05,
    planned_users: float = DEFAULT_PLANNED_USERS,
) -> Comparison:
    """A fixed-horizon comparison's always-valid counterpart: same estimate, sequence CI and p.

    Works for any metric kind: it uses the comparison's estimate and the standard error of the
    difference (pooled-free Wald for proportions, Welch for means, delta method for ratios,
    the adjusted variance for CUPED). The relative lift's CI, symmetric by the delta method
    with the normal quantile, keeps its centre and its standard error and takes the sequence's
    factor instead of the quantile.
    """
    factor = width_factor(users, alpha=alpha, planned_users=planned_users)
    se = fixed.standard_error
    diff = fixed.abs_lift
    if math.isfinite(se):
        abs_ci: Interval = (diff - factor * se, diff + factor * se)
    else:
        abs_ci = (math.nan, math.nan)
    rel_lo, rel_hi = fixed.rel_ci
    if math.isfinite(rel_lo) and math.isfinite(rel_hi):
        rel_se = (rel_hi - rel_lo) / 2.0 / float(norm_ppf(1 - alpha / 2))
        rel_ci: Interval = (fixed.rel_lift - factor * rel_se, fixed.rel_lift + factor * rel_se)
    else:
        rel_ci = (math.nan, math.nan)
    p_value = always_valid_p(diff, se, users, alpha=alpha, planned_users=planned_users)
    return replace(
        fixed,
        abs_ci=abs_ci,
        rel_ci=rel_ci,
        p_value=p_value,
        method=METHOD,
        ci_method=CI_METHOD,
    )


def proportions_sequence(
    control: ProportionStats,
    treatment: ProportionStats,
    *,
    alpha: float = 0.05,
    planned_users: float = DEFAULT_PLANNED_USERS,
) -> tuple[float, Interval, float]:
    """Difference in conversion rates (treatment − control): (estimate, interval, p).

    Var = p_t(1 − p_t)/n_t + p_c(1 − p_c)/n_c, unpooled.
    """
    _check_users(control.users, treatment.users)
    p_c, p_t = control.rate, treatment.rate
    se = math.sqrt(p_c * (1 - p_c) / control.users + p_t * (1 - p_t) / treatment.users)
    return _sequence(p_t - p_c, se, control.users + treatment.users, alpha, planned_users)


def means_sequence(
    control: MeanStats,
    treatment: MeanStats,
    *,
    alpha: float = 0.05,
    planned_users: float = DEFAULT_PLANNED_USERS,
) -> tuple[float, Interval, float]:
    """Difference in means (treatment − control) from n, Σx, Σx²: (estimate, interval, p).

    Var = s_t²/n_t + s_c²/n_c with the unbiased sample variances.
    """
    _check_users(control.n, treatment.n)
    se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    return _sequence(
        treatment.mean - control.mean, se, control.n + treatment.n, alpha, planned_users
    )


def _sequence(
    diff: float, se: float, users: int, alpha: float, planned_users: float
) -> tuple[float, Interval, float]:
    interval = confidence_sequence(diff, se, users, alpha=alpha, planned_users=planned_users)
    p_value = always_valid_p(diff, se, users, alpha=alpha, planned_users=planned_users)
    return diff, interval, p_value


def _check_users(control: int, treatment: int) -> None:
    if control < 1 or treatment < 1:
        raise ValueError(
            f"each arm needs at least 1 user for an always-valid interval "
            f"(control {control}, treatment {treatment})"
        )


def _check(*, alpha: float, planned_users: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not (planned_users > 0 and math.isfinite(planned_users)):
        raise ValueError(f"the planned number of users must be positive, got {planned_users!r}")
