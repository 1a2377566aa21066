"""Looks over time: the z statistic against the group-sequential boundaries (SPEC §2.8).

With a plan of K looks the boundaries are the Lan–DeMets ones at information fractions k/K
(:func:`experimentos.stats.sequential.boundaries`); a look whose |z| reaches its boundary is
conclusive. Without a plan there are no boundaries, so each look's lift and 95% CI are shown
instead, with the reminder that repeated looks at fixed-horizon intervals inflate false positives
— or, when the looks use always-valid inference (confidence sequences), that peeking is safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from experimentos.model import Interval
from experimentos.report.charts._style import (
    FONT_PT,
    OKABE_ITO,
    SMALL_PT,
    message_figure,
    new_figure,
    png_bytes,
)
from experimentos.stats.sequential import Spending, boundaries

_Z_FIXED = 1.959964  # two-sided 5% fixed-horizon critical value, for reference only
_SPENDING_NAMES = {"obf": "O'Brien–Fleming-type", "pocock": "Pocock-type"}


@dataclass(frozen=True, slots=True)
class LookPoint:
    """The primary metric at one look: z statistic, absolute lift (rate units) and its CI."""

    look: int
    z: float
    abs_lift: float
    abs_ci: Interval
    information_fraction: float | None = None
    """Users so far / target; None means k/K."""


def looks_figure(
    looks: Sequence[LookPoint],
    *,
    of_looks: int | None,
    spending: Spending = "obf",
    alpha: float = 0.05,
    always_valid: bool = False,
) -> Figure:
    """z per look against the boundaries when ``of_looks`` is planned, else lift and CI per look
    (``always_valid``: the CIs are confidence sequences, valid at every look)."""
    if not looks:
        return message_figure("No looks yet", ["Post a results CSV in the thread to add one."])
    ordered = sorted(looks, key=lambda p: p.look)
    figure = new_figure(5.2)
    axes = figure.add_axes((0.12, 0.2, 0.84, 0.66))
    if of_looks:
        _z_chart(axes, ordered, max(of_looks, ordered[-1].look), spending, alpha)
    else:
        _lift_chart(axes, ordered, always_valid=always_valid)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=SMALL_PT)
    axes.grid(color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False, fontsize=SMALL_PT
    )
    return figure


def looks_png(
    looks: Sequence[LookPoint],
    *,
    of_looks: int | None,
    spending: Spending = "obf",
    alpha: float = 0.05,
    always_valid: bool = False,
) -> bytes:
    """:func:`looks_figure` as PNG bytes."""
    return png_bytes(
        looks_figure(
            looks, of_looks=of_looks, spending=spending, alpha=alpha, always_valid=always_valid
        )
    )


def _z_chart(
    axes: Axes, looks: Sequence[LookPoint], of_looks: int, spending: Spending, alpha: float
) -> None:
    planned = [k / of_looks for k in range(1, of_looks + 1)]
    bounds = boundaries(planned, alpha=alpha, spending=spending)
    z_bound = [b.z if math.isfinite(b.z) else math.nan for b in bounds]
    xs = [_fraction(p, of_looks) for p in looks]
    zs = [p.z for p in looks]
    top = max(3.0, min(max(z for z in z_bound if math.isfinite(z)), 8.0), *map(abs, zs)) + 0.6
    label = f"{_SPENDING_NAMES.get(spending, spending)} boundary (α = {alpha:g})"
    axes.plot(
        planned,
        z_bound,
        color=OKABE_ITO["vermillion"],
        marker="_",
        markersize=14,
        linewidth=2,
        label=label,
        gid="boundary-upper",
    )
    axes.plot(
        planned,
        [-z for z in z_bound],
        color=OKABE_ITO["vermillion"],
        marker="_",
        markersize=14,
        linewidth=2,
        gid="boundary-lower",
    )
    axes.fill_between(planned, z_bound, top, color=OKABE_ITO["vermillion"], alpha=0.08, lw=0)
    axes.fill_between(
        planned, [-z for z in z_bound], -top, color=OKABE_ITO["vermillion"], alpha=0.08, lw=0
    )
    for sign in (1, -1):
        axes.axhline(
            sign * _Z_FIXED,
            color="#777777",
            linestyle=":",
            linewidth=1.2,
            label="fixed-horizon |z| = 1.96" if sign > 0 else None,
        )
    axes.axhline(0.0, color="black", linewidth=1.0, gid="zero-line")
    axes.plot(
        xs,
        zs,
        color=OKABE_ITO["blue"],
        marker="o",
        markersize=8,
        linewidth=2,
        markeredgecolor="black",
        markeredgewidth=0.6,
        label="observed z",
        gid="observed",
    )
    for point, x, z in zip(looks, xs, zs, strict=True):
        crossed = point.look <= of_looks and abs(z) >= bounds[point.look - 1].z
        note = f"look {point.look}" + (" · crossed" if crossed else "")
        axes.annotate(
            note,
            (x, z),
            textcoords="offset points",
            xytext=(0, 10 if z >= 0 else -16),
            ha="center",
            fontsize=SMALL_PT,
        )
    axes.set_xlim(0, max(1.05, *(x + 0.05 for x in xs)))
    axes.set_ylim(-top, top)
    axes.xaxis.set_major_locator(FixedLocator(planned))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    axes.set_xlabel("information fraction (share of the planned sample)", fontsize=SMALL_PT)
    axes.set_ylabel("z statistic", fontsize=SMALL_PT)
    axes.set_title(
        f"Sequential looks: {len(looks)} of {of_looks} planned; conclusive once |z| "
        "reaches the boundary",
        fontsize=FONT_PT,
        loc="left",
    )


def _lift_chart(axes: Axes, looks: Sequence[LookPoint], *, always_valid: bool = False) -> None:
    xs = [p.look for p in looks]
    lifts = [p.abs_lift * 100 for p in looks]
    lows = [max(lift - p.abs_ci[0] * 100, 0.0) for lift, p in zip(lifts, looks, strict=True)]
    highs = [max(p.abs_ci[1] * 100 - lift, 0.0) for lift, p in zip(lifts, looks, strict=True)]
    axes.axhline(0.0, color="black", linewidth=1.0, gid="zero-line")
    axes.errorbar(
        xs,
        lifts,
        yerr=[lows, highs],
        fmt="o-",
        color=OKABE_ITO["blue"],
        markersize=8,
        capsize=5,
        elinewidth=2,
        linewidth=1.5,
        markeredgecolor="black",
        markeredgewidth=0.6,
        label="lift (pp) with 95% always-valid CI" if always_valid else "lift (pp) with 95% CI",
        gid="observed",
    )
    axes.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    axes.xaxis.set_major_locator(FixedLocator(xs))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"look {v:.0f}"))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.2g} pp" if v else "0"))
    axes.set_ylabel("absolute lift (percentage points)", fontsize=SMALL_PT)
    title = (
        "Lift per look, always-valid intervals: they hold at every look, so peeking is safe"
        if always_valid
        else "Lift per look, no sequential plan: fixed-horizon intervals, repeated looks "
        "inflate false positives"
    )
    axes.set_title(title, fontsize=FONT_PT, loc="left")


def _fraction(point: LookPoint, of_looks: int) -> float:
    if point.information_fraction is not None:
        return point.information_fraction
    return point.look / of_looks
