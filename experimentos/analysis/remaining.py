"""How long to go: the users (and days) a not-yet-significant experiment still needs.

For a planned minimum detectable effect Δ (else the observed lift) at the variance the arms show
now, the sample each arm needs under the chosen way of testing:

* **fixed** — the classic two-sample size at α and the power (80 %): for a rate, the
  two-proportion formula from the control rate (pooled variance under H0, unpooled under H1;
  :func:`experimentos.stats.power.plan_sample_size`, the sample rule 7 always quoted); for a mean,
  2σ²(z₁₋α/₂ + z₁₋β)²/Δ² with the control's σ.
* **group-sequential** — the fixed size times the look plan's inflation factor (the maximum
  sample of the plan, Jennison & Turnbull 2000 §7.2).
* **always-valid** — the smallest total N at which the confidence sequence (tuned as the
  analysis tunes it) has c(N)·SE(N) + z₁₋β·SE(N) ≤ Δ, SE(N) the standard error of the difference
  at N users with the arms' current variances (p(1 − p) for a rate, with the treatment at
  p_c + Δ; the control's σ² for a mean). At that N the sequence excludes 0 with probability
  ≥ the power when the true effect is Δ (with power 0.5 the condition is "half-width ≤ Δ").
  The half-width c(N)·SE(N) decreases in N, so the smallest N is found by bisection.

Several treatments: α is split over them (Bonferroni), as the power calculator does. Days are the
extra users of the slowest arm divided by that arm's share of the daily traffic, rounded up.

Pure: the inputs are numbers (the arms' n, rate or mean and variance), the output a
:class:`Remaining`; :func:`next_action` writes the sentence of the Hold card.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from experimentos.formatting import pct, pp
from experimentos.model import DayCount, InferenceMethod, Options
from experimentos.stats import always_valid
from experimentos.stats.distributions import norm_isf
from experimentos.stats.power import plan_sample_size
from experimentos.stats.sequential import sample_size_inflation

MAX_USERS = 10**12
"""Above this many users per arm the effect counts as out of reach."""

DailySource = Literal["option", "dates"]


@dataclass(frozen=True, slots=True)
class ArmStats:
    """One arm now: users, the rate (or mean) and, for a mean, the per-user variance."""

    users: int
    value: float
    variance: float | None = None
    """None: a rate, whose per-user variance is value·(1 − value)."""


@dataclass(frozen=True, slots=True)
class Horizon:
    """What the caller planned: how the primary is tested, the MDE and the traffic."""

    method: InferenceMethod = "fixed"
    mde: float | None = None
    """Planned minimum detectable effect; None: the observed lift."""
    mde_relative: bool = False
    """``mde`` is a share of the control value (0.05 = +5 %), not an absolute difference."""
    power: float = 0.8
    planned_users: int | None = None
    """Tunes the always-valid sequence (None: its default, 5,000)."""
    looks: int | None = None
    spending: Literal["obf", "pocock"] = "obf"
    split: tuple[float, ...] | None = None
    """Each arm's share of traffic, control first (None: equal)."""
    daily_users: float | None = None
    """Users entering the experiment per day, all arms together."""
    daily_source: DailySource | None = None
    daily_note: str | None = None
    """Where a rate read from the file's dates comes from: '<column>, <users> users over <n> days'."""


@dataclass(frozen=True, slots=True)
class Remaining:
    method: InferenceMethod
    mde: float
    """The absolute effect sized for."""
    mde_planned: bool
    mde_share: float | None
    """The planned MDE as a share of the control value, when it was given so."""
    needed: tuple[int, ...]
    """Users each arm needs in all, control first."""
    more: tuple[int, ...]
    """Users each arm still lacks (0 when it has enough)."""
    days: int | None
    daily_users: float | None
    daily_source: DailySource | None
    power: float
    daily_note: str | None = None
    inflation: float | None = None

    @property
    def needed_per_arm(self) -> int:
        return max(self.needed)

    @property
    def more_per_arm(self) -> int:
        return max(self.more)


def horizon_from_options(options: Options, *, by_day: Sequence[DayCount] = ()) -> Horizon:
    """The plan an analysis's options carry (the look plan only for the group-sequential method).

    Without a daily rate among the options, a user-level file's date column gives one: its users
    divided by the days from the first date to the last, both counted.
    """
    daily, source, note = options.daily_users, "option", None
    if daily is None and by_day:
        daily, note = _rate_of_dates(by_day)
        source = "dates"
    return Horizon(
        method=options.method,
        mde=options.mde,
        mde_relative=options.mde_relative,
        planned_users=options.planned_users,
        looks=options.of_looks if options.method == "group-sequential" else None,
        spending=options.spending,
        split=options.split,
        daily_users=daily,
        daily_source=source if daily else None,
        daily_note=note,
    )


