"""Sample size, minimum detectable effect and run length (SPEC §2.10).

Two proportions (normal approximation, pooled variance under H0 and unpooled
under H1; Fleiss, Levin & Paik 2003, *Statistical Methods for Rates and
Proportions*, ch. 4; Chow, Shao & Wang 2008, *Sample Size Calculations in
Clinical Research*, §4.2), with k = n_t / n_c and p̄ = (p_c + k·p_t)/(1 + k):

    n_c = (z₁₋α/₂·√(p̄q̄(1 + 1/k)) + z₁₋β·√(p_c·q_c + p_t·q_t/k))² / Δ²,  n_t = k·n_c

which for k = 1 is the textbook (z₁₋α/₂·√(2p̄q̄) + z₁₋β·√(p₁q₁ + p₂q₂))² / Δ².
Baseline 0.10, Δ = 0.01, α = 0.05, power 0.8 gives 14,750.79, rounded up to
14,751 per variant (rounding up is what guarantees the power; 14,750 is the
same number truncated).

Two means with a common σ (Chow, Shao & Wang §3.2):
n_c = σ²(1 + 1/k)(z₁₋α/₂ + z₁₋β)² / Δ², i.e. 2σ²(z₁₋α/₂ + z₁₋β)²/Δ² for k = 1.

Several treatments: each is compared with control at α/(variants − 1)
(Bonferroni) and the control arm is sized for the most demanding comparison.

The risk-aware rule (Schultzberg, Ankargren & Frånberg 2024) with S success metrics and G
guardrails: α is Bonferroni-corrected over the success metrics × treatment arms,
α/(S·(variants − 1)), and β over the guardrails plus one, power 1 − β/(G + 1) per test, so that
the whole decision (one success metric and every guardrail) keeps power 1 − β (spotify-
confidence's ``spot-1-bonferroni`` sample size).

"Sample still needed to detect the observed lift" (SPEC §2.9 rule 7) is
``plan_sample_size(baseline=control_rate, mde=observed_lift)`` minus the
users already in each arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from experimentos.stats.distributions import norm_isf, root
from experimentos.stats.sequential import (
    MAX_LOOKS,
    LookBoundary,
    Spending,
    boundaries,
    sample_size_inflation,
)

MetricKind = Literal["proportion", "mean"]


@dataclass(frozen=True, slots=True)
class SampleSizePlan:
    """Users needed per variant (control first), the run length and, with looks, the
    group-sequential maximum.  ``split`` holds the normalised shares (sum 1)."""

    baseline: float | None
    """The control rate, or the control mean (None: a mean metric sized from ``sd`` alone)."""
    mde: float
    relative: bool
    alpha: float
    power: float
    variants: int
    split: tuple[float, ...]
    daily_users: int | None
    sd: float | None
    looks: int | None
    spending: Spending
    metric_kind: MetricKind
    mde_absolute: float
    mde_relative: float | None
    alpha_per_comparison: float
    users_per_variant: tuple[int, ...]
    total_users: int
    days: int | None
    inflation_factor: float | None = None
    max_users_per_variant: tuple[int, ...] | None = None
    max_total_users: int | None = None
    max_days: int | None = None
    boundaries: tuple[LookBoundary, ...] = ()
    success_metrics: int = 1
    guardrail_metrics: int = 0
    power_per_test: float | None = None
    """The power each test is sized for: ``power`` itself, or 1 − β/(G + 1) for the risk-aware
    rule with G guardrails."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        return _listify(asdict(self))


