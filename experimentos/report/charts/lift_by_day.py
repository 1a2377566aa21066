"""Lift by exposure day: the primary's lift among the users first exposed each day, with its 95%
interval (±1.96 SE, unpooled), the overall lift, and the weighted least-squares trend line whose
slope the novelty check tests (weights 1/SE², SPEC §2 novelty; see stats/novelty.py).

A lift that starts high and fades is the picture of a novelty effect; a flat band around the
overall lift says the effect is steady.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from experimentos.model import NoveltyResult
from experimentos.report.charts._style import (
    FONT_PT,
    OKABE_ITO,
    SMALL_PT,
    message_figure,
    new_figure,
    plain,
    png_bytes,
    shorten,
)

Z_95 = 1.959964
"""Two-sided 95% normal critical value of each day's interval."""


def trend_line(novelty: NoveltyResult) -> tuple[float, float] | None:
    """(intercept, slope) of the WLS line of lift on day index, weights 1/SE² — the slope is the
    one the check tested; the intercept puts the line through the weighted means."""
    if not math.isfinite(novelty.slope) or not novelty.days:
        return None
    weights = [1 / d.se**2 for d in novelty.days]
    total = sum(weights)
    mean_x = sum(w * d.index for w, d in zip(weights, novelty.days, strict=True)) / total
    mean_y = sum(w * d.lift for w, d in zip(weights, novelty.days, strict=True)) / total
    return mean_y - novelty.slope * mean_x, novelty.slope


def lift_by_day_figure(novelty: NoveltyResult) -> Figure:
    """Each tested day's lift (pp) with its 95% interval, the overall lift and the trend."""
    if not novelty.days:
        return message_figure(
            "No day to show",
            [f"Every day was left out ({len(novelty.skipped)}): too few users in an arm."],
        )
    figure = new_figure(4.6)
    axes = figure.add_axes((0.1, 0.27, 0.86, 0.6))
    xs = [d.index for d in novelty.days]
    lifts = [d.lift * 100 for d in novelty.days]
    half = [Z_95 * d.se * 100 for d in novelty.days]
    axes.axhline(0.0, color="black", linewidth=1.0, gid="zero-line")
    axes.axhline(
        novelty.overall_lift * 100,
        color=OKABE_ITO["grey"],
        linestyle="--",
        linewidth=1.2,
        label=f"overall lift {novelty.overall_lift * 100:+.2f} pp",
        gid="overall",
    )
    axes.errorbar(
        xs,
        lifts,
        yerr=half,
        fmt="o",
        color=OKABE_ITO["blue"],
        markersize=7,
        capsize=4,
        elinewidth=1.8,
        markeredgecolor="black",
        markeredgewidth=0.6,
        label="lift of the users first exposed that day, 95% CI",
        gid="days",
    )
    line = trend_line(novelty)
    if line is not None:
        intercept, slope = line
        ends = (min(xs), max(xs))
        axes.plot(
            ends,
            [(intercept + slope * x) * 100 for x in ends],
            color=OKABE_ITO["vermillion"],
            linewidth=2,
            label=f"trend {slope * 100:+.2f} pp/day (p = {novelty.p_value:.3g})",
            gid="trend",
        )
    _label_axes(axes, novelty, xs)
    return figure


def _label_axes(axes, novelty: NoveltyResult, xs: list[int]) -> None:  # type: ignore[no-untyped-def]
    days = {d.index: d.day[5:] for d in novelty.days}  # MM-DD under each tested day
    axes.set_xticks(xs)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: days.get(round(v), "")))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.2g} pp" if v else "0"))
    axes.set_xlabel(
        plain(f"day of first exposure ({shorten(novelty.column, 40)})"), fontsize=SMALL_PT
    )
    axes.set_ylabel("absolute lift (percentage points)", fontsize=SMALL_PT)
    title = (
        f"Lift by exposure day: {shorten(novelty.treatment, 30)} vs {shorten(novelty.control, 30)}"
    )
    axes.set_title(plain(title), fontsize=FONT_PT, loc="left")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(labelsize=SMALL_PT)
    axes.grid(color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2, frameon=False, fontsize=SMALL_PT
    )


def lift_by_day_png(novelty: NoveltyResult) -> bytes:
    """:func:`lift_by_day_figure` as PNG bytes."""
    return png_bytes(lift_by_day_figure(novelty))


def lift_by_day_alt_text(novelty: NoveltyResult, *, limit: int = 1000) -> str:
    """What the chart shows, in words, for screen readers (Slack's alt text: at most 1,000)."""
    days = "; ".join(f"{d.day} {d.lift * 100:+.2f} pp" for d in novelty.days)
    trend = (
        f" Trend {novelty.slope * 100:+.2f} pp per day, p = {novelty.p_value:.3g}."
        if math.isfinite(novelty.slope)
        else " No trend tested (fewer than two days)."
    )
    text = (
        f"Lift of {novelty.treatment} over {novelty.control} among users first exposed each day: "
        f"{days}.{trend}"
    )
    return shorten(text, limit)