def _rate_of_dates(by_day: Sequence[DayCount]) -> tuple[float | None, str | None]:
    days = sorted({c.day for c in by_day})
    try:
        span = (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days + 1
    except ValueError:
        return None, None
    users = sum(c.users for c in by_day)
    if users <= 0:
        return None, None
    return users / span, f"{users:,} users over {span} day{'s' if span != 1 else ''}"


def users_needed(
    control: ArmStats,
    *,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    method: InferenceMethod = "fixed",
    comparisons: int = 1,
    ratio: float = 1.0,
    looks: int | None = None,
    spending: Literal["obf", "pocock"] = "obf",
    planned_users: int | None = None,
) -> tuple[float, float]:
    """Users (control, treatment) one comparison needs to detect ``mde`` from ``control``.

    Rounded up for the fixed and group-sequential designs (as the power calculator rounds),
    unrounded for always-valid (the bisection's N).
    ``ratio`` is n_treatment / n_control; α is divided by ``comparisons`` (Bonferroni).
    Raises ValueError when the design is impossible (e.g. a rate pushed past 0 or 1).
    """
    _check(mde=mde, alpha=alpha, power=power, ratio=ratio, comparisons=comparisons)
    alpha_c = alpha / comparisons
    if method == "always-valid":
        total = _always_valid_total(
            control, mde, alpha=alpha_c, power=power, ratio=ratio, planned_users=planned_users
        )
        return total / (1.0 + ratio), total * ratio / (1.0 + ratio)
    if control.variance is not None:
        _check_variance(control.variance)
    plan = plan_sample_size(
        baseline=control.value,
        mde=mde,
        alpha=alpha_c,
        power=power,
        split=(1.0, ratio),
        sd=None if control.variance is None else math.sqrt(control.variance),
        looks=looks if method == "group-sequential" else None,
        spending=spending,
    )
    if method == "group-sequential":
        if plan.max_users_per_variant is None:
            raise ValueError("the group-sequential method needs the planned number of looks")
        n_c, n_t = plan.max_users_per_variant
    else:
        n_c, n_t = plan.users_per_variant
    return float(n_c), float(n_t)


def remaining(
    control: ArmStats,
    treatments: Sequence[ArmStats],
    *,
    observed_lifts: Sequence[float],
    horizon: Horizon,
    alpha: float = 0.05,
) -> Remaining | None:
    """Users and days to go for ``horizon``'s MDE (else the largest observed lift).

    None when there is nothing to size for: no MDE planned and no lift observed, or an effect
    no sample can detect (a rate the MDE would push past 0 or 1).
    """
    if not treatments:
        return None
    planned = horizon.mde is not None
    if horizon.mde is not None:
        mde = abs(horizon.mde * control.value if horizon.mde_relative else horizon.mde)
        arms = list(range(len(treatments)))
    else:
        lifts = [abs(x) if math.isfinite(x) else 0.0 for x in observed_lifts]
        if not lifts or max(lifts) == 0.0:
            return None
        best = max(range(len(lifts)), key=lifts.__getitem__)
        mde, arms = lifts[best], [best]
        mde = math.copysign(mde, observed_lifts[best])
    shares = _shares(horizon.split, len(treatments) + 1)
    needed = [0.0] * (len(treatments) + 1)
    try:
        for i in arms:
            n_c, n_t = users_needed(
                control,
                mde=mde,
                alpha=alpha,
                power=horizon.power,
                method=horizon.method,
                comparisons=len(treatments),
                ratio=shares[i + 1] / shares[0],
                looks=horizon.looks,
                spending=horizon.spending,
                planned_users=horizon.planned_users,
            )
            needed[0] = max(needed[0], n_c)
            needed[i + 1] = max(needed[i + 1], n_t)
    except ValueError:
        return None
    if not planned:  # the arms not sized for follow the split
        needed = [needed[0] * share / shares[0] for share in shares]
    counts = (control.users, *(t.users for t in treatments))
    whole = tuple(_round_up(n) for n in needed)
    more = tuple(max(n - have, 0) for n, have in zip(whole, counts, strict=True))
    days = None
    if horizon.daily_users:
        days = max(
            math.ceil(m / (horizon.daily_users * share) - 1e-9)
            for m, share in zip(more, shares, strict=True)
        )
    inflation = None
    if horizon.method == "group-sequential" and horizon.looks is not None:
        inflation = sample_size_inflation(
            looks=horizon.looks,
            alpha=alpha / len(treatments),
            power=horizon.power,
            spending=horizon.spending,
        )
    return Remaining(
        method=horizon.method,
        mde=abs(mde),
        mde_planned=planned,
        mde_share=horizon.mde if planned and horizon.mde_relative else None,
        needed=whole,
        more=more,
        days=days,
        daily_users=horizon.daily_users,
        daily_source=horizon.daily_source,
        power=horizon.power,
        daily_note=horizon.daily_note,
        inflation=inflation,
    )


def next_action(plan: Remaining, *, kind: str = "proportion") -> str:
    """The Hold card's sentence: users per arm in all and still to come, and the days."""
    effect = (
        "the observed lift" if not plan.mde_planned else f"the planned MDE of {_mde(plan, kind)}"
    )
    how = {
        "fixed": "",
        "group-sequential": f" under the look plan (the fixed sample ×{plan.inflation or 1:.3f})",
        "always-valid": " with the always-valid interval",
    }[plan.method]
    equal = len(set(plan.needed)) == 1
    if plan.more_per_arm == 0:
        sizes = (
            f"about {plan.needed_per_arm:,} users per arm are needed, which the arms already "
            "have: an effect that size would most likely have shown"
        )
    elif equal:
        sizes = (
            f"about {plan.needed_per_arm:,} users per arm are needed "
            f"(about {plan.more_per_arm:,} more per arm)"
        )
    else:
        sizes = (
            f"about {', '.join(f'{n:,}' for n in plan.needed)} users are needed in the arms "
            f"(control first; about {', '.join(f'{m:,}' for m in plan.more)} more)"
        )
    text = f"To detect {effect} with {plan.power:.0%} power{how}, {sizes}"
    if plan.days is not None and plan.daily_users:
        source = (
            "as given"
            if plan.daily_source == "option"
            else f"from the file's dates: {plan.daily_note or 'its span'}"
        )
        text += (
            f"; at {plan.daily_users:,.0f} users a day ({source}) that is about "
            f"{plan.days:,} more day{'s' if plan.days != 1 else ''}"
        )
    return text + "."


# --------------------------------------------------------------------------- formulas


def _always_valid_total(
    control: ArmStats,
    mde: float,
    *,
    alpha: float,
    power: float,
    ratio: float,
    planned_users: int | None,
) -> float:
    """Smallest total N (both arms) with c(N)·SE(N) + z₁₋β·SE(N) ≤ |Δ|, by bisection."""
    if control.variance is None:
        p_c, p_t = control.value, control.value + mde
        if not (0.0 < p_c < 1.0 and 0.0 < p_t < 1.0):
            raise ValueError(f"a rate of {p_c} plus {mde} leaves (0, 1)")
        var_c, var_t = p_c * (1.0 - p_c), p_t * (1.0 - p_t)
    else:
        _check_variance(control.variance)
        var_c = var_t = control.variance
    planned = planned_users or always_valid.DEFAULT_PLANNED_USERS
    z_b = norm_isf(1.0 - power)
    share_c, share_t = 1.0 / (1.0 + ratio), ratio / (1.0 + ratio)
    target = abs(mde)

    def reach(total: float) -> float:
        se = math.sqrt(var_c / (total * share_c) + var_t / (total * share_t))
        factor = always_valid.width_factor(total, alpha=alpha, planned_users=planned)
        return (factor + z_b) * se

    lo, hi = 2.0, 2.0
    while reach(hi) > target:
        lo, hi = hi, hi * 2.0
        if hi > 2 * MAX_USERS:
            raise ValueError("the effect is out of reach")
    if lo == hi:
        return hi
    while hi - lo > 1e-6 * hi:
        mid = 0.5 * (lo + hi)
        if reach(mid) > target:
            lo = mid
        else:
            hi = mid
    return hi


def _shares(split: tuple[float, ...] | None, arms: int) -> tuple[float, ...]:
    if split is None or len(split) != arms:
        return tuple(1.0 / arms for _ in range(arms))
    total = math.fsum(split)
    return tuple(s / total for s in split)


def _round_up(users: float) -> int:
    return math.ceil(users * (1.0 - 1e-12))


def _mde(plan: Remaining, kind: str) -> str:
    text = pp(plan.mde) if kind == "proportion" else f"{plan.mde:g}"
    return text if plan.mde_share is None else f"{text} ({pct(plan.mde_share)} relative)"


def _check(*, mde: float, alpha: float, power: float, ratio: float, comparisons: int) -> None:
    if not (math.isfinite(mde) and mde != 0.0):
        raise ValueError(f"the MDE must be a non-zero number (got {mde})")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (got {alpha})")
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be between 0 and 1 (got {power})")
    if not (math.isfinite(ratio) and ratio > 0.0):
        raise ValueError(f"the allocation ratio must be above 0 (got {ratio})")
    if comparisons < 1:
        raise ValueError(f"comparisons must be at least 1 (got {comparisons})")


def _check_variance(variance: float) -> None:
    if not (math.isfinite(variance) and variance > 0.0):
        raise ValueError(f"the per-user variance must be above 0 (got {variance})")