def plan_sample_size(
    *,
    baseline: float | None,
    mde: float,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
    variants: int = 2,
    split: tuple[float, ...] | None = None,
    daily_users: int | None = None,
    sd: float | None = None,
    looks: int | None = None,
    spending: Spending = "obf",
    success_metrics: int = 1,
    guardrail_metrics: int = 0,
) -> SampleSizePlan:
    """Users per variant to detect ``mde`` with the given power (see the module docstring).

    ``baseline`` is the control conversion rate, or with ``sd`` the control mean (a mean
    metric; the baseline then only turns a relative MDE into an absolute one, and may be None
    for an absolute MDE: n depends on σ and Δ alone).  ``mde`` is
    absolute (0.01 = 1 pp) unless ``relative`` (0.05 = +5 % of baseline).  ``split`` gives
    each variant's share, control first, e.g. (60, 40).  With ``looks`` the plan adds the
    Lan–DeMets boundaries at equally spaced looks and the inflated maximum sample size.
    ``success_metrics`` and ``guardrail_metrics`` size for the risk-aware rule (module
    docstring): α/(S·(variants − 1)) per comparison, power 1 − β/(G + 1) per test.
    """
    shares = _shares(split, variants)
    _check_design(alpha=alpha, power=power, daily_users=daily_users, looks=looks)
    _check_rule(success_metrics, guardrail_metrics)
    if spending not in ("obf", "pocock"):
        raise ValueError(f"spending must be 'obf' or 'pocock' (got {spending!r})")
    delta = _absolute_mde(baseline=baseline, mde=mde, relative=relative, sd=sd)
    alpha_per_comparison = alpha / ((len(shares) - 1) * success_metrics)
    power_per_test = 1.0 - (1.0 - power) / (guardrail_metrics + 1)
    control = max(
        _control_users(
            baseline, delta, alpha_per_comparison, power_per_test, ratio=share / shares[0], sd=sd
        )
        for share in shares[1:]
    )
    users = tuple(_round_up(control * share / shares[0]) for share in shares)
    plan = SampleSizePlan(
        baseline=baseline,
        mde=mde,
        relative=relative,
        alpha=alpha,
        power=power,
        variants=len(shares),
        split=shares,
        daily_users=daily_users,
        sd=sd,
        looks=looks,
        spending=spending,
        metric_kind="proportion" if sd is None else "mean",
        mde_absolute=delta,
        mde_relative=delta / baseline if baseline else None,
        alpha_per_comparison=alpha_per_comparison,
        users_per_variant=users,
        total_users=sum(users),
        days=_days(sum(users), daily_users),
        success_metrics=success_metrics,
        guardrail_metrics=guardrail_metrics,
        power_per_test=power_per_test,
    )
    if looks is None:
        return plan
    return _with_looks(plan, looks=looks, fixed_total=control / shares[0])


def mde_for_sample_size(
    *,
    baseline: float,
    users_per_variant: int,
    alpha: float = 0.05,
    power: float = 0.8,
    sd: float | None = None,
    variants: int = 2,
    split: tuple[float, ...] | None = None,
) -> float:
    """Smallest absolute lift (upward) detectable with ``users_per_variant`` in control.

    The inverse of :func:`plan_sample_size`: closed form for means,
    Δ = σ·√(1 + 1/k)·(z₁₋α/₂ + z₁₋β)/√n_c; for proportions the two-proportion formula is
    solved for Δ with Brent's method.  Other arms follow ``split``; with several
    treatments the largest MDE over the comparisons (Bonferroni α) is returned.
    """
    shares = _shares(split, variants)
    _check_design(alpha=alpha, power=power, daily_users=None, looks=None)
    if isinstance(users_per_variant, bool) or users_per_variant < 2:
        raise ValueError(f"users_per_variant must be at least 2 (got {users_per_variant})")
    _check_baseline(baseline, sd)
    alpha_c = alpha / (len(shares) - 1)
    return max(
        _mde_one(baseline, users_per_variant, alpha_c, power, share / shares[0], sd)
        for share in shares[1:]
    )


# --- formulas -----------------------------------------------------------------


def _control_users(
    baseline: float | None,
    delta: float,
    alpha: float,
    power: float,
    *,
    ratio: float,
    sd: float | None,
) -> float:
    """Unrounded control-arm n for one comparison with n_t = ratio·n_c."""
    z_a, z_b = norm_isf(alpha / 2.0), norm_isf(1.0 - power)
    if sd is not None:  # Chow, Shao & Wang §3.2
        return sd**2 * (1.0 + 1.0 / ratio) * (z_a + z_b) ** 2 / delta**2
    assert baseline is not None  # _check_baseline: a rate needs its baseline
    p_c, p_t = baseline, baseline + delta  # Fleiss et al. ch. 4; Chow, Shao & Wang §4.2
    pooled = (p_c + ratio * p_t) / (1.0 + ratio)
    null_sd = math.sqrt(pooled * (1.0 - pooled) * (1.0 + 1.0 / ratio))
    alt_sd = math.sqrt(p_c * (1.0 - p_c) + p_t * (1.0 - p_t) / ratio)
    return (z_a * null_sd + z_b * alt_sd) ** 2 / delta**2


def _mde_one(
    baseline: float, n_control: int, alpha: float, power: float, ratio: float, sd: float | None
) -> float:
    if sd is not None:
        z_a, z_b = norm_isf(alpha / 2.0), norm_isf(1.0 - power)
        return sd * math.sqrt(1.0 + 1.0 / ratio) * (z_a + z_b) / math.sqrt(n_control)

    def surplus(delta: float) -> float:
        return _control_users(baseline, delta, alpha, power, ratio=ratio, sd=None) - n_control

    top = (1.0 - baseline) * (1.0 - 1e-12)
    if surplus(top) > 0.0:
        raise ValueError(
            f"{n_control} users per variant cannot detect any lift from a baseline of "
            f"{baseline} with power {power}"
        )
    return root(surplus, top * 1e-9, top, xtol=1e-14, rtol=1e-12)


