"""Novelty (or learning) effects: the primary's lift by calendar day of each user's first exposure,
and a test of its trend.

Each day's lift is the treatment rate − the control rate among the users first seen that day, with
its unpooled standard error. The trend is the weighted least-squares slope of daily lift on day
index (day 1 = the experiment's first day) with weights 1/SE², the variances taken as known: the
slope's SE is sqrt(1/Σw(x−x̄)²) and its p two-sided normal (statsmodels ``WLS(...).fit(cov_type=
"fixed scale")``). A slope against the overall lift's sign is an effect that fades.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from experimentos.model import DayCount, Finding, NoveltyDay, NoveltyResult

MIN_USERS = 30
"""A day is tested only with at least this many users in each arm, and with an arm rate strictly
between 0 and 1: the unpooled (Wald) standard error of a smaller or degenerate day is too small to
weight by (a day of 0/12 in control has SE 0 for that arm), and a few such days made a significant
"decay" out of noise on a 476-user public export."""


def wls_slope(x: Sequence[float], y: Sequence[float], se: Sequence[float]) -> tuple[float, float]:
    """(slope, its SE) of y on x by weighted least squares with weights 1/se², known variance.
    NaN for both with fewer than two distinct x."""
    w = [1.0 / (s * s) for s in se]
    total = sum(w)
    if len(set(x)) < 2 or total <= 0:
        return math.nan, math.nan
    mx = sum(wi * xi for wi, xi in zip(w, x, strict=True)) / total
    my = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / total
    sxx = sum(wi * (xi - mx) ** 2 for wi, xi in zip(w, x, strict=True))
    sxy = sum(wi * (xi - mx) * (yi - my) for wi, xi, yi in zip(w, x, y, strict=True))
    return sxy / sxx, math.sqrt(1.0 / sxx)


def two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0)) if math.isfinite(z) else math.nan


def lift_by_day(
    by_day: Sequence[DayCount], *, column: str, control: str, treatment: str
) -> NoveltyResult | None:
    """Per day of first exposure: each arm's users and converted users, the lift and its SE, and
    the trend's slope, SE and p. None without dated users in both arms."""
    cells = {(c.day, c.arm): c for c in by_day}
    days = sorted({c.day for c in by_day})
    if not days:
        return None
    start = date.fromisoformat(days[0])
    tested: list[NoveltyDay] = []
    skipped: list[str] = []
    totals = [0, 0, 0, 0]
    for day in days:
        c = cells.get((day, control))
        t = cells.get((day, treatment))
        nc, yc = (c.users, c.converted) if c else (0, 0)
        nt, yt = (t.users, t.converted) if t else (0, 0)
        for k, v in enumerate((nc, yc, nt, yt)):
            totals[k] += v
        if nc < MIN_USERS or nt < MIN_USERS or yc in (0, nc) or yt in (0, nt):
            skipped.append(day)
            continue
        pc, pt = yc / nc, yt / nt
        se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
        index = (date.fromisoformat(day) - start).days + 1
        tested.append(NoveltyDay(day, index, nc, yc, nt, yt, pt - pc, se))
    nc, yc, nt, yt = totals
    if nc == 0 or nt == 0:
        return None
    slope, slope_se = wls_slope(
        [d.index for d in tested], [d.lift for d in tested], [d.se for d in tested]
    )
    return NoveltyResult(
        column=column,
        control=control,
        treatment=treatment,
        days=tuple(tested),
        skipped=tuple(skipped),
        slope=slope,
        slope_se=slope_se,
        p_value=two_sided_p(slope / slope_se) if math.isfinite(slope) else math.nan,
        overall_lift=yt / nt - yc / nc,
    )


def novelty_findings(result: NoveltyResult | None, *, alpha: float = 0.05) -> list[Finding]:
    """A warning when the lift fades across exposure days (a slope significant at ``alpha``
    against the overall lift's sign), an info finding when it grows; nothing otherwise."""
    if result is None or not math.isfinite(result.p_value) or result.p_value >= alpha:
        return []
    if result.slope == 0 or result.overall_lift == 0:
        return []
    fades = (result.slope < 0) == (result.overall_lift > 0)
    trend = (
        f"(slope {_pp(result.slope * 100)} pp/day, {_p(result.p_value)}, "
        f"{len(result.days)} days by {result.column}, {result.treatment} vs {result.control})"
    )
    if fades:
        severity, text = "warning", f"novelty: the lift decays across exposure days {trend}"
        text += "; the effect at launch may be smaller than the average measured."
    else:
        severity, text = "info", f"novelty: the lift grows across exposure days {trend}"
        text += "; a learning effect: later users gain more."
    if result.skipped:
        text += (
            f" {len(result.skipped)} day(s) left out (fewer than {MIN_USERS} users in an arm, "
            f"or an arm at 0% or 100%): {', '.join(result.skipped)}."
        )
    return [Finding(severity, "novelty", text, column=result.column)]  # type: ignore[arg-type]


def _pp(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def _p(p: float) -> str:
    return f"p = {p:.2g}" if p >= 0.0001 else "p < 0.0001"