def _with_looks(plan: SampleSizePlan, *, looks: int, fixed_total: float) -> SampleSizePlan:
    """Add the group-sequential maximum (inflation factor, J&T 2000 §7.2) and boundaries."""
    alpha, spending = plan.alpha_per_comparison, plan.spending
    power = plan.power_per_test if plan.power_per_test is not None else plan.power
    inflation = sample_size_inflation(looks=looks, alpha=alpha, power=power, spending=spending)
    fractions = [k / looks for k in range(1, looks + 1)]
    max_users = tuple(_round_up(fixed_total * inflation * share) for share in plan.split)
    return replace(
        plan,
        inflation_factor=inflation,
        max_users_per_variant=max_users,
        max_total_users=sum(max_users),
        max_days=_days(sum(max_users), plan.daily_users),
        boundaries=boundaries(fractions, alpha=alpha, spending=spending),
    )


def _days(total: int, daily_users: int | None) -> int | None:
    return None if daily_users is None else math.ceil(total / daily_users)


def _round_up(users: float) -> int:
    """Round up, ignoring floating-point dust just above an integer."""
    return math.ceil(users * (1.0 - 1e-12))


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _listify(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_listify(item) for item in value]
    return value


# --- validation -----------------------------------------------------------------


def _shares(split: Sequence[float] | None, variants: int) -> tuple[float, ...]:
    if isinstance(variants, bool) or not isinstance(variants, int) or variants < 2:
        raise ValueError(f"variants must be a whole number of at least 2 (got {variants})")
    if split is None:
        return tuple(1.0 / variants for _ in range(variants))
    if len(split) != variants:
        raise ValueError(f"split needs one share per variant: {variants} (got {len(split)})")
    if not all(math.isfinite(share) and share > 0 for share in split):
        raise ValueError(f"every share of the split must be above 0 (got {tuple(split)})")
    total = float(sum(split))
    return tuple(share / total for share in split)


def _check_design(
    *, alpha: float, power: float, daily_users: int | None, looks: int | None
) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (got {alpha})")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be between 0 and 1 (got {power})")
    if daily_users is not None and (isinstance(daily_users, bool) or not daily_users > 0):
        raise ValueError(f"daily users must be above 0 (got {daily_users})")
    if looks is not None and (
        isinstance(looks, bool) or not isinstance(looks, int) or not 1 <= looks <= MAX_LOOKS
    ):
        raise ValueError(f"looks must be a whole number from 1 to {MAX_LOOKS} (got {looks})")


def _check_rule(success_metrics: int, guardrail_metrics: int) -> None:
    if (
        isinstance(success_metrics, bool)
        or not isinstance(success_metrics, int)
        or success_metrics < 1
    ):
        raise ValueError(
            f"success metrics must be a whole number of at least 1 (got {success_metrics})"
        )
    if (
        isinstance(guardrail_metrics, bool)
        or not isinstance(guardrail_metrics, int)
        or guardrail_metrics < 0
    ):
        raise ValueError(
            f"guardrail metrics must be a whole number of at least 0 (got {guardrail_metrics})"
        )


def _check_baseline(baseline: float | None, sd: float | None) -> None:
    if baseline is None:
        if sd is None:
            raise ValueError("a conversion rate needs its baseline (the control rate)")
    elif not math.isfinite(baseline):
        raise ValueError(f"baseline must be a finite number (got {baseline})")
    if sd is None and baseline is not None and not 0.0 < baseline < 1.0:
        raise ValueError(f"baseline must be between 0 and 1 (got {baseline})")
    if sd is not None and not (math.isfinite(sd) and sd > 0.0):
        raise ValueError(f"sd must be above 0 (got {sd})")


def _absolute_mde(*, baseline: float | None, mde: float, relative: bool, sd: float | None) -> float:
    _check_baseline(baseline, sd)
    if not math.isfinite(mde) or mde == 0.0:
        raise ValueError(f"mde must be a non-zero number (got {mde})")
    if relative and not baseline:
        raise ValueError("a relative mde needs a non-zero baseline")
    delta = baseline * mde if relative and baseline else mde
    if sd is None and baseline is not None and not 0.0 < baseline + delta < 1.0:
        raise ValueError(
            f"baseline + mde must stay between 0 and 1 (got {baseline} + {delta:.6g} "
            f"= {baseline + delta:.6g})"
        )
    return delta
